"""The training loop: cache -> stream batches -> BPTT -> Adam, with a run directory.

    train(config=None, *, resume=False, force=False, quiet=False, callback=None,
          **overrides) -> RunResult

writes ``out/``: ``config.json`` (the resolved TrainConfig), ``metrics.csv``
(one row per evaluation), ``last.h5`` / ``best.h5`` checkpoints and the final
``eval.csv`` table. Every random draw comes from the seed: the weights from
``seed``, the batch stream from a child seed, and the recurrent noise of update
s from ``SeedSequence([seed, 1, s])``, so a run resumed from a checkpoint
replays exactly the draws of an uninterrupted one and ends bit-identical.
"""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config_file import ConfigError, TrainConfig, load_config_file, normalize_keys

__all__ = ["train", "TrainConfig", "RunResult", "TrainingDiverged", "evaluate_run",
           "RUN_FILES"]

RUN_FILES = ("config.json", "metrics.csv", "last.h5", "best.h5", "eval.csv")
# Settings a resumed run may change; anything else must match the checkpoint.
RESUMABLE = ("steps", "eval_every", "checkpoint_every", "device", "eval_batch_size",
             "out", "cache_path")
_NOISE_STREAM, _SAMPLER_STREAM, _EVAL_STREAM = 1, 2, 3


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN or infinite; names the step."""


@dataclass
class RunResult:
    """What :func:`train` returns (the run directory holds the rest)."""

    out: Path
    config: TrainConfig
    step: int
    final_loss: float
    eval: dict
    best_perf: float
    best_step: int
    seconds: float
    history: list = field(default_factory=list)

    @property
    def mean_perf(self) -> float:
        return float(self.eval["mean"]["perf"])

    def table(self) -> str:
        from .metrics import format_table
        return format_table(self.eval)


def seed_for(seed: int, stream: int, step: int = 0) -> int:
    """An independent 63-bit seed for (run seed, stream, step)."""
    ss = np.random.SeedSequence([int(seed), int(stream), int(step)])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def resolve_config(config=None, overrides=None, resume=False) -> TrainConfig:
    """Merge ``config`` (TrainConfig, dict or file path) with ``overrides``.

    When resuming a run whose ``config.json`` exists, that file is the base and
    only the RESUMABLE settings may differ from it (ConfigError otherwise).
    """
    if config is None:
        base = {}
    elif isinstance(config, TrainConfig):
        base = config.to_dict()
    elif isinstance(config, (str, Path)):
        base = load_config_file(config)
    else:
        base = dict(config)
    requested = {**normalize_keys(base), **normalize_keys(overrides or {})}
    cfg = TrainConfig.from_dict(requested).resolved()
    stored_file = cfg.out_dir / "config.json"
    if not (resume and stored_file.is_file()):
        return cfg
    stored = TrainConfig.load(stored_file).resolved()
    merged = TrainConfig.from_dict({**stored.to_dict(), **requested}).resolved()
    check_compatible(stored.to_dict(), merged.to_dict(), str(stored_file))
    return merged


def check_compatible(stored: dict, wanted: dict, where: str):
    diff = [k for k in wanted if k not in RESUMABLE and stored.get(k) != wanted[k]]
    if diff:
        k = diff[0]
        raise ConfigError(f"cannot resume: {where} has {k}={stored.get(k)!r} but "
                          f"{k}={wanted[k]!r} was asked for (start a new run, or --force)")


def prepare_run_dir(cfg: TrainConfig, resume: bool, force: bool) -> bool:
    """Check and prepare ``cfg.out``; return True when a checkpoint will be resumed."""
    if resume and force:
        raise ConfigError("resume and force cannot both be set")
    out = cfg.out_dir
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out {str(out)!r} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if resume and (out / "last.h5").is_file():
            return True
        if not (resume or force):
            raise ConfigError(f"run directory {str(out)!r} already exists; pass "
                              "--resume to continue it or --force to overwrite it")
        for name in RUN_FILES:  # force, or resume with nothing to resume from
            if (out / name).is_file():
                (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)
    return False


def load_trials(cfg: TrainConfig):
    """(train dict, test dict, task names) from the configured trial cache."""
    from . import cache as C

    dt = int(cfg.dt_ms) if float(cfg.dt_ms).is_integer() else float(cfg.dt_ms)
    kw = dict(test_trials_per_task=cfg.eval_trials, compat=cfg.compat, dt=dt)
    if cfg.cache_path is None:
        tc = C.get_or_build_cache(cfg.task_set, cfg.trials_per_task, cfg.cache_seed, **kw)
    else:
        path = Path(cfg.cache_path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            C.build_cache(cfg.task_set, cfg.trials_per_task, cfg.cache_seed, path=path, **kw)
        expect = C.cache_settings(cfg.task_set, cfg.trials_per_task, cfg.cache_seed, **kw)
        tc = C.open_cache(path, expect=expect)
    return tc.split("train"), tc.split("test"), list(tc.task_names)


def build_model(cfg: TrainConfig, n_tasks: int, backend):
    from .model import RNN, ModelConfig
    from .tasks.trials import N_CLASSES, N_OBS

    mc = ModelConfig(n_in=N_OBS + n_tasks, n_out=N_CLASSES, n_hidden=cfg.hidden,
                     activation=cfg.activation, alpha=cfg.alpha, sigma_rec=cfg.sigma_rec,
                     mask=cfg.mask, sparsity=cfg.sparsity, mask_seed=cfg.mask_seed,
                     dtype=cfg.dtype, train_h0=cfg.train_h0, init_radius=cfg.init_radius)
    return RNN(mc, backend, seed=cfg.seed)


def train(config=None, *, resume=False, force=False, quiet=False, callback=None,
          **overrides) -> RunResult:
    """Train a network and write its run directory (see the module docstring).

    Args:
        config: a TrainConfig, a dict of settings or a JSON/TOML file path.
        resume: continue ``out`` from its ``last.h5`` (fresh start if none).
        force: delete an existing run's files in ``out`` first.
        quiet: print nothing (otherwise one line per evaluation).
        callback: called after every update with a dict (step, steps, loss,
            mean_perf of the latest evaluation, seconds).
        overrides: TrainConfig settings, e.g. ``steps=500, sparsity=0.1``.
    Raises ConfigError (a ValueError) for bad settings or run directories,
    CheckpointError for a corrupted or mismatched checkpoint, TrainingDiverged
    for a non-finite loss, KeyboardInterrupt after saving ``last.h5`` on Ctrl-C.
    """
    from .backend import get_backend
    from .checkpoint import load_checkpoint
    from .data import StreamSampler
    from .training_loop import Loop

    cfg = resolve_config(config, overrides, resume)
    resuming = prepare_run_dir(cfg, resume, force)
    ckpt = None
    if resuming:
        ckpt = load_checkpoint(cfg.out_dir / "last.h5")
        check_compatible(ckpt.config, cfg.to_dict(), str(cfg.out_dir / "last.h5"))
    backend = get_backend(cfg.device)
    train_trials, test_trials, names = load_trials(cfg)
    model = build_model(cfg, len(names), backend)
    sampler = StreamSampler(train_trials, names, cfg.batch_size, cfg.seq_len,
                            seed=seed_for(cfg.seed, _SAMPLER_STREAM), backend=backend,
                            noise_std=_input_std(cfg) if cfg.input_noise else 0.0)
    loop = Loop(cfg, model, sampler, test_trials, names, quiet=quiet, callback=callback)
    if ckpt is not None:
        loop.restore(ckpt)
    else:
        loop.start()
    with _sigint_flag() as stop:
        loop.run(stop)
    return loop.result()


def _input_std(cfg: TrainConfig) -> float:
    from .tasks.trials import input_noise_std
    return input_noise_std(cfg.dt_ms)


class _sigint_flag:
    """Within the block, Ctrl-C sets ``flag["set"]`` instead of raising (main thread only).

    A second Ctrl-C raises KeyboardInterrupt at once.
    """

    def __enter__(self):
        self.flag = {"set": False}
        self.old = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                if self.flag["set"]:
                    raise KeyboardInterrupt
                self.flag["set"] = True
            self.old = signal.signal(signal.SIGINT, handler)
        return self.flag

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


def evaluate_run(run_dir, checkpoint="last", noise=False, seed=0, device=None,
                 batch_size=None, score="refrnn"):
    """Score a run's checkpoint on its test trials; dict as metrics.evaluate.

    ``checkpoint`` is "last", "best" or a path to a checkpoint file; ``score``
    the rule ``perf`` reports (refrnn, yang2019 or neurogym; refrnn.scoring).
    """
    from .backend import get_backend
    from .checkpoint import load_checkpoint, restore_params
    from .metrics import evaluate

    run_dir = Path(run_dir)
    cfg_file = run_dir / "config.json"
    if not cfg_file.is_file():
        raise ConfigError(f"{str(run_dir)!r} is not a run directory (no config.json)")
    cfg = TrainConfig.load(cfg_file)
    if device is not None:
        cfg = cfg.replace(device=device)
    path = run_dir / f"{checkpoint}.h5" if checkpoint in ("last", "best") else Path(checkpoint)
    ckpt = load_checkpoint(path)
    _, test_trials, names = load_trials(cfg)
    model = build_model(cfg, len(names), get_backend(cfg.device))
    restore_params(model, ckpt, str(path))
    rng = np.random.default_rng(seed_for(seed, _EVAL_STREAM)) if noise else None
    return evaluate(model, test_trials, names, batch_size=batch_size or cfg.eval_batch_size,
                    noise=noise, rng=rng, input_noise_std=_input_std(cfg), score=score)



def now() -> float:
    return time.perf_counter()
