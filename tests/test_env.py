"""TaskEnv: neurogym's trial-by-trial env on refrnn's generators (no neurogym needed)."""
import numpy as np
import pytest

from refrnn.tasks import get_task, task_names
from refrnn.tasks.env import TaskEnv, resolve_tasks, task_id
from refrnn.tasks.trials import NOISE_UNITS


def test_resolve_names_ids_sets_and_lists():
    assert resolve_tasks("yang19") == (task_names("yang19"), True)
    assert resolve_tasks("yang19.dmc-v0") == (["dmc"], False)
    assert resolve_tasks("dmsintlseqr") == (["dmsintlseqr"], False)
    assert resolve_tasks(["go", "yang19.dm1-v0"]) == (["go", "dm1"], True)
    assert task_id("go") == "yang19.go-v0" and task_id("goseqr") == "modcog.goseqr-v0"
    for bad, match in (("yang19.gogo-v0", "unknown task"), (["go", "go"], "distinct"),
                       (3, "env must be"), ("dm3", "did you mean")):
        with pytest.raises(ValueError, match=match):
            resolve_tasks(bad)


def test_schedule_never_repeats_and_one_hot_follows_it():
    env = TaskEnv(["go", "dm1", "dms"], seed=0)
    seen = []
    for _ in range(60):
        env.new_trial()
        seen.append(env.i_env)
        assert env.ob.shape == (env.gt.shape[0], 36)
        assert np.all(env.ob[:, 33 + env.i_env] == 1) and np.all(env.ob[:, 33:].sum(1) == 1)
        assert env.task == env.task_names[env.i_env] == env.trial["task"]
    assert all(a != b for a, b in zip(seen, seen[1:])) and set(seen) == {0, 1, 2}


def test_seeded_reproducible_and_unseeded_fresh():
    def draw(env):
        return [(env.new_trial(), env.ob.copy())[1] for _ in range(5)]

    a, b = draw(TaskEnv("yang19", seed=3)), draw(TaskEnv("yang19", seed=3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c, d = draw(TaskEnv("yang19")), draw(TaskEnv("yang19"))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(c, d))
    env = TaskEnv("yang19", seed=1)
    draw(env)
    env.seed(3)
    assert all(np.array_equal(x, y) for x, y in zip(draw(env), a))


def test_noise_is_where_the_rule_puts_it():
    for compat in (None, "neurogym-2.3"):
        env = TaskEnv("dm2", compat=compat, seed=0)
        quiet = TaskEnv("dm2", compat=compat, seed=0, noise=False)
        trial, _ = env.new_trial(), quiet.new_trial()
        clean = get_task("dm2", compat=compat).make_trial(
            **{k: v for k, v in trial.items() if k != "task"})
        assert np.array_equal(quiet.ob, clean.obs)
        noised = env.ob != quiet.ob
        assert np.array_equal(noised, NOISE_UNITS[clean.noise])
        assert noised[:, 0].any() == (compat is None)  # neurogym's DM noise spares unit 0
        z = (env.ob - quiet.ob)[noised]
        assert abs(z.std() - 0.1) < 0.03                # 1 / sqrt(dt)


def test_kwargs_fix_parameters():
    env = TaskEnv("dms", seed=0)
    for gt in ("match", "non-match"):
        trial = env.new_trial(ground_truth=gt, modality=1, delay=700)
        assert trial["ground_truth"] == gt and trial["modality"] == 1
        assert trial["delay"] == 700 and env.gt.shape[0] == 3 + 5 + 7 + 5 + 9
    dm = TaskEnv("multidm", seed=0)
    trial = dm.new_trial(theta1=0.0, coh1_mod1=0.9)  # outside the drawn values: checked
    assert trial["coh1_mod1"] == 0.9 and trial["theta1"] == 0.0
    with pytest.raises(ValueError, match="unknown trial parameter 'nope'"):
        env.new_trial(nope=1)
    with pytest.raises(ValueError, match="ground_truth"):
        env.new_trial(ground_truth="maybe")


def test_spaces_and_attributes():
    env = TaskEnv("yang19", seed=0)
    assert env.observation_space.shape == (53,) and env.observation_space.dtype == np.float32
    assert env.action_space.n == 17 and env.action_space.shape == ()
    assert env.observation_space.name["stimulus_mod2"] == range(17, 33)
    assert env.action_space.name["choice"] == range(1, 17)
    acts = {env.action_space.sample() for _ in range(300)}
    assert acts == set(range(17)) and env.observation_space.sample().shape == (53,)
    assert env.dt == 100 and env.unwrapped is env and len(env.envs) == 20
    assert [e.spec.id for e in env.envs][:2] == ["yang19.go-v0", "yang19.rtgo-v0"]
    dm1 = TaskEnv("dm1", compat="neurogym-2.3")
    assert dm1.timing == {"fixation": ("uniform", (200, 500)),
                          "stimulus": ("choice", [200, 400, 600]), "decision": 200}


def test_neurogym_rule_set_is_for_yang19_only():
    from refrnn.tasks.registry import check_compat_fits, check_dt_fits

    check_compat_fits("yang19", "neurogym-2.3")
    check_dt_fits("yang19", 100, "neurogym-2.3")
    for call in (lambda: check_compat_fits("modcog82", "neurogym-2.3"),
                 lambda: get_task("dmsintr", compat="neurogym-2.3"),
                 lambda: TaskEnv("modcog", compat="neurogym-2.3")):
        with pytest.raises(ValueError, match="covers the 20 yang19 tasks only"):
            call()
