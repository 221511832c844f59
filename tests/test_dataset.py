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
    return str(build_cache("yang19", 12, 0, eval_trials=3, path=path))


def ds(cache, **kw):
    kw = {"batch_size": 4, "seq_len": 50, "cache_path": cache, "seed": 0, **KW, **kw}
    return Dataset("yang19", **kw)


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
    with pytest.raises(ValueError, match="unknown task or task set 'nope'"):
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

    default = inspect.signature(Dataset.__init__).parameters["env"].default
    assert default == TrainConfig().task_set == DEFAULT_TASK_SET == "yang19"


# -- neurogym's signature and env -----------------------------------------------------------

def test_signature_is_neurogyms():
    """The positional order and defaults of neurogym 2.3.1's Dataset (checked against the
    package itself when it is installed)."""
    import inspect

    params = list(inspect.signature(Dataset.__init__).parameters.values())[1:8]
    assert [p.name for p in params] == ["env", "env_kwargs", "batch_size", "seq_len",
                                        "max_batch", "batch_first", "cache_len"]
    assert [p.default for p in params[1:]] == [None, 1, None, None, False, None]
    try:
        import neurogym
    except ImportError:
        return
    ref = list(inspect.signature(neurogym.Dataset.__init__).parameters)[1:]
    assert [p.name for p in params] == ref


def test_one_task_by_name_or_neurogym_id(cache):
    """A single task gives 33 inputs (no rule one-hot), as neurogym.make's env does."""
    a = ds(cache, env_kwargs={"dt": 100}, seed=4, noise=False)
    go = Dataset("yang19.go-v0", batch_size=4, seq_len=50, cache_path=cache, seed=4, **KW)
    same = Dataset("go", batch_size=4, seq_len=50, cache_path=cache, seed=4, **KW)
    x, y = go()
    xs, ys = same()
    assert a.n_inputs == 53 and go.n_inputs == 33 and x.shape == (50, 4, 33)
    assert go.inputs_shape == [50, 4, 33] and go.target_shape == [50, 4]
    assert np.array_equal(x, xs) and np.array_equal(y, ys)
    train = open_cache(cache).split("train")["go"]
    assert set(np.unique(y)) <= set(np.unique(train.labels))
    assert go.env.spec.id == "yang19.go-v0" and go.env.observation_space.shape == (33,)


def test_list_of_tasks_sets_the_one_hot_order(cache):
    d = Dataset(["yang19.dms-v0", "go"], batch_size=4, seq_len=50, cache_path=cache, seed=1,
                **KW)
    x, _ = d()
    assert d.task_names == ["dms", "go"] and x.shape == (50, 4, 35)
    assert d.env.observation_space.name["env"] == range(33, 35)


def test_env_object_and_env_kwargs(cache, tmp_path):
    from refrnn.tasks.env import TaskEnv

    d = Dataset(TaskEnv(["go", "dm1"], seed=0), batch_size=2, seq_len=30, cache_path=cache,
                seed=0, **KW)
    assert d.task_names == ["go", "dm1"] and d.n_inputs == 35 and d.dt == 100
    d50 = Dataset("yang19", {"dt": 50, "dim_ring": 16, "sigma": 0.0}, 2, 40, seed=0,
                  cache_path=str(tmp_path / "dt50.h5"), **KW)
    assert d50.dt == 50 and d50.env.dt == 50
    x, y = d50()
    obs = x[..., :33]
    assert set(np.unique(obs[..., 0])) <= {0.0, 1.0}  # sigma 0: noise-free
    from refrnn.tasks import get_task
    for _ in range(20):  # env too: each trial equals its noise-free rendering
        trial = d50.env.new_trial()
        clean = get_task(trial.pop("task"), dt=50).make_trial(**trial)
        assert np.array_equal(d50.env.ob[:, :33], clean.obs)


@pytest.mark.parametrize("env_kwargs, match", [
    ({"timing": {"fixation": 300}}, r"env_kwargs \['timing'\]: refrnn.Dataset cannot"),
    ({"dim_ring": 2}, "dim_ring=2: refrnn's tasks have rings of 16 units only"),
    ({"compat": "neurogym-2.3"}, "compat given twice"),
    ({"sigma": -1}, "sigma"),
])
def test_env_kwargs_it_cannot_honour(cache, env_kwargs, match):
    with pytest.raises(ValueError, match=match):
        ds(cache, env_kwargs=env_kwargs, compat="modcog-2023")


def test_unseeded_draws_fresh_entropy_and_seed_restarts(cache):
    a, b = ds(cache, seed=None), ds(cache, seed=None)
    assert a.seed_value != b.seed_value and not np.array_equal(a()[0], b()[0])
    again = ds(cache, seed=a.seed_value)
    a.seed(a.seed_value)
    for _ in range(12):  # past the end of the first cache
        (x1, y1), (x2, y2) = a(), again()
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    c, d = ds(cache, seed=9), ds(cache, seed=1)
    d()
    d.seed(9)
    assert np.array_equal(c()[0], d()[0])


def test_call_kwargs_go_to_new_trial(cache):
    """As neurogym: ds(**kwargs) fixes trial parameters of a fresh cache (env.new_trial)."""
    d = Dataset("go", batch_size=3, seq_len=40, cache_path=cache, seed=2, **KW)
    x, y = d(ground_truth=5)
    assert set(np.unique(y)) == {0, 6} and x.shape == (40, 3, 33)
    assert np.all(d.env.gt[-1] == 6) and d.env.trial["ground_truth"] == 5


def test_max_batch_inf_and_env_new_trial(cache):
    d = ds(cache, max_batch=np.inf)
    assert d.max_batch is None
    env = d.env
    trial = env.new_trial()
    assert env.ob.shape == (env.gt.shape[0], 53) and env.ob.dtype == np.float32
    assert env.gt.dtype == np.int64 and trial["task"] in d.task_names
    assert env.action_space.n == 17 and 0 <= env.action_space.sample() < 17
    assert len(env.envs) == 20 and env.envs[3].spec.id == "yang19.anti-v0"
    env.envs[3].new_trial()
    assert env.envs[3].ob.shape[1] == 33


def test_neurogym_rule_set_turns_the_cue_off(cache, tmp_path):
    """compat='neurogym-2.3' (here through env_kwargs): the fixation cue of DM and
    delayed-match trials is off after the fixation period; refrnn's default keeps it on."""
    from refrnn.tasks.registry import DM_TASKS

    def p_cue(d):  # P(fixation input = 1 | label = fixate) on DM-family steps
        x, y = d()
        dm = np.isin(x[..., 33:].argmax(-1), [d.task_names.index(t) for t in DM_TASKS])
        return x[..., 0][(y == 0) & dm].mean()

    own = ds(cache, noise=False, batch_size=16, seq_len=400)
    ngym = Dataset("yang19", {"compat": "neurogym-2.3"}, 16, 400, seed=0, noise=False,
                   cache_path=str(tmp_path / "ngym.h5"), **KW)
    assert p_cue(own) == 1.0 and p_cue(ngym) < 0.6


def test_yang19_notebook_evaluation_cell(cache):
    """What neurogym's yang19 notebook does after training, on refrnn's env: per task
    env, new_trial(), ob + its own one-hot, gt[-1]; the input width is the dataset's."""
    d = Dataset("yang19", batch_size=32, seq_len=100, cache_path=cache, seed=0, **KW)
    env = d.env
    ob_size, act_size = env.observation_space.shape[0], env.action_space.n
    assert (ob_size, act_size) == (d.inputs_shape[-1], 17) and env.timing
    scores = {e_i.spec.id: [] for e_i in env.envs}
    for env_idx, e_i in enumerate(env.envs):
        for _ in range(3):
            trial = e_i.new_trial()
            ob, gt = e_i.ob, e_i.gt
            one_hot = np.zeros((ob.shape[0], len(env.envs)))
            one_hot[:, env_idx] = 1.0
            x = np.concatenate([ob, one_hot], axis=1)[:, np.newaxis, :]
            assert x.shape == (gt.shape[0], 1, ob_size) and trial["task"] == d.task_names[env_idx]
            scores[e_i.spec.id].append(gt[-1])
    assert list(scores) == [f"yang19.{t}-v0" for t in d.task_names]
