"""`refrnn export RUN_DIR` and `refrnn import FILE`: a run as named arrays, and back."""
from __future__ import annotations

from pathlib import Path

import click

FORMATS = ("torch", "npz")
SUFFIXES = {"torch": (".pt", ".pth"), "npz": (".npz",)}  # what --out may end in


def _torch_bridge():
    try:
        from refrnn.verify import torch_bridge
    except ImportError as e:
        raise click.ClickException(f"--format torch needs PyTorch ({e}); install the torch "
                                   "extra, or use --format npz") from None
    return torch_bridge


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="torch", show_default=True,
              help="torch: a state dict for torch.load(weights_only=True); npz: NumPy arrays.")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="File to write (.pt or .npz).")
@click.option("--checkpoint", default="last", show_default=True,
              help="last, best, or a path to a checkpoint file.")
def export_cmd(run_dir, fmt, out, checkpoint):
    """Write a run's parameters, mask and settings for PyTorch or NumPy (docs/verify.md)."""
    from refrnn.files.errors import FileError
    from refrnn.files.ownership import check_replaceable, zip_with_member
    from refrnn.run.checkpoint import CheckpointError
    from refrnn.verify.export import SETTINGS_KEY, export_arrays, write_npz

    if not (Path(run_dir) / "config.json").is_file():
        raise click.BadParameter(f"{run_dir!r} is not a run directory (no config.json)",
                                 param_hint="'RUN_DIR'")
    if checkpoint not in ("last", "best") and not Path(checkpoint).is_file():
        raise click.BadParameter(f"{checkpoint!r} is neither last, best nor a file",
                                 param_hint="'--checkpoint'")
    if Path(out).suffix.lower() not in SUFFIXES[fmt]:
        raise click.BadParameter(f"{out!r} does not end in {' or '.join(SUFFIXES[fmt])}, as "
                                 f"a --format {fmt} file does; name it so, or pass the "
                                 "--format its name says", param_hint="'--out'")
    try:  # an existing file is replaced only when it is a refrnn export
        check_replaceable(out, "a refrnn export",
                          lambda p: zip_with_member(p, SETTINGS_KEY.encode()))
    except FileError as e:
        raise click.ClickException(str(e)) from None
    tb = _torch_bridge() if fmt == "torch" else None
    try:
        arrays = export_arrays(run_dir, checkpoint)
        if tb is not None:
            import torch
            tb.save_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, out)
        else:
            write_npz(arrays, out)
    except (CheckpointError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {out} ({fmt}: {', '.join(arrays)})")


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
    from refrnn.verify.export import import_arrays, read_npz

    try:
        arrays = read_npz(file) if file.endswith(".npz") else _torch_bridge().load_state_dict(file)
        run = import_arrays(arrays, out, config=config, force=force)
    except (ValueError, OSError) as e:  # ConfigError and CheckpointError are ValueErrors
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {run}/config.json and {run}/last.h5; score it with: refrnn eval {run}")
