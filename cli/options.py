"""Command-line options made from TrainConfig's fields, shared by every command.

A setting has one option everywhere: ``--`` + its field name with dashes,
its type and choices, its help text and its default, all from
:class:`refrnn.run.settings.TrainConfig`. Every such option defaults to
"not given" (None) and shows the field's default in ``--help``; a command
builds its TrainConfig from what was given (:func:`settings_from`), so the
defaults and the validation are TrainConfig's, the same as ``refrnn train``'s.
"""
from __future__ import annotations

import dataclasses
import re

import click

from refrnn.files.settings_file import field_type
from refrnn.run.settings import ConfigError, TrainConfig, check_task_dt

CLICK_TYPES = {int: int, float: float, str: str}
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def option_name(name: str) -> str:
    """``--task-set`` for the field ``task_set``."""
    return "--" + name.replace("_", "-")


def default_text(name: str) -> str:
    """The field's default as ``--help`` shows it ('' when it has none)."""
    f = FIELDS[name]
    if f.default is None:
        return ""
    kind, _ = field_type(TrainConfig, name)
    return str(f.default).lower() if kind is bool else str(f.default)


def setting_option(name: str, *, multiple: bool = False, extra_help: str = "",
                   shown_default=None, old_names=()):
    """The click option of TrainConfig field ``name``: type, choices, help.

    With ``multiple`` the option may be repeated (a sweep's grid axis) and
    gives a tuple, empty when not given; else it gives None when not given.
    ``shown_default`` replaces the field's default in ``--help`` (a command
    whose default is the run's own); ``old_names`` are earlier spellings
    still accepted (``--noise`` for ``--eval-noise``).
    """
    f = FIELDS[name]
    kind, _ = field_type(TrainConfig, name)
    rules, help_ = f.metadata, f.metadata["help"]
    if extra_help:
        help_ += " " + extra_help
    shown = default_text(name) if shown_default is None else shown_default
    if shown:
        help_ += f"  [default: {shown}]"
    dashed = option_name(name)
    if kind is bool:
        decls = [f"{dashed}/--no-{dashed[2:]}"] + [f"{o}/--no-{o[2:]}" for o in old_names]
        return click.option(*decls, name, default=None, help=help_)
    if "choices" in rules:
        typ = click.Choice([c for c in rules["choices"] if c is not None])
    elif "path" in rules:
        typ = click.Path(dir_okay=rules["path"] == "dir", file_okay=rules["path"] == "file")
    else:
        typ = CLICK_TYPES[kind]
    return click.option(dashed, *old_names, name, type=typ, default=None, multiple=multiple,
                        help=help_)


def setting_options(*names: str):
    """Decorator adding :func:`setting_option` for each name, in this order."""
    def add(command):
        for name in reversed(names):
            command = setting_option(name)(command)
        return command
    return add


# refrnn's messages name Python arguments (the library's terms); the command
# line says its own flags instead: (Python term, flag), longest first.
CLI_TERMS = (("--resume (resume=True)", "--resume"), ("force=True (--force)", "--force"),
             ("--force (force=True)", "--force"), ("resume=True", "--resume"),
             ("force=True", "--force"),
             ("give the new run its own out", "pass --out for the new run"),
             ("needs its own out", "needs its own --out"))


def cli_terms(text: str) -> str:
    """``text`` with the Python arguments it names spelled as refrnn's flags
    (a Python call shown on purpose, ``train(..., resume=True)``, stays)."""
    for python, flag in CLI_TERMS:
        text = re.sub(r"(?<!\.\.\., )" + re.escape(python), flag, text)
    return text


def bad_setting(err: ConfigError) -> click.ClickException:
    """The click error for a bad setting: names its option when it has one."""
    if err.key:
        return click.BadParameter(cli_terms(str(err)), param_hint=f"'{option_name(err.key)}'")
    return click.UsageError(cli_terms(str(err)))


def given(options: dict) -> dict:
    """The options that were given (not None)."""
    return {k: v for k, v in options.items() if v is not None}


def settings_from(options: dict, *, check_dt: bool = False) -> TrainConfig:
    """A resolved TrainConfig of the given setting options (the rest at their
    defaults); with ``check_dt`` the dt must divide the task set's periods
    (``refrnn train``'s rule). Bad values raise click's BadParameter."""
    try:
        cfg = TrainConfig.from_dict(given(options)).resolved()
        if check_dt:
            check_task_dt(cfg)
    except ConfigError as e:
        raise bad_setting(e) from None
    return cfg
