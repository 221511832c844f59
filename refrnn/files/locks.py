"""Lock files: one writer at a time for a run directory or a trial cache.

    with hold_lock(run_dir / RUN_LOCK, "run directory runs/x"):
        ...                                   # the only writer of runs/x

A lock is a small file holding the owner's pid, host and start time, locked
with ``flock`` while held. The kernel drops an ``flock`` when its process dies
(SIGKILL included), so a lock file left behind by a killed run is stale: the
next writer takes it over and says so. A second writer while the owner runs
gets a :class:`LockError` naming the owner. Where ``flock`` is unavailable
(Windows, some network file systems) the pid in the file decides: a lock of a
process no longer running on this host is stale.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import FileError, file_errors, make_folder, remove_empty_folders

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

RUN_LOCK = ".refrnn.lock"


class LockError(FileError):
    """Another live process holds the lock; the message names it."""


def _owner_text(owner: dict) -> str:
    if not owner:
        return "another process"
    return (f"pid {owner.get('pid')} on host {owner.get('host')} "
            f"(since {owner.get('since', '?')})")


def _read_owner(fd) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        owner = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError):
        owner = {}
    return owner if isinstance(owner, dict) else {}


def _alive_here(owner: dict) -> bool:
    """Whether the owner is a running process on this host (the no-flock rule)."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return bool(owner)  # another host's lock cannot be checked: honour it
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_flock(fd, wait: bool) -> bool:
    """True when locked (or flock is unsupported: then the pid rule decides)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return True  # ENOLCK, EOPNOTSUPP: no flock on this file system


def _same_file(fd, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def acquire(path, what: str, wait: bool = False):
    """Take the lock file ``path`` for ``what`` (words for messages).

    Returns (fd, stale_owner): stale_owner is the dict of a dead owner whose
    lock was taken over, else None. ``wait`` blocks until the owner finishes
    instead of raising LockError.
    """
    path, made = Path(path), []
    try:
        return _acquire(path, what, wait, made)
    except BaseException:  # a failed start (a full disk) leaves no folder it made
        remove_empty_folders(made)
        raise


def _acquire(path: Path, what: str, wait: bool, made: list):
    """:func:`acquire`'s work; the folders it creates are added to ``made``."""
    with file_errors(what, "lock"):  # "cannot lock run directory runs/x: <cause>"
        make_folder(path.parent, made)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                held = _try_flock(fd, wait)
                owner = _read_owner(fd)
                if not held or (fcntl is None and owner and _alive_here(owner)):
                    raise LockError(f"{what} is in use by {_owner_text(owner)}; wait for it "
                                    f"to finish (if that process is gone, delete {path})")
            except BaseException:
                os.close(fd)
                raise
            if not _same_file(fd, path):  # the owner released (unlinked) it meanwhile
                os.close(fd)
                continue
            try:
                me = {"pid": os.getpid(), "host": socket.gethostname(),
                      "since": time.strftime("%Y-%m-%d %H:%M:%S")}
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, json.dumps(me).encode("utf-8"))
            except BaseException:  # e.g. ENOSPC: it is ours, so no lock file stays
                release(fd, path)
                raise
            return fd, (owner or None)


def release(fd, path) -> None:
    """Remove the lock file (still holding it, so no one locks a dead inode) and unlock."""
    try:
        if _same_file(fd, Path(path)):
            os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def hold_lock(path, what: str, wait: bool = False, on_stale=None):
    """Hold the lock file ``path`` within the block (see :func:`acquire`).

    ``on_stale(text)`` is called with one line when a dead owner's lock was
    taken over.
    """
    fd, stale = acquire(path, what, wait)
    if stale and on_stale is not None:
        on_stale(f"took over the stale lock {path} of {_owner_text(stale)}, "
                 "which is no longer running")
    try:
        yield
    finally:
        release(fd, path)
