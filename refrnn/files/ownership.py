"""The one rule for what refrnn may replace: only files it can recognise as its own.

Every path a user names for refrnn to write (``train --out`` with or without
``--force``, ``cache --out``, ``export --out``, ``eval --csv``, ``plot --out``,
``mask --plot``, ``analyze --out``, ``sweep --out``) may already hold a file.
refrnn replaces it only when it recognises the file as its own, by one of:

- its *content*: a recogniser of the kind about to be written (an HDF5
  format mark, a zip member, refrnn's CSV header, ...);
- the folder's *manifest* ``.refrnn-written``: every figure (any file whose
  content cannot show who wrote it) written through :func:`owned_output` is
  recorded there as ``<sha256>  <name>`` (the
  ``sha256sum`` format; the last line of a name counts), so a figure refrnn
  wrote is recognised while its bytes are the ones refrnn wrote, and a user's
  file of the same name (or refrnn's file edited since) is not.

Anything else (a user's own ``config.json``, ``fig.png``, ``summary.csv``) is
refused with one line, before anything is written or deleted, unless the
caller passes ``force`` (the user asked for it: ``--force``):

    check_replaceable(path, what, is_own, force)   FileError unless path is absent or own
    owned_output(path, what, is_own, force)        check, write atomically, record
    written_by_refrnn(path)                        the manifest records these bytes
    remedy(path, is_own, own_todo, what)           advice for a bad file: ``own_todo``
                                                   (which may delete it) only for refrnn's own
    h5_with_marker(path, marker)            an HDF5 file carrying refrnn's format mark
    zip_with_member(path, name)             a zip (.npz, torch .pt) holding ``name``
    json_object_with(path, required, known) a JSON object of refrnn's keys
    text_starting_with(path, prefix)        a text file whose first line starts so

The recognisers read bytes only (no HDF5 library: a damaged file must not
hang a check whose purpose is to protect it) and never raise: an unreadable
file is "not recognised".
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

from .atomic import atomic_output
from .errors import FileError

try:
    import fcntl
except ImportError:  # Windows: appends are not locked
    fcntl = None

__all__ = ["check_replaceable", "owned_output", "remedy", "written_by_refrnn", "record_written",
           "h5_with_marker", "zip_with_member", "json_object_with", "text_starting_with",
           "MANIFEST", "HEAD_BYTES"]

MANIFEST = ".refrnn-written"  # per folder: "<sha256>  <name>" of each file refrnn wrote
MANIFEST_COMPACT_BYTES = 1 << 16  # rewritten with one line per name beyond this size

HEAD_BYTES = 1 << 16  # where refrnn's HDF5 writers put the root attributes (measured: < 3 KB)
_H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_replaceable(path, what: str, is_own=None, force=None) -> Path:
    """``path`` when nothing is there, ``is_own(path)`` recognises a refrnn
    file of the kind ``what`` names, the folder's manifest records the file's
    bytes (:func:`written_by_refrnn`), or ``force``; else FileError naming the
    path and why. ``force`` None: the caller offers no force (the message
    does not suggest it); False: it does, and the user did not ask.

    A folder (or anything not a regular file) in the way is never replaced.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return path
    if not path.is_file():
        raise FileError(f"cannot replace {path}: it exists and is not a file")
    if force or (is_own is not None and is_own(path)) or written_by_refrnn(path):
        return path
    todo = ("move it away or choose another path" if force is None else
            "move it away, choose another path, or replace it on purpose with "
            "force=True (--force)")
    raise FileError(f"cannot replace {path}: it exists and is not {what} (refrnn "
                    f"replaces only files it recognises as its own); {todo}")


def remedy(path, is_own, own_todo: str, what: str) -> str:
    """What to do about a file refrnn cannot use: ``own_todo`` (e.g. "delete it
    and rebuild it") when ``is_own(path)`` recognises it as refrnn's, else
    advice that deletes and overwrites nothing (it may be the user's file)."""
    if is_own(path) or written_by_refrnn(path):
        return own_todo
    return f"it is not {what}: check the path (refrnn deletes no file it did not write)"


@contextmanager
def owned_output(path, what: str, is_own=None, force=None, record: bool = True):
    """:func:`refrnn.files.atomic.atomic_output` for a file refrnn may replace
    only under :func:`check_replaceable`'s rule. With ``record`` (for files
    whose content cannot show refrnn wrote them: figures) the file written is
    recorded in the folder's manifest, before the rename: a crash between the
    two leaves a record of bytes that are nowhere, never a file of refrnn's
    that it does not recognise. Yields the temporary path to write."""
    path = check_replaceable(path, what, is_own, force)
    with atomic_output(path) as tmp:
        yield tmp
        if record:
            record_written(path, _sha256(tmp))


def _sha256(path):
    """sha256 (hex) of the file's bytes, None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _manifest_entries(folder) -> dict:
    """{name: sha256} from the folder's manifest (last line of a name wins)."""
    entries = {}
    try:
        text = (Path(folder) / MANIFEST).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return entries
    for line in text.splitlines():
        digest, sep, name = line.partition("  ")
        if sep and len(digest) == 64 and name:
            entries[name] = digest
    return entries


def written_by_refrnn(path) -> bool:
    """Whether the manifest beside ``path`` records exactly its current bytes."""
    path = Path(path)
    digest = _manifest_entries(path.parent).get(path.name)
    return digest is not None and path.is_file() and digest == _sha256(path)


def record_written(path, digest) -> None:
    """Append ``<digest>  <name>`` to the manifest beside ``path`` (locked, so
    writers in parallel never mix lines; compacted to one line per name when
    it grows past MANIFEST_COMPACT_BYTES). A name with a line break, or a
    manifest that cannot be written, is not recorded: refrnn then does not
    recognise that file later, the safe side."""
    path = Path(path)
    if digest is None or "\n" in path.name or "\r" in path.name:
        return
    manifest = path.parent / MANIFEST
    line = f"{digest}  {path.name}\n".encode("utf-8")
    while True:  # again when a compaction replaced the file meanwhile (someone progressed)
        try:
            fd = os.open(manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            return
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino != os.stat(manifest).st_ino:
                continue  # compacted meanwhile: append to the new file
            os.write(fd, line)
            if os.fstat(fd).st_size > MANIFEST_COMPACT_BYTES:
                _compact(manifest)
            return
        except OSError:
            return
        finally:
            os.close(fd)


def _compact(manifest: Path) -> None:
    """Rewrite the manifest with the last line of each name (the caller holds its lock)."""
    entries = _manifest_entries(manifest.parent)
    text = "".join(f"{d}  {n}\n" for n, d in entries.items())
    with atomic_output(manifest) as tmp:
        tmp.write_text(text, encoding="utf-8")


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
