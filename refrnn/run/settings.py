"""Training settings: :class:`TrainConfig`, the one place a setting is declared.

Each field carries its default, its type and, in its metadata, its help text
and its allowed values (``choices``, or bounds ``min`` / ``above`` / ``max``).
From these alone come the validation below, the coercion of JSON/TOML values
and the options of ``refrnn train`` (cli/train_cmd.py). A run directory's
``config.json`` can be passed back as ``--config`` (or to ``TrainConfig.load``)
to repeat the run. Keys may be written with dashes or underscores.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import os
import sys
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

from ..backends.backend import DEVICES
from ..core.masks import MASK_KINDS, in_degree
from ..core.model import ACTIVATIONS, DTYPES, ModelConfig
from ..tasks.encoding import COMPAT_MODES
from ..tasks.registry import DEFAULT_TASK_SET, TASK_SETS, task_names
from ..tasks.trials import DEFAULT_DT, N_CLASSES, N_OBS

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, as a package (a dependency before Python 3.11)
    import tomli as tomllib


class ConfigError(ValueError):
    """A bad setting, unknown key or unreadable config file (names the value).

    ``key`` is the setting at fault when there is one (for CLI messages).
    """

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key


def setting(default, help, **rules):
    """A TrainConfig field: ``help`` text and validation ``rules`` in its metadata.

    rules: ``choices`` (allowed values), ``min`` (>=), ``above`` (>), ``max`` (<=),
    ``path`` ("file" or "dir": shown as a path on the command line).
    """
    return dataclasses.field(default=default, metadata={"help": help, **rules})


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
    dt: Optional[int] = setting(None, "Time step in ms (default: the task set's, "
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
    seed: int = setting(0, "Seed of weights, batches and noise.", min=0)
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

    # ------------------------------------------------------------------ derived
    @property
    def dt_ms(self) -> int:
        return DEFAULT_DT if self.dt is None else self.dt

    @property
    def alpha(self) -> float:
        return self.dt_ms / float(self.tau)

    @property
    def out_dir(self) -> Path:
        return Path(self.out if self.out is not None else f"runs/{self.task_set}-seed{self.seed}")

    def cache_request(self):
        """(args, kwargs) naming this run's trial cache for refrnn.data.cache's functions."""
        return ((self.task_set, self.trials_per_task, self.cache_seed),
                dict(test_trials_per_task=self.eval_trials, compat=self.compat, dt=self.dt_ms,
                     task_seed=self.task_seed))

    def model_config(self) -> ModelConfig:
        """The network of this run (training and export build it from here): inputs
        N_OBS + one per task of ``task_set``, N_CLASSES outputs."""
        return ModelConfig(n_in=N_OBS + len(task_names(self.task_set)), n_out=N_CLASSES,
                           n_hidden=int(self.hidden), activation=self.activation,
                           alpha=float(self.alpha), sigma_rec=float(self.sigma_rec),
                           mask=self.mask, sparsity=float(self.sparsity),
                           mask_seed=int(self.mask_seed), dtype=self.dtype,
                           train_h0=bool(self.train_h0), init_radius=float(self.init_radius))

    def resolved(self) -> "TrainConfig":
        """A validated copy with dt, out and checkpoint_every filled in."""
        return dataclasses.replace(self, dt=self.dt_ms, out=str(self.out_dir),
                                   checkpoint_every=self.checkpoint_every or self.eval_every
                                   ).validate()

    # --------------------------------------------------------------- validation
    def validate(self) -> "TrainConfig":
        """Check every setting against its field; raise ConfigError naming the first bad one."""
        for f in fields(self):
            _check_field(f, getattr(self, f.name))
        if not self.alpha <= 1.0:
            raise ConfigError(f"dt / tau must be <= 1, got dt={self.dt_ms!r}, tau={self.tau!r}",
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
        d = normalize_keys(d)
        names = [f.name for f in fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(k, names, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigError("unknown setting(s): " + ", ".join(hints))
        return cls(**{k: _coerce(field_type(k)[0], v) for k, v in d.items()}).validate()

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


@functools.lru_cache(maxsize=None)
def _hints() -> dict:
    return typing.get_type_hints(TrainConfig)


def field_type(name: str):
    """(type, optional) of a TrainConfig field: int, float, str or bool."""
    hint = _hints()[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return (args[0], True) if args else (hint, False)


_KIND_WORDS = {int: "an integer", float: "a number", str: "a string"}


def _check_field(f, value):
    kind, optional = field_type(f.name)
    name, rules = f.name, f.metadata
    if value is None:
        if optional:
            return
        raise ConfigError(f"{name} must be given", name)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}", name)
        return
    if kind is str:
        ok = isinstance(value, str)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and not math.isnan(value))
        if ok and math.isinf(value):
            raise ConfigError(f"{name} must be finite, got {value!r}", name)
    if not ok:
        raise ConfigError(f"{name} must be {_KIND_WORDS[kind]}, got {value!r}", name)
    if "choices" in rules and value not in rules["choices"]:
        shown = ", ".join(repr(a) for a in rules["choices"])
        raise ConfigError(f"{name} must be one of {shown}; got {value!r}", name)
    for rule, bad, words in (("min", lambda v, b: v < b, ">="), ("above", lambda v, b: v <= b, ">"),
                             ("max", lambda v, b: v > b, "<=")):
        if rule in rules and bad(value, rules[rule]):
            raise ConfigError(f"{name} must be {words} {rules[rule]}, got {value!r}", name)


def _coerce(kind, value):
    """Accept ints for float fields and integral floats for int fields (JSON/TOML)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalize_keys(d) -> dict:
    """A copy of the mapping ``d`` with dashes in its keys written as underscores.

    Two keys naming one setting (``task-set`` and ``task_set``) are a
    ConfigError: which one wins would be an accident of their order."""
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a mapping of settings, got {type(d).__name__}")
    out, spelled = {}, {}
    for k, v in d.items():
        name = str(k).replace("-", "_")
        if name in out:
            raise ConfigError(f"setting {name!r} is given twice (as {spelled[name]!r} and "
                              f"{str(k)!r}); keep one")
        out[name], spelled[name] = v, str(k)
    return out


def _refuse_duplicate_keys(pairs):
    """json.loads object_pairs_hook: a key given twice in one object is an error
    (json keeps the last one silently)."""
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ConfigError(f"key {k!r} appears twice; keep one")
        seen[k] = v
    return seen


def load_config_file(path) -> dict:
    """Read settings from ``path``: ``.json`` or ``.toml`` (a top-level table).

    TOML is read by the standard library's tomllib (Python 3.11+; before, by
    ``tomli``, a dependency there). Returns a dict (keys with underscores);
    raises ConfigError naming the file for unreadable or malformed files and for
    a setting given twice (``hidden`` twice, or ``task-set`` and ``task_set``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise ConfigError(f"config file {str(path)!r} must end in .json or .toml")
    try:
        text = path.read_bytes().decode("utf-8")
        data = (json.loads(text, object_pairs_hook=_refuse_duplicate_keys) if suffix == ".json"
                else tomllib.loads(text))  # TOML itself forbids a key twice
    except ConfigError as e:
        raise ConfigError(f"config file {str(path)!r}: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(path)!r}: {e.strerror or e}") from None
    except ValueError as e:  # UnicodeDecodeError, JSONDecodeError, TOMLDecodeError
        raise ConfigError(f"config file {str(path)!r} is not valid "
                          f"{suffix[1:].upper()}: {e}") from None
    except RecursionError:  # a JSON or TOML value nested thousands of levels deep
        raise ConfigError(f"config file {str(path)!r} is nested too deeply to be a file "
                          "of settings") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a table of settings")
    try:
        return normalize_keys(data)
    except ConfigError as e:
        raise ConfigError(f"config file {str(path)!r}: {e}") from None
