"""Training settings: the :class:`TrainConfig` dataclass and JSON/TOML loading.

Every setting of a run lives in one flat dataclass, so a run directory's
``config.json`` can be passed back as ``--config`` (or to ``TrainConfig.load``)
to repeat the run. Keys may be written with dashes or underscores.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

TASK_SETS_FALLBACK = ("yang19", "modcog", "modcog82")
MASKS_FALLBACK = ("locality", "ring", "random", "full", "autapse")
ACTIVATIONS = ("relu", "tanh", "softplus")
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda", "auto")
COMPATS = (None, "modcog-2023")
DEFAULT_DT = 100.0  # ms, every task set's default step (TASKS.md)


class ConfigError(ValueError):
    """A bad setting, unknown key or unreadable config file (names the value).

    ``key`` is the setting at fault when there is one (for CLI messages).
    """

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key


@dataclass
class TrainConfig:
    """Every setting of a training run (defaults: the README quick start).

    Model: ``hidden`` units, ``activation``, leak ``alpha = dt / tau`` with
    ``dt`` from the task set (100 ms) unless given, recurrent noise
    ``sigma_rec``, recurrent ``mask`` kind at ``sparsity`` (fraction of the
    hidden*hidden connections that exist; ``mask_seed`` for random masks);
    the initial W_rec is scaled to spectral radius ``init_radius`` (0 = the
    unscaled N(0, 1/k) draw).
    Data: ``trials_per_task`` cached training trials and ``eval_trials`` held-out
    test trials per task (cache seed ``cache_seed``), streamed in batches of
    ``batch_size`` x ``seq_len`` steps with input noise when ``input_noise``.
    Loss: cross-entropy at every step; steps whose label is 0 (fixate) weigh
    ``fix_weight`` relative to response steps. Optimiser: Adam at ``lr`` for
    ``steps`` updates, global-norm clipping at ``clip`` (0 = off). Every
    ``eval_every`` steps the model is scored on the test trials (noise-free
    unless ``eval_noise``); checkpoints every ``checkpoint_every`` steps
    (default: ``eval_every``). Outputs go to ``out``.
    """

    task_set: str = "yang19"
    compat: str | None = None
    dt: float | None = None
    tau: float = 100.0
    hidden: int = 256
    activation: str = "relu"
    mask: str = "locality"
    sparsity: float = 0.04
    mask_seed: int = 0
    sigma_rec: float = 0.05
    init_radius: float = 1.0
    train_h0: bool = False
    dtype: str = "float32"
    device: str = "cpu"
    lr: float = 2e-3
    batch_size: int = 32
    seq_len: int = 200
    steps: int = 1000
    clip: float = 1.0
    fix_weight: float = 1.0
    input_noise: bool = True
    seed: int = 0
    cache_seed: int = 0
    trials_per_task: int = 1000
    eval_trials: int = 100
    eval_every: int = 100
    eval_batch_size: int = 256
    eval_noise: bool = False
    checkpoint_every: int | None = None
    cache_path: str | None = None
    out: str | None = None

    def __post_init__(self):
        for name in ("out", "cache_path"):  # accept pathlib paths, store strings
            v = getattr(self, name)
            if isinstance(v, os.PathLike):
                setattr(self, name, os.fspath(v))

    # ------------------------------------------------------------------ derived
    @property
    def dt_ms(self) -> float:
        return DEFAULT_DT if self.dt is None else float(self.dt)

    @property
    def alpha(self) -> float:
        return self.dt_ms / float(self.tau)

    @property
    def out_dir(self) -> Path:
        return Path(self.out if self.out is not None else f"runs/{self.task_set}-seed{self.seed}")

    @property
    def checkpoint_interval(self) -> int:
        return int(self.checkpoint_every or self.eval_every)

    def resolved(self) -> "TrainConfig":
        """A validated copy with dt, out and checkpoint_every filled in."""
        c = dataclasses.replace(self, dt=self.dt_ms, out=str(self.out_dir),
                                checkpoint_every=self.checkpoint_interval)
        c.validate()
        return c

    # --------------------------------------------------------------- validation
    def validate(self) -> "TrainConfig":
        """Check every setting; raise ConfigError naming the first bad one."""
        _choice("task_set", self.task_set, _task_sets())
        _choice("compat", self.compat, COMPATS)
        _choice("mask", self.mask, _mask_kinds())
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("dtype", self.dtype, DTYPES)
        _choice("device", self.device, DEVICES)
        _positive("tau", self.tau)
        _positive("dt", self.dt_ms)
        if not self.alpha <= 1.0:
            raise ConfigError(f"dt / tau must be <= 1, got dt={self.dt_ms!r}, tau={self.tau!r}",
                              "tau")
        _number("sparsity", self.sparsity)
        if not 0.0 < self.sparsity <= 1.0:
            raise ConfigError(f"sparsity must be in (0, 1], got {self.sparsity!r}", "sparsity")
        for name in ("hidden", "batch_size", "seq_len", "steps", "trials_per_task",
                     "eval_trials", "eval_every", "eval_batch_size"):
            _int_at_least(name, getattr(self, name), 1)
        if self.checkpoint_every is not None:
            _int_at_least("checkpoint_every", self.checkpoint_every, 1)
        for name in ("seed", "cache_seed", "mask_seed"):
            _int_at_least(name, getattr(self, name), 0)
        _positive("lr", self.lr)
        for name in ("sigma_rec", "clip", "fix_weight", "init_radius"):
            _number(name, getattr(self, name))
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}", name)
        for name in ("out", "cache_path", "compat"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a string, got {getattr(self, name)!r}", name)
        for name in ("train_h0", "input_noise", "eval_noise"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}",
                                  name)
        try:
            from .masks import in_degree
        except ImportError:
            return self
        try:
            in_degree(int(self.hidden), float(self.sparsity))
        except ValueError as e:
            raise ConfigError(f"mask {self.mask!r} with hidden={self.hidden} and "
                              f"sparsity={self.sparsity!r} cannot be built: {e}", "sparsity") from None
        return self

    # ------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict, validate: bool = True) -> "TrainConfig":
        """Build from a mapping; unknown keys raise ConfigError (with close matches)."""
        d = normalize_keys(d)
        names = [f.name for f in fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(k, names, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigError("unknown setting(s): " + ", ".join(hints))
        cfg = cls(**{k: _coerce(f, d[k]) for f in fields(cls) for k in [f.name] if k in d})
        return cfg.validate() if validate else cfg

    @classmethod
    def load(cls, path, validate: bool = True) -> "TrainConfig":
        """Read a JSON or TOML file (see :func:`load_config_file`)."""
        return cls.from_dict(load_config_file(path), validate=validate)

    def replace(self, **changes) -> "TrainConfig":
        d = self.to_dict()
        d.update(normalize_keys(changes))
        return TrainConfig.from_dict(d)


def normalize_keys(d) -> dict:
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a mapping of settings, got {type(d).__name__}")
    return {str(k).replace("-", "_"): v for k, v in d.items()}


def load_config_file(path) -> dict:
    """Read settings from ``path``: ``.json`` or ``.toml`` (a top-level table).

    TOML needs Python 3.11+ (tomllib) or the ``tomli`` package. Returns a dict;
    raises ConfigError naming the file for unreadable or malformed files.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise ConfigError(f"config file {str(path)!r} must end in .json or .toml")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(path)!r}: {e.strerror or e}") from None
    if suffix == ".json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"config file {str(path)!r} is not valid JSON: {e}") from None
    else:
        toml = _toml_module()
        try:
            data = toml.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, toml.TOMLDecodeError) as e:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a table of settings")
    return data


def _toml_module():
    if sys.version_info >= (3, 11):
        import tomllib
        return tomllib
    try:
        import tomli
    except ImportError:
        raise ConfigError("reading a TOML config needs Python 3.11+ or the 'tomli' "
                          "package (pip install tomli); or use a .json config") from None
    return tomli


def _task_sets():
    try:
        from .tasks.registry import TASK_SETS
        return tuple(TASK_SETS)
    except ImportError:
        return TASK_SETS_FALLBACK


def _mask_kinds():
    try:
        from .masks import MASK_KINDS
        return tuple(MASK_KINDS)
    except ImportError:
        return MASKS_FALLBACK


def _choice(name, value, allowed):
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{name} must be one of {shown}; got {value!r}", name)


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{name} must be a number, got {value!r}", name)
    if math.isinf(value):
        raise ConfigError(f"{name} must be finite, got {value!r}", name)


def _positive(name, value):
    _number(name, value)
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}", name)


def _int_at_least(name, value, lo):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}", name)
    if value < lo:
        raise ConfigError(f"{name} must be >= {lo}, got {value!r}", name)


def _coerce(f, value):
    """Accept ints for float fields and integral floats for int fields (JSON/TOML)."""
    kind = str(f.type)
    if value is None:
        return None
    if kind.startswith("float") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind.startswith("int") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value
