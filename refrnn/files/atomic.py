"""Atomic file output: write under a temporary name, then rename.

Every file refrnn writes (caches, checkpoints, CSV logs, figures, JSON) goes
through :func:`atomic_output`, so a crash or Ctrl-C never leaves a
half-written file under the final name, and an older file is replaced only
by a complete new one. Any OSError on the way (permission, full disk, a
path under a file, a read-only mount) becomes a one-line
:class:`refrnn.files.errors.FileError` naming ``path``.

A writer holds an ``flock`` on its temporary file until the rename, so the
temporary file of a killed write (kill -9, power loss) is recognisable: the
next writer of the same path removes every ``.<stem>.<8 chars>.tmp<suffix>``
beside it that no live process holds and that is older than STALE_TMP_S
(:func:`remove_stale_temps`).

HDF5 files are built in memory and then written with plain file I/O
(:func:`atomic_bytes`, :func:`atomic_write_h5`): HDF5 failing a write on a full disk leaves its
library state broken (dozens of "Exception ignored" tracebacks, then a
segfault), an ordinary ``write`` just raises ENOSPC.
"""
from __future__ import annotations

import io
import os
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import file_errors, make_folder, remove_empty_folders

try:
    import fcntl
except ImportError:  # Windows: no flock, so no way to tell a dead writer's file
    fcntl = None

STALE_TMP_S = 1.0  # a temporary file younger than this is never removed (its writer
                    # may not have locked it yet)


@contextmanager
def atomic_output(path, mode: int = 0o644):
    """Yield a temporary path beside ``path``; on success it becomes ``path``.

    The temporary name keeps ``path``'s extension (so writers that infer the
    format from it, like matplotlib, still work). On a clean exit the file is
    fsynced, given ``mode`` (mkstemp makes 0600 files) and renamed over
    ``path``; on any exception it is removed and the exception re-raised.
    The parent folder is created when missing, and removed again (with the
    parents made for it) when the write fails and it is still empty. An
    OSError (in here or in the block) is raised as FileError("cannot write
    <path>: <cause>").
    """
    path = Path(path)
    with file_errors(path, "write"):
        made = make_folder(path.parent)
        remove_stale_temps(path)
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                        dir=path.parent)
        except BaseException:
            remove_empty_folders(made)
            raise
        tmp = Path(name)
        try:
            _lock(fd)  # held until the rename: a live writer's file is never removed
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            remove_empty_folders(made)
            raise
        finally:
            os.close(fd)
    _fsync_dir(path.parent)


def _lock(fd, wait: bool = True) -> bool:
    """flock ``fd`` (True), or False when another process holds it (no wait)
    or flock is missing (Windows, some network file systems)."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        return True
    except OSError:
        return False


def remove_stale_temps(path) -> list:
    """Remove the temporary files that killed writes of ``path`` left beside it
    (see the module docstring); returns their paths. Errors are ignored: a
    file that cannot be checked or removed is left."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.stem}.") + r"[A-Za-z0-9_]{8}"
                         + re.escape(f".tmp{path.suffix}"))
    removed = []
    if fcntl is None:
        return removed
    try:
        entries = [e for e in os.scandir(path.parent) if pattern.fullmatch(e.name)]
    except OSError:
        return removed
    for entry in entries:
        try:
            if time.time() - entry.stat(follow_symlinks=False).st_mtime < STALE_TMP_S \
                    or not entry.is_file(follow_symlinks=False):
                continue
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if _lock(fd, wait=False):  # nobody writes it: its writer is gone
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


@contextmanager
def atomic_bytes(path):
    """Yield an in-memory ``io.BytesIO``; on success its bytes become ``path``
    through :func:`atomic_output`. ``h5py.File(buf, "w")`` accepts it, which is
    how HDF5 files are written (see the module docstring)."""
    buf = io.BytesIO()
    with file_errors(path, "write"):
        yield buf
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(buf.getbuffer())


def atomic_write_h5(path, fill) -> Path:
    """Write an HDF5 file atomically: ``fill(h5file)`` fills it in memory (see
    :func:`atomic_bytes`). Returns ``path``."""
    import h5py

    with atomic_bytes(path) as buf:
        with h5py.File(buf, "w") as f:
            fill(f)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return path


def _fsync_dir(folder) -> None:
    """Make the rename itself durable (POSIX; skipped where folders can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
