"""What a training run prints: the same for ``refrnn train`` and
``refrnn.train(quiet=False)``.

    training yang19: N=256 locality mask at sparsity 0.04, 1000 steps of 32x200 -> runs/x
    resuming from step 400 of 1000                    (a resume only)
    untrained: perf 0.051  dec acc 0.094  (2 s)       (a fresh run's step-0 evaluation)
    step 100/1000  loss 1.2345  perf 0.213  (41 s, ETA 6 min 9 s)

One line per evaluation; the loss is metrics.csv's (the mean since its
previous row). On a terminal, the line between evaluations is a bar over
the steps this call trains, rewritten in place after every update.

A closed standard output (``refrnn train >&-``) prints nothing; one that
breaks on the way (``refrnn train | head -1``: the reader went away) stops
the printing with one note on stderr, and training goes on to its end.
"""
from __future__ import annotations

import math
import os
import sys

from ..files.notices import notice

BAR_WIDTH = 24


def fmt_loss(loss: float) -> str:
    """A loss for a console line: 4 decimals, or "-" before the first update."""
    return "-" if math.isnan(loss) else f"{loss:.4f}"


def eta_suffix(seconds: float) -> str:
    """", ETA 3 min 20 s" (empty when unknown)."""
    if not math.isfinite(seconds):
        return ""
    s = int(round(seconds))
    text = f"{s // 3600} h {s % 3600 // 60} min" if s >= 3600 else (
        f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s")
    return f", ETA {text}"


def resume_line(step: int, steps: int) -> str:
    """What a resumed run says first: where it continues, or that it is done."""
    if step >= steps:
        return f"run already at step {step} of {steps}: nothing to train (evaluating only)"
    return f"resuming from step {step} of {steps}"


def status(step, steps, loss, perf) -> str:
    """"step 13/20  loss 1.5000  perf 0.500" (perf "-" before any evaluation)."""
    return (f"step {step}/{steps}  loss {fmt_loss(loss)}  "
            f"perf {'-' if math.isnan(perf) else f'{perf:.3f}'}")


class Progress:
    """The console lines of one training call (module docstring)."""

    def __init__(self, cfg, stream=None):
        self.cfg = cfg
        self.stream = stream if stream is not None else sys.stdout  # None: stdout closed
        try:
            self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        except (OSError, ValueError):  # a closed file
            self.tty = False
        self.first = self.done = 0  # the step this call began at, the latest one
        self.bar_shown = False

    def _write(self, text):
        """Write and flush ``text``; when the stream fails (closed, broken pipe),
        print nothing more: training does not depend on its reader."""
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError) as e:  # BrokenPipeError, EIO, a closed file
            gone, self.stream = self.stream, None
            if gone is sys.stdout:  # what is still buffered goes nowhere, quietly, at exit
                try:
                    os.dup2(os.open(os.devnull, os.O_WRONLY), gone.fileno())
                except (OSError, ValueError):
                    pass
            notice(f"standard output failed ({type(e).__name__}): progress is no longer "
                   "printed; training goes on")

    def _line(self, text):
        if self.bar_shown:  # end the bar's line first
            self._write("\n")
            self.bar_shown = False
        self._write(text + "\n")

    def begin(self, start_step=None):
        """The run's first line, and where a resume starts."""
        c = self.cfg
        self._line(f"training {c.task_set}: N={c.hidden} {c.mask} mask at sparsity "
                   f"{c.sparsity:g}, {c.steps} steps of {c.batch_size}x{c.seq_len} -> {c.out}")
        if start_step is not None:
            self._line(resume_line(start_step, c.steps))
        self.first = self.done = int(start_step or 0)

    def evaluation(self, step, loss, mean, seconds, eta):
        """One line per evaluation; ``mean``: the scores' "mean" entry."""
        if step == 0:
            self._line(f"untrained: perf {mean['perf']:.3f}  dec acc "
                       f"{mean['decision_acc']:.3f}  ({seconds:.0f} s)")
            return
        self._line(f"{status(step, self.cfg.steps, loss, mean['perf'])}  "
                   f"({seconds:.0f} s{eta_suffix(eta)})")

    @property
    def span(self) -> int:
        """The steps this call trains: the bar's length."""
        return self.cfg.steps - self.first

    def update(self, info):
        """After every update (the harness's callback dict): the bar, on a terminal."""
        self.done = info["step"]
        if not self.tty:
            return
        n = self.done - self.first
        filled = BAR_WIDTH * n // max(self.span, 1)
        self._write(f"\rtraining [{'#' * filled}{'-' * (BAR_WIDTH - filled)}]  "
                          f"{status(info['step'], self.cfg.steps, info['mean_loss'], info['mean_perf'])}"
                          f"{eta_suffix(info['eta'])}   ")
        self.bar_shown = True

    def end(self):
        if self.bar_shown:
            self._write("\n")
            self.bar_shown = False
