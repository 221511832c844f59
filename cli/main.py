"""Entry point of the ``refrnn`` command: a click group of thin sub-commands.

Each sub-command lives in its own module of this folder and only parses
options, calls the library function of the same name, and prints. Errors
met after option parsing (files, checkpoints, caches, locks) end in the one
error path of :mod:`cli.errors`.
"""
import click

from .errors import ErrorsAsLines


@click.group(cls=ErrorsAsLines, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="refrnn")
def cli():
    """refrnn: locality-masked RNNs trained with hand-written BPTT."""


# Sub-commands register themselves here, one import and one add_command each.

from .sweep_cmd import sweep_cmd  # noqa: E402
from .plot_cmd import plot_cmd  # noqa: E402

cli.add_command(sweep_cmd)
cli.add_command(plot_cmd)

from .train_cmd import train_cmd  # noqa: E402
from .eval_cmd import eval_cmd  # noqa: E402

cli.add_command(train_cmd)
cli.add_command(eval_cmd)

from .mask_cmd import mask as _mask_cmd  # noqa: E402
from .verify_cmd import verify as _verify_cmd  # noqa: E402

cli.add_command(_mask_cmd)
cli.add_command(_verify_cmd)

from .tasks_cmd import tasks_cmd  # noqa: E402

cli.add_command(tasks_cmd)

from .cache_cmd import cache_cmd  # noqa: E402

cli.add_command(cache_cmd)

from .export_cmd import export_cmd, import_cmd  # noqa: E402

cli.add_command(export_cmd)
cli.add_command(import_cmd)

from .analyze_cmd import analyze_cmd  # noqa: E402

cli.add_command(analyze_cmd)
