"""The leaky rate RNN: configuration, parameters, the forward and backward passes.

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
    spectral radius is ``init_radius`` (refrnn.core.spectral); 0 keeps the draw.
``initial_radius(...)`` reports that radius for given settings (``refrnn mask``).
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
import sys
from dataclasses import asdict, dataclass

import numpy as np

from . import engine
from .activations import ACTIVATIONS
from ..backends.backend import get_backend
from .masks import MASK_KINDS, make_mask, torus_shape
from ..backends.plain import ArrayNoise, pattern_coordinates
from .spectral import csr_with_data, scale_to_radius, spectral_radius
from ..tasks.trials import N_CLASSES, check_int

DTYPES = ("float32", "float64")
INIT_GAIN = 1.0
SELF_MAX = 1.0  # bound on initial self-connection weights (see docstring)
DEFAULT_INIT_RADIUS = 1.0  # spectral radius of the initial W_rec (docs/results.md)


@dataclass
class ModelConfig:
    """Architecture of an RNN (see the module docstring for the equation)."""

    n_in: int
    n_out: int = N_CLASSES
    hidden: int = 256
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
        for name in ("n_in", "n_out", "hidden"):
            check_int(name, getattr(self, name))
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


class ForwardRecord:
    """What the backward pass needs from one forward pass.

    Attributes (backend arrays, K = T * B, column t*B + b):
        x: (K, n_in) inputs.
        u: (N, K) pre-activations u_t (noise included).
        h: (N, (T+1) * B) states; columns [0, B) hold h_{-1} = h0, so
           h[:, :K] are the previous states and h[:, B:] are h_0 .. h_{T-1}.
        noise_draws: the draws xi (an object of the backend's primitives;
           ``xi`` gives them as an (N, K) array, re-made from a seed on the CPU).
        x_cols: indices of the input columns that are not all zero (the
           input projection and its gradient use only those), or None = all.
        x_used: (K, len(x_cols)) those columns of x (x itself when all are used).
        w_rec: (nnz,) the recurrent weights of the pass (backward uses them).
    """

    def __init__(self, x, u, h, noise_draws, T, B, x_cols=None, w_rec=None, x_used=None):
        self.x, self.u, self.h, self.noise_draws = x, u, h, noise_draws
        self.T, self.B, self.x_cols, self.w_rec = T, B, x_cols, w_rec
        if x_used is None:
            x_used = x if x_cols is None else x[:, x_cols]
        self.x_used = x_used

    @property
    def xi(self):
        """The draws xi, (N, K), or None."""
        return self.noise_draws.array()

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



def _unheld_count() -> int:
    """sys.getrefcount of an array held only as :meth:`RNN.record_arrays` holds a
    kept pair it may reuse (in a tuple in a list, named by a loop variable),
    measured here rather than assumed: interpreters differ in what they count."""
    for probe, _ in [(np.empty(0), None)]:
        return sys.getrefcount(probe)

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
        N = config.hidden
        self.mask = make_mask(config.mask, N, config.sparsity, config.mask_seed)
        m = self.mask
        deg = np.diff(m.indptr)
        rows, cols = pattern_coordinates(m)  # (nnz,) receiver, source of each entry
        rng = np.random.default_rng(seed)
        p = {
            "W_in": rng.standard_normal((N, config.n_in)) / math.sqrt(config.n_in),
            "b": np.zeros(N),
            "w_rec": rng.standard_normal(m.nnz) * (INIT_GAIN / np.sqrt(deg[rows])),
            "W_out": rng.standard_normal((config.n_out, N)) / math.sqrt(N),
            "b_out": np.zeros(config.n_out),
        }
        self_loop = rows == cols
        p["w_rec"][self_loop] = np.clip(p["w_rec"][self_loop], -SELF_MAX, SELF_MAX)
        if config.init_radius > 0:  # same start for every mask (refrnn.core.spectral)
            p["w_rec"] = scale_to_radius(m, p["w_rec"], config.init_radius)
        if config.train_h0:
            p["h0"] = np.zeros(N)
        self.params = {k: xp.asarray(v, dtype=self.dtype) for k, v in p.items()}
        self.W = self.backend.prims.recurrent(  # W_rec's operator (engine)
            m, self.dtype, sheet=torus_shape(config.mask, N))

    def workspace(self, name: str, shape):
        """A reusable scratch array (uninitialised) of ``shape``, kept between calls.

        Only for temporaries that never leave a call (backward's G).
        """
        ws = self.__dict__.setdefault("_ws", {})
        a = ws.get(name)
        if a is None or a.shape != tuple(shape):
            a = ws[name] = self.xp.empty(shape, dtype=self.dtype)
        return a

    def record_arrays(self, K: int, B: int):
        """(U (N, K), H (N, K + B)), uninitialised, for a forward record.

        The model keeps the last two pairs it handed out and hands one out
        again once nothing else refers to it (its record and every view of
        it are gone), so a training loop reuses warm memory instead of
        touching fresh pages each update. A pair still held is never written.
        """
        N = self.config.hidden
        kept = self.__dict__.setdefault("_records", [])
        free, unheld = [], _unheld_count()
        for U, H in kept:
            # free: referred to only as the probe of _unheld_count is (the kept tuple, U or H here)
            free.append(sys.getrefcount(U) <= unheld and sys.getrefcount(H) <= unheld)
        for i, (U, H) in enumerate(kept):
            if free[i] and U.shape == (N, K) and H.shape == (N, K + B):
                kept.append(kept.pop(i))
                return U, H
        kept[:] = [pair for pair, f in zip(kept, free) if not f]  # other shapes: let them go
        xp = self.xp
        pair = (xp.empty((N, K), dtype=self.dtype), xp.empty((N, K + B), dtype=self.dtype))
        kept.append(pair)
        del kept[:-2]
        return pair

    # ---- forward ----------------------------------------------------------
    def forward(self, x, rng=None, noise=None):
        """Run the network over all steps.

        Args:
            x: (T, B, n_in) inputs (array-like; moved to the backend).
            rng: a ``Backend.rng`` generator; the backend's primitives draw
                xi ~ N(0, 1), (N, T*B), column t*B + b, from it (the CPU takes
                one seed from it and makes the draws as they are added).
                Ignored when ``noise`` is given.
            noise: (T, B, N) explicit draws xi (scaled here by
                sqrt(2/alpha) * sigma_rec). Neither rng nor noise: no noise.
        Returns:
            y (T, B, n_out) outputs and a ForwardRecord.
        """
        cfg, xp = self.config, self.xp
        x = xp.asarray(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[2] != cfg.n_in:
            raise ValueError(f"x must have shape (T, B, {cfg.n_in}), got {tuple(x.shape)}")
        T, B, _ = x.shape
        if T < 1 or B < 1:
            raise ValueError(f"x needs at least one step and one trial, got shape {tuple(x.shape)}")
        N, K = cfg.hidden, T * B
        X = x.reshape(K, cfg.n_in)
        if noise is not None:
            noise = xp.asarray(noise, dtype=self.dtype)
            if noise.shape != (T, B, N):
                raise ValueError(f"noise must have shape {(T, B, N)}, got {tuple(noise.shape)}")
            draws = ArrayNoise(noise.reshape(K, N).T)
        elif rng is not None and cfg.sigma_rec > 0:
            draws = self.backend.prims.draw_noise(rng, N, K, self.dtype)
        else:
            draws = ArrayNoise(None)
        Y, U, H, x_cols, Xs, w_rec = engine.forward(self, X, T, B, draws)
        return Y.reshape(T, B, cfg.n_out), ForwardRecord(X, U, H, draws, T, B, x_cols, w_rec, Xs)

    def backward(self, record: ForwardRecord, dy):
        """Gradients of the loss for every parameter (refrnn.core.engine.backward).

        Args:
            record: the ForwardRecord of the forward pass.
            dy: (T, B, n_out) gradient of the loss with respect to the outputs.
        Returns:
            dict with the keys of params: W_in (N, n_in), b (N,), w_rec (nnz,)
            at the pattern only, W_out (n_out, N), b_out (n_out,), h0 (N,).
        """
        cfg = self.config
        dy = self.xp.asarray(dy, dtype=self.dtype)
        if dy.shape != (record.T, record.B, cfg.n_out):
            raise ValueError(f"dy must have shape {(record.T, record.B, cfg.n_out)}, "
                             f"got {tuple(dy.shape)}")
        return engine.backward(self, record, dy.reshape(record.T * record.B, cfg.n_out))


def initial_radius(mask: str, n: int, sparsity: float, mask_seed: int,
                   init_radius: float, seed: int = 0) -> float:
    """Spectral radius of the initial W_rec of an RNN with these settings.

    Builds the model (``n_in`` = 1, float64) with weight seed ``seed``; the
    draw follows the training rule, but a training run (more inputs, drawn
    first) gets other values of the same law.
    """
    cfg = ModelConfig(n_in=1, hidden=n, mask=mask, sparsity=sparsity, mask_seed=mask_seed,
                      dtype="float64", init_radius=init_radius)
    model = RNN(cfg, seed=seed)
    return spectral_radius(csr_with_data(model.mask, np.asarray(model.params["w_rec"])))
