"""The update loop of :func:`refrnn.train` and the run directory's files.

One update s (0-based; "step s+1" once done): next stream batch -> forward
with recurrent noise from ``seed_for(seed, 1, s)`` -> cross-entropy ->
backward -> clip -> Adam. After update s+1: evaluate when s+1 is a multiple of
``eval_every`` (or the last step), append a row to ``metrics.csv`` and save
``best.h5`` on a new best; then save ``last.h5`` every ``checkpoint_every``
updates. Everything a resumed run needs (weights, Adam moments, sampler RNG,
running loss, best score, elapsed time) is in ``last.h5``.

One loss figure is reported everywhere: the mean training loss over the
updates since the previous metrics.csv row (``mean_loss`` in the callback,
``loss`` in the console lines and in metrics.csv). A file that cannot be
written stops the run with a FileError that names the kept checkpoint and
how to resume; every file is replaced atomically, so nothing is half-written.
"""
from __future__ import annotations

import csv
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files.atomic import atomic_write_text
from .checkpoint import Checkpoint, CheckpointError, restore_params, save_checkpoint
from .settings import TrainConfig
from ..files.errors import FileError, file_errors
from .evaluation import MEAN, evaluate, results_table, write_results_csv
from .progress import eta_suffix, fmt_loss
from ..tasks.trials import input_noise_std

NOISE_STREAM, SAMPLER_STREAM, EVAL_STREAM = 1, 2, 3  # seed_for streams of one run


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


@contextmanager
def float_warnings_off():
    """Within the block, NumPy's floating-point RuntimeWarnings ("overflow
    encountered in matmul", ...) are not printed, in every thread.

    The loop checks every loss and gradient norm and stops with one
    TrainingDiverged line; the per-operation warnings of the same overflow
    only came before it as noise. numpy.errstate alone would not reach the
    backends' worker threads, hence a warnings filter (by message, so a
    RefrnnNotice, also a RuntimeWarning, still shows)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.filterwarnings("ignore", category=RuntimeWarning,
                                message=r"(overflow|invalid value|divide by zero|underflow) "
                                        r"encountered")
        yield


def now() -> float:
    return time.perf_counter()

LITERATURE_COLUMNS = ["mean_perf_yang2019", "mean_perf_neurogym"]


def metrics_columns(names):
    """metrics.csv header: step, loss, means, perf_<task>..., acc_<task>..., seconds.

    The means are refrnn's perf, decision accuracy, and the Yang 2019 and
    neurogym perf (refrnn.run.scoring); per-task columns use refrnn's rule."""
    return (["step", "loss", "mean_perf", "mean_decision_acc"] + LITERATURE_COLUMNS
            + [f"perf_{t}" for t in names] + [f"acc_{t}" for t in names] + ["seconds"])


class Loop:
    """State of one training run between updates (see the module docstring)."""

    def __init__(self, cfg, model, sampler, test_trials, names, quiet=False, callback=None):
        from ..core.optim import Adam

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
        atomic_write_text(self.out / "metrics.csv", ",".join(metrics_columns(self.names)) + "\n")
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
        self._trim_metrics(ckpt.step)
        atomic_write_text(self.out / "config.json", self.cfg.to_json())

    def _trim_metrics(self, step):
        path = self.out / "metrics.csv"
        header = metrics_columns(self.names)
        rows = []
        if path.is_file():
            with file_errors(path, "read"), open(path, newline="", encoding="utf-8") as f:
                r = csv.reader(f)
                if next(r, None) != header:
                    raise CheckpointError(f"{str(path)!r} has other columns than this run")
                rows = [row for row in r if row and int(row[0]) <= step]
        lines = [",".join(header)] + [",".join(row) for row in rows]
        atomic_write_text(path, "\n".join(lines) + "\n")

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
            rng={"noise": "update s draws from SeedSequence([seed, 1, s])",
                 "seed": self.cfg.seed, "sampler_seed": self.sampler.seed},
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
        row = ([self.step, "" if math.isnan(loss) else repr(loss),
                repr(res[MEAN]["perf"]), repr(res[MEAN]["decision_acc"])]
               + [repr(res[MEAN][c[len("mean_"):]]) for c in LITERATURE_COLUMNS]
               + [repr(res[t]["perf"]) for t in self.names]
               + [repr(res[t]["decision_acc"]) for t in self.names]
               + [f"{self.seconds():.3f}"])
        path = self.out / "metrics.csv"  # rewritten whole: a full disk cannot cut a row
        with file_errors(path, "read"):
            text = path.read_text(encoding="utf-8")
        atomic_write_text(path, text + ",".join(str(v) for v in row) + "\n")
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
        """One Adam update from one stream batch; returns the batch loss."""
        from ..core.losses import cross_entropy
        from ..core.optim import clip_grad_norm, grad_norm

        cfg, m, xp = self.cfg, self.model, self.bk.xp
        s = self.step + 1
        batch = self.sampler.next()
        rng = self.bk.rng(seed_for(cfg.seed, NOISE_STREAM, self.step))
        y, cache = m.forward(batch.x, rng=rng)
        w = batch.weights
        if cfg.fix_weight != 1.0:
            w = w * xp.where(batch.labels == 0, cfg.fix_weight, 1.0).astype(w.dtype)
        loss, dy = cross_entropy(y, batch.labels, w, xp=xp)
        loss = float(loss)
        if not math.isfinite(loss):
            self._diverged(f"loss is {loss}", s)
        grads = m.backward(cache, dy)
        norm = clip_grad_norm(grads, cfg.clip) if cfg.clip > 0 else grad_norm(grads)
        if not math.isfinite(norm):
            self._diverged(f"gradient norm is {norm}", s)
        self.opt.step(m.params, grads)
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
        path = self.out / "metrics.csv"
        with file_errors(path, "read"), open(path, newline="", encoding="utf-8") as f:
            history = list(csv.DictReader(f))
        return RunResult(out=self.out, config=self.cfg, step=self.step,
                         final_loss=self.last_loss, eval=self.last_eval,
                         best_perf=self.best_perf, best_step=self.best_step,
                         seconds=self.seconds(), history=history)

