"""Re-run the reliability attack from the shell, as a new user would.

Not a pytest module (no ``test_`` prefix: pytest does not collect it, CI does
not run it); the cases are in attack_groups.py, attack_disks.py,
attack_signals.py and attack_reported.py beside it. It drives an installed ``refrnn`` executable (a fresh clone's
venv) through every case of docs/reliability.md's "Re-running the attack":
each command runs under coreutils ``timeout`` (a command that never returns
is a failure), in a scratch folder of its own, with its own REFRNN_CACHE_DIR.

    python tests/attack_cases.py --refrnn /tmp/attack-clone/.venv/bin/refrnn \\
        --work /tmp/attack-work [--groups T,C,...] [--repo /tmp/attack-clone]

``--repo`` (a clone whose venv has pytest) enables group U, the planted bugs.
Full-disk (F) and read-only (R) cases mount small tmpfs file systems, so they
need root; without it they are reported as not run. Prints one line per case
(PASS/FAIL, group, name, what was seen), then the grouped counts as a
Markdown table, and writes ``results.json`` into ``--work``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

TINY = ["--hidden", "16", "--sparsity", "0.25", "--batch-size", "4", "--seq-len", "40",
        "--eval-every", "4", "--trials-per-task", "8", "--eval-trials", "3",
        "--task-set", "yang19"]
GROUPS = {
    "T": "bad train options",
    "C": "damaged, foreign or NaN checkpoints",
    "D": "damaged or foreign caches",
    "F": "full disk (real tmpfs mounts)",
    "R": "read-only folders (read-only tmpfs / bind mounts)",
    "W": "concurrent writers (train, cache, sweep, dask sweep)",
    "P": "odd paths",
    "S": "kill -9 / SIGTERM / SIGINT mid-run, then --resume: bit-identical",
    "I": "SIGINT at random times in the first 1.5 s of train",
    "O": "user files and earlier runs overwritten",
    "B": "tracebacks instead of one line",
    "X": "ways out of a run",
    "M": "misleading messages",
    "U": "unpinned checks (planted bugs fail a test)",
}


class Result:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds

    @property
    def text(self):
        return self.out + self.err

    def errors(self, prefix="Error:"):
        return [ln for ln in self.text.splitlines() if ln.startswith(prefix)]


class Attack:
    def __init__(self, refrnn, work, repo=None):
        self.refrnn, self.work, self.repo = refrnn, Path(work), repo
        self.env = dict(os.environ, REFRNN_CACHE_DIR=str(self.work / "cache"),
                        PYTHONUNBUFFERED="1", COLUMNS="200",
                        PATH=f"{Path(refrnn).parent}{os.pathsep}{os.environ['PATH']}")
        self.python = str(Path(refrnn).with_name("python"))
        self.results = []
        self.mounts = []

    # ---- running -------------------------------------------------------------
    def sh(self, cmd, timeout=120, cwd=None, env=None, stdin=subprocess.DEVNULL):
        """Run a bash command line under ``timeout``; ``refrnn`` there is the tested one."""
        line = cmd  # PATH starts with the tested refrnn's folder
        t0 = time.time()
        p = subprocess.run(["timeout", "-k", "5", str(timeout), "bash", "-c", line],
                           cwd=cwd or self.work, env=env or self.env, stdin=stdin,
                           capture_output=True, text=True, errors="replace")
        return Result(p.returncode, p.stdout, p.stderr, time.time() - t0)

    def r(self, args, timeout=120, cwd=None, env=None):
        """``refrnn ARGS`` (a list, no shell) under ``timeout``."""
        t0 = time.time()
        p = subprocess.run(["timeout", "-k", "5", str(timeout), self.refrnn, *map(str, args)],
                           cwd=cwd or self.work, env=env or self.env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           errors="replace")
        return Result(p.returncode, p.stdout, p.stderr, time.time() - t0)

    def start(self, args, cwd=None, timeout=300):
        """Start ``timeout T refrnn ARGS``; returns (Popen of timeout, pid of refrnn)."""
        p = subprocess.Popen(["timeout", "-k", "5", str(timeout), self.refrnn, *map(str, args)],
                             cwd=cwd or self.work, env=self.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             errors="replace")
        for _ in range(2000):
            kids = Path(f"/proc/{p.pid}/task/{p.pid}/children")
            try:
                pids = kids.read_text().split()
            except OSError:
                pids = []
            if pids:
                return p, int(pids[0])
            time.sleep(0.001)
        return p, None

    def py(self, code, timeout=120):
        """Python code in the tested venv, under ``timeout``."""
        t0 = time.time()
        p = subprocess.run(["timeout", "-k", "5", str(timeout), self.python, "-c", code],
                           cwd=self.work, env=self.env, capture_output=True, text=True,
                           errors="replace")
        return Result(p.returncode, p.stdout, p.stderr, time.time() - t0)

    # ---- verdicts --------------------------------------------------------------
    def record(self, group, name, ok, seen):
        seen = " ".join(str(seen).split())[:300]
        self.results.append({"group": group, "case": name, "ok": bool(ok), "seen": seen})
        print(f"{'PASS' if ok else 'FAIL'} {group} {name}: {seen}", flush=True)

    def one_line(self, group, name, res, rcs=(1, 2), must=(), must_not=(), extra=None,
                 prefix="Error:"):
        """The documented failure: a non-zero exit in ``rcs``, exactly one ``Error:``
        (``prefix``) line, no traceback, no timeout; ``must``/``must_not`` words in it."""
        errs = res.errors(prefix)
        why = []
        if res.rc in (124, 137):
            why.append("timed out")
        if "Traceback" in res.text or "Exception ignored" in res.text:
            why.append("traceback: " + res.text.strip().splitlines()[-1])
        if res.rc not in rcs:
            why.append(f"rc {res.rc}")
        if len(errs) != 1:
            why.append(f"{len(errs)} {'/'.join(prefix) if isinstance(prefix, tuple) else prefix}"
                       " lines")
        line = errs[0] if errs else res.text.strip()[-200:]
        why += [f"missing {w!r}" for w in must if w not in line]
        why += [f"says {w!r}" for w in must_not if w in line]
        if extra is not None and not extra[0]:
            why.append(extra[1])
        self.record(group, name, not why, "; ".join(why) + (" | " if why else "") + line)
        return not why

    def clean_ok(self, group, name, res, check=(True, "")):
        """A command that should succeed: rc 0, no traceback, no timeout."""
        why = []
        if res.rc != 0:
            why.append(f"rc {res.rc}")
        if "Traceback" in res.text:
            why.append("traceback")
        if not check[0]:
            why.append(check[1])
        tail = res.text.strip().splitlines()[-1] if res.text.strip() else ""
        self.record(group, name, not why, "; ".join(why) + " | " + tail)
        return not why

    # ---- fixtures ----------------------------------------------------------------
    def train(self, out, *extra, steps=8, cwd=None):
        res = self.r(["train", *TINY, "--steps", steps, *extra, "--out", out, "-q"], cwd=cwd)
        if res.rc != 0:
            raise RuntimeError(f"fixture run {out} failed: {res.text[-500:]}")
        return Path(cwd or self.work) / out

    def copy_run(self, src, name):
        dst = self.work / name
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(self.work / src, dst)
        return dst

    def mount(self, where, size="64k", ro=False):
        where = Path(where)
        where.mkdir(parents=True, exist_ok=True)
        opts = f"size={size}" + (",ro" if ro else "")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return False
        self.mounts.append(where)
        return True

    def bind_ro(self, src, where):
        where = Path(where)
        where.mkdir(parents=True, exist_ok=True)
        for cmd in (["mount", "--bind", str(src), str(where)],
                    ["mount", "-o", "remount,ro,bind", str(where)]):
            if subprocess.run(cmd, capture_output=True).returncode != 0:
                return False
        self.mounts.append(where)
        return True

    def unmount_all(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(m)], capture_output=True)
        self.mounts = []

    def same_weights(self, a, b):
        """(bytes identical, content identical, detail) of two checkpoints."""
        code = f"""
import json, numpy as np
from refrnn.run.checkpoint import load_checkpoint
a, b = load_checkpoint({str(a)!r}), load_checkpoint({str(b)!r})
same = a.step == b.step and all(a.params[k].tobytes() == b.params[k].tobytes() for k in a.params)
def eq(x, y):
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(eq(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(eq(u, v) for u, v in zip(x, y))
    return np.array_equal(np.asarray(x), np.asarray(y))
same = same and eq(a.optim, b.optim)
same = same and json.dumps(a.sampler, default=str) == json.dumps(b.sampler, default=str)
print("SAME" if same else "DIFF", a.step, b.step)
"""
        res = self.py(code)
        same_bytes = Path(a).read_bytes() == Path(b).read_bytes()
        return same_bytes, res.out.startswith("SAME"), res.out.strip() or res.err[-200:]


def _load_groups():
    from attack_reported import ALL  # the cases, beside this file
    return ALL


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refrnn", required=True, help="the refrnn executable to attack")
    ap.add_argument("--work", required=True, help="scratch folder (emptied first)")
    ap.add_argument("--repo", help="a clone with pytest in the venv (group U)")
    ap.add_argument("--groups", default=",".join(GROUPS), help="letters, comma separated")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random signal times")
    a = ap.parse_args(argv)
    work = Path(a.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sys.path.insert(0, str(Path(__file__).parent))
    groups = _load_groups()
    att = Attack(str(Path(a.refrnn).resolve()), work, a.repo)
    att.rng = random.Random(a.seed)
    t0 = time.time()
    try:
        for letter in a.groups.split(","):
            gdir = work / letter
            gdir.mkdir()
            att.work = gdir
            try:
                groups[letter](att)
            except Exception as e:  # a broken fixture: that group's remaining cases fail
                att.record(letter, "(group aborted)", False, f"{type(e).__name__}: {e}")
            finally:
                att.unmount_all()
    finally:
        att.unmount_all()
        att.work = work
    print(f"\n{len(att.results)} cases in {time.time() - t0:.0f} s\n")
    print("| group | what | cases | behaved as documented |\n|---|---|---|---|")
    for letter in a.groups.split(","):
        rows = [r for r in att.results if r["group"] == letter]
        print(f"| {letter} | {GROUPS[letter]} | {len(rows)} | {sum(r['ok'] for r in rows)} |")
    (work / "results.json").write_text(json.dumps(att.results, indent=1))
    failed = [r for r in att.results if not r["ok"]]
    for r in failed:
        print(f"FAILED {r['group']} {r['case']}: {r['seen']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
