"""The Task base class: sampling, rendering and one-trial construction.

A family subclass (go.py, dm.py, dms.py) supplies:

    family        str
    period_names  tuple of P str; the last is "decision"
    _timing()     dict period -> ("fixed", ms) | ("uniform", lo, hi) | ("choice", ms tuple)
    _sample(n, rng)   dict of (n,) arrays: the trial parameters, durations excluded
    _render(params)   TrialBatch from a complete params dict (durations in ms)
    _check(params)    ValueError for any parameter out of range (one-trial path)
    _defaults()       dict of parameters a single trial may omit

Parameters use the reference trial-dictionary names (``ground_truth``,
``theta1``, ``coh1_mod1``, ``sample_theta``, ...) plus ``modality`` (0 = ring
units 1..16, 1 = units 17..32), ``integrate`` and ``seq``; each period's
duration is the parameter named like the period, in ms (floored to dt).
"""
from __future__ import annotations

import numpy as np

from .encoding import check_compat, check_dt, floor_ms
from .trials import DEFAULT_DT, TrialBatch, check_int, input_noise_std


class Task:
    """One named task of a battery, at step length ``dt`` (ms)."""

    family = ""
    period_names: tuple = ()
    param_names: tuple = ()  # per-trial parameters besides durations (incl. integrate, seq)

    def __init__(self, name, base, integrate=0, seq=0, dt=DEFAULT_DT, compat=None):
        self.name = name
        self.base = base
        self.integrate = int(integrate)
        self.seq = int(seq)
        self.dt = check_dt(dt)
        self.compat = check_compat(compat)

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, dt={self.dt}, compat={self.compat!r})"

    @property
    def noise_std(self) -> float:
        """Input-noise standard deviation per step, 1/sqrt(dt)."""
        return input_noise_std(self.dt)

    @property
    def decision_ms(self) -> int:
        """Decision-period length: 1000 ms for sequence tasks (rt tasks keep theirs)."""
        return 1000 if self.seq else self._base_decision_ms

    # -- timing ---------------------------------------------------------------
    def durations(self) -> dict:
        """Possible durations of each period: dict period -> tuple of ms values."""
        out = {}
        for p, spec in self._timing().items():
            if spec[0] == "fixed":
                vals = [spec[1]]
            elif spec[0] == "choice":
                vals = spec[1]
            else:  # floor of uniform [lo, hi)
                lo, hi = spec[1], spec[2]
                vals = range(int(lo // self.dt) * self.dt, int(np.ceil(hi)), self.dt)
            out[p] = tuple(sorted({int(v) for v in floor_ms(list(vals), self.dt)}))
        return out

    def _sample_durations(self, n, rng):
        out = {}
        for p, spec in self._timing().items():
            if spec[0] == "fixed":
                ms = np.full(n, spec[1], dtype=np.float64)
            elif spec[0] == "choice":
                ms = np.asarray(spec[1], dtype=np.float64)[rng.integers(len(spec[1]), size=n)]
            else:
                ms = rng.uniform(spec[1], spec[2], size=n)
            out[p] = floor_ms(ms, self.dt)
        return out

    def steps(self, params):
        """(n, P) int64 period lengths in steps from the ms durations in params."""
        return np.stack([np.asarray(params[p], dtype=np.int64) // self.dt
                         for p in self.period_names], axis=1)

    # -- public API -----------------------------------------------------------
    def sample(self, n, rng) -> dict:
        """Draw the parameters of n trials at once.

        Args:
            n: number of trials (int >= 0).
            rng: numpy.random.Generator, the only source of randomness.
        Returns:
            dict name -> (n,) array: the trial parameters (int64 or float64)
            and each period's duration in ms (int64).
        """
        n = check_int("n", n, 0)
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        n = int(n)
        params = self._sample(n, rng)
        params.update(self._sample_durations(n, rng))
        return params

    def render(self, params) -> TrialBatch:
        """Noise-free observations, labels and periods of the trials ``params`` describe.

        Args:
            params: dict name -> (n,) array, as returned by :meth:`sample`.
        Returns:
            TrialBatch (obs (S, 33) float32, labels (S,) int64, noise (S,)
            uint8, offsets (n+1,), bounds (n, P+1), period_names).
        """
        need = tuple(self.param_names) + tuple(self.period_names)
        missing = [k for k in need if k not in params]
        if missing:
            raise ValueError(f"task {self.name}: params lack {missing}")
        sizes = {np.shape(params[k]) for k in need}
        if len(sizes) != 1 or len(next(iter(sizes))) != 1:
            raise ValueError(
                f"task {self.name}: params must all be (n,) arrays, got shapes {sizes}")
        params = {k: np.asarray(params[k]) for k in need}
        return self._render(params)

    def generate(self, n, rng) -> TrialBatch:
        """``render(sample(n, rng))``: n fresh noise-free trials."""
        return self.render(self.sample(n, rng))

    def make_trial(self, **kwargs) -> TrialBatch:
        """One trial from explicit parameters (reference names) and durations in ms.

        Parameters the task fixes (``anti``, ``integrate``, ``seq``) may be
        given but must agree with the task; fixed-length periods default to
        their length. Anything unknown or out of range raises ValueError.
        """
        known = set(self.param_names) | set(self.period_names)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"task {self.name}: unknown parameters {unknown}; "
                             f"expected some of {sorted(known)}")
        kw = {"integrate": self.integrate, "seq": self.seq}
        kw.update(self._defaults())
        for p, spec in self._timing().items():
            if spec[0] == "fixed":
                kw[p] = spec[1]
        kw.update(kwargs)
        missing = [k for k in tuple(self.param_names) + self.period_names if k not in kw]
        if missing:
            raise ValueError(f"task {self.name}: make_trial needs {missing}")
        for p in self.period_names:
            v = kw[p]
            try:
                ms = float(v)
            except (TypeError, ValueError):
                ms = float("nan")
            if isinstance(v, bool) or not np.isfinite(ms) or ms < 0:
                raise ValueError(f"duration {p}={v!r} must be a finite number of ms >= 0")
            kw[p] = int(floor_ms(ms, self.dt))
        if kw[self.period_names[-1]] < self.dt:
            raise ValueError(f"decision period must last at least dt={self.dt} ms")
        for key in ("integrate", "seq"):
            if kw[key] != getattr(self, key):
                raise ValueError(f"{key}={kw[key]!r}, but task {self.name} has "
                                 f"{key}={getattr(self, key)}")
        kw = self._check(kw)
        return self.render({k: np.atleast_1d(np.asarray(v)) for k, v in kw.items()})

    # -- for subclasses -------------------------------------------------------
    def _defaults(self):
        return {}

    def _check(self, kw):
        return kw


def check_choice(kw, key, allowed):
    """Validate ``kw[key]`` is one of ``allowed`` (ValueError naming it)."""
    v = kw[key]
    try:
        ok = float(v) in [float(a) for a in allowed]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{key}={v!r} must be one of {list(allowed)}")
    return v


def alternating_modality(n, rng):
    """(n,) int64 0/1: random first modality, then alternating (the reference
    schedules its two single-modality sub-tasks never twice in a row)."""
    return (rng.integers(2) + np.arange(n, dtype=np.int64)) % 2
