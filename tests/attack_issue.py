"""The attack's cases on signals, concurrent writers and the five items of the
reliability issue (groups W, S, I, O, B, X, M, U) for tests/attack_cases.py.
Not a pytest module."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from attack_cases import TINY
from attack_groups import ALL_FILES

SWEEP = ["sweep", "--task-set", "yang19", "--hidden", "16", "--sparsity", "0.25",
         "--steps", "8", "--eval-every", "4", "--batch-size", "4", "--seeds", "2",
         "--set", "seq_len=40", "--set", "trials_per_task=8", "--set", "eval_trials=3"]
SIGNAL_STEPS = 300


def _wait(p, timeout=300):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return p.returncode, out, err


def _tb(text):
    return "Traceback" in text or "Exception ignored" in text


def group_w(att):
    """Concurrent writers: trains, caches, sweeps (local and dask) on one target."""
    w = att.work
    a, pid = att.start(["train", *TINY, "--steps", SIGNAL_STEPS, "--out", w / "run", "-q"])
    time.sleep(3)
    for args, what in ((["train", *TINY, "--steps", "8", "--out", w / "run"], "same --out"),
                       (["train", *TINY, "--steps", "8", "--out", w / "run", "--force"],
                        "same --out --force"),
                       (["train", "--out", w / "run", "--resume", "--steps", "400"],
                        "--resume while it trains")):
        att.one_line("W", f"second train, {what}", att.r(args), must=("in use",))
    rc, out, err = _wait(a)
    att.record("W", "the first train finishes undisturbed", rc == 0 and not _tb(out + err),
               f"rc {rc}")
    # two trains with different --out building one fresh default cache together
    env = dict(att.env, REFRNN_CACHE_DIR=str(w / "fresh"))
    ps = [subprocess.Popen(["timeout", "-k", "5", "300", att.refrnn, "train", *TINY, "--steps",
                            "8", "--out", str(w / f"par{i}"), "-q"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for i in range(3)]
    for i, p in enumerate(ps):
        rc, out, _ = _wait(p)
        att.record("W", f"parallel train {i} on one new default cache", rc == 0 and not _tb(out),
                   f"rc {rc} {out.strip().splitlines()[-1:] }")
    # two `refrnn cache` of the default path, and of one explicit path
    for what, extra, want in (("default path", [], (0, 0)),
                              ("one --out", ["--out", str(w / "c.h5")], (0, 1))):
        env = dict(att.env, REFRNN_CACHE_DIR=str(w / f"cd{len(extra)}"))
        ps = [subprocess.Popen(["timeout", "-k", "5", "300", att.refrnn, "cache",
                                "--trials-per-task", "200", *extra], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for _ in range(2)]
        got = [_wait(p) for p in ps]
        rcs = sorted(g[0] for g in got)
        temps = [p.name for p in w.rglob(".*.tmp*")]
        ok = rcs == sorted(want) and not any(_tb(g[1]) for g in got) and not temps
        att.record("W", f"two refrnn cache at once, {what}", ok, f"rcs {rcs}, temps {temps}")
    # two sweeps of one folder: local, then dask
    for what, extra in (("local", []), ("dask --scheduler local", ["--scheduler", "local"])):
        out = w / f"sw_{len(extra)}"
        ps = [subprocess.Popen(["timeout", "-k", "5", "400", att.refrnn, *SWEEP, *extra,
                                "--out", str(out)], env=att.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        got = [_wait(p, 450) for p in ps]
        summary = (out / "summary.csv").read_text() if (out / "summary.csv").exists() else ""
        failed = [ln for ln in summary.splitlines() if "fail" in ln.lower()]
        rows = len(summary.splitlines()) - 1
        ok = all(g[0] == 0 and not _tb(g[1]) for g in got) and rows == 2 and not failed
        att.record("W", f"two sweeps of one --out ({what})", ok,
                   f"rcs {[g[0] for g in got]}, {rows} rows, failed {failed} "
                   f"{[g[1].strip().splitlines()[-1:] for g in got]}")


def _reference(att):
    ref = att.work / "ref"
    if not ref.exists():
        att.r(["train", *TINY, "--steps", SIGNAL_STEPS, "--out", ref, "-q"], timeout=300)
    return ref


def _interrupted_then_resumed(att, name, sig, delay):
    """Start a run, send ``sig`` after ``delay`` s, resume it; compare with the
    uninterrupted run."""
    ref = _reference(att)
    out = att.work / name
    p, pid = att.start(["train", *TINY, "--steps", SIGNAL_STEPS, "--out", out], timeout=300)
    time.sleep(delay)
    if pid:
        os.kill(pid, sig)
    rc, o, e = _wait(p)
    seen = f"rc {rc} after {delay:.1f} s"
    if rc == 0:  # finished before the signal
        seen += " (finished first)"
    if _tb(o + e):
        att.record("S", f"{name}: {signal.Signals(sig).name} at {delay:.1f} s", False,
                   "traceback: " + (o + e).strip().splitlines()[-1])
        return
    want = {signal.SIGKILL: (-9, 137), signal.SIGTERM: (143,), signal.SIGINT: (130,)}[sig]
    said = sig == signal.SIGKILL or "interrupted" in e or rc == 0
    debris = out.exists() and not (out / "last.h5").exists() and sig != signal.SIGKILL
    if not (out / "last.h5").exists():  # stopped before the first checkpoint: start again
        res = att.r(["train", *TINY, "--steps", SIGNAL_STEPS, "--out", out, "--force", "-q"],
                    timeout=300)
    else:
        res = att.r(["train", "--out", out, "--resume", "-q"], timeout=300)
    if not (out / "last.h5").exists():
        att.record("S", f"{name}: {signal.Signals(sig).name} at {delay:.1f} s", False,
                   f"{seen}; no last.h5 after resuming: {res.text.strip()[-200:]}")
        return
    seen += f" ({sorted(q.name for q in out.iterdir())} left before resuming)" if debris else ""
    said = said and not debris
    same = [att.same_weights(ref / f, out / f) for f in ("last.h5", "best.h5")]
    evals = (ref / "eval.csv").read_text() == (out / "eval.csv").read_text() \
        if (out / "eval.csv").exists() else False
    ok = (rc in want or rc == 0) and said and res.rc == 0 and all(s[1] for s in same) and evals
    att.record("S", f"{name}: {signal.Signals(sig).name} at {delay:.1f} s, then --resume", ok,
               f"{seen}; resume rc {res.rc}; last.h5 arrays {same[0][1]} bytes {same[0][0]}; "
               f"best.h5 arrays {same[1][1]} bytes {same[1][0]}; eval.csv same {evals}")


def group_s(att):
    """kill -9, SIGTERM and SIGINT mid-run, then --resume: bit-identical."""
    for i in range(8):
        _interrupted_then_resumed(att, f"k{i}", signal.SIGKILL, att.rng.uniform(1.5, 6))
    for i in range(4):
        _interrupted_then_resumed(att, f"t{i}", signal.SIGTERM, att.rng.uniform(1.5, 6))
    for i in range(4):
        _interrupted_then_resumed(att, f"i{i}", signal.SIGINT, att.rng.uniform(1.5, 6))


def group_i(att):
    """SIGINT at random moments of the first 1.5 s of `refrnn train`: never a traceback."""
    att.train("warm")  # the default cache exists: the start is imports and setup
    delays = [att.rng.uniform(0, 0.15) for _ in range(8)] + \
        [att.rng.uniform(0, 1.5) for _ in range(22)]
    for i, d in enumerate(delays):
        out = att.work / f"s{i}"
        p, pid = att.start(["train", *TINY, "--steps", SIGNAL_STEPS, "--out", out], timeout=120)
        time.sleep(d)
        if pid:
            os.kill(pid, signal.SIGINT)
        rc, o, e = _wait(p)
        temps = [q.name for q in out.rglob(".*tmp*")] if out.exists() else []
        ok = not _tb(o + e) and rc in (130, -2) and not temps
        last = (o + e).strip().splitlines()[-1:] if (o + e).strip() else []
        att.record("I", f"SIGINT {d * 1000:.0f} ms after start", ok, f"rc {rc} {last}")


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


def group_x(att):
    """Item 3: every way out of a run is a clean one."""
    w = att.work
    p, pid = att.start(["train", *TINY, "--steps", SIGNAL_STEPS, "--out", w / "term"])
    time.sleep(3)
    os.kill(pid, signal.SIGTERM)
    rc, o, e = _wait(p)
    att.record("X", "SIGTERM mid-run saves last.h5", rc == 143 and "saved" in e
               and (w / "term/last.h5").exists() and not _tb(o + e), f"rc {rc} {e.strip()[-150:]}")
    res = att.sh(f"refrnn train {' '.join(TINY)} --steps 40 --out {w}/pipe | head -1")
    att.record("X", "train | head -1 trains to the end", (w / "pipe/eval.csv").exists()
               and not _tb(res.text), f"{res.err.strip()[-150:]}")
    # kill -9 of a sweep: its worker stops; a rerun at once finishes
    out = w / "sw"
    args = [*SWEEP[:SWEEP.index("--steps")], "--steps", "2000", *SWEEP[SWEEP.index("--steps") + 2:]]
    p, pid = att.start([*args, "--out", out], timeout=400)
    time.sleep(6)
    os.kill(pid, signal.SIGKILL)
    _wait(p)
    time.sleep(3)
    workers = subprocess.run(["pgrep", "-f", f"{out}"], capture_output=True, text=True).stdout.split()
    att.record("X", "kill -9 of a sweep: no worker left after 3 s", not workers,
               f"running {workers}")
    res = att.r([*args, "--out", out], timeout=500)
    att.clean_ok("X", "rerun the sweep at once", res)
    # kill -9 while `refrnn cache --out X` writes, then build X again
    x = w / "X.h5"
    for attempt in range(12):
        p, pid = att.start(["cache", "--trials-per-task", "400", "--out", x])
        while p.poll() is None and not list(w.glob(".X.*.tmp*")):
            time.sleep(0.005)
        if p.poll() is None:
            os.kill(pid, signal.SIGKILL)
        _wait(p)
        if list(w.glob(".X.*.tmp*")):
            break
        x.unlink(missing_ok=True)
    left = [q.name for q in w.glob(".X.*.tmp*")]
    time.sleep(1.5)
    res = att.r(["cache", "--trials-per-task", "8", "--out", x])
    after = [q.name for q in w.glob(".X.*.tmp*")]
    att.clean_ok("X", "kill -9 during cache --out, then build again: temp removed", res,
                 check=(left and not after, f"left {left}, after {after}"))


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


ALL = dict(ALL_FILES, W=group_w, S=group_s, I=group_i, O=group_o, B=group_b, X=group_x,
           M=group_m, U=group_u)
