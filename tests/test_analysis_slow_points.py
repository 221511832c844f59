"""Slow points that have converged, stability on a kink, continuous sets that
are continuous (issue 37), on hand-made networks with known answers:

- a leaky network where 200 L-BFGS iterations are not enough: the points do
  not change when the cap is doubled, and a short cap reports starts as not
  converged instead of counting where they stopped;
- fixed points on a relu kink: classified on both sides, whatever side
  round-off puts the point on; a marginal eigenvalue on one side only is none;
- a relu slow point (q = 0.125 > 0) on a kink, found as converged;
- isolated fixed points close together, each with a marginal eigenvalue: not
  a continuous set (q between them is large); a line attractor is one.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from refrnn.analysis.dynamics import Dynamics
from refrnn.analysis.fixed_points import MAX_ITER, describe_point, find_fixed_points
from refrnn.analysis.kinks import kink_units, polish, side_slopes, smallest_gradient
from refrnn.analysis.lbfgs import CAPPED, CONVERGED, minimize_columns
from refrnn.analysis.slow_sets import continuous_sets, path_q, slow_path


def leaky_net(n=40, alpha=0.1, seed=0):
    """tanh network, alpha 0.1, with the known fixed point h* (|h*| <= 0.3);
    W's spectrum runs from -3 to 0.9 with three eigenvalues at 0.99999: q is
    nearly flat in three directions and badly conditioned, L-BFGS slow."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    W = (Q * np.concatenate([np.linspace(-3.0, 0.9, n - 3), [0.99999] * 3])) @ Q.T
    h_star = 0.3 * (2 * rng.random(n) - 1)
    c = np.arctanh(h_star) - W @ h_star      # tanh(W h* + c) = h*
    return Dynamics(sp.csr_matrix(W), c, "tanh", alpha), h_star, rng


def test_leaky_network_points_do_not_move_with_the_cap():
    dyn, h_star, rng = leaky_net()
    starts = h_star + rng.standard_normal((16, 40))
    short = find_fixed_points(dyn, starts, max_iter=200)
    # 200 iterations are not enough, and the search says so ...
    assert short.n_not_converged > 0
    # ... and counts no end state that stopped on the way (b65a536 counted
    # every end state with q < 1e-4: here 7 "points", up to 0.06 from h*)
    assert short.n_points <= 1
    assert all(np.max(np.abs(p - h_star)) < 1e-5 for p in short.points)
    full = find_fixed_points(dyn, starts)
    double = find_fixed_points(dyn, starts, max_iter=2 * MAX_ITER)
    assert full.n_not_converged == 0 and full.n_points == 1
    # G_TOL and X_TOL leave ~1e-6 in the three flat directions (the starts' 1%
    # de-duplication distance is 0.06)
    assert np.max(np.abs(full.points[0] - h_star)) < 1e-5
    assert double.n_points == full.n_points and double.n_converged == full.n_converged
    np.testing.assert_allclose(double.points, full.points, atol=1e-9)


def test_lbfgs_stops_on_the_tolerances_and_says_why():
    dyn, h_star, rng = leaky_net()
    X0 = (h_star + rng.standard_normal((4, 40))).T
    capped = minimize_columns(dyn.q_and_grad, X0, max_iter=50)
    assert np.all(capped.status == CAPPED) and np.all(capped.iterations == 50)
    res = minimize_columns(dyn.q_and_grad, X0, max_iter=20000, gtol=1e-10, xtol=1e-9)
    assert np.all(res.status == CONVERGED)
    assert np.all(np.max(np.abs(res.G), axis=0) < 1e-10) and np.all(res.step < 1e-9)
    assert np.all(res.iterations > 200)          # the network the cap of 200 was wrong for


def kink_net(gain):
    """relu, alpha 1: unit 0 has W_00 = gain and no drive, units 1, 2 are
    driven to 2. The one fixed point (0, 2, 2) has u_0 = 0: on the kink, with
    J's eigenvalue gain on the active side and 0 on the inactive side."""
    W = sp.csr_matrix(np.diag([gain, 0.5, 0.5]))
    return Dynamics(W, np.array([0.0, 1.0, 1.0]), "relu", 1.0), np.array([0.0, 2.0, 2.0])


@pytest.mark.parametrize("side", [1e-15, -1e-15, 1e-9, -1e-9, 0.0])
def test_a_point_on_a_kink_is_classified_on_both_sides(side):
    dyn, h = kink_net(1.5)
    h = h + np.array([side, 0.0, 0.0])   # where round-off leaves the point
    d = describe_point(dyn, h)
    assert d["n_kink"] == 1 and d["stability"] == "mixed" and d["n_unstable"] == 1
    mags = sorted(np.sort(np.abs(e)).round(12).tolist() for e in d["eigenvalues"])
    assert mags == [[0.0, 0.5, 0.5], [0.5, 0.5, 1.5]]
    assert len(side_slopes(dyn, h)) == 2


def test_a_marginal_eigenvalue_on_one_side_only_is_none():
    dyn, h = kink_net(1.02)                      # active side: 1.02, within 0.05 of 1
    for side in (1e-12, -1e-12):
        d = describe_point(dyn, h + np.array([side, 0.0, 0.0]))
        assert d["n_marginal"] == 0 and d["stability"] == "mixed"


def test_search_finds_the_kink_point_from_either_side():
    dyn, h = kink_net(1.5)
    rng = np.random.default_rng(0)
    starts = h + 0.3 * rng.standard_normal((12, 3))
    fp = find_fixed_points(dyn, starts, q_tol=1e-12, relax=0)
    assert fp.n_not_converged == 0 and fp.n_points == 1
    assert np.max(np.abs(fp.points[0] - h)) < 1e-9
    assert fp.n_kink[0] == 1 and fp.stability[0] == "mixed"


def kinked_slow_point_net():
    """relu, alpha 1: unit 0 with W_00 = 2, c_0 = 1, unit 1 driven to 2. Unit
    0 has no fixed point: left of its kink (h_0 < -0.5, u_0 < 0) q = h_0^2 / 2
    falls towards it, right of it q = (h_0 + 1)^2 / 2 rises from it. q's least
    value, 0.125, sits on the kink, where q has no gradient."""
    W = sp.csr_matrix(np.diag([2.0, 0.5]))
    return Dynamics(W, np.array([1.0, 1.0]), "relu", 1.0), np.array([-0.5, 2.0])


def test_a_slow_point_on_a_kink_converges():
    dyn, h = kinked_slow_point_net()
    rng = np.random.default_rng(1)
    starts = h + 0.3 * rng.standard_normal((8, 2))
    fp = find_fixed_points(dyn, starts, q_tol=0.2, relax=0)
    assert fp.n_not_converged == 0 and fp.n_points == 1
    assert np.max(np.abs(fp.points[0] - h)) < 1e-12 and abs(fp.q[0] - 0.125) < 1e-12
    assert fp.n_kink[0] == 1 and fp.stability[0] == "mixed"
    assert smallest_gradient(dyn, fp.points[0]) < 1e-12
    # L-BFGS alone stalls beside it, its one-sided gradient far from zero
    res = minimize_columns(dyn.q_and_grad, starts.T, max_iter=5000)
    assert np.all(res.status != CONVERGED) and np.all(np.max(np.abs(res.G), axis=0) > 0.1)


def test_polish_gives_the_exact_minimum_of_the_piece():
    # a linear (all active) relu network: the polish is one Newton step to h*
    rng = np.random.default_rng(2)
    n = 12
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    W = (Q * np.linspace(-0.5, 0.9, n)) @ Q.T
    h_star = 1.0 + rng.random(n)
    dyn = Dynamics(sp.csr_matrix(W), h_star - W @ h_star, "relu", 0.5)
    assert kink_units(dyn, h_star)[0].size == 0
    got = polish(dyn, h_star + 1e-3 * rng.standard_normal(n))
    assert np.max(np.abs(got - h_star)) < 1e-12
    assert polish(Dynamics(sp.csr_matrix(W), np.zeros(n), "tanh", 0.5), h_star) is None


def close_isolated_net():
    """relu, alpha 1: units 0-2 each have a stable fixed point at 0 (u = -0.1)
    and an unstable one at 0.1 (u = 0.1, slope 2): 8 isolated fixed points
    0.1 apart; unit 3 sits at 1 with slope 0.97, a marginal eigenvalue at
    every point. Half-way between two neighbours q = 1.25e-3."""
    W = sp.csr_matrix(np.diag([2.0, 2.0, 2.0, 0.97]))
    return Dynamics(W, np.array([-0.1, -0.1, -0.1, 0.03]), "relu", 1.0)


def test_isolated_points_close_together_are_no_continuous_set():
    dyn = close_isolated_net()
    corners = np.array([[a, b, c, 1.0] for a in (0, 0.1) for b in (0, 0.1) for c in (0, 0.1)])
    rng = np.random.default_rng(3)
    starts = np.repeat(corners, 3, axis=0) + 0.005 * rng.standard_normal((24, 4))
    fp = find_fixed_points(dyn, starts, q_tol=1e-4, relax=0)
    assert fp.n_points == 8 and fp.n_not_converged == 0
    assert np.all(fp.n_marginal == 1) and np.all(fp.n_kink == 0)
    # b65a536's rule (>= 5 points, the median with a marginal eigenvalue) said
    # continuous; q on the segments between neighbours rises to 1.25e-3
    assert continuous_sets(dyn, fp, 1e-4) == []


def line_attractor_net(n=12, alpha=0.5):
    """W = P + 0.5 (I - P), P the projector on (e_0 - e_1) / sqrt 2, b = ones:
    every h = 2 + s (e_0 - e_1) is fixed (relu active for |s| < 2)."""
    v = np.zeros(n)
    v[0], v[1] = 1 / np.sqrt(2), -1 / np.sqrt(2)
    P = np.outer(v, v)
    return Dynamics(sp.csr_matrix(P + 0.5 * (np.eye(n) - P)), np.ones(n), "relu", alpha), v


def test_a_line_attractor_is_found_and_flagged():
    dyn, v = line_attractor_net()
    rng = np.random.default_rng(5)
    starts = 2.0 + 0.4 * rng.standard_normal((20, 12))
    fp = find_fixed_points(dyn, starts, q_tol=1e-10)
    assert fp.n_points >= 5 and fp.n_not_converged == 0
    sets = continuous_sets(dyn, fp, 1e-10)
    assert len(sets) == 1 and sets[0].dim == 1 and sets[0].members.size == fp.n_points
    off = (fp.points - 2.0) - np.outer((fp.points - 2.0) @ v, v)
    assert np.max(np.abs(off)) < 1e-9                 # on the line


class RingValley:
    """Not a network: q(h) = (|h| - 1)^2 / 2 in the plane, zero on the unit
    circle, with the q, q_and_grad interface slow_sets uses."""

    def q(self, H, cols=None):
        return 0.5 * (np.linalg.norm(H, axis=0) - 1.0) ** 2

    def q_and_grad(self, H, cols=None):
        r = np.linalg.norm(H, axis=0)
        return self.q(H), (r - 1.0) * H / r


def test_a_bent_path_follows_a_curved_slow_set():
    ring = RingValley()
    a = np.array([1.0, 0.0])
    b = np.array([np.cos(2.0), np.sin(2.0)])          # 115 degrees round the circle
    assert path_q(ring, a, b).max() > 0.1              # the chord cuts through r = 0.54
    # refined until each chord is slow: 4 chords of 29 degrees, q up to 4.8e-4
    assert 4e-4 < slow_path(ring, a, b, q_tol=1e-3) < 1e-3
    assert slow_path(ring, a, b, q_tol=1e-3, depth=0) > 0.1
    assert slow_path(ring, a, b, q_tol=1e-6) > 1e-6    # 8 chords of 14 degrees: 3e-5, not joined
