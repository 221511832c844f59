"""The one rule for what refrnn may replace: only files it can recognise as its own.

Every path a user names for refrnn to write (``train --out`` with or without
``--force``, ``cache --out``, ``export --out``, ``eval --csv``) may already
hold a file. refrnn replaces it only when the file's *content* shows that
refrnn wrote it, by a recogniser of the kind about to be written; anything
else (a user's own ``config.json``, ``notes.txt`` given as ``--out``) is
refused with one line, before anything is written or deleted:

    check_replaceable(path, what, is_own)   FileError unless path is absent or own
    h5_with_marker(path, marker)            an HDF5 file carrying refrnn's format mark
    zip_with_member(path, name)             a zip (.npz, torch .pt) holding ``name``
    json_object_with(path, required, known) a JSON object of refrnn's keys
    text_starting_with(path, prefix)        a text file whose first line starts so

The recognisers read bytes only (no HDF5 library: a damaged file must not
hang a check whose purpose is to protect it) and never raise: an unreadable
file is "not recognised".
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import FileError

__all__ = ["check_replaceable", "h5_with_marker", "zip_with_member", "json_object_with",
           "text_starting_with", "HEAD_BYTES"]

HEAD_BYTES = 1 << 16  # where refrnn's HDF5 writers put the root attributes (measured: < 3 KB)
_H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_replaceable(path, what: str, is_own) -> Path:
    """``path`` when nothing is there or ``is_own(path)`` recognises a refrnn
    file of the kind ``what`` names; else FileError naming the path and why.

    A folder (or anything not a regular file) in the way is never replaced.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return path
    if not path.is_file():
        raise FileError(f"cannot replace {path}: it exists and is not a file")
    if not is_own(path):
        raise FileError(f"cannot replace {path}: it exists and is not {what} (refrnn "
                        "replaces only files it recognises as its own); move it away or "
                        "choose another path")
    return path


def _head(path, n=HEAD_BYTES) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def h5_with_marker(path, marker: bytes) -> bool:
    """An HDF5 file (signature at byte 0, or after a 512-byte user block) whose
    first HEAD_BYTES hold ``marker`` (refrnn writes its format attribute there)."""
    head = _head(path)
    return ((head.startswith(_H5_SIGNATURE) or head[512:520] == _H5_SIGNATURE)
            and marker in head)


def zip_with_member(path, name: bytes) -> bool:
    """A zip file (np.savez, torch.save) whose start or central directory (at
    its end) names ``name``."""
    head = _head(path)
    if not head.startswith(b"PK\x03\x04"):
        return False
    if name in head:
        return True
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - HEAD_BYTES))
            return name in f.read()
    except OSError:
        return False


def json_object_with(path, required, known) -> bool:
    """A UTF-8 JSON object holding every key of ``required`` and no key outside
    ``known`` (dashes read as underscores)."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    keys = {str(k).replace("-", "_") for k in data}
    return set(required) <= keys <= set(known)


def text_starting_with(path, prefix: str) -> bool:
    """A UTF-8 text file whose first line starts with ``prefix``."""
    first = _head(path, 4096).decode("utf-8", errors="replace").split("\n", 1)[0]
    return first.startswith(prefix)
