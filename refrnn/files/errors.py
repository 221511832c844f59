"""One error path for the files refrnn reads and writes.

Every failure to create, write or read a file ends as a :class:`FileError`
whose message is one line naming the path and the cause in words
("permission denied", "no space left on the device", "a part of the path is
not a directory", "read-only file system", ...). The command line turns it
(and any other OSError) into ``Error: <that line>`` and exit status 1.

    with file_errors(path, "write"):   # OSError inside -> FileError naming path
        ...
    check_writable(path)               # fail before slow work, not after it
    H5_DAMAGE                          # what h5py raises on a damaged file
    raise_os_cause(err, path)          # in an H5_DAMAGE handler: permission etc.
                                       # is a FileError, the rest is damage
"""
from __future__ import annotations

import errno
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["FileError", "file_errors", "os_errno", "describe_os_error", "check_writable",
           "make_folder", "remove_empty_folders", "H5_DAMAGE", "damage_text", "raise_os_cause"]

# h5py reports a damaged file as any of these, depending on which structure
# the damage hit (a B-tree walk raises RuntimeError, a bad chunk OSError).
H5_DAMAGE = (OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeDecodeError)

_CAUSES = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "it is a directory",
    errno.ENOENT: "no such file or directory",
    errno.ENAMETOOLONG: "file name too long",
    errno.EEXIST: "it already exists",
    errno.EIO: "input/output error",
}
_H5_ERRNO = re.compile(r"errno = (\d+)")


class FileError(OSError):
    """A file refrnn could not create, write or read; the message is one line."""

    def __str__(self):
        return self.args[0] if self.args else ""


def os_errno(err: BaseException):
    """The errno of an OSError: its ``errno``, else the ``errno = N`` h5py
    writes into its message; None when there is neither."""
    code = getattr(err, "errno", None)
    if code is None:
        m = _H5_ERRNO.search(str(err))
        code = int(m.group(1)) if m else None
    return code


def describe_os_error(err: BaseException) -> str:
    """The cause of an OSError in a few words (errno first; h5py puts it in its text)."""
    code = os_errno(err)
    if code in _CAUSES:
        return _CAUSES[code]
    if code is not None:
        return os.strerror(code).lower()
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def os_cause_or_none(err: BaseException):
    """The cause in words when ``err`` is a file-system error with an errno
    (permission, I/O error, ...), None when it is something else (damage)."""
    if not isinstance(err, OSError):
        return None
    return describe_os_error(err) if os_errno(err) else None


def raise_os_cause(err: BaseException, path, action: str = "read") -> None:
    """Raise FileError for a file-system error (see :func:`os_cause_or_none`);
    return for anything else, which the caller reports as damage."""
    cause = os_cause_or_none(err)
    if cause is not None:
        raise FileError(f"cannot {action} {path}: {cause}") from None


def damage_text(err: BaseException) -> str:
    """One line for an h5py/JSON error raised while reading a damaged file."""
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


@contextmanager
def file_errors(path, action: str = "write"):
    """Within the block an OSError becomes ``FileError("cannot <action> <path>: <cause>")``.

    A FileError raised inside passes unchanged, so nested blocks name the
    innermost path.
    """
    try:
        yield
    except FileError:
        raise
    except OSError as e:
        raise FileError(f"cannot {action} {path}: {describe_os_error(e)}") from None


def make_folder(folder, made: list = None) -> list:
    """``mkdir -p folder``, one level at a time, outermost first.

    Returns the folders this call created, innermost first: exactly what a
    failed write may remove again (:func:`remove_empty_folders`), never a
    folder that was already there (``missing/../yours`` creates ``missing``
    only). A regular file in the way is ENOTDIR (mkdir says EEXIST). When a
    level cannot be made (a full disk), the levels made before it are removed
    and the error raised. ``made``: a list the folders are also put in as they
    are made (innermost first), so that a caller interrupted (Ctrl-C, SIGTERM)
    anywhere in here, or before this returns, still knows them all.
    """
    folder = Path(folder)
    made = [] if made is None else made
    mine = []
    try:
        for level in [*reversed(folder.parents), folder]:
            if level.is_dir():  # there already: never this call's
                continue
            # recorded before mkdir: an interrupt that lands as mkdir returns still finds it
            made.insert(0, level)
            mine.insert(0, level)
            try:
                level.mkdir()
            except FileExistsError:
                made.remove(level)
                mine.remove(level)
                if not level.is_dir():
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory",
                                             str(level)) from None
                continue  # made by someone else meanwhile
            except OSError:
                made.remove(level)
                mine.remove(level)
                raise
    except BaseException:
        remove_empty_folders(mine)
        for level in mine:
            if level in made:
                made.remove(level)
        raise
    return mine


def remove_empty_folders(made: list) -> None:
    """Remove the folders of ``made`` (innermost first) that are still empty: a
    write or lock that failed (a full disk) leaves no folder it created."""
    for folder in made:
        try:
            folder.rmdir()
        except FileNotFoundError:  # never made (interrupted first) or gone already
            continue
        except OSError:  # not empty (another writer's file): keep it and the rest
            break


def check_writable(path) -> Path:
    """Create ``path``'s folder and a throw-away file in it, or raise FileError.

    Used before slow work (an evaluation, a training run) so an unwritable
    destination fails at once rather than after the work is done.
    """
    path = Path(path)
    with file_errors(path, "write"):
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        make_folder(path.parent)
        fd, probe = tempfile.mkstemp(prefix=".refrnn-probe.", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    return path
