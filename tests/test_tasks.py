"""Task registry, seeding, input-noise rule, compat switch and dt handling."""
import numpy as np
import pytest

from refrnn.backends.backend import get_backend
from refrnn.data.stream import gather_noisy_obs
from refrnn.tasks import TASK_SETS, get_task, parse_name, task_info, task_names


def _served(tb, std, seed):
    """tb's observations as the data layer serves them: with fresh input noise."""
    rows = np.arange(tb.obs.shape[0])
    return gather_noisy_obs(get_backend("cpu"), tb.obs, rows, tb.noise, std,
                            np.random.default_rng(seed))

BASE = ("go rtgo dlygo anti rtanti dlyanti dm1 dm2 ctxdm1 ctxdm2 multidm dlydm1 dlydm2 "
        "ctxdlydm1 ctxdlydm2 multidlydm dms dnms dmc dnmc").split()
DELAY = "dlygo dlyanti dlydm1 dlydm2 ctxdlydm1 ctxdlydm2 multidlydm dms dnms dmc dnmc".split()


def test_counts_and_order():
    assert task_names("yang19") == BASE
    m82, mc = task_names("modcog82"), task_names("modcog")
    assert len(m82) == len(set(m82)) == 82
    assert len(mc) == len(set(mc)) == 126
    assert mc[:82] == m82 and m82[:20] == BASE
    # 20 base + 22 int + 40 seq + 44 int-and-seq
    assert sum(("int" in n) and ("seq" in n) for n in mc) == 44
    assert sum(("int" in n) and ("seq" not in n) for n in mc) == 22
    assert sum(("seq" in n) and ("int" not in n) for n in mc) == 40
    assert m82[20:22] == ["dlygointr", "dlygointl"] and m82[42] == "goseqr"
    assert m82[62] == "goseql" and "dmsintlseqr" in mc
    assert set(TASK_SETS) == {"yang19", "modcog", "modcog82"}
    # names parse back to (base, integrate, seq)
    assert parse_name("dmsintlseqr") == ("dms", -1, 1)
    assert parse_name("rtantiseql") == ("rtanti", 0, -1)
    assert all(parse_name(n)[0] in DELAY for n in mc if "int" in n)


def test_task_names_is_a_copy():
    names = task_names("yang19")
    names.append("x")
    assert len(task_names("yang19")) == 20


@pytest.mark.parametrize("bad, hint", [("dlygoo", "dlygo"), ("dmsintlseqx", "dmsintlseqr"),
                                       ("rtgointr", "rtgo")])
def test_unknown_task_lists_close_matches(bad, hint):
    with pytest.raises(ValueError, match=hint):
        get_task(bad)


def test_unknown_task_set_and_bad_settings():
    with pytest.raises(ValueError, match="modcog"):
        task_names("modcog83")
    with pytest.raises(ValueError, match="compat"):
        get_task("go", compat="modcog-2022")
    for dt in (0, -10, 2.5, "a", True):
        with pytest.raises(ValueError, match="dt"):
            get_task("go", dt=dt)
    t = get_task("go")
    with pytest.raises(ValueError, match="n must"):
        t.sample(-1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        t.sample(3, 0)
    with pytest.raises(ValueError, match="lack"):
        t.render({"ground_truth": np.zeros(2, int)})


@pytest.mark.parametrize("name", ["go", "dlyantiintr", "multidm", "dlydm1seqr", "dnmcintlseql"])
def test_same_seed_same_trials(name):
    t = get_task(name)
    a = t.generate(40, np.random.default_rng(7))
    b = t.generate(40, np.random.default_rng(7))
    c = t.generate(40, np.random.default_rng(8))
    assert np.array_equal(a.obs, b.obs) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.noise, b.noise)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not (a.obs.shape == c.obs.shape and np.array_equal(a.obs, c.obs))


def test_generation_uses_no_global_rng():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    get_task("dmsintr").generate(10, np.random.default_rng(0))
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("name, periods, units", [
    ("ctxdlydm1", ("stim1", "stim2"), "all"),
    ("dm2seqr", ("stimulus",), "all"),
    ("dmcintr", ("sample", "test"), "modality"),
    ("dnms", ("sample", "test"), "modality"),
    ("dlyantiintl", (), None),
    ("rtgo", (), None),
])
def test_noise_rule(name, periods, units):
    """Which units and periods get input noise, and its measured std (0.1 at dt=100)."""
    t = get_task(name)
    tb = t.generate(400, np.random.default_rng(3))
    assert t.noise_std == pytest.approx(0.1)
    noisy = _served(tb, t.noise_std, 4)
    diff = noisy - tb.obs
    want = np.zeros(tb.obs.shape, bool)
    for i in range(tb.n_trials):
        a = tb.offsets[i]
        for p in periods:
            s, e = tb.period(p)[i]
            if units == "all":
                want[a + s:a + e, :] = True
            else:
                m = tb.params["modality"][i]
                want[a + s:a + e, 1 + 16 * m:17 + 16 * m] = True
    assert np.array_equal(diff != 0, want)
    if periods:
        assert abs(diff[want].std() / 0.1 - 1) < 0.03
        assert abs(diff[want].mean()) < 0.005
    # fresh noise each time a trial is served
    again = _served(tb, t.noise_std, 5)
    assert not periods or not np.array_equal(again, noisy)


def test_noise_std_follows_dt():
    assert get_task("dm1", dt=20).noise_std == pytest.approx(1 / np.sqrt(20))


def test_compat_go_anti_delay():
    rng = np.random.default_rng(0)
    for name in ("go", "anti", "goseqr"):
        ref = get_task(name).generate(5, rng)
        old = get_task(name, compat="modcog-2023").generate(5, rng)
        assert np.all(np.diff(ref.period("delay"), axis=1) == 0)
        assert np.all(np.diff(old.period("delay"), axis=1) == 5)
    for name in ("dlygo", "rtgo", "dm1", "dms"):  # no change
        a = get_task(name).generate(5, np.random.default_rng(1))
        b = get_task(name, compat="modcog-2023").generate(5, np.random.default_rng(1))
        assert np.array_equal(a.obs, b.obs) and np.array_equal(a.bounds, b.bounds)
    assert task_info("go")["periods"][2] == ("delay", (0,))
    assert task_info("go", compat="modcog-2023")["periods"][2] == ("delay", (500,))


def test_compat_label_rule():
    """The reference maps ring index 15 to label 0 and never emits 16."""
    for name, seq in (("goseqr", 1), ("antiseql", -1), ("go", 0)):
        refrnn = get_task(name).make_trial(ground_truth=15, modality=0)
        ref = get_task(name, compat="modcog-2023").make_trial(ground_truth=15, modality=0)
        d = refrnn.decision_start[0]
        t = np.arange(refrnn.labels.size - d)
        assert np.array_equal(refrnn.labels[d:], (15 + seq * t) % 16 + 1)
        r = ref.decision_start[0]
        assert r == d + 5  # the reference's 500 ms go/anti delay
        assert np.array_equal(ref.labels[r:], (15 + 1 + seq * t) % 16)
        assert ref.labels[r] == 0 and refrnn.labels[d] == 16
    tb = get_task("dmsseqr", compat="modcog-2023").generate(300, np.random.default_rng(2))
    assert tb.labels.max() <= 15
    tb = get_task("dmsseqr").generate(300, np.random.default_rng(2))
    assert tb.labels.max() == 16


def test_dt_20():
    """Durations are floored to dt; the sequence target moves one unit per 100 ms."""
    t = get_task("dlydm2seqr", dt=20)
    tb = t.generate(50, np.random.default_rng(0))
    dur = np.diff(tb.bounds, axis=1) * 20
    assert set(dur[:, 0]) <= set(range(200, 500, 20)) and len(set(dur[:, 0])) > 5
    assert np.all(dur[:, 1:] == [500, 500, 500, 1000])
    d = tb.decision_start[0]
    dec = tb.trial(0)[1][d:] - 1
    assert dec.size == 50
    assert np.array_equal((dec - dec[0]) % 16, (np.arange(50) // 5) % 16)
    assert get_task("go", dt=20).generate(2, np.random.default_rng(0)).lengths.tolist() == [75, 75]


def test_empty_and_info():
    tb = get_task("dmc").generate(0, np.random.default_rng(0))
    assert tb.obs.shape == (0, 33) and tb.n_trials == 0
    info = task_info("dlydm1intr")
    assert info["family"] == "dm" and info["integrate"] == 1 and info["n_obs"] == 33
    assert [p for p, _ in info["periods"]] == ["fixation", "stim1", "delay", "stim2", "decision"]
    assert info["periods"][0][1] == (200, 300, 400)
    # per-instance delayed-match delay: fixed per (seed, task), varies across seeds
    delays = {get_task("dms", seed=s).delay_ms for s in range(20)}
    assert len(delays) > 3 and all(200 <= d < 1200 and d % 100 == 0 for d in delays)
    # every trial of an instance uses that instance's delay
    t = get_task("dms", seed=3)
    tb = t.generate(20, np.random.default_rng(0))
    delay_steps = np.diff(tb.period("delay"), axis=1)
    assert np.all(delay_steps * t.dt == t.delay_ms)
