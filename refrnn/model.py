"""The leaky rate RNN: configuration, parameters and the forward pass.

The one equation (Yang et al. 2019 convention, activation inside the leak):

    u_t = W_in x_t + b + W_rec h_{t-1} + sqrt(2/alpha) * sigma_rec * xi_t
    h_t = (1 - alpha) h_{t-1} + alpha * f(u_t)
    y_t = W_out h_t + b_out

W_rec lives on a fixed CSR pattern (``model.mask``); ``params["w_rec"]`` is
its ``data`` vector in CSR order. Internally every (time, batch) quantity is
stored neuron-major, (N, T*B) with column t*B + b, so each all-time product is
one GEMM on a zero-copy view and each step's (N, B) slice is BLAS-friendly.

Initialisation (seeded by ``RNN(..., seed)``):
    W_in  ~ N(0, 1/n_in)            W_out ~ N(0, 1/N)          b = b_out = 0
    w_rec ~ N(0, INIT_GAIN^2 / k)   k = the mask's in-degree of each row
    h0 = 0 (trained from 0 when ``train_h0``)
    self-connections (w_ii) are then clipped to [-SELF_MAX, SELF_MAX]
    then, when ``init_radius`` > 0 (the default), w_rec is scaled so W_rec's
    spectral radius is ``init_radius`` (refrnn.spectral); 0 keeps the draw.
The 1/k draw alone does not start every mask at the same dynamics: a
locality mask's short loops give a larger radius (N = 256, 4%: 1.29 to 1.58,
against about 1.03 for random and full), hence the scaling. The clip matters
only where k is small:
a self-weight above 1 makes that neuron alone grow geometrically under relu
with alpha = 1 (1.5^200 overflows float32), which is what an autapse mask
(k = 1, so w_ii ~ N(0, 1)) draws for a third of its neurons. For k >= 26 a
draw beyond 1 is a 5-sigma event, so the clip leaves those masks untouched.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from . import cpu_loops
from .backend import get_backend
from .cpu_kernels import CsrKernel, new_noise_seed
from .masks import MASK_KINDS, make_mask
from .spectral import scale_to_radius

ACTIVATIONS = ("relu", "tanh", "softplus")
DTYPES = ("float32", "float64")
INIT_GAIN = 1.0
SELF_MAX = 1.0  # bound on initial self-connection weights (see docstring)
DEFAULT_INIT_RADIUS = 1.0  # spectral radius of the initial W_rec (docs/results.md)
DENSE_DENSITY = 0.1  # above this density the recurrent product is a dense GEMM


@dataclass
class ModelConfig:
    """Architecture of an RNN (see the module docstring for the equation)."""

    n_in: int
    n_out: int = 17
    n_hidden: int = 256
    activation: str = "relu"
    alpha: float = 1.0
    sigma_rec: float = 0.05
    mask: str = "locality"
    sparsity: float = 0.04
    mask_seed: int = 0
    dtype: str = "float32"
    train_h0: bool = False
    init_radius: float = DEFAULT_INIT_RADIUS  # 0 = the plain N(0, 1/k) draw

    def __post_init__(self):
        for name in ("n_in", "n_out", "n_hidden"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        a = float(self.alpha)
        if math.isnan(a) or not (0.0 < a <= 1.0):
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha!r}")
        s = float(self.sigma_rec)
        if math.isnan(s) or s < 0:
            raise ValueError(f"sigma_rec must be >= 0, got {self.sigma_rec!r}")
        if self.mask not in MASK_KINDS:
            raise ValueError(f"mask must be one of {MASK_KINDS}, got {self.mask!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        r = float(self.init_radius)
        if not (math.isfinite(r) and r >= 0):
            raise ValueError(f"init_radius must be >= 0 (0 = the 1/k rule), got {self.init_radius!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        extra = sorted(set(d) - known)
        if extra:
            raise ValueError(f"unknown ModelConfig keys {extra}")
        return cls(**d)


class ForwardCache:
    """What the backward pass needs from one forward pass.

    Attributes (backend arrays, K = T * B, column t*B + b):
        x: (K, n_in) inputs.
        u: (N, K) pre-activations u_t (noise included).
        h: (N, (T+1) * B) states; columns [0, B) hold h_{-1} = h0, so
           h[:, :K] are the previous states and h[:, B:] are h_0 .. h_{T-1}.
        xi: (N, K) standard-normal noise draws, or None. On the CPU, draws
           made from an rng are not kept: ``xi`` re-makes them from their seed.
        x_cols: indices of the input columns that are not all zero (the
           input projection and its gradient use only those), or None = all.
    """

    def __init__(self, x, u, h, xi, T, B, noise_seed=None, x_cols=None):
        self.x, self.u, self.h, self._xi, self.T, self.B = x, u, h, xi, T, B
        self.noise_seed, self.x_cols = noise_seed, x_cols

    @property
    def xi(self):
        if self._xi is None and self.noise_seed is not None:
            from .cpu_kernels import draw_noise

            n = self.h.shape[0]
            return draw_noise(self.noise_seed, n, self.T * self.B, self.u.dtype)
        return self._xi

    def hidden(self):
        """States h_t for every step, (T, B, N) (a copy, public layout)."""
        n = self.h.shape[0]
        return self.h[:, self.B:].T.reshape(self.T, self.B, n).copy()

    def noise(self):
        """The draws xi, (T, B, N), or None."""
        xi = self.xi
        if xi is None:
            return None
        return xi.T.reshape(self.T, self.B, self.h.shape[0]).copy()


class RNN:
    """Leaky RNN with a fixed sparse recurrent pattern.

    Args:
        config: a ModelConfig.
        backend: a Backend or device name (default "cpu").
        seed: int seed of the weight initialisation.
    """

    def __init__(self, config: ModelConfig, backend=None, seed: int = 0):
        self.config = config
        self.backend = get_backend(backend or "cpu")
        xp = self.xp = self.backend.xp
        self.dtype = np.dtype(config.dtype)
        N = config.n_hidden
        self.mask = make_mask(config.mask, N, config.sparsity, config.mask_seed)
        m = self.mask
        deg = np.diff(m.indptr)
        rows = np.repeat(np.arange(N), deg)
        self.rows, self.cols = rows, m.indices.astype(np.int64)
        self.dense = m.nnz > DENSE_DENSITY * N * N
        rng = np.random.default_rng(seed)
        p = {
            "W_in": rng.standard_normal((N, config.n_in)) / math.sqrt(config.n_in),
            "b": np.zeros(N),
            "w_rec": rng.standard_normal(m.nnz) * (INIT_GAIN / np.sqrt(deg[rows])),
            "W_out": rng.standard_normal((config.n_out, N)) / math.sqrt(N),
            "b_out": np.zeros(config.n_out),
        }
        self_loop = rows == self.cols
        p["w_rec"][self_loop] = np.clip(p["w_rec"][self_loop], -SELF_MAX, SELF_MAX)
        if config.init_radius > 0:  # same start for every mask (refrnn.spectral)
            p["w_rec"] = scale_to_radius(m, p["w_rec"], config.init_radius)
        if config.train_h0:
            p["h0"] = np.zeros(N)
        self.params = {k: xp.asarray(v, dtype=self.dtype) for k, v in p.items()}
        self._build_operators()

    # ---- the recurrent operator W_rec and its transpose -------------------
    def _build_operators(self):
        xp, N, m = self.xp, self.config.n_hidden, self.mask
        # Transposed pattern: WT.data = w_rec[perm], computed once.
        t = m.copy()
        t.data = np.arange(m.nnz, dtype=np.float64)
        t = t.T.tocsr()
        t.sort_indices()
        self._perm = xp.asarray(t.data.astype(np.int64))
        if self.dense:
            self._flat = xp.asarray(self.rows * N + self.cols)
            self._wd = xp.zeros((N, N), dtype=self.dtype)
            return
        if self.backend.name == "cpu":  # refrnn.cpu_loops: csr_matvecs on the bare pattern
            self._kern = CsrKernel(m.indptr, m.indices, N)
            self._kern_t = CsrKernel(t.indptr, t.indices, N)
            return
        # _refresh swaps .data in place, which is only right while cupyx never
        # re-orders the entries: it would (sum_duplicates) for a non-canonical
        # pattern. Masks are canonical; say so to cupyx, which then skips the
        # check (a kernel and a device sync) on the first product.
        if not (m.has_canonical_format and t.has_canonical_format):
            raise ValueError("the mask's CSR pattern must have sorted, unique indices")
        sparse = self.backend.sparse
        w = self.params["w_rec"]
        self._csr = sparse.csr_matrix(
            (w, xp.asarray(m.indices, dtype=np.int32), xp.asarray(m.indptr, dtype=np.int32)),
            shape=(N, N))
        self._csr_t = sparse.csr_matrix(
            (xp.take(w, self._perm), xp.asarray(t.indices, dtype=np.int32),
             xp.asarray(t.indptr, dtype=np.int32)), shape=(N, N))
        self._csr.has_canonical_format = True
        self._csr_t.has_canonical_format = True

    def _refresh(self, transposed: bool):
        """Point the operator at the current params["w_rec"]; return a matmul."""
        w = self.params["w_rec"]
        if self.dense:
            self._wd.ravel()[self._flat] = w
            wd = self._wd.T if transposed else self._wd
            return lambda v: self.xp.matmul(wd, v)
        if transposed:
            self._csr_t.data = self.xp.take(w, self._perm)
            return self._csr_t.dot
        # cuSPARSE reads .data through a raw pointer: it must be contiguous
        # (no copy while params["w_rec"] is updated in place, as Adam does).
        self._csr.data = self.xp.ascontiguousarray(w)
        return self._csr.dot

    def w_rec_dense(self):
        """W_rec as a dense (N, N) backend array (for inspection)."""
        N = self.config.n_hidden
        out = self.xp.zeros((N, N), dtype=self.dtype)
        out.ravel()[self.xp.asarray(self.rows * N + self.cols)] = self.params["w_rec"]
        return out

    # ---- activation -------------------------------------------------------
    def _f(self, u, out=None):
        xp, a = self.xp, self.config.activation
        if a == "relu":
            return xp.maximum(u, 0, out=out)
        if a == "tanh":
            return xp.tanh(u, out=out)
        return xp.logaddexp(0, u, out=out)

    def f_prime(self, u, out=None):
        """f'(u) for all of u, written into ``out`` (same shape) or a new array."""
        xp, a = self.xp, self.config.activation
        if out is None:
            out = xp.empty_like(u)
        if a == "relu":
            return xp.greater(u, 0, out=out)
        if a == "tanh":  # 1 - tanh(u)^2
            xp.tanh(u, out=out)
            out *= out
            xp.subtract(1, out, out=out)
            return out
        xp.multiply(u, 0.5, out=out)  # sigmoid(u) = (1 + tanh(u/2)) / 2: no overflow
        xp.tanh(out, out=out)
        out += 1
        out *= 0.5
        return out

    def workspace(self, name: str, shape):
        """A reusable scratch array (uninitialised) of ``shape``, kept between calls.

        Only for temporaries that never leave a call (backward's G and D).
        """
        ws = self.__dict__.setdefault("_ws", {})
        a = ws.get(name)
        if a is None or a.shape != tuple(shape):
            a = ws[name] = self.xp.empty(shape, dtype=self.dtype)
        return a

    # ---- forward ----------------------------------------------------------
    def forward(self, x, rng=None, noise=None):
        """Run the network over all steps.

        Args:
            x: (T, B, n_in) inputs (array-like; moved to the backend).
            rng: a ``Backend.rng`` source drawing xi ~ N(0, 1) of shape (N, T*B)
                (column t*B + b) in one call; ignored when ``noise`` is given.
            noise: (T, B, N) explicit draws xi (scaled here by
                sqrt(2/alpha) * sigma_rec). Neither rng nor noise: no noise.
        Returns:
            y (T, B, n_out) outputs and a ForwardCache.
        """
        cfg, xp, P = self.config, self.xp, self.params
        x = xp.asarray(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[2] != cfg.n_in:
            raise ValueError(f"x must have shape (T, B, {cfg.n_in}), got {tuple(x.shape)}")
        T, B, _ = x.shape
        if T < 1 or B < 1:
            raise ValueError(f"x needs at least one step and one trial, got shape {tuple(x.shape)}")
        N, K = cfg.n_hidden, T * B
        X = x.reshape(K, cfg.n_in)
        cpu = self.backend.name == "cpu"
        xi, seed = None, None
        if noise is not None:
            noise = xp.asarray(noise, dtype=self.dtype)
            if noise.shape != (T, B, N):
                raise ValueError(f"noise must have shape {(T, B, N)}, got {tuple(noise.shape)}")
            xi = noise.reshape(K, N).T
        elif rng is not None and cfg.sigma_rec > 0:
            if cpu:  # drawn in chunks from a child seed, re-made on demand
                seed = new_noise_seed(rng)
            else:
                xi = rng.standard_normal((N, K), dtype=self.dtype)
        if cpu:
            Y, U, H, x_cols = cpu_loops.forward(self, X, T, B, xi=xi, seed=seed)
            cache = ForwardCache(X, U, H, xi, T, B, noise_seed=seed, x_cols=x_cols)
            return Y.reshape(T, B, cfg.n_out), cache
        U = xp.matmul(P["W_in"], X.T)  # (N, K): the whole input drive at once
        U += P["b"][:, None]
        scale = math.sqrt(2.0 / cfg.alpha) * cfg.sigma_rec
        if xi is not None and scale != 0.0:
            U += scale * xi
        H = xp.empty((N, (T + 1) * B), dtype=self.dtype)
        H[:, :B] = P["h0"][:, None] if "h0" in P else 0
        self._recur(U, H, T, B)
        # H.T is contiguous (Fortran order) where H[:, B:].T is not, and CuPy
        # would copy all of it for cuBLAS; the B rows of h_{-1} are dropped after.
        Y = xp.matmul(H.T, P["W_out"].T)[B:]  # (K, n_out)
        Y += P["b_out"]
        return Y.reshape(T, B, cfg.n_out), ForwardCache(X, U, H, xi, T, B)

    def _recur(self, U, H, T, B):
        """The only loop over time: u_t += W_rec h_{t-1}; h_t from u_t.

        The product reads a contiguous copy of h_{t-1}: BLAS on a column
        slice of the wide (N, (T+1)*B) array is several times slower. It is
        Fortran-ordered because cupyx's csr.dot converts C-ordered operands
        to Fortran order on every call. (The CPU runs refrnn.cpu_loops.)
        """
        xp = self.xp
        matmul = self._refresh(transposed=False)
        a = self.config.alpha
        h = xp.array(H[:, :B], order="F")
        for t in range(T):
            ut = U[:, t * B:(t + 1) * B]
            ut += matmul(h)
            if a == 1.0:
                self._f(ut, out=h)
            else:  # h = h + a * (f(u) - h)
                r = self._f(ut, out=None)
                r -= h
                r *= a
                h += r
            H[:, (t + 1) * B:(t + 2) * B] = h

    def backward(self, cache: ForwardCache, dy):
        """Gradients of a loss given dL/dy, dy (T, B, n_out); see refrnn.bptt."""
        from .bptt import backward

        return backward(self, cache, dy)

    def n_params(self) -> int:
        return int(sum(v.size for v in self.params.values()))
