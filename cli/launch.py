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
import _thread  # built in: the main thread's id, without importing threading
import signal
import sys

_MAIN = [None]  # the main thread's id (install_interrupt_handlers)
INTERRUPTED = "interrupted ({}) while starting; nothing was written"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is (``signum`` 15: exit status 143)."""

    signum = signal.SIGTERM


def _on_sigterm(signum, frame):
    raise Terminated("interrupted (SIGTERM)")


def _deliver_again(unraisable):
    """sys.unraisablehook: an interrupt raised inside a ``__del__`` or a weakref
    callback (garbage collection, at any moment) is one Python ignores after
    printing its traceback, so Ctrl-C would be lost. Raise it again instead at
    the next Python call this thread makes once the finaliser is done (a trace
    function that raises, then unsets itself); from another thread, send the
    signal again to the main thread, where handlers run."""
    err = unraisable.exc_value
    if not isinstance(err, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)
        return
    if _thread.get_ident() == _MAIN[0]:
        def again(frame, event, arg):
            raise err
        sys.settrace(again)
    else:
        signal.raise_signal(getattr(err, "signum", signal.SIGINT))


def install_interrupt_handlers():
    """SIGTERM raised as :class:`Terminated`; an interrupt that lands in a
    finaliser delivered again (:func:`_deliver_again`)."""
    _MAIN[0] = _thread.get_ident()  # called from the main thread (signal.signal is)
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.unraisablehook = _deliver_again


def main():
    """Run ``refrnn`` (console script entry point).

    While the heavy modules import, Ctrl-C and SIGTERM are only noted (some
    library code at import time catches every exception, an interrupt
    included, so one raised there could be lost) and acted on once the
    imports are done: one line, exit 130 or 143. From then on they raise as
    usual until a command installs its own handlers."""
    noted = []
    try:
        install_interrupt_handlers()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda s, frame: noted.append(s))
        from .main import cli
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _on_sigterm)
        if noted:
            raise Terminated() if noted[0] == signal.SIGTERM else KeyboardInterrupt()
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        why = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        sys.stderr.write(f"\n{INTERRUPTED.format(why)}\n")
        sys.exit(128 + signum)
    cli(prog_name="refrnn")
