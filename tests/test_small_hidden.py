"""Every hidden size trains from the defaults (issue 12).

With the unscaled N(0, 1/k) draw, relu networks at N = 64 .. 192 overflowed
at the first update in 1 to 2 of 3 seeds; the scaled start must give 20
finite updates for every size and seed. The trial cache is tiny (8 trials per
task): the dynamics, not the data, are under test.
"""
import pytest
from click.testing import CliRunner

from refrnn.run.settings import ConfigError
from refrnn.run.training import TrainingDiverged, train
from refrnn_cli.main import cli


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory):
    from refrnn.data.cache import build_cache
    path = tmp_path_factory.mktemp("cache") / "yang19.h5"
    return str(build_cache("yang19", 8, 0, eval_trials=3, path=path))


def run(tmp_path, cache_file, **kw):
    return train(task_set="yang19", steps=20, eval_every=20, trials_per_task=8, eval_trials=3,
                 cache_path=cache_file, out=str(tmp_path / "run"), quiet=True, **kw)


@pytest.mark.parametrize("hidden", [32, 64, 100, 128, 192, 256])
def test_twenty_finite_updates_for_three_seeds(tmp_path, cache_file, hidden):
    for seed in range(3):
        r = run(tmp_path, cache_file, hidden=hidden, seed=seed, force=True)
        assert r.step == 20 and r.final_loss < 10, (hidden, seed, r.final_loss)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point
def test_nan_at_step_one_blames_the_initial_dynamics(tmp_path, cache_file):
    with pytest.raises(TrainingDiverged) as e:
        run(tmp_path, cache_file, hidden=64, init_radius=5.0)
    msg = str(e.value)
    assert "at step 1" in msg and "initial dynamics diverged" in msg
    assert "init_radius" in msg and "smaller lr" not in msg


def test_hidden_too_small_for_the_mask_is_a_clear_error(tmp_path, cache_file):
    with pytest.raises(ConfigError, match="in-degree k=0"):
        run(tmp_path, cache_file, hidden=12)
    r = CliRunner().invoke(cli, ["train", "--hidden", "12", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "in-degree k=0" in r.output and "Traceback" not in r.output


def test_init_radius_reaches_the_model_the_config_and_the_checkpoint(tmp_path, cache_file):
    import json

    import numpy as np

    from refrnn.run.checkpoint import load_checkpoint
    from refrnn.core.spectral import csr_with_data, spectral_radius
    r = train(task_set="yang19", hidden=64, steps=1, eval_every=1, trials_per_task=8,
              eval_trials=3, cache_path=cache_file, out=str(tmp_path / "r"), quiet=True,
              init_radius=0.7, lr=1e-12)  # one negligible update: W_rec stays at its start
    assert json.loads((tmp_path / "r" / "config.json").read_text())["init_radius"] == 0.7
    ck = load_checkpoint(tmp_path / "r" / "last.h5")
    assert ck.config["init_radius"] == 0.7
    from refrnn.core.masks import make_mask
    w = csr_with_data(make_mask("locality", 64, 0.04), ck.params["w_rec"])
    assert spectral_radius(w) == pytest.approx(0.7, rel=1e-4)
    assert r.step == 1 and np.isfinite(r.final_loss)
