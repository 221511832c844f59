"""Shared encoding of the task batteries: ring, bumps, durations, assembly.

Every trial is a sequence of periods, and within one period the noise-free
observation is constant. A task therefore describes n trials by small
per-period templates and :func:`assemble` expands them to steps with one
``np.repeat`` per array:

    steps     int64   (n, P)      period lengths in steps
    obs_tpl   float32 (n, P, 33)  observation shown during each period
    noise_tpl uint8   (n, P)      input-noise code of each period (NOISE_*)
    target    int64   (n,)        ring index (0..15) the decision aims at
    respond   bool    (n,)        False for no-go trials (labels all 0)

Labels are 0 before the decision period (always the last period) and follow
the sequence rule inside it (see :func:`decision_labels`).
"""
from __future__ import annotations

import numpy as np

from .trials import N_OBS, RING, TrialBatch

#: Preferred angles of the 16 ring units, radians: 2*pi*i/16.
THETA = 2.0 * np.pi * np.arange(RING) / RING
#: Angular speed of the interval rule, rad/ms (Mod-Cog's omega).
OMEGA = 0.01
#: Milliseconds per ring unit of the interval and sequence rules
#: (``int(omega * ms)`` ring units; one unit per 100 ms).
MS_PER_UNIT = 100
#: Delays of the interval-integration tasks, ms.
INT_DELAYS = tuple(range(0, 1200, 100))
#: Rule set reproducing neurogym 2.3.1's yang19 trials (the 20 base tasks only).
NEUROGYM = "neurogym-2.3"
#: Rule set reproducing the Mod-Cog repository's (2023) label formula and go/anti delay.
MODCOG = "modcog-2023"
#: The trial rule sets: None is refrnn's own (docs/tasks.md, "Differences from
#: the references", lists where each other set departs from it).
COMPAT_MODES = (None, MODCOG, NEUROGYM)


def check_compat(compat):
    """Return ``compat`` if it is a known mode, else raise ValueError."""
    if compat not in COMPAT_MODES:
        raise ValueError(f"unknown compat {compat!r}; use None (refrnn rules), "
                         f"{MODCOG!r} or {NEUROGYM!r}")
    return compat


def cue_periods(compat, family, n_periods) -> int:
    """How many leading periods show the fixation cue (unit 0 = 1).

    refrnn and Mod-Cog: every period before the decision (n_periods - 1).
    neurogym 2.3.1: the same for go/anti, the fixation period only (1) for
    the DM and delayed-match families.
    """
    return 1 if compat == NEUROGYM and family in ("dm", "dms") else n_periods - 1


def check_dt(dt) -> int:
    """Validate the step length dt (ms, a positive integer; durations are floored to it)."""
    try:
        ok = not isinstance(dt, bool) and float(dt) == int(dt) and int(dt) > 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"dt must be a positive integer number of ms, got {dt!r}")
    return int(dt)


def bump(loc, strength=1.0):
    """Ring activity of stimuli at angles ``loc``.

    Args:
        loc: (n,) angles in radians (any real value; wrapped on the circle).
        strength: scalar or (n,) multiplier.
    Returns:
        (n, 16) float64: ``0.8 * exp(-d**2 / 2) * strength`` with d the
        circular distance to each unit's preferred angle in units of pi/8.
    """
    loc = np.asarray(loc, dtype=np.float64)
    d = np.abs(np.mod(loc[:, None] - THETA[None, :], 2 * np.pi))
    d = np.minimum(d, 2 * np.pi - d) / (np.pi / 8)
    return 0.8 * np.exp(-0.5 * d * d) * np.asarray(strength, dtype=np.float64).reshape(-1, 1)


def angle_to_index(theta, what="theta"):
    """Ring index (n,) int64 of angles on the 16-point grid; ValueError off grid."""
    theta = np.atleast_1d(np.asarray(theta, dtype=np.float64))
    x = theta / (2 * np.pi / RING)
    idx = np.rint(x)
    if not np.all(np.isfinite(x)) or np.any(np.abs(x - idx) > 1e-6):
        raise ValueError(f"{what} must be a ring angle 2*pi*k/16, got {theta.tolist()}")
    return np.mod(idx.astype(np.int64), RING)


def floor_ms(ms, dt):
    """Durations floored to a multiple of dt, as int64 ms (reference rule)."""
    ms = np.asarray(ms, dtype=np.float64)
    return (np.floor(ms / dt) * dt).astype(np.int64)


def uniform_ms(rng, lo, hi, n, dt):
    """n durations drawn uniformly in [lo, hi) ms and floored to dt (int64 ms)."""
    return floor_ms(rng.uniform(lo, hi, size=n), dt)


def decision_labels(target, respond, counts, seq, dt, compat):
    """Labels of the decision steps of n trials, concatenated.

    Args:
        target: (n,) int64 ring index (0..15) at decision onset.
        respond: (n,) bool; False gives all-zero labels.
        counts: (n,) int64 decision length in steps.
        seq: +1, -1 or 0: direction the target moves, one ring unit per 100 ms.
        dt: step length, ms. compat: None, "modcog-2023" or "neurogym-2.3".
    Returns:
        (sum(counts),) int64. refrnn: index (target + seq*shift) mod 16, label
        index + 1. "modcog-2023": (target + 1 + seq*shift) mod 16, the
        reference formula, which turns ring index 15 into 0 = fixate.
    """
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    t = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
    shift = seq * ((t * dt) // MS_PER_UNIT)
    tgt = np.repeat(target, counts)
    if compat == MODCOG:
        lab = np.mod(tgt + 1 + shift, RING)
    else:
        lab = np.mod(tgt + shift, RING) + 1
    lab *= np.repeat(respond, counts)
    return lab


def assemble(name, period_names, steps, obs_tpl, noise_tpl, target, respond,
             seq, dt, compat, params):
    """Expand per-period templates of n trials into a ragged TrialBatch.

    Shapes as in the module docstring; ``params`` is stored on the batch.
    """
    n, p = steps.shape
    lengths = steps.sum(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    bounds = np.zeros((n, p + 1), dtype=np.int64)
    np.cumsum(steps, axis=1, out=bounds[:, 1:])
    flat = steps.reshape(-1)
    obs = np.repeat(obs_tpl.reshape(n * p, N_OBS), flat, axis=0)
    noise = np.repeat(noise_tpl.reshape(-1), flat)
    labels = np.zeros(int(offsets[-1]), dtype=np.int64)
    counts = steps[:, -1]
    lab = decision_labels(target, respond, counts, seq, dt, compat)
    rows = np.repeat(offsets[1:] - counts, counts)
    rows += np.arange(rows.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    labels[rows] = lab
    return TrialBatch(name, obs, labels, noise, offsets, bounds, tuple(period_names), params)
