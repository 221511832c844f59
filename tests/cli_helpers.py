"""What the command-line tests share: a tiny run's options and a runner."""
from click.testing import CliRunner

from refrnn_cli.main import cli

TINY = ["--hidden", "16", "--sparsity", "0.25", "--batch-size", "4", "--seq-len", "40",
        "--steps", "6", "--eval-every", "3", "--trials-per-task", "8", "--eval-trials", "3"]


def invoke(*args, **kw):
    """Run ``refrnn ARGS...`` in-process; returns click's Result."""
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)
