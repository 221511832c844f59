"""The attack's signal and concurrency cases (groups W, S, I, X) for
tests/attack_cases.py. Not a pytest module."""
from __future__ import annotations

import os
import signal
import subprocess
import time

from attack_cases import TINY

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


def _wait_for(path, p, limit=120):
    """Until ``path`` exists (or ``p`` ended, or ``limit`` s)."""
    t0 = time.time()
    while not path.exists() and p.poll() is None and time.time() - t0 < limit:
        time.sleep(0.02)


def _tb(text):
    return "Traceback" in text or "Exception ignored" in text


def group_w(att):
    """Concurrent writers: trains, caches, sweeps (local and dask) on one target."""
    w = att.work
    a, pid = att.start(["train", *TINY, "--steps", "5000", "--out", w / "run", "-q"])
    _wait_for(w / "run/last.h5", a)
    for args, what in ((["train", *TINY, "--steps", "8", "--out", w / "run"], "same --out"),
                       (["train", *TINY, "--steps", "8", "--out", w / "run", "--force"],
                        "same --out --force"),
                       (["train", "--out", w / "run", "--resume", "--steps", "6000"],
                        "--resume while it trains")):
        att.one_line("W", f"second train, {what}", att.r(args), must=("in use",),
                     extra=(a.poll() is None, "the first train had ended: not a test"))
    os.kill(pid, signal.SIGINT)
    rc, out, err = _wait(a)
    att.record("W", "the first train, Ctrl-C after those, saved its checkpoint undisturbed",
               rc == 130 and "saved" in err and not _tb(out + err), f"rc {rc} {err.strip()[-100:]}")
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
    _wait_for(out / "last.h5", p)  # mid-run: the start is group I's (a loaded machine
    time.sleep(delay)              # can take seconds to get there)
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
        _interrupted_then_resumed(att, f"k{i}", signal.SIGKILL, att.rng.uniform(0, 4))
    for i in range(4):
        _interrupted_then_resumed(att, f"t{i}", signal.SIGTERM, att.rng.uniform(0, 4))
    for i in range(4):
        _interrupted_then_resumed(att, f"i{i}", signal.SIGINT, att.rng.uniform(0, 4))


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


def group_x(att):
    """Item 3: every way out of a run is a clean one."""
    w = att.work
    p, pid = att.start(["train", *TINY, "--steps", SIGNAL_STEPS, "--out", w / "term"])
    _wait_for(w / "term/last.h5", p)
    time.sleep(1)
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


ALL_SIGNALS = {"W": group_w, "S": group_s, "I": group_i, "X": group_x}
