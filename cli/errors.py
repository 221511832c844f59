"""The command line's one error path: refrnn's own errors and any OSError
become ``Error: <one line>`` and exit status 1, never a traceback.

A bad setting (ConfigError, from any command) is a usage error, exit 2,
naming its option when it has one; everything a command meets later,
reading or writing files included, is exit 1. :class:`ErrorsAsLines` is the
``refrnn`` group's class. :func:`checkpoint_option` is the ``--checkpoint``
of every command that reads a run.
"""
from __future__ import annotations

import os
import signal
import sys

import click

from refrnn.data.cache import CacheError
from refrnn.files.errors import FileError, describe_os_error
from refrnn.files.notices import show_notices_as_lines
from refrnn.run.checkpoint import CheckpointError
from refrnn.run.loop import TrainingDiverged
from refrnn.run.run_dir import find_checkpoint
from refrnn.run.settings import ConfigError

from .options import bad_setting, cli_terms

# refrnn's own errors a command may meet after option parsing
KNOWN_ERRORS = (OSError, CacheError, CheckpointError, TrainingDiverged)


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and not isinstance(e, FileError):  # raised outside file_errors
        where = getattr(e, "filename", None)
        cause = describe_os_error(e)
        return f"cannot use {where}: {cause}" if where else cause
    return cli_terms(" ".join(str(e).split())) or type(e).__name__


class ErrorsAsLines(click.Group):
    """A click group whose sub-commands' known failures print as one line."""

    def invoke(self, ctx):
        show_notices_as_lines()
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort):
            raise
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM (cli.launch) before a
            # command's own handler (train's) runs
            signum = getattr(e, "signum", signal.SIGINT)
            why = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
            click.echo(f"\ninterrupted ({why})", err=True)
            ctx.exit(128 + signum)
        except BrokenPipeError:  # the reader went away (`refrnn tasks | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except ConfigError as e:
            raise bad_setting(e) from None
        except KNOWN_ERRORS as e:
            raise click.ClickException(_one_line(e)) from None


checkpoint_option = click.option(
    "--checkpoint", default=None,
    help="best, last, or a path to a checkpoint file  [default: best when the run has "
         "one, else last]")


def find_checkpoint_option(run_dir, checkpoint):
    """The checkpoint file RUN_DIR and --checkpoint name (refrnn.run.run_dir.find_checkpoint);
    click.BadParameter (exit 2) naming the option at fault otherwise."""
    try:
        return find_checkpoint(run_dir, checkpoint)
    except ConfigError as e:
        hint = "'RUN_DIR'" if e.key == "run_dir" else "'--checkpoint'"
        raise click.BadParameter(str(e), param_hint=hint) from None
