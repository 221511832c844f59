"""The ``refrnn`` executable: :mod:`cli.main`'s command group, started so that
Ctrl-C or SIGTERM (what ``timeout``, ``kill`` and cluster schedulers send) at
any moment once this module runs, even while Python still imports NumPy and
refrnn (about the first second), ends with one line and exit status 130
(143 for SIGTERM), never a KeyboardInterrupt traceback, and leaves no run
directory or lock behind: SIGTERM is raised as :class:`Terminated`, a
KeyboardInterrupt, so it unwinds through the same clean-up as Ctrl-C (train
installs its own handlers, which save ``last.h5``, while it trains).

The imports are inside :func:`main` on purpose: a module-level import would
run before any handler could catch the interrupt.
"""
import signal
import sys

INTERRUPTED = "interrupted ({}) while starting; nothing was written"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is (``signum`` 15: exit status 143)."""

    signum = signal.SIGTERM


def _on_sigterm(signum, frame):
    raise Terminated("interrupted (SIGTERM)")


def main():
    """Run ``refrnn`` (console script entry point)."""
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
        from .main import cli
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        why = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        sys.stderr.write(f"\n{INTERRUPTED.format(why)}\n")
        sys.exit(128 + signum)
    cli(prog_name="refrnn")
