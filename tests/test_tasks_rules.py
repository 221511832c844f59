"""Every modcog task against the rules of docs/tasks.md, written out here
independently of the generators (timings, fixation, labels, stimuli, noise codes)."""
import numpy as np
import pytest

from refrnn.tasks import get_task, task_names
from refrnn.tasks.trials import NOISE_ALL, NOISE_MOD1, NOISE_NONE

N = 48
INT = set(range(0, 1200, 100))
DM_STIM = {"fixation": {200, 300, 400}}
WEIGHTS = {"dm1": (1, 0), "dlydm1": (1, 0), "dm2": (0, 1), "dlydm2": (0, 1),
           "ctxdm1": (1, 0), "ctxdlydm1": (1, 0), "ctxdm2": (0, 1), "ctxdlydm2": (0, 1),
           "multidm": (1, 1), "multidlydm": (1, 1)}
SHOWN = {"dm1": (1, 0), "dlydm1": (1, 0), "dm2": (0, 1), "dlydm2": (0, 1)}


def split_name(name):
    integrate = 1 if "intr" in name else -1 if "intl" in name else 0
    seq = 1 if name.endswith("seqr") else -1 if name.endswith("seql") else 0
    base = name.replace("intr", "").replace("intl", "").replace("seqr", "").replace("seql", "")
    return base, integrate, seq


def expected_periods(name):
    """dict period -> set of allowed ms (None: one value per task, checked elsewhere)."""
    base, integrate, seq = split_name(name)
    dec = 1000 if seq else None
    if base in ("rtgo", "rtanti"):
        return {"fixation": {500}, "decision": {500}}
    if base in ("go", "anti", "dlygo", "dlyanti"):
        delay = INT if integrate else {500} if base.startswith("dly") else {0}
        return {"fixation": {500}, "stimulus": {500}, "delay": delay, "decision": {dec or 500}}
    if base in ("dms", "dnms", "dmc", "dnmc"):
        delay = INT if integrate else None
        return {"fixation": {300}, "sample": {500}, "delay": delay, "test": {500},
                "decision": {dec or 900}}
    if "dly" in base:
        return {**DM_STIM, "stim1": {500}, "delay": {500}, "stim2": {500},
                "decision": {dec or 200}}
    return {**DM_STIM, "stimulus": {500}, "decision": {dec or 200}}


def ref_bump(angle):
    d = np.abs((np.asarray(angle)[..., None] - 2 * np.pi * np.arange(16) / 16 + np.pi)
               % (2 * np.pi) - np.pi) / (np.pi / 8)
    return 0.8 * np.exp(-d ** 2 / 2)


def stim_periods(name):
    base = split_name(name)[0]
    if base in ("rtgo", "rtanti"):
        return ("decision",)
    if base in ("go", "anti", "dlygo", "dlyanti"):
        return ("stimulus",)
    if base in ("dms", "dnms", "dmc", "dnmc"):
        return ("sample", "test")
    return ("stim1", "stim2") if "dly" in base else ("stimulus",)


@pytest.fixture(scope="module")
def batches():
    out = {}
    for i, name in enumerate(task_names("modcog")):
        out[name] = get_task(name).generate(N, np.random.default_rng(1000 + i))
    return out


@pytest.mark.parametrize("name", task_names("modcog"))
def test_task_rules(name, batches):
    tb = batches[name]
    base, integrate, seq = split_name(name)
    # shapes and ranges
    assert tb.obs.dtype == np.float32 and tb.obs.shape[1] == 33
    assert tb.labels.dtype == np.int64 and tb.noise.dtype == np.uint8
    assert tb.offsets.shape == (N + 1,) and tb.obs.shape[0] == tb.offsets[-1]
    assert tb.labels.min() >= 0 and tb.labels.max() <= 16
    assert tb.period_names[-1] == "decision"
    assert np.array_equal(tb.bounds[:, -1], tb.lengths) and np.all(tb.bounds[:, 0] == 0)
    # period durations from the specified sets
    spec = expected_periods(name)
    assert tuple(spec) == tb.period_names
    dur = np.diff(tb.bounds, axis=1) * 100
    for j, p in enumerate(tb.period_names):
        if spec[p] is None:  # per-instance delay: one value in [200, 1200)
            assert len(set(dur[:, j])) == 1 and 200 <= dur[0, j] < 1200
        else:
            assert set(dur[:, j]) <= spec[p], (p, set(dur[:, j]))
    stim_names = stim_periods(name)
    for i in range(N):
        obs, lab = tb.trial(i)
        b = tb.bounds[i]
        d0 = b[-2]
        # fixation cue: 1 before the decision period, 0 in it
        assert np.all(obs[:d0, 0] == 1) and np.all(obs[d0:, 0] == 0)
        # labels zero outside the decision period
        assert np.all(lab[:d0] == 0)
        dec = lab[d0:]
        pr = {p: (b[j], b[j + 1]) for j, p in enumerate(tb.period_names)}
        # ring inputs only in stimulus periods
        ring = obs[:, 1:]
        mask = np.zeros(len(lab), bool)
        for p in stim_names:
            mask[pr[p][0]:pr[p][1]] = True
        assert np.all(ring[~mask] == 0)
        # noise codes
        code = tb.noise[tb.offsets[i]:tb.offsets[i + 1]]
        if tb.params.get("modality") is not None and base in ("dms", "dnms", "dmc", "dnmc"):
            want = NOISE_MOD1 + tb.params["modality"][i]
        elif base.startswith(("go", "anti", "rt", "dlygo", "dlyanti")):
            want = NOISE_NONE
        else:
            want = NOISE_ALL
        assert np.all(code[mask] == want) and np.all(code[~mask] == NOISE_NONE)
        # no-go trials are all zero; responding trials move one unit per step
        if np.all(dec == 0):
            assert base in ("dms", "dnms", "dmc", "dnmc")
            match = tb.params["ground_truth"][i] == 1
            assert match != (base in ("dms", "dmc"))
            continue
        assert np.all(dec >= 1)
        steps = np.diff(dec - 1) % 16
        assert np.all(steps == seq % 16), dec


def check_target(name, tb, i):
    """Independently derived target ring index of trial i (None for no-go)."""
    base, integrate, seq = split_name(name)
    p = {k: v[i] for k, v in tb.params.items()}
    delay = p.get("delay", 0)
    if base in ("go", "anti", "dlygo", "dlyanti", "rtgo", "rtanti"):
        g = int(p["ground_truth"])
        obs, _ = tb.trial(i)
        s = tb.bounds[i, 1]  # first stimulus step (rt: decision start)
        m = int(p["modality"])
        loc = 2 * np.pi * g / 16 + (np.pi if "anti" in base else 0) + integrate * 0.01 * delay
        np.testing.assert_allclose(obs[s, 1 + 16 * m:17 + 16 * m], ref_bump(loc), atol=1e-6)
        assert np.all(obs[s, 17 - 16 * m:33 - 16 * m] == 0)
        return g  # the interval rule rotates the stimulus, not the label
    if base in ("dms", "dnms", "dmc", "dnmc"):
        i_s = int(round(p["sample_theta"] / (np.pi / 8))) % 16
        i_t = int(round(p["test_theta"] / (np.pi / 8))) % 16
        match = p["ground_truth"] == 1
        if base in ("dmc", "dnmc"):
            assert ((i_s > 8) == (i_t >= 8)) == match
        else:
            assert i_t == (i_s if match else (i_s + 8) % 16)
        if match != (base in ("dms", "dmc")):
            return None
        return (i_t + integrate * int(0.01 * delay)) % 16
    w1, w2 = WEIGHTS[base]
    s1 = w1 * p["coh1_mod1"] + w2 * p["coh1_mod2"]
    s2 = w1 * p["coh2_mod1"] + w2 * p["coh2_mod2"]
    i1 = int(round(p["theta1"] / (np.pi / 8))) % 16
    i2 = int(round(p["theta2"] / (np.pi / 8))) % 16
    assert i1 != i2
    shown = SHOWN.get(base, (1, 1))
    for m in (1, 2):
        c1, c2 = p[f"coh1_mod{m}"], p[f"coh2_mod{m}"]
        if not shown[m - 1]:
            assert c1 == 0 and c2 == 0
        elif "dly" in base:
            assert c1 != c2 and {c1, c2} <= {0.3, 0.6, 1.0}
        else:
            assert np.isclose(c1 + c2, 1) and np.round(abs(c1 - c2), 6) in (0.08, 0.16, 0.32, 0.64)
    if abs(s1 - s2) > 1e-9:
        assert p["ground_truth"] == (i1 if s1 > s2 else i2)
    else:
        assert p["ground_truth"] in (i1, i2)
    if integrate:
        assert delay == 500
    return (int(p["ground_truth"]) + integrate * 5) % 16


@pytest.mark.parametrize("name", task_names("modcog"))
def test_task_targets(name, batches):
    """Decision label at onset = target + 1; go stimuli, DM strengths, DMS rule."""
    tb = batches[name]
    for i in range(N):
        tgt = check_target(name, tb, i)
        first = tb.labels[tb.offsets[i] + tb.bounds[i, -2]]
        assert first == (0 if tgt is None else tgt + 1)


@pytest.mark.parametrize("name", ["dm1", "ctxdm2", "multidm", "dlydm2", "ctxdlydm1",
                                  "multidlydmintr"])
def test_dm_stimuli(name, batches):
    tb = batches[name]
    for i in range(N):
        obs, _ = tb.trial(i)
        p = {k: v[i] for k, v in tb.params.items()}
        b1, b2 = ref_bump(p["theta1"]), ref_bump(p["theta2"])
        for m in (1, 2):
            ring = obs[:, 1 + 16 * (m - 1):1 + 16 * m]
            c1, c2 = p[f"coh1_mod{m}"], p[f"coh2_mod{m}"]
            if "dly" in name:
                np.testing.assert_allclose(ring[tb.bounds[i, 1]], b1 * c1, atol=1e-6)
                np.testing.assert_allclose(ring[tb.bounds[i, 3]], b2 * c2, atol=1e-6)
            else:
                np.testing.assert_allclose(ring[tb.bounds[i, 1]], b1 * c1 + b2 * c2, atol=1e-6)


def test_random_sets_fully_used():
    """Random durations and DM strengths cover their whole sets."""
    rng = np.random.default_rng(5)
    tb = get_task("dm2").generate(600, rng)
    assert set(np.diff(tb.bounds, axis=1)[:, 0] * 100) == {200, 300, 400}
    for name in ("dlygointr", "dnmsintl"):
        tb = get_task(name).generate(600, rng)
        assert set(np.diff(tb.bounds, axis=1)[:, 2] * 100) == INT
    p = get_task("ctxdm1").sample(600, rng)
    assert set(np.round(np.abs(p["coh1_mod1"] - p["coh2_mod1"]), 6)) == {0.08, 0.16, 0.32, 0.64}
    p = get_task("dlydm1").sample(600, rng)
    assert set(p["coh1_mod1"]) == {0.3, 0.6, 1.0}
    p = get_task("dms").sample(600, rng)
    assert abs(p["ground_truth"].mean() - 0.5) < 0.1
    assert np.all(np.diff(p["modality"]) != 0)  # modalities alternate
