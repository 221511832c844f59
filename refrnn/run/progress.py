"""How training progress reads on the console: the loss figure and the ETA."""
from __future__ import annotations

import math


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


def evaluation_line(step, steps, loss, mean, seconds, eta) -> str:
    """The line an evaluation prints: step, loss since the previous one, mean scores."""
    return (f"step {step:>6}/{steps}  loss {fmt_loss(loss)}  mean perf {mean['perf']:.3f}  "
            f"dec acc {mean['decision_acc']:.3f}  ({seconds:.0f} s{eta_suffix(eta)})")
