"""A sweep's runs: grid expansion, labels and up-front validation.

A sweep is a list of :class:`RunSpec`: one configuration (a dict of
TrainConfig overrides), a label naming it and one seed. :func:`expand_grid`
builds the list from a grid (cartesian product) and/or explicit
configurations; :func:`validate_specs` builds every run's TrainConfig once,
so a bad value fails before anything trains. Used by :mod:`refrnn.experiments.sweep`
(which re-exports these names).
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Iterable

from ..run.settings import TrainConfig, normalize_keys


@dataclasses.dataclass
class RunSpec:
    """One run of a sweep: a label (configuration name), a seed, overrides."""

    label: str
    seed: int
    overrides: dict

    @property
    def name(self) -> str:
        return f"{_safe(self.label)}__seed{self.seed}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=_-]+", "_", text).strip("_") or "run"


def default_label(config: dict) -> str:
    """A short name for a configuration: task set, mask, sparsity, N, extras.

    Example: ``{"task_set": "yang19", "mask": "locality", "sparsity": 0.04,
    "hidden": 256}`` -> ``"yang19_locality_s0.04_N256"``.
    """
    parts = [str(config[k]) for k in ("task_set", "mask") if k in config]
    if "sparsity" in config:
        parts.append(f"s{config['sparsity']:g}")
    if "hidden" in config:
        parts.append(f"N{config['hidden']}")
    parts += [f"{k}{config[k]}" for k in sorted(config)
              if k not in ("task_set", "mask", "sparsity", "hidden")]
    return "_".join(parts) or "default"


def expand_grid(grid: dict | None = None, configs: Iterable[dict] = (),
                seeds: Iterable[int] = (0,)) -> list[RunSpec]:
    """Turn a grid and/or explicit configurations into runs.

    Args:
        grid: dict key -> list of values (TrainConfig field names); the
            cartesian product is taken. A ``seed`` list here replaces
            ``seeds``.
        configs: explicit configurations (dicts of overrides), each optionally
            with a ``label``; added after the grid's.
        seeds: seeds every configuration is run with.
    Returns:
        list of RunSpec, seed-major (every configuration's seed 0 first), so
        a sweep stopped half-way has balanced partial results.
    Raises:
        ValueError: a grid value that is not a non-empty list, a bad seed, or
        two configurations with the same label.
    """
    grid = normalize_keys(grid or {})
    if "seed" in grid:
        seeds = grid.pop("seed")
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                            and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative integers, got {seeds!r}")
    for key, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"grid[{key!r}] must be a non-empty list, "
                             f"got {values!r}")
    keys = list(grid)
    cfgs = [dict(zip(keys, vals))
            for vals in itertools.product(*(grid[k] for k in keys))] if keys else []
    cfgs += [normalize_keys(c) for c in configs]
    if not cfgs:
        cfgs = [{}]
    labelled = []
    for cfg in cfgs:
        for key in ("seed", "out"):
            if key in cfg:
                raise ValueError(f"configuration {cfg!r} sets {key!r}; the "
                                 "sweep chooses seeds and run directories")
        label = str(cfg.pop("label", None) or default_label(cfg))
        labelled.append((label, cfg))
    names = [_safe(lab) for lab, _ in labelled]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"two configurations share the label {dup[0]!r}; "
                         "give them distinct 'label' values")
    return [RunSpec(lab, int(s), cfg) for s in seeds for lab, cfg in labelled]


def validate_specs(specs: list[RunSpec], base: dict) -> None:
    """Build each run's TrainConfig once in this process, so a bad value
    (unknown key, sparsity 1.5, ...) fails before any worker starts."""
    for spec in specs:
        try:
            TrainConfig.from_dict({**base, **spec.overrides, "seed": spec.seed})
        except ValueError as exc:
            raise ValueError(f"configuration {spec.label!r}: {exc}") from None
