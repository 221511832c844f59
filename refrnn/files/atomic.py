"""Atomic file output: write under a temporary name, then rename.

Every file refrnn writes (caches, checkpoints, CSV logs, figures, JSON) goes
through :func:`atomic_output`, so a crash or Ctrl-C never leaves a
half-written file under the final name, and an older file is replaced only
by a complete new one. Any OSError on the way (permission, full disk, a
path under a file, a read-only mount) becomes a one-line
:class:`refrnn.files.errors.FileError` naming ``path``.

HDF5 files are built in memory and then written with plain file I/O
(:func:`atomic_bytes`, :func:`atomic_write_h5`): HDF5 failing a write on a full disk leaves its
library state broken (dozens of "Exception ignored" tracebacks, then a
segfault), an ordinary ``write`` just raises ENOSPC.
"""
from __future__ import annotations

import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import file_errors, make_folder


@contextmanager
def atomic_output(path, mode: int = 0o644):
    """Yield a temporary path beside ``path``; on success it becomes ``path``.

    The temporary name keeps ``path``'s extension (so writers that infer the
    format from it, like matplotlib, still work). On a clean exit the file is
    fsynced, given ``mode`` (mkstemp makes 0600 files) and renamed over
    ``path``; on any exception it is removed and the exception re-raised.
    The parent folder is created when missing. An OSError (in here or in the
    block) is raised as FileError("cannot write <path>: <cause>").
    """
    path = Path(path)
    with file_errors(path, "write"):
        make_folder(path.parent)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                    dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _fsync_dir(path.parent)


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
