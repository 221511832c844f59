"""Fixed and slow points (refrnn.analysis.dynamics, fixed_points, slow_sets) on
networks built by hand: the gradient of q against central finite differences
(float64), a linear network's known fixed point and eigenvalues, line and plane
attractors (continuous sets of that dimension), isolated points that are none.
Kinks and convergence: tests/test_analysis_slow_points.py."""
import numpy as np
import pytest
import scipy.sparse as sp

from refrnn.analysis.dynamics import Dynamics
from refrnn.analysis.fixed_points import MARGINAL_TOL, find_fixed_points, jacobian_eigenvalues
from refrnn.analysis.slow_sets import continuous_sets, path_q
from refrnn.core.activations import ACTIVATIONS


def sparse_net(n, density, rng, scale=1.0):
    W = sp.random(n, n, density=density, random_state=np.random.RandomState(1),
                  data_rvs=rng.standard_normal, format="csr")
    return W * (scale / np.sqrt(max(1.0, density * n)))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_gradient_of_q_matches_central_differences(activation, alpha):
    rng = np.random.default_rng(3)
    n, m = 30, 4
    dyn = Dynamics(sparse_net(n, 0.2, rng, 1.5), rng.standard_normal(n), activation, alpha)
    H = rng.standard_normal((n, m))
    q, G = dyn.q_and_grad(H)
    np.testing.assert_allclose(q, dyn.q(H), rtol=1e-14)
    eps = 1e-6
    fd = np.empty_like(G)
    for i in range(n):
        E = np.zeros_like(H)
        E[i] = eps
        fd[i] = (dyn.q(H + E) - dyn.q(H - E)) / (2 * eps)
    if activation == "relu":  # a kink within eps of a coordinate makes FD meaningless there
        u = dyn.W @ H + dyn.c[:, None]
        assert np.min(np.abs(u)) > 1e-4
    np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-8)


def linear_net(n, alpha, rng):
    """relu on a positive fixed point is linear: J = (1-alpha) I + alpha W."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.linspace(-0.99, 0.9, n)  # -0.99: near the unit circle, not a slow mode
    W = (Q * lam) @ Q.T
    h_star = 1.0 + rng.random(n)
    b = h_star - W @ h_star          # h* = W h* + b, and u = h* > 0
    return Dynamics(sp.csr_matrix(W), b, "relu", alpha), h_star, (1 - alpha) + alpha * lam


@pytest.mark.parametrize("alpha", [1.0, 0.4])
def test_linear_network_fixed_point_and_eigenvalues(alpha):
    rng = np.random.default_rng(0)
    dyn, h_star, lam = linear_net(40, alpha, rng)
    starts = h_star + 0.1 * rng.standard_normal((12, 40))
    fp = find_fixed_points(dyn, starts, q_tol=1e-12, max_iter=2000)
    assert fp.n_points == 1 and fp.n_converged == 12
    assert np.max(np.abs(fp.points[0] - h_star)) < 1e-8
    assert fp.eigenvalues[0].shape == (1, 40) and fp.n_kink[0] == 0  # smooth: one side
    np.testing.assert_allclose(np.sort(fp.eigenvalues[0][0].real), np.sort(lam), atol=1e-10)
    assert fp.n_unstable[0] == 0 and fp.stability[0] == "stable" and fp.complete
    assert abs(fp.slowest[0] - np.max(np.abs(lam))) < 1e-10
    # alpha = 1: lambda = -0.99 is near the unit circle but no marginal mode (0);
    # alpha = 0.4: 0.6 + 0.4 * 0.9 = 0.96 is one
    assert fp.n_marginal[0] == np.sum(np.abs(lam - 1) < MARGINAL_TOL) == (alpha < 1)
    assert continuous_sets(dyn, fp, 1e-12) == []  # one point is no set


def test_eigs_on_the_operator_matches_dense_above_the_threshold():
    rng = np.random.default_rng(5)
    n = 200
    dyn = Dynamics(sparse_net(n, 0.05, rng, 1.2), 0.3 * rng.standard_normal(n), "tanh", 0.5)
    h = rng.standard_normal(n)
    dense, full = jacobian_eigenvalues(dyn, h, dense_max=n)
    sparse_vals, full2 = jacobian_eigenvalues(dyn, h, dense_max=n - 1, n_eig=8)
    assert full and not full2
    top = dense[np.argsort(-np.abs(dense))][:8]
    np.testing.assert_allclose(np.sort(np.abs(sparse_vals)), np.sort(np.abs(top)), rtol=1e-8)


def attractor_net(n, basis, alpha=1.0):
    """W = P + 0.5 (I - P), P the projector on ``basis`` (d, n) (orthonormal,
    orthogonal to the ones vector), b = ones: every h = 2 + P s is fixed."""
    P = basis.T @ basis
    W = P + 0.5 * (np.eye(n) - P)
    return Dynamics(sp.csr_matrix(W), np.ones(n), "relu", alpha)


@pytest.mark.parametrize("dim", [1, 2])
def test_line_and_plane_attractors_give_a_set_of_that_dimension(dim):
    n = 20
    basis = np.zeros((dim, n))
    for k in range(dim):  # (e_2k - e_2k+1) / sqrt 2: orthonormal and orthogonal to ones
        basis[k, 2 * k], basis[k, 2 * k + 1] = 1 / np.sqrt(2), -1 / np.sqrt(2)
    dyn = attractor_net(n, basis, alpha=0.5)
    rng = np.random.default_rng(2)
    starts = 2.0 + 0.4 * rng.standard_normal((40, n))
    fp = find_fixed_points(dyn, starts, q_tol=1e-12)
    assert fp.n_points >= 8 and fp.n_not_converged == 0  # different points of the set
    s = np.linalg.svd(fp.points - fp.points.mean(axis=0), compute_uv=False)
    assert np.sum(s > 1e-6 * s[0]) == dim                # the points span dim directions
    assert np.all(fp.n_marginal == dim)
    sets = continuous_sets(dyn, fp, 1e-12)
    assert len(sets) == 1 and sets[0].dim == dim
    assert sets[0].members.tolist() == list(range(fp.n_points)) and sets[0].q_path < 1e-20
    # the points lie on the set: 2 + P s
    off = (fp.points - 2.0) - (fp.points - 2.0) @ basis.T @ basis
    assert np.max(np.abs(off)) < 1e-7


def test_isolated_points_are_not_a_set():
    # two isolated stable points (bistable autapses): the set test says no
    n = 6
    W = sp.identity(n, format="csr") * 2.0
    dyn = Dynamics(W, -0.5 * np.ones(n), "tanh", 1.0)
    rng = np.random.default_rng(1)
    fp = find_fixed_points(dyn, rng.choice([-1.0, 1.0], size=(10, n)) * 2.0, q_tol=1e-12)
    assert fp.n_points >= 2
    assert continuous_sets(dyn, fp, 1e-12) == []


def test_path_q_is_q_on_the_segment():
    rng = np.random.default_rng(4)
    dyn = Dynamics(sparse_net(10, 0.5, rng), rng.standard_normal(10), "tanh", 0.5)
    a, b = rng.standard_normal(10), rng.standard_normal(10)
    got = path_q(dyn, a, b, samples=3)
    want = [dyn.q(a + t * (b - a)) for t in (0.25, 0.5, 0.75)]
    np.testing.assert_allclose(got, want, rtol=1e-14)
