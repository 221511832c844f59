"""Scoring (refrnn.score.evaluation) on hand-made outputs and hand-made trials."""
import numpy as np
import pytest

from cli_helpers import read_eval_csv as read_csv
from refrnn.score.table import results_table, write_results_csv
from refrnn.score.evaluation import MEAN, evaluate, score_outputs, summarize
from refrnn.tasks.trials import N_OBS, TrialBatch


def test_score_outputs_by_hand():
    # 3 trials, T=5: lengths 5, 4, 5; decision starts 3, 2, 3
    labels = np.array([[0, 0, 0], [0, 0, 0], [0, 4, 0], [7, 4, 2], [7, 0, 2]]).astype(np.int64)
    pred = labels.copy()
    pred[4, 2] = 3          # trial 2 wrong at its last step (one decision step wrong)
    pred[0, 1] = 5          # trial 1 breaks fixation before its decision
    pred[4, 1] = 9          # padding of trial 1 (length 4): must be ignored
    ok, hits, steps = score_outputs(pred, labels, np.array([3, 2, 3]), np.array([5, 4, 5]))
    assert ok.tolist() == [True, False, False]
    assert steps == 2 + 2 + 2
    assert hits == 2 + 2 + 1


def test_score_outputs_checks_shapes():
    with pytest.raises(ValueError, match="decision_start"):
        score_outputs(np.zeros((4, 2)), np.zeros((4, 2)), np.array([1]), np.array([4, 4]))
    with pytest.raises(ValueError, match="lengths"):
        score_outputs(np.zeros((4, 2)), np.zeros((4, 2)), np.array([1, 1]), np.array([5, 4]))


def _trials(n, label_of):
    """n trials of length 4 (fixation 2, decision 2) with labels label_of(i)."""
    L = 4
    obs = np.zeros((n * L, N_OBS), np.float32)
    labels = np.zeros(n * L, np.int64)
    for i in range(n):
        labels[i * L + 2:i * L + 4] = label_of(i)
        obs[i * L + 2:i * L + 4, 1] = label_of(i)  # the answer, readable from the input
    return TrialBatch("t", obs, labels, np.zeros(n * L, np.uint8),
                      np.arange(n + 1, dtype=np.int64) * L,
                      np.tile(np.array([0, 2, 4]), (n, 1)), ("fixation", "decision"))


class _Oracle:
    """A stand-in model: outputs the class written in input unit 1; a flag adds errors."""

    backend = None

    def __init__(self, n_in, wrong_task_unit=None):
        self.n_in, self.wrong = n_in, wrong_task_unit

    def forward(self, x, rng=None):
        x = np.asarray(x)
        T, B, _ = x.shape
        y = np.zeros((T, B, 17))
        cls = np.rint(x[..., 1]).astype(int)
        y[np.arange(T)[:, None], np.arange(B)[None, :], cls] = 1.0
        if self.wrong is not None:  # on that task, answer class 1 at every step
            on = x[..., N_OBS + self.wrong] > 0
            y[on] = 0
            y[on, 1] = 1
        return y, None


def test_evaluate_per_task_and_mean():
    trials = {"a": _trials(5, lambda i: 3 + i), "b": _trials(3, lambda i: 2)}
    names = ["a", "b"]
    perfect = evaluate(_Oracle(N_OBS + 2), trials, names, batch_size=2)
    assert perfect["a"] == {"perf": 1.0, "decision_acc": 1.0, "n": 5, "perf_refrnn": 1.0,
                            "perf_yang2019": 1.0, "perf_neurogym": 1.0}
    assert perfect[MEAN]["perf"] == 1.0 and perfect[MEAN]["n"] == 8
    broken = evaluate(_Oracle(N_OBS + 2, wrong_task_unit=1), trials, names, batch_size=2)
    assert broken["a"]["perf"] == 1.0
    assert broken["b"]["perf"] == 0.0 and broken["b"]["decision_acc"] == 0.0
    assert broken[MEAN]["perf"] == pytest.approx(0.5)


def test_evaluate_noise_needs_rng():
    with pytest.raises(ValueError, match="rng"):
        evaluate(_Oracle(N_OBS + 1), {"a": _trials(2, lambda i: 1)}, ["a"], noise=True)


def test_table_and_csv_round_trip(tmp_path):
    res = {"go": {"perf": 0.5, "decision_acc": 0.25, "n": 4},
           "anti": {"perf": 1.0, "decision_acc": 0.75, "n": 4}}
    res[MEAN] = summarize(res)
    assert res[MEAN]["perf"] == pytest.approx(0.75) and res[MEAN]["n"] == 8
    text = results_table(res)
    assert text.splitlines()[-1].split()[:3] == ["mean", "0.750", "0.500"]
    path = write_results_csv(res, tmp_path / "eval.csv")
    assert read_csv(path) == res
    assert not [p for p in tmp_path.iterdir() if p.name != "eval.csv"]
