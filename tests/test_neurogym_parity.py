"""Parity with neurogym's yang19 collection (optional: skips without neurogym).

For each of the 20 base tasks, neurogym draws trials; refrnn rebuilds each
one with make_trial from the same parameters and period durations, and the
noise-free observations and labels must agree where docs/tasks.md says the
rules coincide:

- ring units (1..32) and labels: everywhere;
- fixation unit: everywhere for the go/anti family; for DM and delayed-match
  tasks neurogym >= 2.x shows it only in the fixation period, while refrnn
  (like Mod-Cog and older neurogym) keeps it on until the decision period, so
  there it is compared in the fixation and decision periods only, and the
  difference itself is checked.

neurogym's own durations are passed through (its dm1 draws the stimulus from
{200, 400, 600} ms and its delayed DM tasks use a 1000 ms delay), and its
input noise is switched off (sigma = 0) to compare noise-free observations.
"""
import warnings

import numpy as np
import pytest

from refrnn.tasks import make_trial, task_names

ngym_yang19 = pytest.importorskip("neurogym.envs.collections.yang19")

N_PER_MODALITY = 12
GO = ("go", "rtgo", "dlygo", "anti", "rtanti", "dlyanti")
DMS = ("dms", "dnms", "dmc", "dnmc")


def _neurogym_trials(name, seed):
    """Yield (trial dict, modality, durations ms, ob (T, 33), gt (T,)) from neurogym."""
    env = getattr(ngym_yang19, name)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env.seed(seed)
    subs = list(enumerate(env.envs)) if hasattr(env, "envs") else [(None, env)]
    for modality, sub in subs:
        task = sub.unwrapped
        if hasattr(task, "sigma"):
            task.sigma = 0.0  # noise-free observations
        for _ in range(N_PER_MODALITY):
            trial = sub.new_trial()
            yield (trial, modality, dict(task._duration), np.array(task.ob, dtype=np.float32),
                   np.array(task.gt, dtype=np.int64))


def _params(name, trial, modality, durations, gt):
    kw = {p: float(ms) for p, ms in durations.items()}
    if name in GO:
        kw.update(ground_truth=int(trial["ground_truth"]), modality=modality)
    elif name in DMS:
        kw.update(ground_truth=str(trial["ground_truth"]), modality=modality,
                  sample_theta=float(trial["sample_theta"]), test_theta=float(trial["test_theta"]))
    else:
        kw.update({k: float(v) for k, v in trial.items()
                   if k.startswith(("theta", "coh"))})
        kw["ground_truth"] = int(gt[-1]) - 1  # neurogym's choice (ties are random)
    return kw


@pytest.mark.parametrize("name", task_names("yang19"))
def test_matches_neurogym(name):
    n_checked = 0
    for trial, modality, durations, ob, gt in _neurogym_trials(name, seed=100):
        tb = make_trial(name, **_params(name, trial, modality, durations, gt))
        obs, lab = tb.trial(0)
        assert obs.shape == ob.shape, (durations, tb.bounds)
        np.testing.assert_allclose(obs[:, 1:], ob[:, 1:], rtol=0, atol=1e-6)
        assert np.array_equal(lab, gt)
        d = int(tb.decision_start[0])
        if name in GO:
            assert np.array_equal(obs[:, 0], ob[:, 0])
        else:
            f = int(tb.period("fixation")[0, 1])
            assert np.array_equal(obs[:f, 0], ob[:f, 0]) and np.array_equal(obs[d:, 0], ob[d:, 0])
            # the documented difference: neurogym turns the cue off after fixation
            assert np.all(obs[f:d, 0] == 1) and np.all(ob[f:d, 0] == 0)
        n_checked += 1
    assert n_checked == N_PER_MODALITY * (2 if name in GO + DMS else 1)
