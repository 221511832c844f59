"""Decision-making family: dm1 dm2 ctxdm1 ctxdm2 multidm and their delayed forms.

Two bumps at distinct ring angles ``theta1``, ``theta2``; the subject must
choose the one with the larger weighted strength. Parameters per trial:
``theta1``, ``theta2`` (radians on the 16-point grid), ``coh1_mod1``,
``coh2_mod1``, ``coh1_mod2``, ``coh2_mod2`` (bump strengths; 0 on a modality
the task does not show), ``ground_truth`` (the chosen ring index, before the
interval shift), ``integrate``, ``seq`` and the durations.

- dm*, ctxdm*, multidm: both bumps together in "stimulus", strengths
  0.5 +- c/2 with c = +-{0.08, 0.16, 0.32, 0.64}.
- dly variants: bump 1 in "stim1", bump 2 in "stim2", strengths two distinct
  values of {0.3, 0.6, 1.0}.
- weights (mod1, mod2): dm1/dm2 (1, 1) but only their own modality is shown;
  ctx*1 (1, 0), ctx*2 (0, 1) with both shown; multi* (1, 1).
- interval variants: the target index shifts by integrate * delay // 100
  ring units (5 at the fixed 500 ms delay).
- compat "neurogym-2.3": delay 1000 ms, dm1's stimulus 200, 400 or 600 ms,
  fixation cue in the fixation period only, input noise on the two rings
  only (docs/tasks.md, "Differences from the references").
"""
from __future__ import annotations

import numpy as np

from .base import Task
from .encoding import MS_PER_UNIT, NEUROGYM, THETA, angle_to_index, assemble, bump, cue_periods
from .trials import N_OBS, NOISE_ALL, NOISE_RINGS, RING

DM_COHS = (0.08, 0.16, 0.32, 0.64)
DLY_STRENGTHS = (0.3, 0.6, 1.0)
TIE_TOL = 1e-9
_COH_KEYS = ("coh1_mod1", "coh2_mod1", "coh1_mod2", "coh2_mod2")


def dm_choice(params, w_mod, tie_first=None):
    """Apply the DM decision rule.

    Args:
        params: dict with theta1, theta2, coh*_mod* as (n,) arrays.
        w_mod: (w1, w2) modality weights.
        tie_first: (n,) bool used on exact ties (None: ties give -1).
    Returns:
        (n,) int64 ring index of the chosen bump (or -1 for an unresolved tie).
    """
    w1, w2 = w_mod
    s1 = w1 * params["coh1_mod1"] + w2 * params["coh1_mod2"]
    s2 = w1 * params["coh2_mod1"] + w2 * params["coh2_mod2"]
    i1 = angle_to_index(params["theta1"], "theta1")
    i2 = angle_to_index(params["theta2"], "theta2")
    tie = np.abs(s1 - s2) < TIE_TOL
    first = s1 > s2
    out = np.where(first, i1, i2)
    if tie_first is None:
        return np.where(tie, -1, out)
    return np.where(tie, np.where(tie_first, i1, i2), out)


class DMTask(Task):
    """A DM-family task; ``base`` is one of the 10 dm names."""

    family = "dm"
    param_names = ("theta1", "theta2") + _COH_KEYS + ("ground_truth", "integrate", "seq")
    _base_decision_ms = 200

    def __init__(self, name, base, integrate=0, seq=0, dt=100, compat=None):
        super().__init__(name, base, integrate, seq, dt, compat)
        self.delayed = "dly" in base
        ctx, last = base.startswith("ctx"), base[-1]
        both = ctx or base.startswith("multi")
        self.stim_mod = (True, True) if both else (last == "1", last == "2")
        self.w_mod = ((1, 0) if last == "1" else (0, 1)) if ctx else (1, 1)
        self.period_names = (("fixation", "stim1", "delay", "stim2", "decision") if self.delayed
                             else ("fixation", "stimulus", "decision"))

    def _timing(self):
        ngym = self.compat == NEUROGYM
        t = {"fixation": ("uniform", 200, 500)}
        if self.delayed:
            t.update({"stim1": ("fixed", 500), "delay": ("fixed", 1000 if ngym else 500),
                      "stim2": ("fixed", 500)})
        elif ngym and self.base == "dm1":
            t["stimulus"] = ("choice", (200, 400, 600))
        else:
            t["stimulus"] = ("fixed", 500)
        t["decision"] = ("fixed", self.decision_ms)
        return t

    def _sample(self, n, rng):
        i1 = rng.integers(RING, size=n, dtype=np.int64)
        i2 = (i1 + rng.integers(1, RING, size=n, dtype=np.int64)) % RING
        p = {"theta1": THETA[i1], "theta2": THETA[i2]}
        for m, shown in ((1, self.stim_mod[0]), (2, self.stim_mod[1])):
            if not shown:
                c1 = c2 = np.zeros(n)
            elif self.delayed:
                k1 = rng.integers(3, size=n)
                k2 = (k1 + rng.integers(1, 3, size=n)) % 3
                c1, c2 = np.take(DLY_STRENGTHS, k1), np.take(DLY_STRENGTHS, k2)
            else:
                c = np.take(DM_COHS, rng.integers(4, size=n)) * rng.choice((-1.0, 1.0), size=n)
                c1, c2 = 0.5 + c / 2, 0.5 - c / 2
            p[f"coh1_mod{m}"], p[f"coh2_mod{m}"] = c1, c2
        p["ground_truth"] = dm_choice(p, self.w_mod, tie_first=rng.integers(2, size=n) == 1)
        p["integrate"] = np.full(n, self.integrate, dtype=np.int64)
        p["seq"] = np.full(n, self.seq, dtype=np.int64)
        return p

    def _defaults(self):
        return {"ground_truth": None, "coh1_mod1": 0.0, "coh2_mod1": 0.0,
                "coh1_mod2": 0.0, "coh2_mod2": 0.0}

    def _check(self, kw):
        i1 = int(angle_to_index(kw["theta1"], "theta1")[0])
        i2 = int(angle_to_index(kw["theta2"], "theta2")[0])
        if i1 == i2:
            raise ValueError(f"theta1={kw['theta1']!r} and theta2={kw['theta2']!r} must differ")
        for key in _COH_KEYS:
            v = float(kw[key])
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{key}={kw[key]!r} must be a finite strength >= 0")
            if not self.stim_mod[int(key[-1]) - 1] and v != 0:
                raise ValueError(f"{key}={v!r}: task {self.name} does not show modality {key[-1]}")
            kw[key] = v
        arr = {k: np.atleast_1d(np.asarray(kw[k], dtype=np.float64))
               for k in ("theta1", "theta2") + _COH_KEYS}
        rule = int(dm_choice(arr, self.w_mod)[0])
        gt = kw["ground_truth"]
        if gt is None:
            if rule < 0:
                raise ValueError("the two weighted strengths tie: give ground_truth "
                                 f"({i1} or {i2}) to break the tie")
            gt = rule
        elif isinstance(gt, bool) or gt not in (i1, i2) or (rule >= 0 and gt != rule):
            want = f"{rule}" if rule >= 0 else f"{i1} or {i2}"
            raise ValueError(f"ground_truth={gt!r} contradicts the decision rule (expected {want})")
        kw["ground_truth"] = int(gt)
        return kw

    def _render(self, params):
        steps = self.steps(params)
        n, p = steps.shape
        target = params["ground_truth"].astype(np.int64)
        if self.integrate:
            target = np.mod(target + self.integrate * (params["delay"] // MS_PER_UNIT), RING)
        b1 = bump(params["theta1"])
        b2 = bump(params["theta2"])
        obs_tpl = np.zeros((n, p, N_OBS), dtype=np.float32)
        obs_tpl[:, :cue_periods(self.compat, self.family, p), 0] = 1.0
        noise_tpl = np.zeros((n, p), dtype=np.uint8)
        for m in (1, 2):
            cols = slice(1 + RING * (m - 1), 1 + RING * m)
            c1 = params[f"coh1_mod{m}"].astype(np.float64)[:, None]
            c2 = params[f"coh2_mod{m}"].astype(np.float64)[:, None]
            if self.delayed:
                obs_tpl[:, 1, cols] = b1 * c1
                obs_tpl[:, 3, cols] = b2 * c2
            else:
                obs_tpl[:, 1, cols] = b1 * c1 + b2 * c2
        noise = NOISE_RINGS if self.compat == NEUROGYM else NOISE_ALL
        noise_tpl[:, [1, 3] if self.delayed else [1]] = noise
        respond = np.ones(n, dtype=bool)
        return assemble(self.name, self.period_names, steps, obs_tpl, noise_tpl, target,
                        respond, self.seq, self.dt, self.compat, dict(params))
