"""How much memory this machine has, and the one refusal of a job that needs more.

    machine_memory()                 (total bytes, available bytes) of this machine
    check_fits(parts, what, advice)  TooLarge unless sum(parts) fits in the total
    fmt_bytes(n)                     "1.5 GiB"

Callers estimate what a job allocates (refrnn.run.memory for a training run,
refrnn.data.footprint for a trial cache) *before* allocating any of it, so a
setting too large for the machine ends in one line naming the estimate and
the machine's memory, instead of a MemoryError traceback after files were
written. The bound is the total memory (or a lower cgroup limit): a job
larger than that cannot run here whatever else is running.
"""
from __future__ import annotations

import os

__all__ = ["TooLarge", "machine_memory", "check_fits", "fmt_bytes"]

_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max",                     # cgroup v2
                  "/sys/fs/cgroup/memory/memory.limit_in_bytes")   # cgroup v1


class TooLarge(ValueError):
    """A job whose estimated memory is more than this machine has (one line)."""


def fmt_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def _cgroup_limit():
    for p in _CGROUP_LIMITS:
        try:
            with open(p) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def machine_memory() -> tuple:
    """(total, available) bytes: physical memory (or a lower cgroup limit), and
    MemAvailable from /proc/meminfo (the total where that is missing)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no bound known
        total = None
    limit = _cgroup_limit()
    if limit is not None and (total is None or limit < total):
        total = limit
    avail = total
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = min(int(line.split()[1]) * 1024, total or 1 << 62)
                    break
    except (OSError, ValueError, IndexError):
        pass
    return total, avail


def check_fits(parts: dict, what: str, advice: str, total=None) -> int:
    """The estimate sum(parts.values()) in bytes, or TooLarge when it is more
    than the machine's memory (``total``: for tests; default machine_memory()).

    The message names the estimate, its largest parts and the machine's total
    and available memory, then ``advice``."""
    need = int(sum(parts.values()))
    if total is None:
        total, avail = machine_memory()
    else:
        avail = total
    if total is None or need <= total:
        return need
    top = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
    shown = ", ".join(f"{k} {fmt_bytes(v)}" for k, v in top if v > 0)
    raise TooLarge(f"{what} needs about {fmt_bytes(need)} of memory ({shown}), more than "
                   f"this machine's {fmt_bytes(total)} ({fmt_bytes(avail)} available); "
                   f"{advice}")
