"""Scoring edge cases and the constants each rule depends on (refrnn.score.rules).

Every constant a rule reads is pinned by a case on each side of it, so that
changing it (say the yang2019 tolerance from 0.2*pi to 0.25*pi, or the
fixation threshold from 0.5) fails here: lengths 0 and T + 1 are refused,
a non-finite logit never scores.
"""
import numpy as np
import pytest

from refrnn.score.evaluation import score_outputs
from refrnn.score.rules import (N_RING, NO_ANSWER,
                                neurogym_correct, popvec, predicted_class, yang2019_correct)

T, LABEL = 6, 5  # label 5 = ring unit 4, at 90 degrees


def ring_logits(offset):
    """(T, 1, 17) logits whose last step reports the angle target + ``offset``
    (radians) as a population vector, fixation output ~0: two ring units at
    offsets 22.5 and 45 degrees weighted to put the vector exactly there."""
    target = 2 * np.pi * (LABEL - 1) / N_RING
    a, b = np.pi / 8, np.pi / 4  # the two units' offsets from the target
    assert a < offset < b
    wa, wb = np.sin(b - offset), np.sin(offset - a)  # wa sin(a - o) + wb sin(b - o) = 0
    y = np.full((T, 1, 17), -60.0)
    y[-1, 0, LABEL + 1], y[-1, 0, LABEL + 2] = np.log(wa), np.log(wb)
    z = y[-1, 0]
    p = np.exp(z - z.max())
    p /= p.sum()
    got = popvec(p[1:])
    assert got == pytest.approx(target + offset, abs=1e-9)  # the construction is right
    return y


LABELS = np.array([0, 0, 0, LABEL, LABEL, LABEL])[:, None]


@pytest.mark.parametrize("side, want", [(-1, True), (+1, False)])
def test_yang_tolerance_is_pinned_on_both_sides(side, want):
    """0.2*pi = 36 degrees: 35.9 degrees off counts, 36.1 does not (0.25*pi = 45
    degrees would count both; 0.19*pi would count neither)."""
    offset = 0.2 * np.pi + side * np.deg2rad(0.1)  # Yang et al. 2019's get_perf
    assert bool(yang2019_correct(ring_logits(offset), LABELS, [T])[0]) is want
    # the same answer with the offset on the other side of the target (the ring wraps)
    y = ring_logits(offset)
    mirrored = y.copy()
    ring = y[-1, 0, 1:]
    k = LABEL - 1
    mirrored[-1, 0, 1:] = ring[(2 * k - np.arange(N_RING)) % N_RING]
    assert bool(yang2019_correct(mirrored, LABELS, [T])[0]) is want


@pytest.mark.parametrize("p0, want", [(0.51, False), (0.49, True)])
def test_yang_fixation_threshold_is_pinned_on_both_sides(p0, want):
    y = np.full((T, 1, 17), -60.0)
    y[-1, 0, 0], y[-1, 0, LABEL] = np.log(p0), np.log(1 - p0)
    assert bool(yang2019_correct(y, LABELS, [T])[0]) is want
    # a no-response trial is the other way round
    nogo = np.zeros((T, 1), int)
    assert bool(yang2019_correct(y, nogo, [T])[0]) is (not want)


def test_refrnn_rule_fixation_ends_exactly_at_the_decision_start():
    """A response at the first decision step is allowed; one step earlier breaks
    fixation (the boundary is decision_start, not decision_start - 1 or + 1)."""
    labels = np.array([0, 0, 0, LABEL, LABEL, LABEL])[:, None]
    early = np.array([0, 0, LABEL, LABEL, LABEL, LABEL])[:, None]
    on_time = np.array([0, 0, 0, LABEL, LABEL, LABEL])[:, None]
    assert bool(score_outputs(on_time, labels, [3], [T])[0][0]) is True
    assert bool(score_outputs(early, labels, [3], [T])[0][0]) is False
    assert bool(score_outputs(early, labels, [2], [T])[0][0]) is True


@pytest.mark.parametrize("length", [0, -1, T + 1, 10 ** 6])
def test_lengths_outside_one_to_T_are_refused(length):
    y = np.zeros((T, 2, 17))
    labels = np.zeros((T, 2), int)
    for rule in (yang2019_correct, neurogym_correct):
        with pytest.raises(ValueError, match=f"between 1 and T={T}.*trial 1 has length {length}"):
            rule(y, labels, [T, length])


def test_lengths_of_the_wrong_shape_or_type_are_refused():
    y = np.zeros((T, 2, 17))
    labels = np.zeros((T, 2), int)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        neurogym_correct(y, labels, [T])
    with pytest.raises(ValueError, match="integers"):
        neurogym_correct(y, labels, [T, 2.5])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_logit_never_counts_as_correct(bad):
    """np.argmax picks a NaN's index: a NaN on the label's class used to score."""
    y = np.full((T, 1, 17), -10.0)
    y[:3, 0, 0] = 10.0
    y[3:, 0, LABEL] = 10.0  # a correct trial ...
    assert neurogym_correct(y, LABELS, [T])[0] and yang2019_correct(y, LABELS, [T])[0]
    y[-1, 0, LABEL if bad != -np.inf else 3] = bad  # ... with one bad logit at its end
    assert not neurogym_correct(y, LABELS, [T])[0]
    assert not yang2019_correct(y, LABELS, [T])[0]
    pred = predicted_class(y)[:, :]
    assert pred[-1, 0] == NO_ANSWER and pred[0, 0] == 0
    assert not score_outputs(pred, LABELS, [3], [T])[0][0]
    # and a NaN during fixation breaks fixation under refrnn's rule
    y2 = np.full((T, 1, 17), -10.0)
    y2[:3, 0, 0] = 10.0
    y2[3:, 0, LABEL] = 10.0
    y2[1, 0, 0] = np.nan
    assert not score_outputs(predicted_class(y2), LABELS, [3], [T])[0][0]


def test_nan_logits_on_a_no_response_trial_are_wrong_too():
    y = np.full((T, 1, 17), np.nan)
    nogo = np.zeros((T, 1), int)
    assert not yang2019_correct(y, nogo, [T])[0]
    assert not neurogym_correct(y, nogo, [T])[0]
