"""refrnn.Dataset: neurogym's Dataset call shape on cached trials (no neurogym needed)."""
import numpy as np
import pytest

from refrnn import Dataset
from refrnn.data.cache import build_cache, open_cache
from refrnn.tasks.registry import task_names

KW = dict(trials_per_task=12, eval_trials=3)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "yang19.h5"
    return str(build_cache("yang19", 12, 0, test_trials_per_task=3, path=path))


def ds(cache, **kw):
    return Dataset("yang19", **{"batch_size": 4, "seq_len": 50, "cache_path": cache, **KW, **kw})


def test_shapes_dtypes_and_rule_one_hot(cache):
    d = ds(cache)
    x, y = d()
    assert x.dtype == np.float32 and x.shape == (50, 4, 33 + 20)
    assert y.dtype == np.int64 and y.shape == (50, 4)
    assert d.task_names == task_names("yang19") and d.n_inputs == 53 and d.n_outputs == 17
    assert d.env.observation_space.shape == (53,) and d.env.action_space.n == 17
    assert np.all(x[..., 33:].sum(-1) == 1) and set(np.unique(x[..., 33:])) == {0.0, 1.0}
    assert y.min() >= 0 and y.max() <= 16
    xb, yb = ds(cache, batch_first=True)()
    assert xb.shape == (4, 50, 53) and np.array_equal(xb, x.swapaxes(0, 1))
    assert np.array_equal(yb, y.T)


def test_seeded(cache):
    a, b, c = ds(cache, seed=1), ds(cache, seed=1), ds(cache, seed=2)
    for _ in range(3):
        (xa, ya), (xb, yb), (xc, _) = a(), b(), c()
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert not np.array_equal(xa, xc)


def test_batches_are_windows_of_one_stream(cache):
    """neurogym's cache_len rule: B = 4 rows of about 1e5 / 54 / 4 steps, in windows."""
    d = ds(cache, seed=3)
    assert d.cache_len == (1 + int(1e5 / 54 / 4) // 50) * 50 == 500
    whole = ds(cache, seed=3, seq_len=500)
    assert whole.cache_len == 500
    xs, ys = zip(*[d() for _ in range(10)])
    xw, yw = whole()
    assert np.array_equal(np.concatenate(xs), xw) and np.array_equal(np.concatenate(ys), yw)
    assert ds(cache, batch_size=64, seq_len=350).cache_len == 350  # the paper's setting


def test_task_subset_order_and_content(cache):
    """tasks=[...] sets the one-hot order; every step's row comes from its task's trials."""
    subset = ["dm1", "go", "dms"]
    d = ds(cache, tasks=subset, noise=False, batch_size=8, seq_len=120)
    x, y = d()
    assert x.shape == (120, 8, 36) and d.task_names == subset
    train = open_cache(cache).split("train")
    def row(obs, label):
        return np.append(obs.astype(np.float64), float(label)).tobytes()

    rows = {t: {row(o, lab) for o, lab in zip(train[t].obs, train[t].labels)} for t in subset}
    k = x[..., 33:].argmax(-1)
    seen = np.zeros(3, bool)
    for t in range(x.shape[0]):
        for b in range(x.shape[1]):
            assert row(x[t, b, :33], y[t, b]) in rows[subset[k[t, b]]]
            seen[k[t, b]] = True
    assert seen.all()


def test_max_batch_and_iteration(cache):
    d = ds(cache, max_batch=3)
    assert len(list(d)) == 3


@pytest.mark.parametrize("kw, match", [
    (dict(tasks=["go", "nope"]), "nope"),
    (dict(tasks=["go", "go"]), "distinct"),
    (dict(batch_size=0), "batch_size"),
    (dict(seq_len=-1), "seq_len"),
    (dict(split="val"), "split"),
    (dict(cache_len=0), "cache_len"),
])
def test_bad_arguments(cache, kw, match):
    with pytest.raises(ValueError, match=match):
        ds(cache, **kw)


def test_bad_task_set(cache):
    with pytest.raises(ValueError, match="task_set"):
        Dataset("nope", batch_size=2, seq_len=10, cache_path=cache)


def test_against_neurogym(cache):
    """Shapes, dtypes, rule order and label coding against neurogym's own Dataset."""
    ngym = pytest.importorskip("neurogym")
    import warnings
    from neurogym.envs.collections import get_collection
    from neurogym.utils.scheduler import RandomSchedule
    from neurogym.wrappers import ScheduleEnvs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = get_collection("yang19")
        assert [i.split(".")[1].split("-")[0] for i in ids] == task_names("yang19")
        envs = [ngym.make(i, dt=100) for i in ids]
        env = ScheduleEnvs(envs, schedule=RandomSchedule(len(envs)), env_input=True)
        ref = ngym.Dataset(env, batch_size=4, seq_len=50)
        xr, yr = ref()
    ours = ds(cache)
    x, y = ours()
    assert x.shape == xr.shape and x.dtype == xr.dtype
    assert y.shape == yr.shape and y.dtype == yr.dtype
    assert ours.cache_len == ref._cache_len
    assert env.action_space.n == ours.env.action_space.n
    for xs, ys in ((x, y), (xr, yr)):
        assert np.all(xs[..., 33:].sum(-1) == 1)   # one rule unit per step
        assert ys.min() >= 0 and ys.max() <= 16     # 0 = fixate, k = ring unit k - 1
        assert np.all(ys[xs[..., 0] > 0.5] == 0)    # no response while the fixation cue is on


def test_repeats_the_training_stream(cache):
    """Seeded as refrnn.train seeds its sampler, the Dataset serves the run's batches."""
    from refrnn.data.stream import StreamSampler
    from refrnn.tasks.trials import input_noise_std
    from refrnn.run.loop import SAMPLER_STREAM, seed_for
    seed = seed_for(5, SAMPLER_STREAM)
    train = open_cache(cache).split("train")
    sampler = StreamSampler(train, task_names("yang19"), 3, 40, seed=seed,
                            noise_std=input_noise_std(100))
    d = ds(cache, batch_size=3, seq_len=40, seed=seed, cache_len=1)
    assert d.cache_len == 40
    for _ in range(3):
        b, (x, y) = sampler.next(), d()
        assert np.array_equal(b.x, x) and np.array_equal(b.labels, y)


def test_default_task_set_is_the_one_every_command_uses():
    import inspect

    from refrnn.run.settings import TrainConfig
    from refrnn.tasks.registry import DEFAULT_TASK_SET

    default = inspect.signature(Dataset.__init__).parameters["task_set"].default
    assert default == TrainConfig().task_set == DEFAULT_TASK_SET == "yang19"
