"""May this checkpoint be used for this run? One check for every command that
opens one (eval, export, train --resume, analyze).

    run_identity(config)                 sha256 of the settings that make a run that run
    check_checkpoint(ckpt, cfg, where)   CheckpointError naming what is wrong, else None

A checkpoint carries the resolved settings of the run that wrote it (its
``json/config``). Its identity is the hash of those settings less the ones a
resumed run may change (``IDENTITY_FREE``: steps, out, device, ...), so a
run directory that was moved or extended keeps its identity and another
run's ``last.h5`` copied in does not. A checkpoint past the run's ``steps``
is another run's too. Every parameter and every array or number of the Adam
state must be finite: a NaN there is named, never scored or trained on.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from .checkpoint import Checkpoint, CheckpointError
from .settings import ConfigError, TrainConfig

# Settings a resumed run may change; all others must match the checkpoint.
IDENTITY_FREE = ("steps", "eval_every", "checkpoint_every", "device", "threads", "eval_batch_size",
                 "out", "cache_path")


def _identity_settings(config) -> dict:
    d = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    d = TrainConfig.from_dict(d).resolved().to_dict()  # older files: defaults filled in
    return {k: v for k, v in d.items() if k not in IDENTITY_FREE}


def identity_diff(stored, wanted) -> list:
    """The identity settings (not IDENTITY_FREE) in which two runs' settings
    (TrainConfigs or their dicts) differ, in field order."""
    theirs, ours = _identity_settings(stored), _identity_settings(wanted)
    return [k for k in ours if theirs.get(k) != ours[k]]


def run_identity(config) -> str:
    """sha256 (hex) of a run's identity settings (a TrainConfig or its dict)."""
    text = json.dumps(_identity_settings(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _non_finite(name, value, out):
    """Append (name, count, size) for every array or number in ``value`` that
    holds a NaN or an infinity (nested dicts and lists, as Adam's state is)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _non_finite(f"{name}.{k}" if name else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _non_finite(f"{name}[{i}]", v, out)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            bad = int(value.size - np.count_nonzero(np.isfinite(value)))
            if bad:
                out.append((name, bad, int(value.size)))
    elif isinstance(value, float) and not math.isfinite(value):
        out.append((name, 1, 1))


def check_checkpoint(ckpt: Checkpoint, cfg: TrainConfig, where: str,
                     check_step: bool = True, mismatch=CheckpointError) -> None:
    """CheckpointError unless ``ckpt`` belongs to the run of ``cfg`` and holds
    only finite parameters and optimiser state (module docstring).

    ``check_step``: also refuse a checkpoint past ``cfg.steps`` (a resume
    says that itself, in its own words). ``mismatch``: the error of another
    run's checkpoint (a resume asks for settings: ConfigError)."""
    try:
        theirs = _identity_settings(ckpt.config)
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {where!r} holds unreadable settings ({e})") from None
    diff = identity_diff(theirs, cfg)
    if diff:
        k, ours = diff[0], getattr(cfg, diff[0])
        raise mismatch(f"checkpoint {where!r} belongs to another run: it was written "
                       f"with {k}={theirs.get(k)!r}, this run has {k}={ours!r}"
                       + (f" ({len(diff) - 1} more settings differ)" if diff[1:] else ""))
    if check_step and ckpt.step > cfg.steps:
        raise CheckpointError(f"checkpoint {where!r} belongs to another run: it is at step "
                              f"{ckpt.step}, past this run's steps={cfg.steps}")
    bad = []
    _non_finite("", ckpt.params, bad)
    found = [("parameter " + n, c, s) for n, c, s in bad]
    bad = []
    _non_finite("", ckpt.optim, bad)
    found += [("optimiser state " + n, c, s) for n, c, s in bad]
    if found:
        name, count, size = found[0]
        more = f"; {len(found) - 1} more arrays too" if found[1:] else ""
        raise CheckpointError(f"checkpoint {where!r} is not usable: {name} has {count} of "
                              f"{size} values not finite (NaN or inf){more}; use another "
                              "checkpoint (best.h5) or start the run again with force=True")
