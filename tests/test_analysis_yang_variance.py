"""Task variance and FTV as Yang et al. 2019 define them (issue 36): each
trial's fixation period dropped, trials aligned at stimulus onset, FTV over
the pair's own units (TV_A + TV_B > 1e-3). Hand-made activity and networks
with known answers, and refrnn against the plain-NumPy reference
tests/yang_reference.py on a small random network."""
import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from refrnn.analysis.activity import Network, task_activity
from refrnn.analysis.fractional import fractional_variance, pair_units
from refrnn.analysis.report import Options, analyze
from refrnn.analysis.tables import write_tables
from refrnn.analysis.task_variance import align_at, normalise, task_variance
from refrnn.core.model import RNN, ModelConfig
from refrnn.run.settings import TrainConfig
from refrnn.tasks.registry import get_task, task_names
from refrnn.tasks.trials import N_OBS
from yang_reference import reference, states, yang_ftv

QUICK = dict(n_starts=1, fp_iter=1)  # the fixed-point search is not under test here


def hand_network(tasks, N, n_trials=12, alpha=1.0, mask="full", sparsity=1.0, seed=0):
    """A float64 network over ``tasks`` with zero weights (set them by hand),
    and ``n_trials`` rendered trials of each task."""
    cfg = ModelConfig(n_in=N_OBS + len(tasks), n_out=17, hidden=N, mask=mask,
                      sparsity=sparsity, dtype="float64", alpha=alpha)
    model = RNN(cfg, seed=seed)
    if mask == "full":
        for k in ("W_in", "b", "w_rec"):
            model.params[k][...] = 0.0
    trials = {t: get_task(t).generate(n_trials, np.random.default_rng(i))
              for i, t in enumerate(tasks)}
    return Network(Path("hand-built"), TrainConfig(), model, trials, list(tasks), 0, "best")


def set_w_rec(model, receiver, source, value):
    m = model.mask  # w_rec is the data of this CSR pattern, row by row
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    k = np.flatnonzero((rows == receiver) & (m.indices == source))
    model.params["w_rec"][k] = value


# ---- the statistic on hand-made activity ---------------------------------

def test_the_fixation_period_is_dropped():
    """Fixation steps are alike in every trial (variance 0): kept, they divide
    TV by (all steps / post-fixation steps), here 6/4."""
    T, n = 6, 4
    b_k = np.array([0.0, 1.0, 3.0, 7.0])
    h = np.full((T, n, 1), 0.5)
    h[2:, :, 0] = np.arange(4.0)[:, None] ** 2 + b_k[None, :]
    valid = np.ones((T, n), dtype=bool)
    fix = np.full(n, 2)
    assert task_variance(h, valid, fix) == pytest.approx([np.var(b_k)], rel=1e-12)
    assert task_variance(h, valid, statistic="all-steps") == pytest.approx(
        [np.var(b_k) * 4 / 6], rel=1e-12)


def test_trials_are_aligned_at_stimulus_onset():
    """Every trial does the same thing after its own stimulus onset, after a
    fixation of 1 to 4 steps: aligned there, no variance at all; aligned at
    the trial start, the timing jitter alone makes variance."""
    fix = np.array([1, 2, 3, 4])
    after = np.array([1.0, 4.0, 2.0, 8.0])          # the response, step by step
    T, n = int((fix + after.size).max()), fix.size
    h, valid = np.zeros((T, n, 1)), np.zeros((T, n), dtype=bool)
    for k, f in enumerate(fix):
        h[f:f + after.size, k, 0] = after
        valid[:f + after.size, k] = True
    assert task_variance(h, valid, fix)[0] == 0.0
    assert task_variance(h, valid, statistic="all-steps")[0] > 1.0
    a, ok = align_at(h, valid, fix)
    assert a.shape == (4, n, 1) and ok.all() and np.all(a[:, :, 0] == after[:, None])


def test_a_step_with_one_running_trial_does_not_count():
    """Issue 33: the variance of a single trial is 0 by construction; such a
    step (here the last, where only the longest trial runs) must not enter
    the mean (``>= 2`` running trials, not ``>= 1``)."""
    b_k = np.array([0.0, 2.0, 5.0])
    lengths = np.array([3, 3, 4])
    T, n = 4, 3
    valid = np.arange(T)[:, None] < lengths[None, :]
    h = np.where(valid, b_k[None, :], 0.0)[..., None]
    for got in (task_variance(h, valid, statistic="all-steps"),
                task_variance(h, valid, np.zeros(n, int))):
        assert got == pytest.approx([np.var(b_k)], rel=1e-12)  # >= 1 would give 3/4 of it
    # after alignment: fixations 1, 2, 2 in trials of 5 steps leave trial 0
    # alone at the last aligned step
    h2 = np.broadcast_to(b_k, (5, 3))[..., None]
    got = task_variance(h2, np.ones((5, 3), dtype=bool), np.array([1, 2, 2]))
    assert got == pytest.approx([np.var(b_k)], rel=1e-12)


def test_bad_input_is_one_clear_error():
    h, valid = np.zeros((3, 2, 1)), np.ones((3, 2), dtype=bool)
    with pytest.raises(ValueError, match="fixation_end"):
        task_variance(h, valid)
    with pytest.raises(ValueError, match="statistic"):
        task_variance(h, valid, np.zeros(2, int), statistic="yang2019")
    with pytest.raises(ValueError, match="start"):
        align_at(h, valid, np.array([0, 4]))


@pytest.mark.parametrize("task", list(task_names("yang19")) + list(task_names("modcog"))[::9])
def test_the_fixation_period_ends_at_stimulus_onset(task):
    """What the statistic drops: each trial's "fixation" period, which ends at
    the first step whose input differs from the first step's (the first
    stimulus; in rtgo/rtanti it comes with the decision period), as Yang et
    al.'s fix1 epoch ends at stim_ons."""
    tr = get_task(task).generate(6, np.random.default_rng(0))
    assert tr.period_names[0] == "fixation"
    for k in range(tr.n_trials):
        obs = tr.trial(k)[0]
        onset = np.flatnonzero(np.any(obs != obs[0], axis=1))[0]
        assert tr.period("fixation")[k, 1] == onset > 0, (task, k)


# ---- thresholds ------------------------------------------------------------

def test_units_are_kept_above_the_threshold_not_at_it():
    """Yang's rule is sum_a TV > 1e-3: a unit at exactly 1e-3 is dropped."""
    tv = np.array([[5e-4, 5e-4], [5e-4, 5e-4 * (1 + 1e-9)], [1.0, 0.0]])
    assert tv[0].sum() == 1e-3
    assert normalise(tv, ["a", "b"]).kept.tolist() == [False, True, True]


def test_ftv_takes_the_pairs_own_units_at_the_threshold():
    """TV_A + TV_B just above 1e-3 counts, at or just below it does not."""
    a = np.array([6e-4 * (1 + 1e-6), 6e-4 * (1 - 1e-6), 5e-4, 0.5, 0.0])
    b = np.array([4e-4, 4e-4, 5e-4, 0.25, 0.0])
    np.testing.assert_allclose(fractional_variance(a, b),
                               [(a[0] - b[0]) / (a[0] + b[0]), 1 / 3], rtol=1e-12)
    assert pair_units(a, b).tolist() == [0, 3]


# ---- networks built by hand, through analyze() ---------------------------

def test_analyze_drops_the_fixation_period_of_a_network():
    """alpha = 1, W_rec = 0: h_t = relu(W_in x_t). In go and anti every trial
    has 5 fixation steps in 15, alike in all trials: TV (Yang) is exactly
    1.5 times the all-steps TV, and equals the variance over the 10 steps
    after stimulus onset computed here from the inputs."""
    net = hand_network(["go", "anti"], N=6)
    W_in = net.model.params["W_in"]
    W_in[:, 1:N_OBS] = np.random.default_rng(1).random((6, N_OBS - 1))
    res = analyze(net, Options(**QUICK))
    for a, task in enumerate(["go", "anti"]):
        tr = net.test_trials[task]
        assert np.all(tr.period("fixation") == [0, 5]) and np.all(tr.lengths == 15)
        x = np.stack([np.hstack([tr.trial(k)[0], np.tile(np.eye(2)[a], (15, 1))])
                      for k in range(tr.n_trials)], axis=1)          # (15, n, 35)
        h = np.maximum(x @ W_in.T, 0.0)
        np.testing.assert_allclose(res.tv.tv[:, a], h[5:].var(axis=1).mean(axis=0),
                                   rtol=1e-6)  # the analysis holds states in float32
    old = analyze(net, Options(**QUICK, tv_statistic="all-steps"))
    assert res.tv.statistic == "yang" and old.tv.statistic == "all-steps"
    np.testing.assert_allclose(res.tv.tv, 1.5 * old.tv.tv, rtol=1e-12)


def test_analyze_aligns_dm1_trials_at_stimulus_onset():
    """Unit 0 = relu(1 - fixation input): 0 until the decision period, 1 in
    it. dm1's fixation lasts 2 to 4 steps, its stimulus a fixed 5, so after
    stimulus onset every trial is the same: Yang's TV is exactly 0; aligned at
    the trial start the jittered decision onsets make variance."""
    net = hand_network(["dm1", "go"], N=3, n_trials=20)
    p = net.model.params
    p["W_in"][0, 0], p["b"][0] = -1.0, 1.0
    p["W_in"][1:, 1:N_OBS] = np.random.default_rng(2).random((2, N_OBS - 1))
    fix = net.test_trials["dm1"].period("fixation")[:, 1]
    assert np.unique(fix).size >= 2
    res = analyze(net, Options(**QUICK))
    assert res.tv.tv[0, 0] == 0.0
    old = analyze(net, Options(**QUICK, tv_statistic="all-steps"))
    assert old.tv.tv[0, 0] > 0.02


def test_ftv_uses_the_pairs_own_units_on_a_network(tmp_path):
    """Unit 2 (D) sees the stimulus only in dm1 (its go and anti rule weights
    shut it), unit 3 (C) copies D one step later and sees the stimulus
    faintly (weight 1e-3) in every task: C is kept over the three tasks, but
    its go + anti TV is far below 1e-3, so FTV(go, anti) leaves it out.
    ftv.csv names every unit; each TV table names the statistic."""
    net = hand_network(["go", "anti", "dm1"], N=4)
    p = net.model.params
    w = np.random.default_rng(3).random(N_OBS - 1)
    p["W_in"][0, 1:N_OBS], p["W_in"][0, N_OBS + 1] = w, -50.0      # go only
    p["W_in"][1, 1:N_OBS], p["W_in"][1, N_OBS] = w[::-1], -50.0    # anti only
    p["W_in"][2, 1:N_OBS] = w
    p["W_in"][2, N_OBS:N_OBS + 2] = -50.0                          # dm1 only
    p["W_in"][3, 1:N_OBS] = 1e-3 * w
    set_w_rec(net.model, 3, 2, 1.0)
    res = analyze(net, Options(**QUICK, pairs=[("go", "anti")]))
    tv = res.tv.tv
    assert res.tv.kept.tolist() == [True, True, True, True]
    assert 0 < tv[3, 0] + tv[3, 1] < 1e-5 and tv[2, 0] + tv[2, 1] == 0
    np.testing.assert_array_equal(res.ftv[("go", "anti")], [1.0, -1.0])
    assert res.ftv_units[("go", "anti")].tolist() == [0, 1]
    write_tables(res, tmp_path)
    with open(tmp_path / "ftv.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["unit"], r["ftv"], r["tv_statistic"]) for r in rows] == [
        ("0", "1", "yang"), ("1", "-1", "yang")]
    for name in ("task_variance.csv", "summary.csv", "clusters.csv", "silhouette.csv"):
        with open(tmp_path / name, newline="") as f:
            assert {r["tv_statistic"] for r in csv.DictReader(f)} == {"yang"}, name


def test_analyze_rejects_an_unknown_statistic_and_a_task_without_fixation():
    net = hand_network(["go", "anti"], N=3, n_trials=3)
    with pytest.raises(ValueError, match="statistic must be one of"):
        analyze(net, Options(**QUICK, tv_statistic="fixation-kept"))
    tr = net.test_trials["anti"]
    net.test_trials["anti"] = replace(tr, period_names=("wait",) + tr.period_names[1:])
    with pytest.raises(ValueError, match="'anti' has no fixation period"):
        analyze(net, Options(**QUICK))
    assert analyze(net, Options(**QUICK, tv_statistic="all-steps")).tv.statistic == "all-steps"


# ---- against the plain-NumPy reference -----------------------------------

def test_refrnn_equals_the_reference_on_a_random_network():
    """A random leaky (alpha 0.2) locality-masked network over tasks of every
    timing kind (fixed and jittered fixation, delays, reaction time): TV,
    the kept units and FTV of every pair equal tests/yang_reference.py,
    whose forward loop and variance are written apart from refrnn (there,
    float64 throughout; refrnn's analysis keeps the states in float32)."""
    tasks = ["go", "rtanti", "dm1", "dlydm2", "ctxdm1", "dms", "dnmc"]
    net = hand_network(tasks, N=36, n_trials=16, alpha=0.2, mask="locality", sparsity=0.2,
                       seed=4)
    net.model.params["W_in"] *= 3.0
    pairs = [(a, b) for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    res = analyze(net, Options(**QUICK, pairs=pairs))
    ref = reference(net)
    # the analysis holds the states in float32: TV agrees to float32 rounding
    np.testing.assert_allclose(res.tv.tv, ref, rtol=1e-6, atol=1e-15)
    assert np.array_equal(res.tv.kept, ref.sum(axis=1) > 1e-3) and res.tv.kept.sum() >= 10
    n_diff = 0
    for A, B in pairs:
        units, f = yang_ftv(ref[:, tasks.index(A)], ref[:, tasks.index(B)])
        assert np.array_equal(res.ftv_units[(A, B)], units), (A, B)
        np.testing.assert_allclose(res.ftv[(A, B)], f, rtol=0, atol=1e-6)
        n_diff += units.size != res.tv.kept.sum()
    assert n_diff > 0  # some pair's own units differ from the kept ones
    # the reference's forward is refrnn's: the states agree (to float32 storage)
    hs = states(net.model, net.test_trials["dm1"], 2, len(tasks), n=2)
    act = task_activity(net.model, net.test_trials["dm1"], 2, len(tasks), max_trials=2)
    np.testing.assert_allclose(act.h[:hs[0].shape[0], 0], hs[0], rtol=1e-6, atol=1e-12)
