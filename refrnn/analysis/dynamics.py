"""The noise-free map of the network under a constant input, its speed and Jacobian.

With the input x held constant and no noise, one step of refrnn's equation is

    F(h) = (1 - alpha) h + alpha f(W h + c),   c = W_in x + b    (N,)

and the speed of a state is (Sussillo & Barak 2013)

    q(h) = 1/2 |F(h) - h|^2 = alpha^2 / 2 |f(u) - h|^2,   u = W h + c.

Its gradient, written out: with r = F(h) - h = alpha (f(u) - h) and
dr/dh = alpha (diag f'(u) W - I),

    grad q(h) = (dr/dh)^T r = alpha (W^T (f'(u) * r) - r).

The Jacobian of the map is J(h) = (1 - alpha) I + alpha diag f'(u) W; a
fixed point is stable when every eigenvalue has |lambda| < 1. Where f has a
kink (relu at u = 0: ``KINKS``), f'(u) has two one-sided values and so has
J; refrnn.analysis.kinks takes both. W is the
scipy CSR matrix of the model's mask and weights, never made dense here
(``jacobian_dense`` does it only when asked, for small N).

Arrays: a batch of M states is (N, M), one state per column.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ..core import activations
from ..tasks.trials import N_OBS

# Batched products use a dense copy of W only for a pattern filled above
# DENSE_PRODUCT_FILL and N <= DENSE_PRODUCT_MAX (the full mask); else the CSR.
DENSE_PRODUCT_FILL = 0.25
DENSE_PRODUCT_MAX = 2048
# Where each activation's derivative jumps: (u at the kink, f' left of it, f' right of it)
KINKS = {"relu": ((0.0, 0.0, 1.0),), "tanh": (), "softplus": ()}


class Dynamics:
    """F, q and grad q for one constant input (see the module docstring).

    Args:
        W: (N, N) scipy sparse W_rec (rows receive), float64.
        c: (N,) constant drive W_in x + b, or (N, M): a drive per column of the
            batches given to the methods (many inputs searched at once; then
            ``cols`` picks the columns a batch holds).
        activation: a name in refrnn.core.activations.ACTIVATIONS.
        alpha: dt / tau in (0, 1].
    """

    def __init__(self, W, c, activation: str, alpha: float):
        if activation not in activations.ACTIVATIONS:
            raise ValueError(f"activation must be one of {activations.ACTIVATIONS}, "
                             f"got {activation!r}")
        if not 0.0 < float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        same = sp.issparse(W) and W.format == "csr" and W.dtype == np.float64
        self.W = W if same else sp.csr_matrix(W, dtype=np.float64)  # kept: inputs share it
        self.WT = self.W.T.tocsr()
        n0 = self.W.shape[0]
        if n0 <= DENSE_PRODUCT_MAX and self.W.nnz > DENSE_PRODUCT_FILL * n0 * n0:
            # a nearly full pattern: its CSR holds ~N^2 entries anyway, and BLAS
            # multiplies the batches several times faster than the sparse product
            self.W_mul = self.W.toarray()
            self.WT_mul = self.W_mul.T
        else:
            self.W_mul, self.WT_mul = self.W, self.WT
        self.c = np.asarray(c, dtype=np.float64)
        n = self.W.shape[0]
        if self.W.shape != (n, n) or self.c.shape[:1] != (n,) or self.c.ndim > 2:
            raise ValueError(f"W must be (N, N) and c (N,) or (N, M), got {self.W.shape} "
                             f"and {self.c.shape}")
        self.activation, self.alpha, self.n = activation, float(alpha), n

    def _u(self, H, cols=None):
        c = self.c
        if c.ndim == 2:
            c = c if cols is None else c[:, cols]
        elif H.ndim == 2:
            c = c[:, None]
        return self.W_mul @ H + c

    def step(self, H, cols=None):
        """F(H): (N,) or (N, M) -> same shape."""
        f = activations.apply(self.activation, np, self._u(H, cols))
        return (1.0 - self.alpha) * H + self.alpha * f

    def q(self, H, cols=None):
        """q of each state: (N,) -> scalar, (N, M) -> (M,)."""
        r = self.step(H, cols) - H
        return 0.5 * np.sum(r * r, axis=0)

    def q_and_grad(self, H, cols=None):
        """(q, grad q): (N, M) -> (M,), (N, M); also for one (N,) state."""
        u = self._u(H, cols)
        fu = activations.apply(self.activation, np, u)
        r = self.alpha * (fu - H)                       # F(h) - h
        d = activations.derivative(self.activation, np, u).astype(np.float64)
        grad = self.alpha * (self.WT_mul @ (d * r) - r)  # alpha (W^T (f'(u) r) - r)
        return 0.5 * np.sum(r * r, axis=0), grad

    def u(self, h):
        """u = W h + c at one state h (N,) (a one-drive Dynamics only)."""
        if self.c.ndim != 1:
            raise ValueError("the Jacobian needs a Dynamics with one drive c (N,)")
        return self._u(np.asarray(h, dtype=np.float64))

    def slopes(self, h):
        """f'(u) at one state h (N,) (a one-drive Dynamics only)."""
        return activations.derivative(self.activation, np, self.u(h)).astype(np.float64)

    def jacobian_operator(self, h, slopes=None) -> LinearOperator:
        """J(h) as a LinearOperator (N, N): v -> (1 - alpha) v + alpha f'(u) * (W v);
        ``slopes`` (N,): f'(u) to use instead (one side of a kink)."""
        d = self.slopes(h) if slopes is None else np.asarray(slopes, dtype=np.float64)
        a = self.alpha

        def mv(v):
            v = np.asarray(v).reshape(-1)
            return (1.0 - a) * v + a * d * (self.W @ v)

        def rmv(v):
            v = np.asarray(v).reshape(-1)
            return (1.0 - a) * v + a * (self.WT @ (d * v))

        return LinearOperator((self.n, self.n), matvec=mv, rmatvec=rmv, dtype=np.float64)

    def jacobian_dense(self, h, slopes=None) -> np.ndarray:
        """J(h) as a dense (N, N) array (for small N only); ``slopes`` as
        :meth:`jacobian_operator`."""
        d = self.slopes(h) if slopes is None else np.asarray(slopes, dtype=np.float64)
        a = self.alpha
        J = a * (sp.diags(d) @ self.W).toarray()
        J[np.diag_indices(self.n)] += 1.0 - a
        return J


def recurrent_matrix(model) -> sp.csr_matrix:
    """The model's W_rec as a float64 scipy CSR matrix on its mask pattern."""
    m = model.mask
    w = np.asarray(model.backend.to_numpy(model.params["w_rec"]), dtype=np.float64)
    return sp.csr_matrix((w, np.asarray(m.indices), np.asarray(m.indptr)), shape=m.shape)


def constant_input(obs, task_index: int, n_tasks: int) -> np.ndarray:
    """The input vector x (33 + n_tasks,): observation ``obs`` (33,) and the rule unit."""
    x = np.zeros(N_OBS + n_tasks)
    x[:N_OBS] = obs
    x[N_OBS + task_index] = 1.0
    return x


def model_dynamics(model, x, W=None) -> Dynamics:
    """Dynamics of ``model`` (an RNN) under the constant input ``x`` (n_in,);
    ``W``: its recurrent_matrix when already made (shared by every input)."""
    to_np = model.backend.to_numpy
    W_in = np.asarray(to_np(model.params["W_in"]), dtype=np.float64)
    b = np.asarray(to_np(model.params["b"]), dtype=np.float64)
    cfg = model.config
    W = recurrent_matrix(model) if W is None else W
    return Dynamics(W, W_in @ np.asarray(x, dtype=np.float64) + b,
                    cfg.activation, cfg.alpha)
