"""Go / anti family: go, anti, dlygo, dlyanti, rtgo, rtanti (+ int, seq variants).

One stimulus of strength 1 on one modality's ring (chosen per trial); the
subject must respond toward it (go) or opposite it (anti). Parameters per
trial: ``ground_truth`` (target ring index 0..15), ``anti``, ``modality``,
``integrate``, ``seq`` and the durations. Interval variants draw the delay
per trial and show the stimulus rotated by ``integrate * 0.01 rad/ms *
delay``; the label stays the unshifted target.
"""
from __future__ import annotations

import numpy as np

from .base import Task, alternating_modality, check_choice
from .encoding import INT_DELAYS, MODCOG, OMEGA, THETA, assemble, bump
from .trials import N_OBS, RING


class GoTask(Task):
    """A go/anti task; ``base`` is one of go anti dlygo dlyanti rtgo rtanti."""

    family = "go"
    param_names = ("ground_truth", "anti", "modality", "integrate", "seq")
    _base_decision_ms = 500

    def __init__(self, name, base, integrate=0, seq=0, dt=100, compat=None):
        super().__init__(name, base, integrate, seq, dt, compat)
        self.anti = "anti" in base
        self.reaction = base.startswith("rt")
        self.delayed = base.startswith("dly")
        self.period_names = (("fixation", "decision") if self.reaction
                             else ("fixation", "stimulus", "delay", "decision"))

    @property
    def decision_ms(self) -> int:
        # rtgo/rtanti keep a 500 ms decision period in their sequence variants.
        return 500 if self.reaction else super().decision_ms

    def _timing(self):
        if self.reaction:
            return {"fixation": ("fixed", 500), "decision": ("fixed", self.decision_ms)}
        if self.integrate:
            delay = ("choice", INT_DELAYS)
        elif self.delayed or self.compat == MODCOG:
            delay = ("fixed", 500)  # Mod-Cog gives go/anti a 500 ms delay too
        else:
            delay = ("fixed", 0)
        return {"fixation": ("fixed", 500), "stimulus": ("fixed", 500),
                "delay": delay, "decision": ("fixed", self.decision_ms)}

    def _sample(self, n, rng):
        return {
            "ground_truth": rng.integers(RING, size=n, dtype=np.int64),
            "anti": np.full(n, int(self.anti), dtype=np.int64),
            "modality": alternating_modality(n, rng),
            "integrate": np.full(n, self.integrate, dtype=np.int64),
            "seq": np.full(n, self.seq, dtype=np.int64),
        }

    def _defaults(self):
        return {"anti": int(self.anti)}

    def _check(self, kw):
        check_choice(kw, "ground_truth", range(RING))
        check_choice(kw, "modality", (0, 1))
        if int(kw["anti"]) != int(self.anti):
            raise ValueError(f"anti={kw['anti']!r}, but task {self.name} has anti={int(self.anti)}")
        kw["ground_truth"] = int(kw["ground_truth"])
        kw["modality"] = int(kw["modality"])
        kw["anti"] = int(kw["anti"])
        return kw

    def _render(self, params):
        steps = self.steps(params)
        n, p = steps.shape
        target = params["ground_truth"].astype(np.int64)
        loc = THETA[target] + (np.pi if self.anti else 0.0)
        if self.integrate:
            loc = loc + self.integrate * OMEGA * params["delay"].astype(np.float64)
        obs_tpl = np.zeros((n, p, N_OBS), dtype=np.float32)
        obs_tpl[:, :p - 1, 0] = 1.0
        # The stimulus period is index 1 in both layouts (rt: it is the decision).
        cols = 1 + RING * params["modality"].astype(np.int64)[:, None] + np.arange(RING)
        obs_tpl[np.arange(n)[:, None], 1, cols] = bump(loc)
        noise_tpl = np.zeros((n, p), dtype=np.uint8)
        respond = np.ones(n, dtype=bool)
        return assemble(self.name, self.period_names, steps, obs_tpl, noise_tpl, target,
                        respond, self.seq, self.dt, self.compat, dict(params))
