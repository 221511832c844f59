"""The training loop: batches in, events out. Read it top to bottom.

:func:`train_step` is one update: a stream batch -> forward with recurrent
noise -> cross-entropy -> backward (BPTT) -> clip -> Adam.
:func:`train_loop` repeats it until ``cfg.steps`` and yields what happened:

    Evaluation(step, loss, scores)   the scores on the held-out trials, at
                                     step 0 of a fresh run and after every
                                     ``eval_every``-th update (and the last)
    Update(step, loss, norm, evaluation)   after every update; ``evaluation``
                                     is that step's Evaluation when one was due

The loop owns no file, clock or terminal: whoever iterates it (the harness,
:mod:`refrnn.run.harness`, or a script) writes, prints, saves and stops.
Its state is the model's parameters, the Adam moments, the sampler's position
and :class:`Counters`; restore all four and the loop continues exactly where
it stopped, because every random draw comes from the run's seed: the noise
of update s from ``seed_for(seed, NOISE_STREAM, s)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..score.evaluation import evaluate
from ..core import losses, optim
from ..tasks.trials import input_noise_std

NOISE_STREAM, SAMPLER_STREAM, EVAL_STREAM = 1, 2, 3  # seed_for streams of one run


def seed_for(seed: int, stream: int, step: int = 0) -> int:
    """An independent 63-bit seed for (run seed, stream, step)."""
    ss = np.random.SeedSequence([int(seed), int(stream), int(step)])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def train_step(model, opt, batch, rng, cfg):
    """One Adam update of ``model`` on one stream batch.

    Args:
        model: the RNN (refrnn.core.model), parameters changed in place.
        opt: its Adam (refrnn.core.optim).
        batch: a stream batch: x (T, B, n_in), labels (T, B) int, weights (T, B).
        rng: the backend generator of this update's recurrent noise.
        cfg: the settings (fix_weight: loss weight of fixation steps;
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
    norm = optim.clip_grad_norm(grads, cfg.clip) if cfg.clip > 0 else optim.grad_norm(grads)
    if math.isfinite(norm):
        opt.step(model.params, grads)
    return loss, float(norm)


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN or infinite; ``step`` names the update."""

    def __init__(self, message, what="", step=0):
        super().__init__(message)
        self.what, self.step = what, step


@dataclass
class Counters:
    """The loop's own state besides weights, Adam and sampler (a checkpoint keeps it)."""

    step: int = 0              # updates done
    loss_sum: float = 0.0      # sum of the losses since the latest evaluation
    loss_n: int = 0            # how many
    last_loss: float = math.nan  # the latest update's loss

    def mean_loss(self) -> float:
        """The mean loss since the latest evaluation (NaN when no update since)."""
        return self.loss_sum / self.loss_n if self.loss_n else math.nan


@dataclass
class Evaluation:
    """Scores after update ``step``; ``loss`` is the mean training loss since the
    previous evaluation (NaN at step 0)."""

    step: int
    loss: float
    scores: dict  # refrnn.score.evaluation.evaluate's dict: task -> scores, plus "mean"


@dataclass
class Update:
    """Update ``step`` is done: its batch loss and gradient norm (before clipping)."""

    step: int
    loss: float
    norm: float
    evaluation: Optional[Evaluation] = None


def evaluate_now(model, test_trials, names, cfg, step: int) -> dict:
    """The scores of ``model`` on ``test_trials`` after update ``step`` (noise, when
    ``cfg.eval_noise``, from ``seed_for(seed, EVAL_STREAM, step)``)."""
    rng = seed_for(cfg.seed, EVAL_STREAM, step) if cfg.eval_noise else None
    return evaluate(model, test_trials, names, batch_size=cfg.eval_batch_size,
                    noise=cfg.eval_noise, rng=rng, input_noise_std=input_noise_std(cfg.dt))


def train_loop(model, opt, sampler, test_trials, names, cfg, counters: Counters,
               evaluate_first: bool = True):
    """Train ``model`` until ``cfg.steps`` updates; a generator of events.

    Args:
        model, opt: the RNN and its Adam, changed in place.
        sampler: the batch stream (``sampler.next()`` -> x (T, B, n_in), labels, weights).
        test_trials, names: held-out trials per task and the task names (one-hot order).
        cfg: the settings (steps, eval_every, seed, fix_weight, clip, eval_*).
        counters: where to start (a fresh Counters, or a checkpoint's); updated in place.
        evaluate_first: yield an Evaluation before the first update (a fresh run).
    Yields:
        Evaluation at the start, then one Update per update (module docstring).
    Raises:
        TrainingDiverged when a loss or gradient norm is not finite; the update
        that produced it is not applied.
    """
    c = counters
    if evaluate_first:
        yield _evaluation(model, test_trials, names, cfg, c)
    while c.step < cfg.steps:
        batch = sampler.next()
        rng = model.backend.rng(seed_for(cfg.seed, NOISE_STREAM, c.step))
        loss, norm = train_step(model, opt, batch, rng, cfg)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise _diverged(loss, norm, c.step + 1, cfg)
        c.step += 1
        c.last_loss, c.loss_sum, c.loss_n = loss, c.loss_sum + loss, c.loss_n + 1
        evaluation = None
        if c.step % cfg.eval_every == 0 or c.step == cfg.steps:
            evaluation = _evaluation(model, test_trials, names, cfg, c)
        yield Update(c.step, loss, norm, evaluation)


def _evaluation(model, test_trials, names, cfg, c: Counters) -> Evaluation:
    """Score now; the mean loss since the previous evaluation goes with it."""
    loss = c.mean_loss()
    c.loss_sum, c.loss_n = 0.0, 0
    return Evaluation(c.step, loss, evaluate_now(model, test_trials, names, cfg, c.step))


def _diverged(loss, norm, step, cfg) -> TrainingDiverged:
    what = f"loss is {loss}" if not math.isfinite(loss) else f"gradient norm is {norm}"
    if step == 1:  # no update has been applied yet: the untrained network overflowed
        r = cfg.init_radius
        start = f"spectral radius {r:g}" if r > 0 else "the unscaled N(0, 1/k) draw"
        return TrainingDiverged(
            f"{what} at step 1, before any update: the initial dynamics diverged "
            f"(initial W_rec: {start}). Lower init_radius (--init-radius), "
            "or use a bounded activation (tanh); lr and clip play no part yet", what, step)
    return TrainingDiverged(f"{what} at step {step}; training stopped; try a smaller lr "
                            "or clip", what, step)
