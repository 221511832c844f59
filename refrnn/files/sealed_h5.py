"""The one verified way refrnn writes and opens its HDF5 files (caches, checkpoints).

libhdf5 can loop forever on damaged metadata (64 zero bytes in the right
place of a checkpoint made every command spin at 100% CPU), so a file's bytes
are checked *before* libhdf5 parses them:

    write_sealed_h5(path, fill)   fill(h5file) in memory, seal, write atomically
    open_h5(path)                 context manager: check, then h5py.File(path, "r")
    check_h5(path)                "sealed" or "unsealed"; DamagedFile otherwise
    reseal_file(path)             seal a sealed file again after a deliberate edit

Sealed files (everything refrnn writes now) start with a 512-byte HDF5 user
block (``userblock_size=512``: HDF5 skips it, so any HDF5 tool still reads
the file) holding ``SEAL_MAGIC``, the SHA-256 and the length of the bytes
after it. Opening one hashes those bytes first; any difference is a
DamagedFile before libhdf5 sees the file. A file whose HDF5 signature sits
at byte 512 but whose user block is not a seal is damaged too.

Unsealed files (written before, e.g. tests/data/checkpoint_v1.h5, or by other
tools) have no digest: they are parsed first in a child process that reads
every attribute and dataset, with a time limit; only when that child ends
cleanly does this process open the file. So no damage becomes a hang: a
sealed file costs one hash (measured in docs/reliability.md), an unsealed one
a child process (about half a second) the first time it is opened.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import h5py

from .atomic import atomic_bytes

__all__ = ["DamagedFile", "write_sealed_h5", "open_h5", "check_h5", "seal", "reseal_file",
           "USERBLOCK",
           "SEAL_MAGIC", "UNSEALED_TIMEOUT_S"]

USERBLOCK = 512
SEAL_MAGIC = b"refrnn sealed hdf5 1\n"
H5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
UNSEALED_TIMEOUT_S = 10.0     # the child's limit, plus 1 s per 50 MB of file
_HASH_CHUNK = 1 << 20
_checked_unsealed: dict = {}  # (path, inode, size, mtime) of unsealed files read cleanly

# What the child does with an unsealed file: every attribute and every dataset.
_CHILD = r"""
import sys
import h5py
def visit(name, obj):
    for k in obj.attrs:
        obj.attrs[k]
    if isinstance(obj, h5py.Dataset):
        obj[()]
with h5py.File(sys.argv[1], "r", locking=False) as f:
    for k in f.attrs:
        f.attrs[k]
    f.visititems(visit)
"""


class DamagedFile(ValueError):
    """An HDF5 file whose bytes are not what refrnn wrote, or that libhdf5
    cannot read in bounded time; the message says which, in a few words."""


def seal(buf) -> None:
    """Write the seal of an in-memory HDF5 file made with ``userblock_size=512``
    into its user block (``buf``: a writable bytes-like object, e.g. getbuffer())."""
    view = memoryview(buf)
    if bytes(view[USERBLOCK:USERBLOCK + 8]) != H5_SIGNATURE:
        raise ValueError("seal() needs an HDF5 file written with userblock_size=512")
    body = view[USERBLOCK:]
    head = SEAL_MAGIC + (f"sha256 {hashlib.sha256(body).hexdigest()}\n"
                         f"size {len(body)}\n").encode()
    view[:USERBLOCK] = head.ljust(USERBLOCK, b"\0")


def write_sealed_h5(path, fill) -> Path:
    """Write an HDF5 file atomically and sealed: ``fill(h5file)`` fills it in
    memory (refrnn.files.atomic: a full disk cannot break h5py's state)."""
    with atomic_bytes(path) as buf:
        with h5py.File(buf, "w", userblock_size=USERBLOCK) as f:
            fill(f)
        seal(buf.getbuffer())
    return Path(path)


def reseal_file(path) -> None:
    """Seal ``path`` again after it was edited on purpose (h5py "r+" keeps the
    user block): its bytes become the ones every open accepts. The tests use it
    to reach the per-dataset checksums behind the seal."""
    data = bytearray(Path(path).read_bytes())
    data[:USERBLOCK] = bytes(USERBLOCK)
    seal(data)
    Path(path).write_bytes(bytes(data))


def _read_seal(head: bytes):
    """(sha256 hex, size) from a user block, or None when it is not a seal."""
    if not head.startswith(SEAL_MAGIC):
        return None
    text, _, padding = head[len(SEAL_MAGIC):].partition(b"\0")
    if padding.strip(b"\0"):  # the rest of the block is zeros when written
        return None
    try:
        lines = text.decode("ascii").splitlines()
        fields = dict(line.split(" ", 1) for line in lines)
        digest, size = fields["sha256"], int(fields["size"])
    except (UnicodeDecodeError, ValueError, KeyError):
        return None
    if len(digest) != 64:
        return None
    return digest, size


def _stat_key(path):
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)


def check_h5(path, timeout=None) -> str:
    """"sealed" when the seal matches the bytes, "unsealed" when an unsealed
    file was read cleanly by a child process within ``timeout`` seconds
    (default UNSEALED_TIMEOUT_S + 1 s per 50 MB); DamagedFile otherwise.
    OSError (missing file, permission) propagates for the caller to name."""
    with open(path, "rb") as f:
        head = f.read(USERBLOCK + 8)
        if head[:8] == H5_SIGNATURE:
            return _check_unsealed(path, timeout)
        if head[USERBLOCK:USERBLOCK + 8] != H5_SIGNATURE and not head.startswith(SEAL_MAGIC):
            raise DamagedFile("not an HDF5 file (no HDF5 signature at byte 0 or 512)")
        sealed = _read_seal(head[:USERBLOCK])
        if sealed is None:
            raise DamagedFile("its seal (the 512-byte block at its start) is damaged")
        digest, size = sealed
        f.seek(USERBLOCK)
        h, n = hashlib.sha256(), 0
        while True:
            chunk = f.read(_HASH_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
    if n != size:
        raise DamagedFile(f"truncated or extended: {n} bytes after the seal, "
                          f"{size} when written")
    if h.hexdigest() != digest:
        raise DamagedFile("its bytes differ from what was written (SHA-256 mismatch)")
    return "sealed"


def _check_unsealed(path, timeout) -> str:
    key = _stat_key(path)
    if key in _checked_unsealed:
        return "unsealed"
    if timeout is None:
        timeout = UNSEALED_TIMEOUT_S + key[2] / 50e6
    try:  # -I: no PYTHON* variables, no user site: only this interpreter's packages
        r = subprocess.run([sys.executable, "-I", "-c", _CHILD, str(path)],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DamagedFile(f"the HDF5 library did not finish reading it in "
                          f"{timeout:.0f} s (a file written before refrnn sealed its "
                          "files, checked in a separate process)") from None
    if r.returncode != 0:
        lines = [ln.strip() for ln in r.stderr.decode("utf-8", "replace").splitlines()
                 if ln.strip()]
        why = lines[-1] if lines else f"the reading process ended with status {r.returncode}"
        raise DamagedFile(f"unreadable or damaged ({why})")
    _checked_unsealed[key] = True
    return "unsealed"


@contextmanager
def open_h5(path, timeout=None):
    """Yield ``h5py.File(path, "r")`` once :func:`check_h5` passed, for the same
    file (it is checked again if it was replaced meanwhile)."""
    for _ in range(3):
        before = _stat_key(path)
        check_h5(path, timeout)
        f = h5py.File(path, "r", locking=False)
        if _stat_key(path) == before:
            break
        f.close()  # replaced between the check and the open: check the new one
    else:
        raise DamagedFile("it kept changing while it was being checked")
    try:
        yield f
    finally:
        f.close()
