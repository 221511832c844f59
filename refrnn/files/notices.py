"""Notices: one-line messages about something refrnn did on the user's behalf
(a damaged default cache rebuilt, a stale lock taken over).

They are Python warnings of category :class:`RefrnnNotice` (a RuntimeWarning,
so ``warnings`` filters and ``pytest.warns`` work on them). The command line
calls :func:`show_notices_as_lines`, so each prints as ``note: <text>`` on
stderr instead of Python's file-and-line warning format.
"""
from __future__ import annotations

import sys
import warnings


class RefrnnNotice(RuntimeWarning):
    """Something refrnn did for the user that they should know about."""


def notice(text: str) -> None:
    """Emit ``text`` as a RefrnnNotice."""
    warnings.warn(RefrnnNotice(text), stacklevel=2)


def show_notices_as_lines(stream=None) -> None:
    """Print RefrnnNotices as ``note: <text>`` (other warnings keep Python's format)."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RefrnnNotice):
            out = stream or file or sys.stderr
            out.write(f"note: {message}\n")
            out.flush()
        else:
            previous(message, category, filename, lineno, file, line)

    if getattr(previous, "_refrnn", False):
        return
    show._refrnn = True
    warnings.showwarning = show
