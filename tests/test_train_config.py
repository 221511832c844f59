"""TrainConfig: validation, JSON/TOML round trips, resume compatibility."""
import dataclasses
import json
import math

import pytest

from refrnn.run.settings import ConfigError, TrainConfig, load_config_file
from refrnn.run.run_dir import prepare_run_dir
from refrnn.run.checkpoint_check import identity_diff
from refrnn.run.training import resolve_config


def test_defaults_are_valid_and_resolve():
    c = TrainConfig().resolved()
    assert c.dt == 100.0 and c.alpha == 1.0
    assert c.checkpoint_every == c.eval_every
    assert c.out == "runs/yang19-seed0"


def test_alpha_from_dt_and_tau():
    c = TrainConfig(dt=20, tau=100).validate()
    assert c.alpha == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="tau"):
        TrainConfig(dt=200, tau=100).validate()


@pytest.mark.parametrize("key,value,match", [
    ("sparsity", 0.0, "sparsity"), ("sparsity", 1.5, "sparsity"),
    ("sparsity", math.nan, "sparsity"), ("task_set", "yang20", "task_set"),
    ("mask", "grid", "mask"), ("hidden", 0, "hidden"), ("lr", -1.0, "lr"),
    ("device", "tpu", "device"), ("dtype", "float16", "dtype"), ("clip", math.inf, "clip"),
    ("steps", 2.5, "steps"), ("input_noise", "yes", "input_noise"),
    ("dt", 2.5, "dt"), ("dt", 0, "dt"), ("compat", "modcog-2022", "compat"),
    ("out", 3, "out"), ("checkpoint_every", 0, "checkpoint_every"),
])
def test_bad_values_name_the_setting(key, value, match):
    with pytest.raises(ConfigError, match=match) as e:
        TrainConfig(**{key: value}).validate()
    assert e.value.key == key


def test_unbuildable_locality_mask():
    with pytest.raises(ConfigError, match="cannot be built"):
        TrainConfig(hidden=10, sparsity=0.01).validate()


def test_json_round_trip_and_file(tmp_path):
    c = TrainConfig(hidden=64, sparsity=0.1, mask="random", lr=1e-3, compat="modcog-2023",
                    checkpoint_every=7).resolved()
    again = TrainConfig.from_dict(json.loads(c.to_json()))
    assert again == c
    (tmp_path / "c.json").write_text(c.to_json())
    assert TrainConfig.load(tmp_path / "c.json") == c


def test_toml_file_dashes_and_int_coercion(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('task-set = "yang19"\nhidden = 32\ntau = 200\nsparsity = 0.25\n'
                 'steps = 10.0\n')
    c = TrainConfig.load(p)
    assert (c.hidden, c.tau, c.sparsity, c.steps) == (32, 200.0, 0.25, 10)
    assert isinstance(c.tau, float) and isinstance(c.steps, int)
    # dt is whole milliseconds: a config.json holding 100.0 still loads
    assert TrainConfig.from_dict({"dt": 100.0}).dt == 100
    assert TrainConfig.from_dict({"dt": 20}).cache_request()[1]["dt"] == 20


def test_unknown_keys_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="'hiden'.*'hidden'"):
        TrainConfig.from_dict({"hiden": 3})
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config_file(bad)
    (tmp_path / "c.yaml").write_text("a: 1")
    with pytest.raises(ConfigError, match=".json or .toml"):
        load_config_file(tmp_path / "c.yaml")
    (tmp_path / "l.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="table of settings"):
        load_config_file(tmp_path / "l.json")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.toml")


def test_resume_rules(tmp_path):
    out = tmp_path / "run"
    stored = TrainConfig(hidden=32, sparsity=0.25, out=str(out)).resolved()
    out.mkdir()
    (out / "config.json").write_text(stored.to_json())
    # resuming with only a few overrides takes the rest from the stored config
    c = resolve_config(None, {"out": str(out), "steps": 99}, resume=True)
    assert (c.hidden, c.sparsity, c.steps) == (32, 0.25, 99)
    with pytest.raises(ConfigError, match="hidden=32.*hidden=64"):
        resolve_config(None, {"out": str(out), "hidden": 64}, resume=True)
    assert identity_diff(stored.to_dict(), dataclasses.replace(stored, steps=5).to_dict()) == []
    assert identity_diff(stored, dataclasses.replace(stored, steps=5, hidden=64)) == ["hidden"]


def test_run_dir_rules(tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "r")).resolved()
    assert prepare_run_dir(cfg, resume=False, force=False) is False
    (tmp_path / "r" / "metrics.csv").write_text("step,loss,mean_perf\n")  # refrnn's header
    (tmp_path / "r" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        prepare_run_dir(cfg, resume=False, force=False)
    with pytest.raises(ConfigError, match="both"):
        prepare_run_dir(cfg, resume=True, force=True)
    assert prepare_run_dir(cfg, resume=False, force=True) is False
    # force removes only the run's own files
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["notes.txt"]
    # and a file under a run file's name that refrnn did not write is never removed
    (tmp_path / "r" / "metrics.csv").write_text("step\n")
    with pytest.raises(OSError, match="cannot replace .*metrics.csv: it exists and is not"):
        prepare_run_dir(cfg, resume=False, force=True)
    assert (tmp_path / "r" / "metrics.csv").read_text() == "step\n"
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        prepare_run_dir(TrainConfig(out=str(tmp_path / "f")).resolved(), False, False)
