"""`refrnn export RUN_DIR` and `refrnn import FILE`: a run as named arrays, and back."""
from __future__ import annotations

from pathlib import Path

import click

from refrnn.files.errors import FileError
from refrnn.files.ownership import check_replaceable, zip_with_member
from refrnn.run.checkpoint import CheckpointError
from refrnn.verify.export import (SETTINGS_KEY, export_arrays, import_arrays,
                                  load_state_dict, read_npz, save_state_dict, write_npz)

from .errors import checkpoint_option, find_checkpoint_option

FORMATS = ("torch", "npz")
SUFFIXES = {"torch": (".pt", ".pth"), "npz": (".npz",)}  # what --out may end in


def _torch():
    try:
        import torch
    except ImportError as e:
        raise click.ClickException(f"--format torch needs PyTorch ({e}); install the torch "
                                   "extra, or use --format npz") from None
    return torch


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="torch", show_default=True,
              help="torch: a state dict for torch.load(weights_only=True); npz: NumPy arrays.")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="File to write (.pt or .npz).")
@checkpoint_option
def export_cmd(run_dir, fmt, out, checkpoint):
    """Write a run's parameters, mask and settings for PyTorch or NumPy (docs/verify.md)."""
    path = find_checkpoint_option(run_dir, checkpoint)
    if Path(out).suffix.lower() not in SUFFIXES[fmt]:
        raise click.BadParameter(f"{out!r} does not end in {' or '.join(SUFFIXES[fmt])}, as "
                                 f"a --format {fmt} file does; name it so, or pass the "
                                 "--format its name says", param_hint="'--out'")
    try:  # an existing file is replaced only when it is a refrnn export
        check_replaceable(out, "a refrnn export",
                          lambda p: zip_with_member(p, SETTINGS_KEY.encode()))
    except FileError as e:
        raise click.ClickException(str(e)) from None
    torch = _torch() if fmt == "torch" else None
    try:
        arrays = export_arrays(run_dir, str(path))
        if torch is not None:
            save_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, out)
        else:
            write_npz(arrays, out)
    except (CheckpointError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {out} ({fmt}, from {path}: {', '.join(arrays)})")


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="Run directory to create (then `refrnn eval OUT`).")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Settings file (JSON/TOML) for a state dict without refrnn_settings; "
                   "overrides the file's settings.")
@click.option("--force", is_flag=True, help="Overwrite the run files in OUT.")
def import_cmd(file, out, config, force):
    """Turn an exported state dict (.pt) or .npz into a run directory refrnn eval scores."""
    try:
        if not file.endswith(".npz"):
            _torch()
        arrays = read_npz(file) if file.endswith(".npz") else load_state_dict(file)
        run = import_arrays(arrays, out, config=config, force=force)
    except (ValueError, OSError) as e:  # ConfigError and CheckpointError are ValueErrors
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {run}/config.json and {run}/last.h5; score it with: refrnn eval {run}")
