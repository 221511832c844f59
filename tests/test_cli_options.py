"""One name, help and default per setting across the commands (cli/options.py)."""
import dataclasses
import json

import click
import pytest

from cli_helpers import TINY, invoke
from refrnn.data.cache import open_cache
from refrnn.run.settings import TrainConfig
from refrnn_cli.main import cli
from refrnn_cli.options import default_text

# --out is each command's own output (run directory, cache file, sweep folder)
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "out"}
DEFAULTS = TrainConfig()
COMMANDS = ("train", "cache", "tasks", "mask", "sweep")


def params(command: str) -> dict:
    """name -> click parameter of ``refrnn COMMAND``."""
    return {p.name: p for p in cli.commands[command].params}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_setting_has_trains_name_and_help_in_every_command(command):
    found = [p for name, p in params(command).items() if name in FIELDS]
    assert found, command
    for p in found:
        f = FIELDS[p.name]
        assert p.opts == ["--" + p.name.replace("_", "-")], (command, p.opts)
        assert p.help.startswith(f.metadata["help"]), (command, p.name)
        if f.default is not None:  # shown as TrainConfig's, the value used when not given
            assert f"[default: {default_text(p.name)}]" in p.help, (command, p.name)
            assert default_text(p.name).lower() == str(f.default).lower()


def test_shared_settings_are_the_same_options():
    """Every setting two commands share has one spelling, type and help."""
    seen = {}
    for command in COMMANDS:
        for name, p in params(command).items():
            if name in FIELDS and not p.multiple:
                key = (p.opts, p.help, str(p.type))
                assert seen.setdefault(name, key) == key, (command, name)
    assert {"task_set", "dt", "compat", "task_seed", "cache_seed", "mask_seed",
            "hidden", "sparsity", "mask"} <= set(seen)


def test_default_task_set_is_trains_everywhere(tmp_path, monkeypatch):
    r = invoke("tasks")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"task set {DEFAULTS.task_set}:")
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cd"))
    r = invoke("cache", "--trials-per-task", "2", "--eval-trials", "1")
    assert r.exit_code == 0, r.output
    (path,) = (tmp_path / "cd").glob("*.h5")
    built = open_cache(path).settings
    assert built["task_set"] == DEFAULTS.task_set
    assert built["seed"] == DEFAULTS.cache_seed and built["task_seed"] == DEFAULTS.task_seed
    r = invoke("sweep", "--mask", "full", "--dry-run", "--out", tmp_path / "sw")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("full__seed0")  # the rest are train's defaults


def test_mask_takes_trains_defaults():
    r = invoke("mask")
    assert r.exit_code == 0, r.output
    assert f"mask: {DEFAULTS.mask}  n: {DEFAULTS.hidden}  " in r.output
    assert f"init_radius {DEFAULTS.init_radius:g}" in r.output
    density = float(r.output.split("density: ")[1].split()[0])
    assert abs(density - DEFAULTS.sparsity) < 0.005
    bad = invoke("mask", "--sparsity", "1.5")  # TrainConfig's rule and message
    assert bad.exit_code == 2 and "'--sparsity'" in bad.output and "<= 1" in bad.output


@pytest.mark.parametrize("command, old, new", [
    ("mask", "--seed", "--mask-seed"),
    ("tasks", "--seed", "--task-seed"),
    ("cache", "--seed", "--cache-seed"),
    ("cache", "--test-trials-per-task", "--eval-trials"),
])
def test_renamed_options(command, old, new, tmp_path, monkeypatch):
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cd"))
    extra = ["--trials-per-task", "2"] if command == "cache" else []
    gone = invoke(command, old, "1", *extra)
    assert gone.exit_code == 2 and "No such option" in gone.output, gone.output
    ok = invoke(command, new, "1", *extra)
    assert ok.exit_code == 0, ok.output


def test_mask_seed_reaches_the_random_mask():
    a, b = (invoke("mask", "--mask", "random", "--hidden", "64", "--sparsity", "0.1",
                   "--mask-seed", s, "--init-radius", "0") for s in (0, 1))
    assert a.exit_code == b.exit_code == 0
    radius = [r.output.split("spectral radius: ")[1].split()[0] for r in (a, b)]
    assert radius[0] != radius[1]


def test_tasks_task_seed_changes_the_delays():
    outs = [invoke("tasks", "--task", "dms", "--task-seed", s).output for s in (0, 1)]
    assert "delay 1000 " in outs[0] and "delay 400 " in outs[1], outs


def test_train_uses_a_cache_built_with_a_task_seed(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cd"
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(cache_dir))
    r = invoke("cache", "--trials-per-task", "8", "--eval-trials", "3", "--task-seed", "3")
    assert r.exit_code == 0, r.output
    (built,) = cache_dir.iterdir()
    stamp = built.stat().st_mtime_ns
    out = tmp_path / "run"
    r = invoke("train", *TINY, "--task-seed", "3", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert [p for p in cache_dir.iterdir() if p.suffix == ".h5"] == [built]  # opened, not rebuilt
    assert built.stat().st_mtime_ns == stamp
    assert json.loads((out / "config.json").read_text())["task_seed"] == 3
    # another task seed is another cache: train builds it beside the first
    r = invoke("train", *TINY, "--out", tmp_path / "run0", "-q")
    assert r.exit_code == 0, r.output
    assert len([p for p in cache_dir.iterdir() if p.suffix == ".h5"]) == 2


def test_every_sweep_option_has_help():
    for p in cli.commands["sweep"].params:
        if isinstance(p, click.Option):
            assert p.help and p.help.strip(), p.name
    text = " ".join(invoke("sweep", "--help").output.split())
    for name in ("steps", "eval_every", "batch_size", "device"):
        help_ = " ".join(FIELDS[name].metadata["help"].split())
        assert help_ in text, name
        assert f"[default: {FIELDS[name].default}]" in text, name


def test_eval_names_the_settings_as_train_does():
    opts = {p.name: p.opts + p.secondary_opts for p in cli.commands["eval"].params}
    assert opts["eval_batch_size"] == ["--eval-batch-size"]  # train's --batch-size is another
    assert "--eval-noise" in opts["eval_noise"] and "--noise" in opts["eval_noise"]  # old kept
    assert opts["device"] == ["--device"]
    gone = invoke("eval", "nowhere", "--batch-size", "8")
    assert gone.exit_code == 2 and "No such option" in gone.output
