"""The harness: a run directory's bookkeeping around the pure loop (refrnn.run.loop).

:class:`Harness` iterates :func:`refrnn.run.loop.train_loop`. On an Evaluation
it writes a metrics.csv row, best.h5 on a new best and a progress line; after
each Update, last.h5 every ``checkpoint_every`` updates (and the last), the
caller's callback, then Ctrl-C or SIGTERM: save and stop. last.h5 holds the loop's whole
state (weights, Adam moments, sampler RNG, Counters, best score, elapsed time),
so a run killed at any point resumes bit-identical. A file that cannot be
written stops the run naming the kept checkpoint and how to resume.
"""
from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics_csv
from .checkpoint import Checkpoint, CheckpointError, restore_params, save_checkpoint
from .loop import Counters, Evaluation, TrainingDiverged, evaluate_now, train_loop
from .run_dir import BEST, LAST
from .settings import TrainConfig
from ..core.optim import Adam
from ..score.evaluation import MEAN
from ..score.table import results_table, write_results_csv
from ..files.atomic import atomic_write_text
from ..files.errors import FileError


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


class Interrupted(KeyboardInterrupt):
    """The run stopped on Ctrl-C (SIGINT) or SIGTERM after saving ``last.h5``;
    ``signum`` says which (the command line exits with 128 + signum)."""

    def __init__(self, message, signum=signal.SIGINT):
        super().__init__(message)
        self.signum = int(signum)


STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


@contextmanager
def ctrl_c_flag():
    """Within the block, Ctrl-C (SIGINT) and SIGTERM (what ``timeout``, ``kill``
    and cluster schedulers send) set ``flag["set"]`` (and ``flag["signum"]``)
    instead of stopping the process (main thread only); a second one raises
    Interrupted at once."""
    flag = {"set": False, "signum": signal.SIGINT}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["set"]:
            raise Interrupted(f"{STOP_SIGNALS.get(signum, 'signal')} again: stopped "
                              "without saving", signum)
        flag["set"], flag["signum"] = True, signum
    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Harness:
    """One run directory around one loop (see the module docstring)."""

    def __init__(self, cfg, model, sampler, test_trials, names, progress=None, callback=None):
        self.cfg, self.model, self.sampler = cfg, model, sampler
        self.test_trials, self.names = test_trials, names
        self.progress, self.callback = progress, callback  # progress: run.progress.Progress
        self.opt = Adam(model.params, lr=cfg.lr, xp=model.backend.xp)
        self.out = cfg.out_dir
        self.counters = Counters()
        self.fresh = True
        self.best_perf, self.best_step = -math.inf, -1
        self.seconds0, self.t0 = 0.0, time.perf_counter()
        self.last_eval = None
        self.row_loss = math.nan  # the loss of the latest metrics.csv row
        self.saved_step = -1
        self.start_step, self.start_seconds = 0, 0.0

    @property
    def step(self) -> int:
        return self.counters.step

    def seconds(self) -> float:
        return self.seconds0 + (time.perf_counter() - self.t0)

    def eta(self) -> float:
        """Seconds left, from this session's pace (NaN before its first update)."""
        done = self.step - self.start_step
        if done <= 0:
            return math.nan
        return (self.seconds() - self.start_seconds) / done * (self.cfg.steps - self.step)

    # ---------------------------------------------------------- start or resume
    def start(self):
        """A fresh run: config.json and the metrics header (the loop scores step 0)."""
        atomic_write_text(self.out / "config.json", self.cfg.to_json())
        metrics_csv.start_metrics(self.out, self.names)

    def restore(self, ckpt: Checkpoint):
        """Continue from ``ckpt``; metrics rows after its step are dropped."""
        where = str(self.out / LAST)
        restore_params(self.model, ckpt, where)
        try:
            self.opt.load_state_dict(ckpt.optim)
            self.sampler.set_state(ckpt.sampler)
            e = ckpt.extra
            self.best_perf, self.best_step = float(e["best_perf"]), int(e["best_step"])
            self.counters = Counters(ckpt.step, float(e["loss_sum"]), int(e["loss_n"]),
                                     float(e["last_loss"]))
            self.seconds0 = float(e["seconds"])
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"checkpoint {where!r} does not match this run: {err}") from None
        self.fresh = False
        self.saved_step = self.start_step = ckpt.step
        self.t0 = time.perf_counter()
        self.start_seconds = self.seconds0
        try:
            metrics_csv.trim_rows(self.out, self.names, ckpt.step)
        except metrics_csv.MetricsMismatch as err:
            raise CheckpointError(str(err)) from None
        atomic_write_text(self.out / "config.json", self.cfg.to_json())

    def save(self, name):
        m, c = self.model, self.counters
        ck = Checkpoint(
            step=c.step,
            params={k: m.backend.to_numpy(v) for k, v in m.params.items()},
            mask_indptr=np.asarray(m.mask.indptr), mask_indices=np.asarray(m.mask.indices),
            mask_shape=tuple(m.mask.shape), optim=self.opt.state_dict(),
            config=self.cfg.to_dict(), sampler=self.sampler.get_state(),
            extra={"best_perf": self.best_perf, "best_step": self.best_step,
                   "loss_sum": c.loss_sum, "loss_n": c.loss_n,
                   "last_loss": c.last_loss, "seconds": self.seconds()})
        save_checkpoint(self.out / name, ck)
        if name == LAST:
            self.saved_step = c.step

    # ------------------------------------------------------- the loop's events
    def on_evaluation(self, ev: Evaluation):
        self.last_eval, self.row_loss = ev.scores, ev.loss
        metrics_csv.append_row(self.out, self.names, ev.step, ev.loss, ev.scores,
                               self.seconds())
        perf = ev.scores[MEAN]["perf"]
        if perf > self.best_perf:
            self.best_perf, self.best_step = perf, ev.step
            self.save(BEST)
        if self.progress is not None:
            self.progress.evaluation(ev.step, ev.loss, ev.scores[MEAN], self.seconds(),
                                     self.eta())

    def stop_if_asked(self, stop):
        if stop["set"] and self.step < self.cfg.steps:
            if self.saved_step != self.step:
                self.save(LAST)
            why = STOP_SIGNALS.get(stop["signum"], "signal")
            raise Interrupted(
                f"interrupted ({why}) at step {self.step}; saved {str(self.out / LAST)!r};"
                " resume with --resume (resume=True)", stop["signum"])

    def run(self, stop):
        """Run the loop to ``cfg.steps``, then write eval.csv. A FileError on the way
        says how to resume; a divergence names the kept checkpoint."""
        try:
            self._run(stop)
        except FileError as e:
            if self.saved_step < 0:  # no last.h5 yet: there is nothing to resume from
                raise FileError(
                    f"{e}; training stopped at step {self.step}, before the run's first "
                    "checkpoint was written; make room and run the same command again "
                    "with --force (force=True), which replaces this run's files") from None
            raise FileError(
                f"{e}; training stopped at step {self.step}. The last good checkpoint "
                f"{str(self.out / LAST)!r} (step {self.saved_step}) is kept; make room "
                f"and continue with: refrnn train --out {self.out} --resume "
                "(train(..., resume=True) in Python)") from None
        except TrainingDiverged as e:
            if e.step <= 1:
                raise
            raise TrainingDiverged(
                f"{e.what} at step {e.step}; training stopped. The last good checkpoint "
                f"{str(self.out / LAST)!r} (step {self.saved_step}) is kept; "
                "try a smaller lr or clip", e.what, e.step) from None

    def _run(self, stop):
        cfg = self.cfg
        events = train_loop(self.model, self.opt, self.sampler, self.test_trials, self.names,
                            cfg, self.counters, evaluate_first=self.fresh)
        if self.fresh:
            self.on_evaluation(next(events))
            self.save(LAST)
        self.stop_if_asked(stop)
        for update in events:
            if update.evaluation is not None:
                self.on_evaluation(update.evaluation)
            if update.step % cfg.checkpoint_every == 0 or update.step == cfg.steps:
                self.save(LAST)
            info = self.progress_info(update.loss)
            if self.progress is not None:
                self.progress.update(info)
            if self.callback is not None:
                self.callback(info)
            self.stop_if_asked(stop)
        if self.last_eval is None:  # resumed at its end: nothing trained, score once
            self.last_eval = evaluate_now(self.model, self.test_trials, self.names, cfg,
                                          self.step)
        if self.saved_step != self.step:
            self.save(LAST)
        write_results_csv(self.last_eval, self.out / "eval.csv")

    def progress_info(self, loss) -> dict:
        """The callback's dict (its keys: refrnn.run.training.train's docstring)."""
        c = self.counters
        perf = self.last_eval[MEAN]["perf"] if self.last_eval else math.nan
        return {"step": c.step, "steps": self.cfg.steps, "start": self.start_step,
                "loss": loss, "mean_loss": c.mean_loss() if c.loss_n else self.row_loss,
                "mean_perf": perf, "seconds": self.seconds(), "eta": self.eta()}

    def result(self) -> RunResult:
        history = metrics_csv.read_rows(self.out)
        return RunResult(out=self.out, config=self.cfg, step=self.step,
                         final_loss=self.counters.last_loss, eval=self.last_eval,
                         best_perf=self.best_perf, best_step=self.best_step,
                         seconds=self.seconds(), history=history)
