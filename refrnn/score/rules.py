"""The literature's trial scoring rules, next to refrnn's own (docs/tasks.md).

Three rules score a trial from the network's outputs y (17 logits per step:
class 0 = fixate, class k = ring unit k-1 at angle 2*pi*(k-1)/16):

- ``refrnn``: argmax 0 at every step before the decision period and argmax =
  label at the trial's last step (:func:`refrnn.score.evaluation.score_outputs`).
- ``yang2019``: Yang et al. 2019's ``get_perf``, last step only. With
  p = softmax(y) there, the network fixates when p[0] > 0.5 and reports the
  population-vector angle of p[1:17]. A trial whose label is 0 (no response)
  is correct when the network fixates; otherwise when it does not fixate and
  the reported angle is within 0.2*pi (36 degrees) of the target's, so the
  neighbouring ring class (22.5 degrees away) counts. Fixation earlier in the
  trial is not scored. It is what Yang et al.'s training loop scores with
  (``do_eval`` in their train.py).
- ``neurogym``: argmax at the trial's last step = label there: the check of
  neurogym's supervised-training examples. Not the ``performance`` neurogym's
  environments report while an agent steps through a trial, where the first
  answer other than fixate in the decision period ends the trial (1 only if
  it is the target) and a trial whose answer is to keep fixating can never
  score 1.

Yang's network had sigmoid outputs; refrnn's are softmax class scores, so the
fixation unit's activity is read as p[0]. Padded batches score each trial at
its own last step, lengths[b] - 1; a length outside 1..T is a ValueError.
A step whose logits are not all finite (NaN, inf) has no answer: it matches
no class under any rule (:func:`predicted_class` gives -1 there), so a
diverged network never scores.
"""
from __future__ import annotations

import numpy as np

SCORES = ("refrnn", "yang2019", "neurogym")
N_RING = 16
YANG_TOLERANCE = 0.2 * np.pi  # a response within this angle of the target is correct
FIXATION_THRESHOLD = 0.5     # p[0] above this at the last step: the network fixates


NO_ANSWER = -1  # the predicted class of a step with a non-finite logit


def check_lengths(lengths, T: int, B: int) -> np.ndarray:
    """``lengths`` as int64 (B,), or ValueError unless every one is in 1..T."""
    ln = np.asarray(lengths)
    if ln.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},) (one per trial), got {ln.shape}")
    if ln.size and ln.dtype.kind not in "iu":
        raise ValueError(f"lengths must be integers, got dtype {ln.dtype}")
    ln = ln.astype(np.int64)
    bad = np.flatnonzero((ln < 1) | (ln > T))
    if bad.size:
        b = int(bad[0])
        raise ValueError(f"trial lengths must be between 1 and T={T} steps; trial {b} "
                         f"has length {int(ln[b])}")
    return ln


def last_step(a, lengths):
    """Each trial's entry at its last step: a (T, B, ...) -> (B, ...).

    ValueError unless every length is in 1..T (:func:`check_lengths`)."""
    a = np.asarray(a)
    if a.ndim < 2:
        raise ValueError(f"expected a (T, B, ...) array, got shape {a.shape}")
    ln = check_lengths(lengths, a.shape[0], a.shape[1])
    return a[ln - 1, np.arange(a.shape[1])]


def predicted_class(y) -> np.ndarray:
    """argmax of the logits y (..., C) -> int64 (...), NO_ANSWER (-1) where any
    logit of that step is not finite (np.argmax would pick a NaN's class)."""
    y = np.asarray(y)
    pred = np.argmax(y, axis=-1).astype(np.int64)
    return np.where(np.all(np.isfinite(y), axis=-1), pred, NO_ANSWER)


def popvec(p):
    """Population-vector angle in [0, 2*pi) of ring activities p (..., 16)."""
    pref = 2 * np.pi * np.arange(p.shape[-1]) / p.shape[-1]
    total = p.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (p * np.cos(pref)).sum(axis=-1) / total
        s = (p * np.sin(pref)).sum(axis=-1) / total
    return np.mod(np.arctan2(s, c), 2 * np.pi)


def yang2019_correct(y, labels, lengths):
    """Yang et al. 2019's rule (module docstring).

    Args:
        y: (T, B, 17) output logits.
        labels: int (T, B) target class per step.
        lengths: int (B,) trial lengths in steps.
    Returns:
        (B,) bool.
    """
    z = last_step(y, lengths).astype(np.float64)
    lab = last_step(labels, lengths)
    if z.shape[-1] != N_RING + 1:
        raise ValueError(f"the yang2019 rule needs {N_RING + 1} outputs, got {z.shape[-1]}")
    finite = np.all(np.isfinite(z), axis=-1)
    z = np.where(finite[:, None], z, 0.0)  # scored as wrong below; keeps exp quiet
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    fixating = p[:, 0] > FIXATION_THRESHOLD
    target = 2 * np.pi * (lab - 1) / N_RING
    d = np.abs(popvec(p[:, 1:]) - target)
    close = np.minimum(d, 2 * np.pi - d) < YANG_TOLERANCE
    return finite & np.where(lab == 0, fixating, close & ~fixating)


def neurogym_correct(y, labels, lengths):
    """neurogym's supervised-example rule: argmax at the last step equals the label there
    (not its environments' ``performance``; see the module docstring).

    Args: as :func:`yang2019_correct`. Returns (B,) bool.
    """
    return last_step(predicted_class(y), lengths) == last_step(labels, lengths)


def check_score(score: str) -> str:
    """``score`` if it names a rule, else ValueError listing the rules."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}; got {score!r}")
    return score
