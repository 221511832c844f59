"""Task variance, clusters, FTV and dimensionality (refrnn.analysis) on
activity and networks built by hand, whose answers are known."""
from pathlib import Path

import numpy as np
import pytest

from refrnn.analysis.activity import Network, task_activity
from refrnn.analysis.clusters import choose_clusters, kmeans, silhouette, tasks_served
from refrnn.analysis.dimensionality import (
    Moments, covariance_spectrum, explained, participation_ratio)
from refrnn.analysis.fractional import fractional_variance
from refrnn.analysis.report import Options, analyze
from refrnn.analysis.task_variance import normalise, task_variance
from refrnn.core.model import RNN, ModelConfig
from refrnn.run.settings import TrainConfig
from refrnn.tasks.registry import get_task
from refrnn.tasks.trials import N_OBS


def test_task_variance_is_across_trials_averaged_over_time_on_own_lengths():
    """The "all-steps" statistic (every step from trial start, by name only)."""
    T, n = 6, 4
    a_t = np.arange(T, dtype=float) ** 2          # varies over time only
    b_k = np.array([0.0, 1.0, 2.0, 5.0])          # varies over trials only
    h = (a_t[:, None] + b_k[None, :])[..., None]  # (T, n, 1)
    valid = np.ones((T, n), dtype=bool)
    np.testing.assert_allclose(task_variance(h, valid, statistic="all-steps"), [np.var(b_k)],
                               rtol=1e-12)
    # trial 3 ends after 2 steps: its padding (set huge) must not count, and
    # steps 2.. have the variance of the first three trials only
    h2, v2 = h.copy(), valid.copy()
    v2[2:, 3] = False
    h2[2:, 3] = 1e6
    want = (2 * np.var(b_k) + (T - 2) * np.var(b_k[:3])) / T
    np.testing.assert_allclose(task_variance(h2, v2, statistic="all-steps"), [want],
                               rtol=1e-12)
    # no fixation period (fixation_end 0): Yang's statistic is the same
    np.testing.assert_allclose(task_variance(h2, v2, np.zeros(n, int)), [want], rtol=1e-12)


def test_normalise_drops_quiet_units_and_divides_by_the_max():
    tv = np.array([[2.0, 1.0], [1e-5, 2e-5], [0.0, 3.0]])
    r = normalise(tv, ["a", "b"], threshold=1e-3)
    assert r.kept.tolist() == [True, False, True] and r.n_dropped == 1
    np.testing.assert_allclose(r.norm, [[1.0, 0.5], [0.0, 1.0]])


def test_fractional_variance_formula():
    np.testing.assert_allclose(fractional_variance([3.0, 0.0, 1.0, 0.0], [1.0, 2.0, 1.0, 0.0],
                                                   threshold=0.0), [0.5, -1.0, 0.0])


def test_silhouette_by_hand():
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    s = [(10.5 - 1) / 10.5, (9.5 - 1) / 9.5, (9.5 - 1) / 9.5, (10.5 - 1) / 10.5]
    assert silhouette(X, [0, 0, 1, 1]) == pytest.approx(np.mean(s), rel=1e-12)
    # a point alone in its cluster scores 0
    assert silhouette(X, [0, 0, 0, 1]) == pytest.approx(
        np.mean([(11 - 5.5) / 11, (10 - 5) / 10, (1 - 9.5) / 9.5, 0.0]), rel=1e-12)


def test_kmeans_and_silhouette_choose_the_three_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    truth = np.repeat(np.arange(3), 30)
    X = centres[truth] + 0.3 * rng.standard_normal((90, 2))
    c = choose_clusters(X, seed=1)
    assert c.k == 3
    # the same partition up to the cluster names
    pairs = {(int(t), int(l)) for t, l in zip(truth, c.labels)}
    assert len(pairs) == 3
    labels, C, inertia = kmeans(X, 3, np.random.default_rng(4))
    assert inertia == pytest.approx(np.sum((X - C[labels]) ** 2))
    for j in range(3):  # Lloyd's fixed point: each centre is its members' mean
        np.testing.assert_allclose(C[j], X[labels == j].mean(axis=0), rtol=1e-12)
    again = choose_clusters(X, seed=1)
    assert np.array_equal(again.labels, c.labels)  # seeded


def test_participation_ratio_of_known_spectra():
    assert participation_ratio([1.0, 1.0, 1.0, 1.0]) == pytest.approx(4.0)
    assert participation_ratio([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    lam = np.array([4.0, 2.0, 1.0, 0.5])
    assert participation_ratio(lam) == pytest.approx(lam.sum() ** 2 / np.sum(lam ** 2))
    # states with exactly that covariance: orthonormal, zero-mean columns scaled
    rng = np.random.default_rng(0)
    S = 400
    Z = rng.standard_normal((S, 4))
    Z, _ = np.linalg.qr(Z - Z.mean(axis=0))  # orthonormal, and zero-mean columns
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    X = np.sqrt(S) * Z * np.sqrt(lam) @ Q[:, :4].T + 3.0
    got, _ = covariance_spectrum(X)
    np.testing.assert_allclose(got[:4], lam, rtol=1e-10)
    assert participation_ratio(got) == pytest.approx(participation_ratio(lam), rel=1e-10)
    np.testing.assert_allclose(explained(got, 2), lam[:2] / lam.sum(), rtol=1e-10)
    m = Moments(6)
    m.add(X[:150])
    m.add(X[150:])
    np.testing.assert_allclose(m.spectrum()[0], got, atol=1e-10)


def two_group_network(n_per=5):
    """Units 0..n_per-1 see the stimulus only in task 0 (go), the others only
    in task 1 (anti): a rule weight of -50 silences a group, W_rec = 0."""
    names = ["go", "anti"]
    N = 2 * n_per
    cfg = ModelConfig(n_in=N_OBS + 2, n_out=17, hidden=N, mask="full", sparsity=1.0,
                      dtype="float64")
    model = RNN(cfg, seed=0)
    rng = np.random.default_rng(0)
    W_in = np.zeros((N, N_OBS + 2))
    W_in[:, 1:N_OBS] = rng.random((N, N_OBS - 1))     # stimulus rings, positive
    W_in[n_per:, N_OBS] = -50.0                        # group B silent in go
    W_in[:n_per, N_OBS + 1] = -50.0                    # group A silent in anti
    model.params["W_in"][...] = W_in
    model.params["w_rec"][...] = 0.0
    trials = {t: get_task(t).generate(12, np.random.default_rng(i)) for i, t in enumerate(names)}
    return Network(Path("hand-built"), TrainConfig(), model, trials, names, 0, "best")


def test_activity_is_the_noise_free_network():
    net = two_group_network()
    trials = net.test_trials["anti"]
    act = task_activity(net.model, trials, 1, 2, batch_size=5)
    W_in = net.model.params["W_in"]
    for k in range(trials.n_trials):
        obs = trials.trial(k)[0]
        x = np.hstack([obs, np.tile([0.0, 1.0], (obs.shape[0], 1))])
        np.testing.assert_allclose(act.h[:obs.shape[0], k], np.maximum(x @ W_in.T, 0),
                                   rtol=1e-6, atol=1e-6)  # W_rec = 0, alpha = 1: h = relu(W_in x)
        assert not act.h[obs.shape[0]:, k].any() and act.valid[:, k].sum() == obs.shape[0]


def test_two_groups_driven_by_one_task_each():
    net = two_group_network()
    res = analyze(net, Options(n_starts=4, pairs=[("go", "anti")]))
    assert res.tv.n_dropped == 0
    # group A varies in go only, group B in anti only: exact zeros elsewhere
    assert np.all(res.tv.tv[:5, 1] == 0) and np.all(res.tv.tv[5:, 0] == 0)
    assert np.all(res.tv.tv[:5, 0] > 1e-3) and np.all(res.tv.tv[5:, 1] > 1e-3)
    c = res.clustering
    assert c.k == 2 and c.curve[2] == pytest.approx(1.0)
    assert set(c.labels[:5]) != set(c.labels[5:]) and len(set(c.labels[:5])) == 1
    assert sorted(map(sorted, tasks_served(c.centres, res.tasks))) == [["anti"], ["go"]]
    np.testing.assert_array_equal(np.sort(res.ftv[("go", "anti")]), [-1.0] * 5 + [1.0] * 5)
    # W_rec = 0: the map is constant, so every start finds its one stable point
    for fp in res.fixed.values():
        assert fp.n_points == 1 and fp.n_unstable[0] == 0 and fp.q[0] < 1e-20
