"""refrnn.run.loop.train_step (one update) and refrnn.run.run_dir.find_checkpoint."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from refrnn.core.model import RNN, ModelConfig
from refrnn.core.optim import Adam
from refrnn.run.loop import train_step
from refrnn.run.run_dir import find_checkpoint
from refrnn.run.settings import ConfigError, TrainConfig


def _setup(seed=0):
    model = RNN(ModelConfig(n_in=5, n_out=4, hidden=16, sparsity=0.25, dtype="float64"),
                seed=seed)
    rng = np.random.default_rng(seed)
    batch = SimpleNamespace(x=rng.standard_normal((6, 3, 5)),
                            labels=rng.integers(0, 4, (6, 3)), weights=np.ones((6, 3)))
    return model, Adam(model.params, lr=1e-2, xp=np), batch


def test_a_step_lowers_the_loss_and_is_deterministic():
    cfg = TrainConfig(clip=1.0, fix_weight=0.5)
    model, opt, batch = _setup()
    before = {k: v.copy() for k, v in model.params.items()}
    loss, norm = train_step(model, opt, batch, model.backend.rng(3), cfg)
    assert math.isfinite(loss) and norm > 0
    assert any(not np.array_equal(before[k], model.params[k]) for k in before)
    twin, opt2, _ = _setup()
    assert train_step(twin, opt2, batch, twin.backend.rng(3), cfg) == (loss, norm)
    for k in model.params:
        assert np.array_equal(twin.params[k], model.params[k])
    for _ in range(20):
        last, _ = train_step(model, opt, batch, None, cfg)
    assert last < loss


def test_a_non_finite_loss_changes_nothing():
    model, opt, batch = _setup()
    before = {k: v.copy() for k, v in model.params.items()}
    batch.x[0, 0, 0] = np.nan
    loss, norm = train_step(model, opt, batch, None, TrainConfig())
    assert math.isnan(loss) and math.isnan(norm)
    for k in before:
        assert np.array_equal(before[k], model.params[k])


def test_find_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory") as e:
        find_checkpoint(tmp_path, "last")
    assert e.value.key == "run_dir"
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "last.h5").write_bytes(b"")
    assert find_checkpoint(tmp_path) == tmp_path / "last.h5"
    (tmp_path / "best.h5").write_bytes(b"")
    assert find_checkpoint(tmp_path) == tmp_path / "best.h5"
    assert find_checkpoint(tmp_path, "last") == tmp_path / "last.h5"
    assert find_checkpoint(tmp_path, "best") == tmp_path / "best.h5"
    with pytest.raises(ConfigError, match="neither last, best nor a file") as e:
        find_checkpoint(tmp_path, "nope.h5")
    assert e.value.key == "checkpoint"
    (tmp_path / "other.h5").write_bytes(b"")
    assert find_checkpoint(tmp_path, str(tmp_path / "other.h5")) == tmp_path / "other.h5"
