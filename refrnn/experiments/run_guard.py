"""What a sweep may do to a run directory that already exists, and the
summary rows of earlier invocations.

    restart_allowed(run_dir, restart, marker)   force only a run that never finished
    check_same_run(run_dir, config)      ValueError when the folder holds a run of
                                         other settings (a label collision)
    label_suffix(settings)               the label part of --set settings
    earlier_rows(out_dir, current, summarize)   summary rows of earlier invocations

A finished run (its ``sweep_done.json``) is never wiped: ``--restart-failed``
restarts only runs that failed and never finished. A run directory whose
``config.json`` describes other settings than the ones asked for is refused
with one line that says what differs, instead of being resumed into (train's
own "or --force" advice names a flag sweep does not have) or restarted.
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..run.checkpoint_check import IDENTITY_FREE, run_identity
from ..run.settings import ConfigError, TrainConfig
from .grid import default_label


def restart_allowed(run_dir: Path, restart: bool, marker: str) -> bool:
    """Whether ``run_dir`` may be wiped and started again: asked for, there,
    and not holding a finished run (its done ``marker`` file)."""
    return bool(restart) and run_dir.exists() and not (run_dir / marker).is_file()


def check_same_run(run_dir: Path, config: dict) -> None:
    """ValueError when ``run_dir/config.json`` is a run of other settings than
    ``config`` (TrainConfig settings, seed and out included)."""
    stored_file = Path(run_dir) / "config.json"
    if not stored_file.is_file():
        return
    try:
        stored = TrainConfig.load(stored_file)
    except ConfigError:
        return  # train says what is wrong with it
    wanted = TrainConfig.from_dict(config)
    if run_identity(stored) == run_identity(wanted):
        return
    a, b = stored.resolved().to_dict(), wanted.resolved().to_dict()
    k = next(k for k in a if k not in IDENTITY_FREE and a[k] != b[k])
    raise ValueError(f"sweep run directory {str(run_dir)!r} holds a run with {k}={a[k]!r}, "
                     f"this sweep asks for {k}={b[k]!r} under the same label; run this sweep "
                     "into another --out (or move that run away)")


def label_suffix(settings: dict) -> str:
    """The label part naming ``settings`` (e.g. --set lr=0.01 -> "lr0.01"); the
    settings a resume may change (steps, device, ...) are left out."""
    kept = {k: v for k, v in settings.items() if k not in IDENTITY_FREE}
    return default_label(kept) if kept else ""


def earlier_rows(out_dir: Path, current: list, summarize) -> list:
    """The runs summary.csv listed before this invocation, summarised again from
    their folders by ``summarize(run_dir, label, seed, error=...)``, that this
    invocation did not run (so summary.csv keeps them)."""
    path = Path(out_dir) / "summary.csv"
    seen = {str(Path(r.run_dir)) for r in current}
    rows: list = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            old = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return rows
    for r in old:
        d = r.get("run_dir") or ""
        if not d or str(Path(d)) in seen or not Path(d).is_dir():
            continue
        try:
            seed = int(r.get("seed", ""))
        except ValueError:
            continue
        rows.append(summarize(Path(d), r.get("label", ""), seed, error=r.get("error") or None))
        seen.add(str(Path(d)))
    return rows
