"""The training step, first, and the loop of bookkeeping around it.

:func:`train_step` is one update: a stream batch -> forward with recurrent
noise -> cross-entropy -> backward (BPTT) -> clip -> Adam. :class:`Loop`
calls it for update s (0-based; "step s+1" once done) with the noise of
``seed_for(seed, 1, s)``; after update s+1 it evaluates when s+1 is a
multiple of ``eval_every`` (or the last step), appends a row to
``metrics.csv`` (:mod:`refrnn.run.metrics_csv`) and saves ``best.h5`` on a new
best; then saves ``last.h5`` every ``checkpoint_every`` updates. Everything a
resumed run needs (weights, Adam moments, sampler RNG, running loss, best
score, elapsed time) is in ``last.h5``.

One loss figure is reported everywhere: the mean training loss over the
updates since the previous metrics.csv row (``mean_loss`` in the callback,
``loss`` in the console lines and in metrics.csv). A file that cannot be
written stops the run with a FileError that names the kept checkpoint and
how to resume; every file is replaced atomically, so nothing is half-written.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics_csv
from .checkpoint import Checkpoint, CheckpointError, restore_params, save_checkpoint
from .evaluation import MEAN, evaluate, results_table, write_results_csv
from .progress import eta_suffix, fmt_loss
from .settings import TrainConfig
from ..core import losses
from ..core.optim import Adam, clip_grad_norm, grad_norm
from ..files.atomic import atomic_write_text
from ..files.errors import FileError
from ..tasks.trials import input_noise_std

NOISE_STREAM, SAMPLER_STREAM, EVAL_STREAM = 1, 2, 3  # seed_for streams of one run


def train_step(model, opt, batch, rng, cfg):
    """One Adam update of ``model`` on one stream batch.

    Args:
        model: the RNN (refrnn.core.model), parameters changed in place.
        opt: its Adam (refrnn.core.optim).
        batch: a stream batch: x (T, B, n_in), labels (T, B) int, weights (T, B).
        rng: the backend generator of this update's recurrent noise.
        cfg: the TrainConfig (fix_weight: loss weight of fixation steps;
            clip: gradient-norm bound, 0 = none).
    Returns:
        (loss, gradient norm before clipping) as floats. The update is applied
        only when both are finite; otherwise nothing changes (a NaN norm when
        the loss itself is not finite) and the caller stops the run.
    """
    xp = model.xp
    y, record = model.forward(batch.x, rng=rng)
    w = batch.weights
    if cfg.fix_weight != 1.0:
        w = w * xp.where(batch.labels == 0, cfg.fix_weight, 1.0).astype(w.dtype)
    loss, dy = losses.cross_entropy(y, batch.labels, w, xp=xp)
    loss = float(loss)
    if not math.isfinite(loss):
        return loss, math.nan
    grads = model.backward(record, dy)
    norm = clip_grad_norm(grads, cfg.clip) if cfg.clip > 0 else grad_norm(grads)
    if math.isfinite(norm):
        opt.step(model.params, grads)
    return loss, float(norm)


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN or infinite; names the step."""


@dataclass
class RunResult:
    """What :func:`refrnn.run.training.train` returns (the run directory holds the rest)."""

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
        return results_table(self.eval)


def seed_for(seed: int, stream: int, step: int = 0) -> int:
    """An independent 63-bit seed for (run seed, stream, step)."""
    ss = np.random.SeedSequence([int(seed), int(stream), int(step)])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def now() -> float:
    return time.perf_counter()


class Loop:
    """State of one training run between updates (see the module docstring)."""

    def __init__(self, cfg, model, sampler, test_trials, names, quiet=False, callback=None):
        self.cfg, self.model, self.sampler = cfg, model, sampler
        self.test_trials, self.names = test_trials, names
        self.quiet, self.callback = quiet, callback
        self.bk = model.backend
        self.opt = Adam(model.params, lr=cfg.lr, xp=self.bk.xp)
        self.out = cfg.out_dir
        self.step = 0
        self.best_perf, self.best_step = -math.inf, -1
        self.loss_sum, self.loss_n, self.last_loss = 0.0, 0, math.nan
        self.seconds0, self.t0 = 0.0, now()
        self.last_eval, self.last_eval_step = None, -1
        self.row_loss = math.nan  # the loss of the latest metrics.csv row
        self.saved_step = -1
        self.start_step, self.start_seconds = 0, 0.0

    # ------------------------------------------------------------- bookkeeping
    def seconds(self) -> float:
        return self.seconds0 + (now() - self.t0)

    def start(self):
        """A fresh run: write config.json and the metrics header; score step 0."""
        atomic_write_text(self.out / "config.json", self.cfg.to_json())
        metrics_csv.start_metrics(self.out, self.names)
        self.evaluate_and_log()
        self.save("last.h5")

    def restore(self, ckpt: Checkpoint):
        """Continue from ``ckpt``; metrics rows after its step are dropped."""
        where = str(self.out / "last.h5")
        restore_params(self.model, ckpt, where)
        try:
            self.opt.load_state_dict(ckpt.optim)
            self.sampler.set_state(ckpt.sampler)
            e = ckpt.extra
            self.best_perf, self.best_step = float(e["best_perf"]), int(e["best_step"])
            self.loss_sum, self.loss_n = float(e["loss_sum"]), int(e["loss_n"])
            self.last_loss, self.seconds0 = float(e["last_loss"]), float(e["seconds"])
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"checkpoint {where!r} does not match this run: {err}") from None
        self.step = self.saved_step = self.start_step = ckpt.step
        self.t0 = now()
        self.start_seconds = self.seconds0
        try:
            metrics_csv.trim_rows(self.out, self.names, ckpt.step)
        except metrics_csv.MetricsMismatch as err:
            raise CheckpointError(str(err)) from None
        atomic_write_text(self.out / "config.json", self.cfg.to_json())

    def eta(self) -> float:
        """Seconds left, from this session's pace (NaN before its first update)."""
        done = self.step - self.start_step
        if done <= 0:
            return math.nan
        return (self.seconds() - self.start_seconds) / done * (self.cfg.steps - self.step)

    def mean_loss(self) -> float:
        """The logged loss figure: mean over the updates since the last row."""
        return self.loss_sum / self.loss_n if self.loss_n else self.row_loss

    def save(self, name):
        m, bk = self.model, self.bk
        ck = Checkpoint(
            step=self.step,
            params={k: bk.to_numpy(v) for k, v in m.params.items()},
            mask_indptr=np.asarray(m.mask.indptr), mask_indices=np.asarray(m.mask.indices),
            mask_shape=tuple(m.mask.shape), optim=self.opt.state_dict(),
            config=self.cfg.to_dict(), sampler=self.sampler.get_state(),
            extra={"best_perf": self.best_perf, "best_step": self.best_step,
                   "loss_sum": self.loss_sum, "loss_n": self.loss_n,
                   "last_loss": self.last_loss, "seconds": self.seconds()})
        save_checkpoint(self.out / name, ck)
        if name == "last.h5":
            self.saved_step = self.step

    def evaluate(self):
        cfg = self.cfg
        rng = seed_for(cfg.seed, EVAL_STREAM, self.step) if cfg.eval_noise else None
        res = evaluate(self.model, self.test_trials, self.names,
                       batch_size=cfg.eval_batch_size, noise=cfg.eval_noise, rng=rng,
                       input_noise_std=input_noise_std(cfg.dt_ms))
        self.last_eval, self.last_eval_step = res, self.step
        return res

    def evaluate_and_log(self):
        res = self.evaluate()
        loss = self.loss_sum / self.loss_n if self.loss_n else math.nan
        self.loss_sum, self.loss_n, self.row_loss = 0.0, 0, loss
        metrics_csv.append_row(self.out, self.names, self.step, loss, res, self.seconds())
        perf = res[MEAN]["perf"]
        if perf > self.best_perf:
            self.best_perf, self.best_step = perf, self.step
            self.save("best.h5")
        if not self.quiet:
            print(f"step {self.step:>6}/{self.cfg.steps}  loss {fmt_loss(loss)}  "
                  f"mean perf {perf:.3f}  dec acc {res[MEAN]['decision_acc']:.3f}  "
                  f"({self.seconds():.0f} s{eta_suffix(self.eta())})", flush=True)

    # -------------------------------------------------------------- the loop
    def update(self):
        """:func:`train_step` on the next stream batch; returns its loss."""
        s = self.step + 1
        rng = self.bk.rng(seed_for(self.cfg.seed, NOISE_STREAM, self.step))
        loss, norm = train_step(self.model, self.opt, self.sampler.next(), rng, self.cfg)
        if not math.isfinite(loss):
            self._diverged(f"loss is {loss}", s)
        if not math.isfinite(norm):
            self._diverged(f"gradient norm is {norm}", s)
        self.step = s
        return loss

    def _diverged(self, what, s):
        if s == 1:  # no update has been applied yet: the untrained network overflowed
            r = self.cfg.init_radius
            start = (f"spectral radius {r:g}" if r > 0 else "the unscaled N(0, 1/k) draw")
            raise TrainingDiverged(
                f"{what} at step 1, before any update: the initial dynamics diverged "
                f"(initial W_rec: {start}). Lower init_radius (--init-radius), "
                "or use a bounded activation (tanh); lr and clip play no part yet")
        raise TrainingDiverged(
            f"{what} at step {s}; training stopped. The last good checkpoint "
            f"{str(self.out / 'last.h5')!r} (step {self.saved_step}) is kept; "
            "try a smaller lr or clip")

    def run(self, stop):
        """Update until ``cfg.steps``; a FileError on the way says how to resume."""
        try:
            self._run(stop)
        except FileError as e:
            raise FileError(
                f"{e}; training stopped at step {self.step}. The last good checkpoint "
                f"{str(self.out / 'last.h5')!r} (step {self.saved_step}) is kept; make room "
                f"and continue with: refrnn train --out {self.out} --resume "
                "(train(..., resume=True) in Python)") from None

    def _run(self, stop):
        cfg = self.cfg
        while self.step < cfg.steps:
            if stop["set"]:
                if self.saved_step != self.step:
                    self.save("last.h5")
                raise KeyboardInterrupt(
                    f"interrupted at step {self.step}; saved {str(self.out / 'last.h5')!r};"
                    " resume with --resume (resume=True)")
            loss = self.update()
            self.last_loss = loss
            self.loss_sum += loss
            self.loss_n += 1
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                self.evaluate_and_log()
            if self.step % cfg.checkpoint_interval == 0 or self.step == cfg.steps:
                self.save("last.h5")
            if self.callback is not None:
                perf = self.last_eval[MEAN]["perf"] if self.last_eval else math.nan
                self.callback({"step": self.step, "steps": cfg.steps, "start": self.start_step,
                               "loss": loss, "mean_loss": self.mean_loss(),
                               "mean_perf": perf, "seconds": self.seconds(),
                               "eta": self.eta()})
        if self.last_eval_step != self.step:
            self.evaluate()
        if self.saved_step != self.step:
            self.save("last.h5")
        write_results_csv(self.last_eval, self.out / "eval.csv")

    def result(self) -> RunResult:
        history = metrics_csv.read_rows(self.out)
        return RunResult(out=self.out, config=self.cfg, step=self.step,
                         final_loss=self.last_loss, eval=self.last_eval,
                         best_perf=self.best_perf, best_step=self.best_step,
                         seconds=self.seconds(), history=history)

