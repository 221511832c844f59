"""The update loop of :func:`refrnn.train` and the run directory's files.

One update s (0-based; "step s+1" once done): next stream batch -> forward
with recurrent noise from ``seed_for(seed, 1, s)`` -> cross-entropy ->
backward -> clip -> Adam. After update s+1: evaluate when s+1 is a multiple of
``eval_every`` (or the last step), append a row to ``metrics.csv`` and save
``best.h5`` on a new best; then save ``last.h5`` every ``checkpoint_every``
updates. Everything a resumed run needs (weights, Adam moments, sampler RNG,
running loss, best score, elapsed time) is in ``last.h5``.
"""
from __future__ import annotations

import csv
import math

import numpy as np

from .atomic import atomic_write_text
from .checkpoint import Checkpoint, CheckpointError, restore_params, save_checkpoint
from .metrics import MEAN, evaluate, write_csv
from .training import (
    _EVAL_STREAM, _NOISE_STREAM, RunResult, TrainingDiverged, _input_std, now, seed_for,
)

LITERATURE_COLUMNS = ["mean_perf_yang2019", "mean_perf_neurogym"]


def metrics_columns(names):
    """metrics.csv header: step, loss, means, perf_<task>..., acc_<task>..., seconds.

    The means are refrnn's perf, decision accuracy, and the Yang 2019 and
    neurogym perf (refrnn.scoring); per-task columns use refrnn's rule."""
    return (["step", "loss", "mean_perf", "mean_decision_acc"] + LITERATURE_COLUMNS
            + [f"perf_{t}" for t in names] + [f"acc_{t}" for t in names] + ["seconds"])


class Loop:
    """State of one training run between updates (see the module docstring)."""

    def __init__(self, cfg, model, sampler, test_trials, names, quiet=False, callback=None):
        from .optim import Adam

        self.cfg, self.model, self.sampler = cfg, model, sampler
        self.test_trials, self.names = test_trials, names
        self.quiet, self.callback = quiet, callback
        self.bk = model.backend
        self.opt = Adam(model.params, lr=cfg.lr)
        self.out = cfg.out_dir
        self.step = 0
        self.best_perf, self.best_step = -math.inf, -1
        self.loss_sum, self.loss_n, self.last_loss = 0.0, 0, math.nan
        self.seconds0, self.t0 = 0.0, now()
        self.last_eval, self.last_eval_step = None, -1
        self.saved_step = -1

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
        self.step = self.saved_step = ckpt.step
        self.t0 = now()
        self._trim_metrics(ckpt.step)
        atomic_write_text(self.out / "config.json", self.cfg.to_json())

    def _trim_metrics(self, step):
        path = self.out / "metrics.csv"
        header = metrics_columns(self.names)
        rows = []
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                r = csv.reader(f)
                if next(r, None) != header:
                    raise CheckpointError(f"{str(path)!r} has other columns than this run")
                rows = [row for row in r if row and int(row[0]) <= step]
        lines = [",".join(header)] + [",".join(row) for row in rows]
        atomic_write_text(path, "\n".join(lines) + "\n")

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
        rng = seed_for(cfg.seed, _EVAL_STREAM, self.step) if cfg.eval_noise else None
        res = evaluate(self.model, self.test_trials, self.names,
                       batch_size=cfg.eval_batch_size, noise=cfg.eval_noise, rng=rng,
                       input_noise_std=_input_std(cfg))
        self.last_eval, self.last_eval_step = res, self.step
        return res

    def evaluate_and_log(self):
        res = self.evaluate()
        loss = self.loss_sum / self.loss_n if self.loss_n else math.nan
        self.loss_sum, self.loss_n = 0.0, 0
        row = ([self.step, "" if math.isnan(loss) else repr(loss),
                repr(res[MEAN]["perf"]), repr(res[MEAN]["decision_acc"])]
               + [repr(res[MEAN][c[len("mean_"):]]) for c in LITERATURE_COLUMNS]
               + [repr(res[t]["perf"]) for t in self.names]
               + [repr(res[t]["decision_acc"]) for t in self.names]
               + [f"{self.seconds():.3f}"])
        with open(self.out / "metrics.csv", "a", encoding="utf-8", newline="") as f:
            f.write(",".join(str(v) for v in row) + "\n")
        perf = res[MEAN]["perf"]
        if perf > self.best_perf:
            self.best_perf, self.best_step = perf, self.step
            self.save("best.h5")
        if not self.quiet:
            print(f"step {self.step:>6}/{self.cfg.steps}  loss {loss:.4f}  "
                  f"mean perf {perf:.3f}  dec acc {res[MEAN]['decision_acc']:.3f}  "
                  f"({self.seconds():.0f} s)", flush=True)

    # -------------------------------------------------------------- the loop
    def update(self):
        """One Adam update from one stream batch; returns the batch loss."""
        from .losses import cross_entropy
        from .optim import clip_grad_norm, grad_norm

        cfg, m, xp = self.cfg, self.model, self.bk.xp
        s = self.step + 1
        batch = self.sampler.next()
        rng = self.bk.rng(seed_for(cfg.seed, _NOISE_STREAM, self.step))
        y, cache = m.forward(batch.x, rng=rng)
        w = batch.weights
        if cfg.fix_weight != 1.0:
            w = w * xp.where(batch.labels == 0, cfg.fix_weight, 1.0).astype(w.dtype)
        loss, dy = cross_entropy(y, batch.labels, w)
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
                self.callback({"step": self.step, "steps": cfg.steps, "loss": loss,
                               "mean_perf": perf, "seconds": self.seconds()})
        if self.last_eval_step != self.step:
            self.evaluate()
        if self.saved_step != self.step:
            self.save("last.h5")
        write_csv(self.last_eval, self.out / "eval.csv")

    def result(self) -> RunResult:
        with open(self.out / "metrics.csv", newline="", encoding="utf-8") as f:
            history = list(csv.DictReader(f))
        return RunResult(out=self.out, config=self.cfg, step=self.step,
                         final_loss=self.last_loss, eval=self.last_eval,
                         best_perf=self.best_perf, best_step=self.best_step,
                         seconds=self.seconds(), history=history)
