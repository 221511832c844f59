"""The attack's full-disk and read-only cases (groups F, R) for
tests/attack_cases.py: real tmpfs mounts, so they need root. Not a pytest module."""
from __future__ import annotations

import shutil

from attack_cases import TINY


def group_f(att):
    """Full disk: real tmpfs mounts. One line naming the full disk, nothing half
    written, no lock or temporary file left; --resume after making room."""
    w = att.work
    if not att.mount(w / "first", "64k"):
        att.record("F", "(mount)", False, "cannot mount a tmpfs (not root?): group not run")
        return
    res = att.r(["train", *TINY, "--steps", "8", "--out", w / "first/run"])
    att.one_line("F", "train --out on a 64 KiB tmpfs (full at the first checkpoint)", res,
                 must=("no space left", "--force"), must_not=("--resume", "step -1"))
    res = att.r(["train", *TINY, "--steps", "8", "--out", w / "first/run", "--resume"])
    att.one_line("F", "  ... then --resume (nothing to resume)", res, must=("--force",))
    for args, what in (
            (["train", *TINY, "--steps", "8", "--out", "{d}/run"], "train"),
            (["cache", "--trials-per-task", "8", "--eval-trials", "3", "--out", "{d}/c.h5"],
             "cache --out"),
            (["sweep", "--task-set", "yang19", "--hidden", "16", "--sparsity", "0.25",
              "--steps", "4", "--eval-every", "4", "--batch-size", "4", "--seeds", "2",
              "--set", "seq_len=40", "--set", "trials_per_task=8", "--set", "eval_trials=3",
              "--out", "{d}/sw"], "sweep"),
            (["train", *TINY, "--steps", "8", "--out", "{d}/a/b/run"], "train into new folders")):
        d = w / f"full_{len(att.mounts)}"
        att.mount(d, "16k")
        att.sh(f"dd if=/dev/zero of={d}/filler bs=1k count=64 2>/dev/null")
        res = att.r([str(a).replace("{d}", str(d)) for a in args])
        left = [p.name for p in d.iterdir() if p.name != "filler"]
        att.one_line("F", f"{what} on a full disk (nothing left)", res, must=("no space left",),
                     extra=(not left, f"left {left}"))
    # mid-run: a run fills its disk, then --resume after making room
    assert att.mount(w / "mid", "300k")
    base = att.train("base")
    filler = w / "mid/filler"
    res = att.sh(f"dd if=/dev/zero of={filler} bs=1k count=190 2>/dev/null")
    res = att.r(["train", *TINY, "--steps", "200", "--out", w / "mid/run"])
    temps = [p.name for p in (w / "mid").rglob(".*tmp*")]
    att.one_line("F", "train fills its disk mid-run", res, must=("no space left", "--resume"),
                 extra=(not temps and (w / "mid/run/last.h5").exists(),
                        f"temps {temps}, last.h5 {(w / 'mid/run/last.h5').exists()}"))
    filler.unlink()
    res = att.r(["train", "--out", w / "mid/run", "--resume", "-q"], timeout=300)
    att.clean_ok("F", "make room, then --resume finishes", res)
    for args, what, produced in (
            (["eval", base, "--csv", w / "full/e.csv"], "eval --csv on a full disk", "e.csv"),
            (["export", base, "--format", "npz", "--out", w / "full/x.npz"], "export", "x.npz"),
            (["plot", base, "--out", w / "full/p"], "plot", "p_curves.png"),
            (["mask", "--hidden", "64", "--plot", w / "full/m.png"], "mask --plot", "m.png"),
            (["analyze", base, "--tasks", "go", "--starts", "2", "--out", w / "full/an"],
             "analyze", "an")):
        shutil.rmtree(w / "full", ignore_errors=True)
        if not att.mount(w / "full", "16k"):
            break
        att.sh(f"dd if=/dev/zero of={w}/full/filler bs=1k count=64 2>/dev/null")
        res = att.r(args)
        left = [p.name for p in (w / "full").iterdir() if p.name != "filler"]
        att.one_line("F", what, res, must=("no space left",), extra=(not left, f"left {left}"))
        att.unmount_all()


def group_r(att):
    """Read-only folders: a read-only tmpfs and a read-only bind mount of a run."""
    w = att.work
    base = att.train("base")
    att.r(["plot", base])
    if not att.bind_ro(base, w / "ro_run"):
        att.record("R", "(mount)", False, "cannot bind-mount read-only (not root?): not run")
        return
    att.mount(w / "ro", "64k", ro=True)
    ro_run = w / "ro_run"
    before = {p.name: p.read_bytes() for p in base.iterdir() if p.is_file()}
    cases = [(["eval", ro_run], "eval a read-only run (its eval.csv)", False),
             (["eval", ro_run, "--csv", w / "e.csv"], "eval a read-only run --csv elsewhere", True),
             (["export", ro_run, "--format", "npz", "--out", w / "x.npz"], "export from it", True),
             (["plot", ro_run, "--out", w / "p"], "plot from it to elsewhere", True),
             (["plot", ro_run], "plot into it", False),
             (["train", "--out", ro_run, "--resume", "--steps", "12"], "resume in it", False),
             (["train", *TINY, "--steps", "4", "--out", ro_run, "--force"], "--force on it",
              False),
             (["train", *TINY, "--steps", "4", "--out", w / "ro/new"], "train into ro", False),
             (["cache", "--out", w / "ro/c.h5"], "cache into ro", False),
             (["mask", "--hidden", "16", "--plot", w / "ro/m.png"], "mask --plot into ro", False),
             (["analyze", ro_run, "--tasks", "go", "--starts", "2", "--no-figures"],
              "analyze into it", False),
             (["sweep", "--hidden", "16", "--steps", "4", "--seeds", "1", "--out", w / "ro/sw"],
              "sweep into ro", False)]
    for args, what, fine in cases:
        res = att.r(args)
        if fine:
            att.clean_ok("R", what, res)
        else:
            att.one_line("R", what, res, must=("read-only",))
    after = {p.name: p.read_bytes() for p in base.iterdir() if p.is_file()}
    att.record("R", "the read-only run is unchanged", before == after, f"{len(after)} files")
    env = dict(att.env, REFRNN_CACHE_DIR=str(w / "ro/cache"))
    res = att.r(["train", *TINY, "--steps", "4", "--out", w / "nc"], env=env)
    att.one_line("R", "train with a read-only default cache folder", res, must=("read-only",),
                 extra=(not (w / "nc").exists(), "run folder left"))


ALL_DISKS = {"F": group_f, "R": group_r}
