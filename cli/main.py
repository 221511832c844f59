"""Entry point of the ``refrnn`` command: a click group of thin sub-commands.

Each sub-command lives in its own module of this folder and only parses
options, calls the library function of the same name, and prints.
"""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="refrnn")
def cli():
    """refrnn: locality-masked RNNs trained with hand-written BPTT."""


# Sub-commands register themselves here, one import and one add_command each.
