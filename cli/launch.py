"""The ``refrnn`` executable: :mod:`cli.main`'s command group, started so that
Ctrl-C at any moment, even while Python still imports NumPy and refrnn
(about the first second), ends with one line and exit status 130, never a
KeyboardInterrupt traceback.

The imports are inside :func:`main` on purpose: a module-level import would
run before any handler could catch the interrupt.
"""
import sys

INTERRUPTED = "interrupted (Ctrl-C) while starting; nothing was written"


def main():
    """Run ``refrnn`` (console script entry point)."""
    try:
        from .main import cli
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{INTERRUPTED}\n")
        sys.exit(130)
    cli(prog_name="refrnn")
