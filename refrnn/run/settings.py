"""Training settings: :class:`TrainConfig`, the one place a setting is declared.

Each field carries its default, its type and, in its metadata, its help text
and its allowed values (``choices``, or bounds ``min`` / ``above`` / ``max``;
refrnn.files.settings_file reads them). From these alone come the validation,
the coercion of JSON/TOML values and the options of ``refrnn train``
(cli/options.py). A run directory's ``config.json`` can be passed back as
``--config`` (or to ``TrainConfig.load``) to repeat the run. Keys may be
written with dashes or underscores.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..backends.backend import DEVICES
from ..core.masks import MASK_KINDS, in_degree
from ..core.model import ACTIVATIONS, DTYPES, ModelConfig
from ..files.settings_file import (ConfigError, check_fields, from_mapping, load_config_file,
                                   normalize_keys, setting)
from ..tasks.encoding import COMPAT_MODES
from ..tasks.registry import (DEFAULT_TASK_SET, TASK_SETS, check_compat_fits, check_dt_fits,
                              task_names)
from ..tasks.trials import DEFAULT_DT, N_CLASSES, N_OBS

__all__ = ["TrainConfig", "ConfigError", "check_task_dt", "load_config_file", "normalize_keys"]


@dataclass
class TrainConfig:
    """Every setting of a training run (defaults: the README quick start).

    Model: leaky RNN with ``alpha = dt / tau``; the recurrent ``mask`` keeps a
    fraction ``sparsity`` of the hidden*hidden connections. Data: cached
    trials streamed in batches of ``batch_size`` x ``seq_len`` steps. Loss:
    cross-entropy at every step, label-0 (fixate) steps weighted
    ``fix_weight``. Optimiser: Adam. The initial W_rec is scaled to spectral
    radius ``init_radius``. See each field's help text.
    """

    task_set: str = setting(DEFAULT_TASK_SET, "Task battery.", choices=tuple(TASK_SETS))
    compat: Optional[str] = setting(None, "Reference-compatibility rules "
                                    "(default: refrnn's own).", choices=COMPAT_MODES)
    dt: int = setting(DEFAULT_DT, "Time step in ms (every task set's is "
                      f"{DEFAULT_DT}).", min=1)
    tau: float = setting(100.0, "Time constant in ms (alpha = dt / tau <= 1).", above=0)
    hidden: int = setting(256, "Number of recurrent units N.", min=1)
    activation: str = setting("relu", "Activation f.", choices=ACTIVATIONS)
    mask: str = setting("locality", "Recurrent connectivity pattern.", choices=MASK_KINDS)
    sparsity: float = setting(0.04, "Fraction of the N*N recurrent connections, (0, 1].",
                              above=0, max=1)
    mask_seed: int = setting(0, "Seed of the random mask.", min=0)
    sigma_rec: float = setting(0.05, "Recurrent noise strength.", min=0)
    init_radius: float = setting(1.0, "Spectral radius of the initial W_rec (0 = the "
                                 "unscaled N(0, 1/k) draw).", min=0)
    train_h0: bool = setting(False, "Train the initial state h0.")
    dtype: str = setting("float32", "Floating-point type.", choices=DTYPES)
    device: str = setting("cpu", "Where to train.", choices=DEVICES)
    threads: int = setting(0, "CPU worker threads (0 = REFRNN_THREADS, else the cores "
                           "available).", min=0)
    lr: float = setting(2e-3, "Adam learning rate.", above=0)
    batch_size: int = setting(32, "Streams per batch B.", min=1)
    seq_len: int = setting(200, "Steps per batch T.", min=1)
    steps: int = setting(1000, "Number of Adam updates.", min=1)
    clip: float = setting(1.0, "Global gradient-norm clip (0 = off).", min=0)
    fix_weight: float = setting(1.0, "Loss weight of fixation-label steps.", min=0)
    input_noise: bool = setting(True, "Input noise on training batches.")
    seed: int = setting(0, "Seed of weights, batches and noise (refrnn sweep --seeds N "
                        "trains seeds 0..N-1).", min=0)
    cache_seed: int = setting(0, "Seed of the cached trials.", min=0)
    task_seed: int = setting(0, "Task-set seed of the cached trials (fixes the "
                             "delayed-match delays).", min=0)
    trials_per_task: int = setting(1000, "Cached training trials per task.", min=1)
    eval_trials: int = setting(100, "Held-out test trials per task.", min=1)
    eval_every: int = setting(100, "Evaluate every this many steps.", min=1)
    eval_batch_size: int = setting(256, "Trials per forward pass when evaluating.", min=1)
    eval_noise: bool = setting(False, "Recurrent and input noise during evaluation.")
    checkpoint_every: Optional[int] = setting(None, "Save last.h5 every this many steps "
                                              "(default: eval-every).", min=1)
    cache_path: Optional[str] = setting(None, "Explicit trial-cache file.", path="file")
    out: Optional[str] = setting(None, "Run directory (default: "
                                 "runs/<task-set>-seed<seed>).", path="dir")

    def __post_init__(self):
        for name in ("out", "cache_path"):  # accept pathlib paths, store strings
            v = getattr(self, name)
            if isinstance(v, os.PathLike):
                setattr(self, name, os.fspath(v))
        if self.dt is None:  # refrnn's earlier files and callers: "the task set's"
            self.dt = DEFAULT_DT

    # ------------------------------------------------------------------ derived
    @property
    def alpha(self) -> float:
        return self.dt / float(self.tau)

    @property
    def out_dir(self) -> Path:
        return Path(self.out if self.out is not None else f"runs/{self.task_set}-seed{self.seed}")

    def cache_request(self):
        """(args, kwargs) naming this run's trial cache for refrnn.data.cache's functions."""
        return ((self.task_set, self.trials_per_task, self.cache_seed),
                dict(eval_trials=self.eval_trials, compat=self.compat, dt=self.dt,
                     task_seed=self.task_seed))

    def model_config(self) -> ModelConfig:
        """The network of this run (training and export build it from here): inputs
        N_OBS + one per task of ``task_set``, N_CLASSES outputs."""
        return ModelConfig(n_in=N_OBS + len(task_names(self.task_set)), n_out=N_CLASSES,
                           hidden=int(self.hidden), activation=self.activation,
                           alpha=float(self.alpha), sigma_rec=float(self.sigma_rec),
                           mask=self.mask, sparsity=float(self.sparsity),
                           mask_seed=int(self.mask_seed), dtype=self.dtype,
                           train_h0=bool(self.train_h0), init_radius=float(self.init_radius))

    def resolved(self) -> "TrainConfig":
        """A validated copy with out and checkpoint_every filled in."""
        return dataclasses.replace(self, out=str(self.out_dir),
                                   checkpoint_every=self.checkpoint_every or self.eval_every
                                   ).validate()

    # --------------------------------------------------------------- validation
    def validate(self) -> "TrainConfig":
        """Check every setting against its field; raise ConfigError naming the first bad one."""
        check_fields(self)
        if not self.alpha <= 1.0:
            raise ConfigError(f"dt / tau must be <= 1, got dt={self.dt!r}, tau={self.tau!r}",
                              "tau")
        try:
            in_degree(self.hidden, self.sparsity)
        except ValueError as e:
            raise ConfigError(f"mask {self.mask!r} with hidden={self.hidden} and "
                              f"sparsity={self.sparsity!r} cannot be built: {e}",
                              "sparsity") from None
        return self

    # ------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A validated TrainConfig from a mapping; unknown keys raise ConfigError
        (with close matches)."""
        return from_mapping(cls, d).validate()

    @classmethod
    def load(cls, path) -> "TrainConfig":
        """Read a JSON or TOML file (see :func:`load_config_file`); a bad value or
        unknown key is a ConfigError naming the file."""
        data = load_config_file(path)
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            raise ConfigError(f"config file {str(path)!r}: {e}") from None

    def replace(self, **changes) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **normalize_keys(changes)})


def check_task_dt(cfg: TrainConfig) -> None:
    """ConfigError (key dt) when dt does not divide the task set's period lengths
    (key compat when the rule set cannot make the task set)."""
    try:
        check_compat_fits(cfg.task_set, cfg.compat)
    except ValueError as e:
        raise ConfigError(str(e), "compat") from None
    try:
        check_dt_fits(cfg.task_set, cfg.dt, cfg.compat)
    except ValueError as e:
        raise ConfigError(str(e), "dt") from None
