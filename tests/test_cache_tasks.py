"""The cache and the sampler on the real task generators (small yang19/modcog)."""
import numpy as np
import pytest

from refrnn.data import cache as C
from refrnn.data.stream import StreamSampler
from refrnn.data.whole_trials import trial_batch
from refrnn.tasks import get_task, task_names
from refrnn.tasks.trials import N_OBS


@pytest.fixture(scope="module")
def yang(tmp_path_factory):
    path = C.build_cache("yang19", 30, 11, eval_trials=6,
                         path=tmp_path_factory.mktemp("c") / "y.h5")
    return C.open_cache(path, expect={"task_set": "yang19", "seed": 11})


def test_real_cache_round_trip(yang):
    assert yang.task_names == task_names("yang19")
    assert C.verify_cache(yang.path)["datasets"] > 20 * 2 * 5
    train = yang.split("train")
    for name in ("go", "dms", "ctxdlydm2"):
        want = get_task(name).generate(30, C.task_rng(11, "train", name))
        got = train[name]
        np.testing.assert_array_equal(got.obs, want.obs)
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_array_equal(got.noise, want.noise)
        np.testing.assert_array_equal(got.bounds, want.bounds)
        assert got.period_names == want.period_names
        for k, v in want.params.items():
            np.testing.assert_array_equal(got.params[k], v)


def test_real_stream_and_trial_batches(yang):
    train, test = yang.split("train"), yang.split("test")
    names = yang.task_names
    s = StreamSampler(train, names, batch_size=8, seq_len=120, seed=0, noise_std=0.1)
    b = s.next()
    assert b.x.shape == (120, 8, N_OBS + 20)
    assert b.labels.min() >= 0 and b.labels.max() <= 16
    np.testing.assert_array_equal(b.x[..., N_OBS:].argmax(-1), b.task_ids)
    # the first trial of each row is a whole trial of the task named by task_ids
    for row in range(8):
        k = int(b.task_ids[0, row])
        tb = train[names[k]]
        n = int(np.argmax(b.task_ids[:, row] != k)) or 120
        match = [j for j in range(tb.n_trials) if tb.lengths[j] == n
                 and np.array_equal(tb.trial(j)[1], b.labels[:n, row])]
        assert match, (names[k], n)
    tbatch, dstart, lengths = trial_batch(test["dms"], names.index("dms"), 20,
                                          np.arange(6))
    assert tbatch.x.shape[:2] == (lengths.max(), 6)
    assert np.all(dstart < lengths)


def test_real_modcog_settings_and_name():
    p = C.default_cache_path("modcog", 1000, 0, cache_dir="/nowhere")
    assert p.name.startswith("modcog-refrnn-dt100-n1000-s0-")
    s = C.cache_settings("modcog", 1000, 0)
    assert len(s["task_names"]) == 126 and s["test_trials_per_task"] == 100
