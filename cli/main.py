"""Entry point of the ``refrnn`` command: a click group of thin sub-commands.

Each sub-command lives in its own module of this folder and only parses
options, calls the library function of the same name, and prints. Setting
options come from TrainConfig (:mod:`cli.options`). Errors met after option
parsing (files, checkpoints, caches, locks) end in the one error path of
:mod:`cli.errors`.
"""
import click

from .analyze_cmd import analyze_cmd
from .cache_cmd import cache_cmd
from .errors import ErrorsAsLines
from .eval_cmd import eval_cmd
from .export_cmd import export_cmd, import_cmd
from .mask_cmd import mask as mask_cmd
from .plot_cmd import plot_cmd
from .sweep_cmd import sweep_cmd
from .tasks_cmd import tasks_cmd
from .train_cmd import train_cmd
from .verify_cmd import verify as verify_cmd


@click.group(cls=ErrorsAsLines, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="refrnn")
def cli():
    """refrnn: locality-masked RNNs trained with hand-written BPTT."""


for command in (sweep_cmd, plot_cmd, train_cmd, eval_cmd, mask_cmd, verify_cmd, tasks_cmd,
                cache_cmd, export_cmd, import_cmd, analyze_cmd):
    cli.add_command(command)
