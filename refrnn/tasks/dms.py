"""Delayed-match family: dms dnms dmc dnmc (+ int, seq variants).

A sample bump, a delay, then a test bump, on one modality's ring (chosen per
trial). dms/dnms: the test equals the sample (match) or sits 8 ring units away;
dmc/dnmc: match means same category (sample category: index > 8, test
category: index >= 8, as in the reference). dms and dmc respond toward the
test on a match, dnms and dnmc on a non-match; otherwise the trial is no-go
(labels all 0). Parameters per trial: ``ground_truth`` (1 = match, 0 =
non-match; make_trial also takes "match"/"non-match"), ``sample_theta``,
``test_theta`` (radians on the grid), ``modality``, ``integrate``, ``seq``
and the durations. Interval variants draw the delay per trial and shift the
responding target by ``integrate * delay // 100`` ring units. Under compat
"neurogym-2.3" the delay is 1000 ms and the fixation cue shows in the
fixation period only.
"""
from __future__ import annotations

import zlib

import numpy as np

from .base import Task, alternating_modality, check_choice
from .encoding import (INT_DELAYS, MS_PER_UNIT, NEUROGYM, THETA, angle_to_index, assemble,
                       bump, cue_periods, uniform_ms)
from .trials import N_OBS, NOISE_MOD1, RING

HALF = RING // 2


def instance_delay_ms(name, seed, dt):
    """The fixed delay of a non-interval delayed-match task instance, ms.

    Mod-Cog draws it once per task instance, uniform in [200, 1200) ms; refrnn
    draws it from a Generator seeded by (seed, crc32(name)), floored to dt.
    """
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode())])
    return int(uniform_ms(rng, 200, 1200, 1, dt)[0])


class DelayMatchTask(Task):
    """A delayed-match task; ``base`` is one of dms dnms dmc dnmc."""

    family = "dms"
    param_names = ("ground_truth", "sample_theta", "test_theta", "modality", "integrate", "seq")
    period_names = ("fixation", "sample", "delay", "test", "decision")
    _base_decision_ms = 900

    def __init__(self, name, base, integrate=0, seq=0, dt=100, compat=None, seed=0):
        super().__init__(name, base, integrate, seq, dt, compat)
        self.category = base in ("dmc", "dnmc")
        self.matchgo = base in ("dms", "dmc")
        self.delay_ms = instance_delay_ms(name, seed, self.dt)

    def _timing(self):
        if self.integrate:
            delay = ("choice", INT_DELAYS)
        else:
            delay = ("fixed", 1000 if self.compat == NEUROGYM else self.delay_ms)
        return {"fixation": ("fixed", 300), "sample": ("fixed", 500), "delay": delay,
                "test": ("fixed", 500), "decision": ("fixed", self.decision_ms)}

    def _sample(self, n, rng):
        match = rng.integers(2, size=n, dtype=np.int64)
        i_s = rng.integers(RING, size=n, dtype=np.int64)
        if self.category:
            sample_cat = (i_s > HALF).astype(np.int64)
            test_cat = np.where(match == 1, sample_cat, 1 - sample_cat)
            i_t = rng.integers(HALF, size=n, dtype=np.int64) + HALF * test_cat
        else:
            i_t = np.where(match == 1, i_s, (i_s + HALF) % RING)
        return {
            "ground_truth": match, "sample_theta": THETA[i_s], "test_theta": THETA[i_t],
            "modality": alternating_modality(n, rng),
            "integrate": np.full(n, self.integrate, dtype=np.int64),
            "seq": np.full(n, self.seq, dtype=np.int64),
        }

    def _check(self, kw):
        gt = kw["ground_truth"]
        if isinstance(gt, str):
            if gt not in ("match", "non-match"):
                raise ValueError(f"ground_truth={gt!r} must be 'match' or 'non-match' (or 1/0)")
            gt = int(gt == "match")
        kw["ground_truth"] = int(check_choice({"ground_truth": gt}, "ground_truth", (0, 1)))
        kw["modality"] = int(check_choice(kw, "modality", (0, 1)))
        i_s = int(angle_to_index(kw["sample_theta"], "sample_theta")[0])
        i_t = int(angle_to_index(kw["test_theta"], "test_theta")[0])
        match = kw["ground_truth"] == 1
        if self.category:
            ok = ((i_s > HALF) == (i_t >= HALF)) == match
            rule = "same category (sample index > 8, test index >= 8)"
        else:
            ok = i_t == (i_s if match else (i_s + HALF) % RING)
            rule = "test == sample on a match, 8 ring units away otherwise"
        if not ok:
            raise ValueError(f"sample_theta={kw['sample_theta']!r}, "
                             f"test_theta={kw['test_theta']!r} "
                             f"and ground_truth={kw['ground_truth']} break the rule: {rule}")
        return kw

    def _render(self, params):
        steps = self.steps(params)
        n, p = steps.shape
        match = params["ground_truth"].astype(np.int64) == 1
        respond = match == self.matchgo
        i_t = angle_to_index(params["test_theta"], "test_theta")
        target = i_t
        if self.integrate:
            target = np.mod(i_t + self.integrate * (params["delay"] // MS_PER_UNIT), RING)
        mod = params["modality"].astype(np.int64)
        obs_tpl = np.zeros((n, p, N_OBS), dtype=np.float32)
        obs_tpl[:, :cue_periods(self.compat, self.family, p), 0] = 1.0
        cols = 1 + RING * mod[:, None] + np.arange(RING)
        rows = np.arange(n)[:, None]
        obs_tpl[rows, 1, cols] = bump(params["sample_theta"])
        obs_tpl[rows, 3, cols] = bump(params["test_theta"])
        noise_tpl = np.zeros((n, p), dtype=np.uint8)
        noise_tpl[:, [1, 3]] = (NOISE_MOD1 + mod)[:, None]
        return assemble(self.name, self.period_names, steps, obs_tpl, noise_tpl, target,
                        respond, self.seq, self.dt, self.compat, dict(params))
