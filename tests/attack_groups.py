"""The attack's cases on options, damaged files and paths (groups T, C, D, P)
for tests/attack_cases.py; full disks and read-only folders are in
tests/attack_disks.py, signals and concurrent writers in tests/attack_signals.py,
the issue's items in tests/attack_reported.py. Not a pytest module."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from attack_cases import TINY

BAD_OPTIONS = [  # (options, what is wrong)
    (["--hidden", "0"], "hidden 0"), (["--hidden", "-1"], "hidden -1"),
    (["--hidden", "abc"], "hidden not a number"), (["--hidden", "1.5"], "hidden 1.5"),
    (["--sparsity", "0"], "sparsity 0"), (["--sparsity", "1.5"], "sparsity 1.5"),
    (["--sparsity", "-0.1"], "sparsity -0.1"), (["--sparsity", "nan"], "sparsity nan"),
    (["--sparsity", "inf"], "sparsity inf"), (["--batch-size", "0"], "batch 0"),
    (["--batch-size", "-3"], "batch -3"), (["--seq-len", "0"], "seq-len 0"),
    (["--lr", "-1"], "lr -1"), (["--lr", "nan"], "lr nan"), (["--lr", "inf"], "lr inf"),
    (["--lr", "0"], "lr 0"), (["--steps", "-1"], "steps -1"), (["--steps", "x"], "steps x"),
    (["--eval-every", "0"], "eval-every 0"), (["--trials-per-task", "0"], "trials 0"),
    (["--eval-trials", "0"], "eval-trials 0"), (["--task-set", "nope"], "task set nope"),
    (["--dt", "30"], "dt 30"), (["--dt", "0"], "dt 0"), (["--dt", "-100"], "dt -100"),
    (["--tau", "0"], "tau 0"), (["--tau", "10"], "tau < dt"), (["--device", "tpu"], "device"),
    (["--mask", "nope"], "mask nope"), (["--init-radius", "-1"], "init-radius -1"),
    (["--init-radius", "nan"], "init-radius nan"), (["--sigma-rec", "-1"], "sigma -1"),
    (["--clip", "-1"], "clip -1"), (["--fix-weight", "nan"], "fix-weight nan"),
    (["--eval-batch-size", "0"], "eval batch 0"), (["--checkpoint-every", "-2"], "ckpt every -2"),
    (["--threads", "-1"], "threads -1"), (["--hidden", "7", "--sparsity", "0.05"], "hidden 7 (k=0)"),
    (["--hidden", "10000000"], "hidden 1e7 (memory)"),
    (["--batch-size", "100000000"], "batch 1e8 (memory)"),
    (["--trials-per-task", "1000000000"], "trials 1e9 (memory)"),
    (["--nonsense"], "unknown option"), (["--hidden"], "option without value"),
    (["--resume"], "resume with nothing there"), (["extra-arg"], "stray argument"),
    (["--cache-path", "/proc/c.h5"], "cache path that cannot be built"),
    (["--compat", "neurogym-2.3", "--task-set", "modcog"], "compat with another set"),
]
CONFIGS = [  # (file name, text, what is wrong)
    ("missing.json", None, "missing config"), ("bad.json", "{not json", "not JSON"),
    ("bad.toml", "hidden = = 3", "not TOML"), ("list.json", "[1, 2]", "not an object"),
    ("neg.json", '{"hidden": -4}', "bad value"), ("str.json", '{"hidden": "many"}', "wrong type"),
    ("unknown.json", '{"warp_drive": 9}', "unknown key"),
    ("dup.json", '{"hidden": 16, "hidden": 32}', "key twice"),
    ("dup2.json", '{"task-set": "yang19", "task_set": "yang19"}', "dashed and underscored"),
    ("deep.json", "[" * 100000 + "]" * 100000, "nested 100,000 deep"),
    ("bin.json", "\x00\xff\xfe garbage", "binary"), ("empty.json", "", "empty"),
    ("null.json", '{"hidden": null}', "null value"), ("big.json", '{"batch_size": 1e8}', "1e8"),
]


def _without_keys(opts, text):
    """``opts`` less the option pairs whose setting ``text`` names."""
    keep = []
    for name, value in zip(opts[::2], opts[1::2]):
        key = name[2:]
        if key not in text and key.replace("-", "_") not in text:
            keep += [name, value]
    return keep


def group_t(att):
    """Bad train options and settings files: one line, exit 1 or 2, --out never made."""
    for i, (opts, what) in enumerate(BAD_OPTIONS):
        out = att.work / f"t{i}"
        res = att.r(["train", *TINY, "--steps", "4", "--out", out, *opts])
        att.one_line("T", f"train {' '.join(opts)} ({what})", res,
                     extra=(not out.exists(), "run folder created"))
    for i, (name, text, what) in enumerate(CONFIGS):
        if text is not None:
            (att.work / name).write_bytes(text.encode("utf-8", "surrogateescape")
                                          if "\x00" not in text else b"\x00\xff\xfe garbage")
        out = att.work / f"c{i}"
        tiny = _without_keys(TINY, text or "")  # the file's own settings are not overridden
        res = att.r(["train", *tiny, "--steps", "4", "--config", att.work / name, "--out", out])
        att.one_line("T", f"train --config {name} ({what})", res,
                     extra=(not out.exists(), "run folder created"))


DAMAGE = [  # (name, how): applied to a copy of a sealed file
    ("zeros@0", ("zero", 0)), ("zeros@100", ("zero", 100)), ("zeros@512", ("zero", 512)),
    ("ff@1024", ("ff", 1024)), ("zeros@1500", ("zero", 1500)),
    ("zeros@3000", ("zero", 3000)), ("ff@600", ("ff", 600)), ("ff@middle", ("ff", 0.5)),
    ("zeros@end-64", ("zero", -64)), ("truncated to half", ("trunc", 0.5)),
    ("truncated to 0", ("trunc", 0)), ("400 bytes appended", ("append", 400)),
    ("/etc/passwd", ("copy", "/etc/passwd")), ("a text file", ("text", "hello\n")),
    ("a directory", ("dir", None)), ("a dangling symlink", ("link", "/nonexistent")),
]


def damage(path, how):
    kind, arg = how
    path = Path(path)
    if kind in ("zero", "ff"):
        data = bytearray(path.read_bytes())
        at = int(len(data) * arg) if isinstance(arg, float) else arg % len(data)
        new = (b"\0" if kind == "zero" else b"\xff") * 64
        if data[at:at + 64] == new[:len(data[at:at + 64])]:
            raise RuntimeError(f"damage {how} would change nothing in {path}")
        data[at:at + 64] = new
        path.write_bytes(bytes(data))
    elif kind == "trunc":
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * arg)])
    elif kind == "append":
        with open(path, "ab") as f:
            f.write(os.urandom(arg))
    elif kind == "copy":
        shutil.copy(arg, path)
    elif kind == "text":
        path.write_text(arg)
    elif kind == "dir":
        path.unlink()
        path.mkdir()
    elif kind == "link":
        path.unlink()
        path.symlink_to(arg)


def _ckpt_commands(run, tmp):
    return [("eval", ["eval", run, "--checkpoint", "last", "--csv", tmp / "e.csv"]),
            ("export", ["export", run, "--checkpoint", "last", "--format", "npz",
                        "--out", tmp / "x.npz"]),
            ("resume", ["train", "--out", run, "--resume", "-q"])]


def _poison(att, run, where):
    """Write NaN/inf into run/last.h5 with refrnn's own writer (seal consistent)."""
    code = f"""
import numpy as np
from refrnn.run.checkpoint import load_checkpoint, save_checkpoint
p = {str(run / 'last.h5')!r}
c = load_checkpoint(p)
where = {where!r}
if where == "w_rec": c.params["w_rec"][0] = np.nan
elif where == "W_out inf": c.params["W_out"][0, 0] = np.inf
elif where == "adam m": k = next(iter(c.optim["m"])); c.optim["m"][k].flat[0] = np.nan
elif where == "adam lr": c.optim["lr"] = float("nan")
elif where == "adam betas": c.optim["betas"] = [c.optim["betas"][0], float("inf")]
save_checkpoint(p, c)
"""
    res = att.py(code)
    if res.rc != 0:
        raise RuntimeError(f"could not poison {where}: {res.err[-300:]}")


def group_c(att):
    """Every command that opens a checkpoint refuses a damaged, foreign or
    non-finite one in one line, and writes nothing."""
    att.train("base")
    att.train("seed1", "--seed", "1")
    att.train("longer", steps=12)
    cases = [(n, lambda run, h=h: damage(run / "last.h5", h)) for n, h in DAMAGE]
    cases += [("another run's (seed 1)",
               lambda run: shutil.copy(att.work / "seed1/last.h5", run / "last.h5")),
              ("a longer run's (step 12 > steps 8)",
               lambda run: shutil.copy(att.work / "longer/last.h5", run / "last.h5")),
              ("a cache file", lambda run: shutil.copy(
                  next((att.work.parent / "cache").glob("*.h5")), run / "last.h5"))]
    cases += [(f"NaN/inf in {w}", lambda run, w=w: _poison(att, run, w))
              for w in ("w_rec", "W_out inf", "adam m", "adam lr", "adam betas")]
    for name, spoil in cases:
        for cmd, args in _ckpt_commands(att.work / "run", att.work):
            run = att.copy_run("base", "run")
            for p in ("e.csv", "x.npz"):
                (att.work / p).unlink(missing_ok=True)
            spoil(run)
            before = sorted(p.name for p in run.iterdir())
            res = att.r(args)
            after = sorted(p.name for p in run.iterdir())
            made = [p for p in ("e.csv", "x.npz") if (att.work / p).exists()]
            att.one_line("C", f"{cmd} on last.h5 = {name}", res,
                         extra=(not made and before == after, f"left {made or after}"))
    run = att.copy_run("base", "run")  # and an intact one still works
    for cmd, args in _ckpt_commands(run, att.work):
        att.clean_ok("C", f"{cmd} on its own intact checkpoint", att.r(args))


def group_d(att):
    """A damaged or foreign cache is one line from every command that opens it;
    a damaged default cache is rebuilt with a note."""
    src = next((att.work.parent / "cache").glob("*.h5"))
    att.train("base", "--cache-path", src)
    for name, how in DAMAGE:
        c = att.work / "c.h5"
        if c.is_dir() and not c.is_symlink():
            c.rmdir()
        elif c.exists() or c.is_symlink():
            c.unlink()
        shutil.copy(src, c)
        damage(c, how)
        res = att.r(["cache", "--verify", c])
        att.one_line("D", f"cache --verify {name}", res, prefix=("FAILED:", "Error:"))
        out = att.work / "tr"
        shutil.rmtree(out, ignore_errors=True)
        res = att.r(["train", *TINY, "--steps", "4", "--cache-path", c, "--out", out, "-q"])
        remedy_ok = ("delete it" not in res.text) if how[0] in ("copy", "text") else True
        att.one_line("D", f"train --cache-path {name}", res,
                     extra=(not out.exists() and remedy_ok,
                            "run folder left" if out.exists() else "advises deleting a "
                            "file refrnn did not write"))
    # a cache of other settings given as --cache-path
    other = att.work / "other.h5"
    res = att.r(["cache", "--trials-per-task", "5", "--eval-trials", "2", "--out", other])
    att.clean_ok("D", "cache --out (a cache of other settings)", res)
    res = att.r(["train", *TINY, "--steps", "4", "--cache-path", other, "--out", att.work / "o"])
    att.one_line("D", "train --cache-path a cache of other settings", res)
    # the default cache damaged: rebuilt with one note
    home = att.work / "home"
    home.mkdir()
    env = dict(att.env, REFRNN_CACHE_DIR=str(home))
    att.r(["cache", "--trials-per-task", "8", "--eval-trials", "3"], env=env)
    for name, how in DAMAGE[:6] + DAMAGE[9:12]:
        dflt = next(home.glob("*.h5"))
        damage(dflt, how)
        out = att.work / "dflt"
        shutil.rmtree(out, ignore_errors=True)
        res = att.r(["train", *TINY, "--steps", "4", "--out", out, "-q"], env=env)
        notes = [ln for ln in res.err.splitlines() if ln.startswith("note:")]
        att.clean_ok("D", f"train on a default cache with {name}: rebuilt", res,
                     check=(len(notes) == 1 and "rebuil" in notes[0], f"notes {notes}"))
    # eval of a run whose cache was damaged since
    c = att.work / "c2.h5"
    shutil.copy(src, c)
    run = att.train("r2", "--cache-path", c)
    damage(c, ("zero", 1500))
    att.one_line("D", "eval of a run whose cache is damaged", att.r(["eval", run, "--csv",
                                                                     att.work / "e.csv"]))


def group_p(att):
    """Odd paths: spaces, unicode, dashes, long names, files in the way."""
    w = att.work
    (w / "afile").write_text("x")
    fine = ["with space/run", "ünïcødé/ран", "-dash", "a/b/c/d/e/f", "x" * 200, "trailing/",
            "./dot/../dotdot", "new\nline", "'quote\"", "$HOME"]
    for p in fine:
        res = att.r(["train", *TINY, "--steps", "4", f"--out={p}", "-q"])
        ok = (w / p).is_dir()
        att.clean_ok("P", f"train --out {p!r}", res, check=(ok, "no run folder there"))
        if ok:
            att.clean_ok("P", f"eval {p!r}", att.r(["eval", f"./{p}" if p.startswith("-")
                                                    else p, "--csv", w / "odd.csv"]))
    (w / "real").mkdir()
    (w / "empty").mkdir()
    (w / "link").symlink_to(w / "real")
    res = att.r(["train", *TINY, "--steps", "4", "--out", w / "link", "--force", "-q"])
    att.clean_ok("P", "train --out a symlink to an empty folder (--force)", res,
                 check=((w / "real/last.h5").exists(), "not written through the link"))
    bad = [("afile/run", "under a file"), ("/proc/x", "in /proc"), ("y" * 300, "name > 255"),
           ("afile", "a file"), ("dangling", "dangling symlink"), ("", "empty")]
    (w / "dangling").symlink_to(w / "nowhere/at/all")
    for p, what in bad:
        res = att.r(["train", *TINY, "--steps", "4", f"--out={p}", "-q"])
        att.one_line("P", f"train --out ({what})", res,
                     extra=((w / "afile").read_text() == "x", "afile changed"))
    for args, what in ([["eval", w / "nothere"], "eval a missing run"],
                       [["eval", w / "afile"], "eval a file"],
                       [["eval", w / "empty"], "eval an empty folder"],
                       [["plot", w / "nothere"], "plot a missing run"],
                       [["export", w / "afile", "--format", "npz", "--out", w / "x.npz"],
                        "export a file"],
                       [["cache", "--out", w / "afile/c.h5"], "cache under a file"],
                       [["mask", "--hidden", "16", "--plot", w / "afile/m.png"],
                        "mask --plot under a file"]):
        att.one_line("P", what, att.r(args))
    att.one_line("P", "verify a missing cache", att.r(["cache", "--verify", w / "nothere.h5"]),
                 prefix=("FAILED:", "Error:"))


ALL_FILES = {"T": group_t, "C": group_c, "D": group_d, "P": group_p}
