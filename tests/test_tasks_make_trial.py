"""make_trial: hand-computed trials, round trips from sampled parameters, bad input."""
import numpy as np
import pytest

from refrnn.tasks import get_task, make_trial, task_names

E05 = np.exp(-0.5)  # bump one unit away: 0.8 * exp(-1/2)
E2 = np.exp(-2.0)  # two units away


def test_dlyanti_by_hand():
    # target index 4 (90 deg), anti: stimulus at index 12, modality 2 (units 17..32)
    tb = make_trial("dlyanti", ground_truth=4, modality=1)
    obs, lab = tb.trial(0)
    assert obs.shape == (20, 33)
    assert tb.period_names == ("fixation", "stimulus", "delay", "decision")
    assert tb.bounds.tolist() == [[0, 5, 10, 15, 20]]
    assert obs[:15, 0].tolist() == [1] * 15 and obs[15:, 0].tolist() == [0] * 5
    ring = obs[5, 17:33]
    assert ring[12] == pytest.approx(0.8)
    assert ring[11] == pytest.approx(0.8 * E05) and ring[13] == pytest.approx(0.8 * E05)
    assert ring[10] == pytest.approx(0.8 * E2) and ring[4] == pytest.approx(0.8 * np.exp(-32))
    assert np.all(obs[5:10, 1:17] == 0) and np.all(obs[:5, 1:] == 0) and np.all(obs[10:, 1:] == 0)
    assert lab.tolist() == [0] * 15 + [5] * 5
    assert tb.noise.tolist() == [0] * 20


def test_interval_go_by_hand():
    # dlygointr, delay 300 ms: stimulus at theta_g + 0.01 * 300 = 3 rad; label stays g + 1
    tb = make_trial("dlygointr", ground_truth=0, modality=0, delay=300)
    obs, lab = tb.trial(0)
    assert obs.shape == (18, 33)
    d = np.abs(np.angle(np.exp(1j * (3.0 - 2 * np.pi * np.arange(16) / 16)))) / (np.pi / 8)
    np.testing.assert_allclose(obs[5, 1:17], 0.8 * np.exp(-d ** 2 / 2), atol=1e-7)
    assert lab[13:].tolist() == [1] * 5


def test_dm_by_hand():
    # dm1: theta1 = 0 (index 0) with 0.5 + 0.16/2, theta2 = pi (index 8) with 0.5 - 0.16/2
    tb = make_trial("dm1", theta1=0.0, theta2=np.pi, coh1_mod1=0.58, coh2_mod1=0.42, fixation=300)
    obs, lab = tb.trial(0)
    assert tb.bounds.tolist() == [[0, 3, 8, 10]]
    assert obs[3, 1] == pytest.approx(0.8 * 0.58 + 0.8 * np.exp(-32) * 0.42)
    assert obs[3, 9] == pytest.approx(0.8 * 0.42 + 0.8 * np.exp(-32) * 0.58)
    assert obs[3, 2] == pytest.approx(0.8 * E05 * 0.58, rel=1e-6)
    assert np.all(obs[:, 17:] == 0) and np.all(obs[:3, 1:] == 0) and np.all(obs[8:] == 0)
    assert obs[:8, 0].tolist() == [1] * 8
    assert lab.tolist() == [0] * 8 + [1, 1]
    assert tb.noise.tolist() == [0] * 3 + [1] * 5 + [0] * 2
    assert tb.params["ground_truth"].tolist() == [0]


def test_ctx_dm_weights_and_interval_shift():
    # ctxdlydm2intl: modality 2 decides (theta2 stronger there), target 6 shifted by -5 -> 1
    kw = dict(theta1=np.pi / 2, theta2=3 * np.pi / 4, coh1_mod1=1.0, coh2_mod1=0.3,
              coh1_mod2=0.3, coh2_mod2=0.6, fixation=200)
    tb = make_trial("ctxdlydm2intl", **kw)
    assert tb.params["ground_truth"].tolist() == [6]
    obs, lab = tb.trial(0)
    assert lab[-2:].tolist() == [2, 2]  # (6 - 5) + 1
    assert obs[2, 5] == pytest.approx(0.8 * 1.0) and obs[2, 17 + 4] == pytest.approx(0.8 * 0.3)
    assert obs[12, 7] == pytest.approx(0.8 * 0.3) and obs[12, 17 + 6] == pytest.approx(0.8 * 0.6)
    # the same stimuli under ctxdlydm1 pick theta1
    assert make_trial("ctxdlydm1", **kw).params["ground_truth"].tolist() == [4]


def test_multidm_tie_needs_ground_truth():
    kw = dict(theta1=0.0, theta2=np.pi, coh1_mod1=0.54, coh2_mod1=0.46,
              coh1_mod2=0.46, coh2_mod2=0.54, fixation=400)
    with pytest.raises(ValueError, match="tie"):
        make_trial("multidm", **kw)
    assert make_trial("multidm", ground_truth=8, **kw).labels[-1] == 9
    with pytest.raises(ValueError, match="ground_truth"):
        make_trial("multidm", ground_truth=3, **kw)
    with pytest.raises(ValueError, match="contradicts"):
        make_trial("dm1", theta1=0.0, theta2=np.pi, coh1_mod1=0.54, coh2_mod1=0.46,
                   fixation=200, ground_truth=8)


def test_dms_by_hand():
    # dnms, non-match: sample index 2, test index 10, modality 1, delay 700 ms
    tb = make_trial("dnms", ground_truth="non-match", sample_theta=np.pi / 4,
                    test_theta=5 * np.pi / 4, modality=0, delay=700)
    obs, lab = tb.trial(0)
    assert tb.bounds.tolist() == [[0, 3, 8, 15, 20, 29]]
    assert obs[3, 3] == pytest.approx(0.8) and obs[15, 11] == pytest.approx(0.8)
    assert np.all(obs[:, 17:] == 0) and np.all(obs[8:15, 1:] == 0)
    assert lab.tolist() == [0] * 20 + [11] * 9
    assert tb.noise.tolist() == [0] * 3 + [2] * 5 + [0] * 7 + [2] * 5 + [0] * 9
    nogo = make_trial("dms", ground_truth=0, sample_theta=np.pi / 4, test_theta=5 * np.pi / 4,
                      modality=1, delay=700)
    assert nogo.labels.tolist() == [0] * 29 and nogo.noise.max() == 3
    # dmc: sample 9 is category 1, test 8 is category 1 -> match; intr shifts by 4
    tb = make_trial("dmcintrseqr", ground_truth="match", sample_theta=9 * np.pi / 8,
                    test_theta=np.pi, modality=1, delay=400)
    d = tb.decision_start[0]
    assert tb.labels[d:].tolist() == [(12 + t) % 16 + 1 for t in range(10)]


@pytest.mark.parametrize("name", task_names("modcog")[::5])
def test_round_trip_from_sampled_params(name):
    t = get_task(name)
    tb = t.generate(6, np.random.default_rng(11))
    for i in range(6):
        one = make_trial(name, **{k: v[i] for k, v in tb.params.items()})
        obs, lab = tb.trial(i)
        assert np.array_equal(one.obs, obs) and np.array_equal(one.labels, lab)
        assert np.array_equal(one.bounds[0], tb.bounds[i])


@pytest.mark.parametrize("name, kw, match", [
    ("go", dict(ground_truth=16, modality=0), "ground_truth"),
    ("go", dict(ground_truth=3, modality=2), "modality"),
    ("go", dict(ground_truth=3, modality=0, anti=1), "anti"),
    ("go", dict(ground_truth=3, modality=0, seq=1), "seq"),
    ("go", dict(ground_truth=3, modality=0, theta1=0.0), "unknown"),
    ("go", dict(ground_truth=3, modality=0, decision=0), "decision"),
    ("go", dict(ground_truth=3, modality=0, fixation=-100), "fixation"),
    ("go", dict(ground_truth=3, modality=0, stimulus="long"), "stimulus"),
    ("dlygointl", dict(ground_truth=3, modality=0), "delay"),
    ("dm1", dict(theta1=0.0, theta2=np.pi, coh1_mod1=0.5, coh2_mod1=0.4), "fixation"),
    ("dm1", dict(theta1=0.1, theta2=np.pi, coh1_mod1=0.5, coh2_mod1=0.4, fixation=200), "theta1"),
    ("dm1", dict(theta1=0.0, theta2=0.0, coh1_mod1=0.5, coh2_mod1=0.4, fixation=200), "differ"),
    ("dm1", dict(theta1=0.0, theta2=np.pi, coh1_mod1=0.5, coh2_mod1=0.4, coh1_mod2=0.2,
                 fixation=200), "coh1_mod2"),
    ("dms", dict(ground_truth="same", sample_theta=0.0, test_theta=0.0, modality=0), "match"),
    ("dms", dict(ground_truth=1, sample_theta=0.0, test_theta=np.pi, modality=0), "rule"),
    ("dmc", dict(ground_truth=1, sample_theta=np.pi, test_theta=np.pi, modality=0), "rule"),
])
def test_make_trial_rejects_bad_input(name, kw, match):
    with pytest.raises(ValueError, match=match):
        make_trial(name, **kw)
