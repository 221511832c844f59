"""The three scoring rules (refrnn.score.rules, docs/tasks.md) on hand-made outputs.

Each case is one trial of T = 6 steps: fixation at steps 0-2 (label 0), decision
at steps 3-5 (label 5 = ring unit 4, 90 degrees), unless it says otherwise.
Outputs are strong one-hot logits of a hand-written argmax sequence, so the
softmax puts about 0.99 on the chosen class.
"""
import numpy as np
import pytest
from click.testing import CliRunner

from refrnn.score.evaluation import MEAN, evaluate, score_outputs
from refrnn.score.rules import SCORES, neurogym_correct, popvec, yang2019_correct
from refrnn_cli.main import cli

T, DS, L = 6, 3, 5
LABELS = np.array([0, 0, 0, L, L, L])


def logits(pred):
    """(T, B, 17) logits whose softmax puts ~0.99 on pred[t, b]."""
    pred = np.asarray(pred)
    y = np.zeros(pred.shape + (17,))
    np.put_along_axis(y, pred[..., None], 10.0, axis=-1)
    return y


def score(pred, labels=LABELS, ds=DS, lengths=None):
    """{rule: bool} for one trial (or (B,) arrays for a batch)."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    if pred.ndim == 1:
        pred, labels = pred[:, None], labels[:, None]
    B = pred.shape[1]
    ln = np.full(B, pred.shape[0]) if lengths is None else np.asarray(lengths)
    dsv = np.full(B, ds) if np.isscalar(ds) else np.asarray(ds)
    y = logits(pred)
    out = {"refrnn": score_outputs(pred, labels, dsv, ln)[0],
           "yang2019": yang2019_correct(y, labels, ln),
           "neurogym": neurogym_correct(y, labels, ln)}
    return {k: (bool(v[0]) if B == 1 else v.tolist()) for k, v in out.items()}


def test_perfect():
    assert score(LABELS) == {"refrnn": True, "yang2019": True, "neurogym": True}


def test_breaks_fixation():
    pred = LABELS.copy()
    pred[1] = 7  # responds during fixation, then answers right
    assert score(pred) == {"refrnn": False, "yang2019": True, "neurogym": True}


def test_neighbouring_class_at_the_end():
    pred = LABELS.copy()
    pred[-1] = L + 1  # 22.5 degrees off: inside Yang's 36-degree tolerance
    assert score(pred) == {"refrnn": False, "yang2019": True, "neurogym": False}
    pred[-1] = L + 2  # 45 degrees off: outside it
    assert score(pred) == {"refrnn": False, "yang2019": False, "neurogym": False}
    # the ring wraps: label 16 (337.5 degrees) against class 1 (0 degrees)
    assert score([0, 0, 0, 16, 16, 1], [0, 0, 0, 16, 16, 16])["yang2019"] is True


def test_correct_only_at_the_last_step():
    pred = np.array([0, 0, 0, 9, 9, L])  # wrong decision steps, right last step
    assert score(pred) == {"refrnn": True, "yang2019": True, "neurogym": True}
    pred = np.array([9, 9, 9, 9, 9, L])  # wrong everywhere else, fixation included
    assert score(pred) == {"refrnn": False, "yang2019": True, "neurogym": True}
    pred = np.array([0, 0, 0, L, L, 0])  # right until the last step, which fixates
    assert score(pred) == {"refrnn": False, "yang2019": False, "neurogym": False}


def test_no_response_trial():
    nogo = np.zeros(T, int)
    assert score(nogo, nogo) == {"refrnn": True, "yang2019": True, "neurogym": True}
    pred = nogo.copy()
    pred[-1] = 3
    assert score(pred, nogo) == {"refrnn": False, "yang2019": False, "neurogym": False}


def test_yang_fixation_threshold_uses_the_softmax():
    """Fixation output 0.6 (> 0.5) and the right ring class 0.4: Yang counts the
    trial as still fixating, hence wrong; a 0.4 / 0.6 split is a response."""
    lab = LABELS[:, None]
    for p0, want in ((0.6, False), (0.4, True)):
        y = np.full((T, 1, 17), -50.0)
        y[-1, 0, 0], y[-1, 0, L] = np.log(p0), np.log(1 - p0)
        assert bool(yang2019_correct(y, lab, [T])[0]) is want


def test_padded_batch_scores_each_trial_at_its_own_end():
    # trial 0: length 6, perfect; trial 1: length 4 (decision 2-3), neighbour at
    # its end; trial 2: length 5, breaks fixation. Padding holds garbage (class 9).
    labels = np.array([[0, 0, 0], [0, 0, 0], [0, L, 0], [L, L, 2], [L, 9, 2], [L, 9, 9]])
    pred = labels.copy()
    pred[3, 1] = L + 1
    pred[0, 2] = 4
    got = score(pred, labels, ds=[3, 2, 3], lengths=[6, 4, 5])
    assert got == {"refrnn": [True, False, False], "yang2019": [True, True, True],
                   "neurogym": [True, False, True]}
    # each column alone, unpadded, gives the same answer
    for b, n in enumerate([6, 4, 5]):
        one = score(pred[:n, b], labels[:n, b], ds=[3, 2, 3][b])
        assert one == {k: v[b] for k, v in got.items()}


def test_popvec_reads_the_ring_angle():
    p = np.zeros((2, 16))
    p[0, 4] = 1.0                  # unit 4: 90 degrees
    p[1, 15], p[1, 1] = 0.5, 0.5   # units 15 and 1 straddle 0 degrees
    got = popvec(p)
    assert got[0] == pytest.approx(np.pi / 2)
    assert min(got[1], 2 * np.pi - got[1]) == pytest.approx(0.0, abs=1e-12)


class _Fixed:
    """A stand-in model that always outputs the same logits (T, B, 17)."""

    backend = None

    def __init__(self, answer):
        self.answer = answer

    def forward(self, x, rng=None):
        T, B, _ = np.asarray(x).shape
        pred = np.zeros((T, B), int)
        pred[2:] = self.answer
        return logits(pred), None


def test_evaluate_reports_every_rule_and_score_picks_perf():
    from tests.test_metrics import _trials  # 4-step trials: fixation 2, decision 2
    trials = {"a": _trials(4, lambda i: 3)}
    res = {s: evaluate(_Fixed(4), trials, ["a"], score=s) for s in SCORES}  # neighbour of 3
    for s in SCORES:
        assert res[s]["a"]["perf"] == res[s]["a"][f"perf_{s}"]
        assert res[s][MEAN][f"perf_{s}"] == res[s]["a"][f"perf_{s}"]
    assert [res["refrnn"]["a"][f"perf_{s}"] for s in SCORES] == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="score must be one of"):
        evaluate(_Fixed(4), trials, ["a"], score="strict")


def test_cli_eval_score_and_metrics_columns(tmp_path):
    from refrnn.data.cache import build_cache
    cache = build_cache("yang19", 8, 0, eval_trials=3, path=tmp_path / "c.h5")
    out = tmp_path / "run"
    args = ["train", "--hidden", "16", "--sparsity", "0.25", "--batch-size", "4",
            "--seq-len", "40", "--steps", "2", "--eval-every", "2", "--trials-per-task", "8",
            "--eval-trials", "3", "--cache-path", str(cache), "--out", str(out), "-q"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["step", "loss", "mean_perf", "mean_decision_acc",
                          "mean_perf_yang2019", "mean_perf_neurogym"]
    for s in ("yang2019", "neurogym"):
        r = CliRunner().invoke(cli, ["eval", str(out), "--checkpoint", "last", "--score", s])
        assert r.exit_code == 0, r.output
        assert f"score: {s}" in r.output and (out / f"eval_last_{s}.csv").is_file()
    r = CliRunner().invoke(cli, ["eval", str(out), "--score", "strict"])
    assert r.exit_code == 2 and "--score" in r.output


class _Linear:
    """A stand-in model whose logits are x_t @ R: each step's answer depends on its input only."""

    backend = None

    def __init__(self, R):
        self.R = R

    def forward(self, x, rng=None):
        return np.asarray(x, dtype=np.float64) @ self.R, None


def test_evaluate_neurogym_perf_is_argmax_at_each_trials_last_step():
    """evaluate's neurogym column (refrnn.score.rules.neurogym_correct) on ragged
    trials, batched with padding, against the rule written out trial by trial."""
    from refrnn.tasks.trials import N_OBS, TrialBatch

    rng = np.random.default_rng(7)
    lengths = rng.integers(2, 9, 23)
    off = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    S = int(off[-1])
    obs = rng.standard_normal((S, N_OBS)).astype(np.float32)
    labels = rng.integers(0, 17, S)
    bounds = np.stack([np.zeros(23, np.int64), lengths // 2, lengths], 1)
    tb = TrialBatch("t", obs, labels, np.zeros(S, np.uint8), off, bounds,
                    ("fixation", "decision"))
    R = rng.standard_normal((N_OBS + 1, 17))
    want = np.mean([np.argmax(np.append(obs[off[i + 1] - 1], 1.0) @ R) == labels[off[i + 1] - 1]
                    for i in range(23)])
    assert 0 < want < 1  # the case separates right from wrong
    for batch_size in (1, 5, 23):
        res = evaluate(_Linear(R), {"t": tb}, ["t"], batch_size=batch_size, score="neurogym")
        assert res["t"]["perf_neurogym"] == want and res["t"]["perf"] == want
