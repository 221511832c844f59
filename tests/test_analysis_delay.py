"""The delay-period starts of the fixed-point search (refrnn.analysis): which
steps count as delay, and that the search starts from those states only."""
from pathlib import Path

import numpy as np
import pytest

from refrnn.analysis import report, tables
from refrnn.analysis.activity import Network, delay_steps, task_activity
from refrnn.analysis.report import Options, analyze
from refrnn.core.model import RNN, ModelConfig
from refrnn.run.settings import TrainConfig
from refrnn.tasks.registry import get_task, task_names
from refrnn.tasks.trials import N_OBS, TrialBatch


def ragged(trials_obs):
    """A TrialBatch from a list of (T_i, N_OBS) observation arrays."""
    obs = np.concatenate(trials_obs).astype(np.float32)
    lengths = [o.shape[0] for o in trials_obs]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    s = obs.shape[0]
    bounds = np.array([[0, n] for n in lengths], dtype=np.int64)
    return TrialBatch("hand", obs, np.zeros(s, np.int64), np.zeros(s, np.float32),
                      offsets, bounds, ("all",))


def test_delay_steps_by_hand():
    F, S, G = (np.zeros(N_OBS) for _ in range(3))
    F[0] = 1.0
    S[0], S[3] = 1.0, 0.5
    G[5] = 1.0
    a = np.stack([F, S, S, F, F, G])   # delay at 3 and 4, not at 0 (nothing seen yet)
    b = np.stack([F, F, F])            # never a stimulus: no delay
    c = np.stack([S, F])               # a stimulus at 0, then the fixation input
    got = delay_steps(ragged([a, b, c]), 3, 6, F)
    want = np.zeros((6, 3), dtype=bool)
    want[[3, 4], 0] = True
    want[1, 2] = True
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("task", task_names("yang19") + task_names("modcog")[::9])
def test_delay_steps_are_the_tasks_delay_periods(task):
    """Computed from the inputs alone, the delay steps are exactly the steps
    of the periods the task names delay* (none for tasks without one)."""
    tr = get_task(task).generate(6, np.random.default_rng(1))
    n, T = tr.n_trials, int(tr.lengths.max())
    got = delay_steps(tr, n, T, tr.obs[0])
    want = np.zeros((T, n), dtype=bool)
    for name in tr.period_names:
        if name.startswith("delay"):
            for i, (a, b) in enumerate(tr.period(name)):
                want[a:b, i] = True
    np.testing.assert_array_equal(got, want)


def test_search_starts_from_delay_states_only(monkeypatch):
    names = ["go", "dlygo"]
    cfg = ModelConfig(n_in=N_OBS + 2, n_out=17, hidden=6, mask="full", sparsity=1.0,
                      dtype="float64")
    model = RNN(cfg, seed=0)
    trials = {t: get_task(t).generate(8, np.random.default_rng(i)) for i, t in enumerate(names)}
    net = Network(Path("hand-built"), TrainConfig(), model, trials, names, 0, "best")
    calls = []
    real = report.find_fixed_points_many

    def spy(dyns, starts, **kw):
        calls.append([np.array(s) for s in starts])
        return real(dyns, starts, **kw)

    monkeypatch.setattr(report, "find_fixed_points_many", spy)
    res = analyze(net, Options(n_starts=5, pairs=[]))
    assert list(res.fixed) == names and list(res.fixed_delay) == ["dlygo"]  # go has no delay
    assert len(calls) == 2 and len(calls[1]) == 1
    act = task_activity(model, trials["dlygo"], 1, 2)
    held = act.delay_states().astype(np.float64)
    assert res.n_delay_states == {"go": 0, "dlygo": held.shape[0]} and held.shape[0] > 5
    for start in calls[1][0]:  # each start is one of dlygo's delay-period states
        assert np.min(np.abs(held - start).max(axis=1)) == 0.0
    assert res.fixed_delay["dlygo"].n_starts == 5
    row = tables.summary_row(res)
    assert row["delay_tasks"] == 1 and row["delay_fp_per_task"] != ""
