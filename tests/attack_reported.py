"""The attack's cases of the reliability issue's items 1, 2, 4 and 5 (groups
O, B, M, U) for tests/attack_cases.py, and ALL, every group by letter.
Not a pytest module."""
from __future__ import annotations

import os
import shutil
import subprocess

from attack_cases import TINY
from attack_disks import ALL_DISKS
from attack_groups import ALL_FILES
from attack_signals import ALL_SIGNALS, SWEEP, _tb


def group_o(att):
    """Item 1: nothing of the user's is replaced."""
    w = att.work
    base = att.train("runs/first")
    shutil.copy(base / "config.json", w / "my.json")
    before = {p.name: p.read_bytes() for p in base.iterdir()}
    for extra in ([], ["--force"]):
        res = att.r(["train", "--config", w / "my.json", "--lr", "0.01", *extra])
        same = before == {p.name: p.read_bytes() for p in base.iterdir()}
        att.one_line("O", f"train --config <a copied run config> --lr 0.01 {extra}", res,
                     extra=(same, "runs/first changed"))
    user = b"x\n"
    cases = [("u_curves.png", ["plot", base, "--out", w / "u"]),
             ("u_heatmap_yang19.png", ["plot", base, "--out", w / "u"]),
             ("fig.png", ["mask", "--hidden", "16", "--plot", w / "fig.png"]),
             ("fig.svg", ["mask", "--hidden", "16", "--plot", w / "fig.svg"]),
             ("D/summary.csv", ["analyze", base, "--tasks", "go", "--starts", "2", "--out",
                                w / "D"]),
             ("D/clusters.csv", ["analyze", base, "--tasks", "go", "--starts", "2", "--out",
                                 w / "D"]),
             ("S/summary.csv", [*SWEEP, "--out", w / "S"]),
             ("S/summary_by_config.csv", [*SWEEP, "--out", w / "S"]),
             ("notes.txt", ["cache", "--trials-per-task", "8", "--out", w / "notes.txt"]),
             ("e.txt", ["eval", base, "--csv", w / "e.txt"]),
             ("mine.npz", ["export", base, "--format", "npz", "--out", w / "mine.npz"])]
    for name, args in cases:
        f = w / name
        for d in (w / "D", w / "S"):
            shutil.rmtree(d, ignore_errors=True)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(user)
        res = att.r(args, timeout=300)
        att.one_line("O", f"{name} of the user's, then {args[0]}", res,
                     extra=(f.read_bytes() == user, "the user's file was replaced"))
    # a folder holding the user's config.json, trained into with --force
    d = w / "mine"
    d.mkdir()
    (d / "config.json").write_text('{"my": "settings"}')
    res = att.r(["train", *TINY, "--steps", "4", "--out", d, "--force"])
    att.one_line("O", "train --force into a folder with the user's config.json", res,
                 extra=((d / "config.json").read_text() == '{"my": "settings"}', "replaced"))
    # --force clears the old run's derived files, keeps the user's
    run = att.train("old")
    for args in (["eval", run, "--checkpoint", "best"], ["plot", run],
                 ["analyze", run, "--tasks", "go", "--starts", "2"]):
        att.r(args, timeout=300)
    (run / "notes.txt").write_text("mine")
    derived = sorted(p.name for p in run.iterdir())
    res = att.r(["train", *TINY, "--steps", "4", "--out", run, "--force", "-q"])
    left = sorted(p.name for p in run.iterdir())
    stale = [n for n in left if n.startswith(("eval_", "plot_", "analysis_"))]
    att.clean_ok("O", "train --force clears the old run's eval_best.csv, plots, analysis", res,
                 check=(not stale and "notes.txt" in left, f"before {derived}, after {left}"))


def group_b(att):
    """Item 2: one line, never a traceback."""
    w = att.work
    base = att.train("base")
    att.one_line("B", "mask --hidden 10000000", att.r(["mask", "--hidden", "10000000"]))
    att.one_line("B", "mask --hidden 100000 --mask full",
                 att.r(["mask", "--hidden", "100000", "--mask", "full"]))
    res = att.sh(f"refrnn train {' '.join(TINY)} --steps 8 --out {w}/closed >&-")
    att.record("B", "train with stdout closed", res.rc == 0 and not _tb(res.text)
               and (w / "closed/eval.csv").exists(), f"rc {res.rc} {res.err.strip()[-120:]}")
    att.one_line("B", "analyze --tasks ''", att.r(["analyze", base, "--tasks", ""]))
    for name, spoil in (("urandom", lambda p: p.write_bytes(os.urandom(300))),
                        ("garbage row", lambda p: p.write_text(p.read_text() +
                                                               "garbage,row,here\n")),
                        ("truncated last row", lambda p: p.write_text(
                            ",".join(p.read_text().rstrip("\n").split(",")[:-26]) + "\n"))):
        run = att.copy_run("base", f"m_{name[:4]}")
        spoil(run / "metrics.csv")
        res = att.r(["train", "--out", run, "--resume", "--steps", "12", "-q"])
        att.one_line("B", f"metrics.csv {name}, then --resume", res, must=("metrics.csv",))
    (w / "deep.json").write_text("[" * 100000 + "]" * 100000)
    (w / "deepg.json").write_text('{"grid": ' + "[" * 100000 + "]" * 100000 + "}")
    for args, what in ((["train", *TINY, "--config", w / "deep.json", "--out", w / "d"], "train"),
                       (["sweep", "--config", w / "deep.json", "--out", w / "sd"],
                        "sweep --config"),
                       (["sweep", "--grid", w / "deepg.json", "--out", w / "sg"],
                        "sweep --grid")):
        att.one_line("B", f"{what} with a JSON nested 100,000 deep", att.r(args))


def group_m(att):
    """Item 4: messages that do not mislead."""
    w = att.work
    base = att.train("base")
    res = att.r(["train", *TINY, "--steps", "4", "--cache-path", "/etc/passwd", "--out", w / "p"])
    att.one_line("M", "--cache-path /etc/passwd", res, must_not=("delete it",))
    res = att.r(["eval", base, "--checkpoint", "/etc/passwd", "--csv", w / "e.csv"])
    att.one_line("M", "eval --checkpoint /etc/passwd", res, must_not=("delete it",))
    run = att.copy_run("base", "noconf")
    (run / "config.json").unlink()
    res = att.r(["train", "--out", run, "--resume"])
    att.one_line("M", "config.json deleted, then --resume", res, must=("config.json",),
                 must_not=("hidden=256",))
    (w / "c.json").write_text('{"hidden": -4}')
    res = att.r(["train", "--config", w / "c.json", "--out", w / "c"])
    att.one_line("M", "a bad value in a config file names the file", res, must=("c.json",),
                 must_not=("'--hidden'",))
    (w / "newer.toml").write_text("warp_drive = 3\n")
    res = att.r(["train", "--config", w / "newer.toml", "--out", w / "n"])
    att.one_line("M", "an unknown key names the file", res, must=("newer.toml",))
    res = att.py(f"import refrnn; refrnn.train(out={str(base)!r}, steps=4, hidden=16)")
    line = (res.err.strip().splitlines() or [""])[-1]
    att.record("M", "the Python API's advice is in Python terms", "resume=True" in line
               and "--resume" not in line, line)
    res = att.py("import refrnn; refrnn.Dataset('yang19', batch_size=10**9, seq_len=10**4)")
    line = (res.err.strip().splitlines() or [""])[-1]
    att.record("M", "Dataset(batch_size=1e9, seq_len=1e4) says too large", "memory" in line
               and "cache_len" not in line, line)
    res = att.py("import refrnn; refrnn.Dataset('yang19', env_kwargs={'dt': 30})")
    line = (res.err.strip().splitlines() or [""])[-1]
    att.record("M", "Dataset dt=30 refused as the CLI does", "ValueError" in line
               and "30" in line, line)
    att.one_line("M", "analyze --q-tol nan", att.r(["analyze", base, "--q-tol", "nan"]))
    res = att.r(["train", *TINY, "--steps", "4", "--out", base])
    att.one_line("M", "train into an existing run says --resume/--force", res,
                 must=("--resume", "--force"), must_not=("resume=True",))


PLANTS = [  # (file, old, new, tests that must fail)
    ("refrnn/files/sealed_h5.py", "chunk = f.read(_HASH_CHUNK)",
     "chunk = f.read(min(_HASH_CHUNK, size - n))", "tests/test_reliability_pinned.py"),
    ("refrnn/run/checkpoint_check.py", "elif isinstance(value, (list, tuple)):",
     "elif False:", "tests/test_reliability_pinned.py"),
    ("refrnn/core/masks.py", "int(math.floor(s * n + 0.5))", "int(round(s * n))",
     "tests/test_reliability_pinned.py"),
    ("refrnn/analysis/task_variance.py", "cnt[:, 0] >= 2", "cnt[:, 0] >= 1",
     "tests/test_analysis_yang_variance.py tests/test_analysis_variance.py "
     "tests/test_reliability_pinned.py"),
    ("refrnn/backends/noise.py", "r = np.subtract(t(1), u[0], out=u[0])", "r = u[0]",
     "tests/test_reliability_pinned.py"),
    ("refrnn/core/model.py",
     "        p[\"w_rec\"][self_loop] = np.clip(p[\"w_rec\"][self_loop], -SELF_MAX, SELF_MAX)\n"
     "        if config.init_radius > 0:  # same start for every mask (refrnn.core.spectral)\n"
     "            p[\"w_rec\"] = scale_to_radius(m, p[\"w_rec\"], config.init_radius)\n",
     "        if config.init_radius > 0:  # same start for every mask (refrnn.core.spectral)\n"
     "            p[\"w_rec\"] = scale_to_radius(m, p[\"w_rec\"], config.init_radius)\n"
     "        p[\"w_rec\"][self_loop] = np.clip(p[\"w_rec\"][self_loop], -SELF_MAX, SELF_MAX)\n",
     "tests/test_reliability_pinned.py"),
]


def group_u(att):
    """Item 5: each planted bug fails a test (in a copy of --repo, its venv's pytest)."""
    if not att.repo:
        att.record("U", "(no --repo)", False, "group needs --repo: not run")
        return
    copy = att.work / "repo"
    shutil.copytree(att.repo, copy, ignore=shutil.ignore_patterns(".venv", ".git"))
    env = dict(att.env, PYTHONPATH=f"{copy}{os.pathsep}{copy / 'tests'}")
    pytest = [att.python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]

    def run(tests):
        p = subprocess.run(["timeout", "-k", "5", "900", *pytest, *tests.split()], cwd=copy,
                           env=env, capture_output=True, text=True)
        tail = (p.stdout.strip().splitlines() or [""])[-1]
        return p.returncode, tail

    rc, tail = run("tests/test_reliability_pinned.py")
    att.record("U", "unplanted: the pinning tests pass", rc == 0, tail)
    for path, old, new, tests in PLANTS:
        f = copy / path
        text = f.read_text()
        if text.count(old) != 1:
            att.record("U", f"plant in {path}", False, "the line to change is not there")
            continue
        f.write_text(text.replace(old, new))
        try:
            rc, tail = run(tests)
        finally:
            f.write_text(text)
        att.record("U", f"planted {path}: {new.strip().splitlines()[-1][:50]}",
                   rc == 1 and "failed" in tail, tail)


ALL = dict(ALL_FILES, **ALL_DISKS, **ALL_SIGNALS, O=group_o, B=group_b, M=group_m, U=group_u)
