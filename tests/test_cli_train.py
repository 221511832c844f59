"""`refrnn train` and `refrnn eval` through click's CliRunner."""
import json

import pytest

from cli_helpers import TINY, invoke, read_eval_csv as read_csv
from refrnn.run.checkpoint import load_checkpoint







def train_args(out, cache_file, *extra):
    return ["train", *TINY, "--cache-path", cache_file, "--out", out, *extra]


def assert_usage_error(res, *words):
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # no traceback
    err = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(err) == 1, res.output
    for w in words:
        assert w in err[0], err[0]


def test_every_setting_is_an_option_with_its_help():
    import dataclasses

    from refrnn.run.settings import TrainConfig
    text = invoke("train", "--help").output
    flat = "".join(text.split())  # click wraps lines, also at hyphens
    for f in dataclasses.fields(TrainConfig):
        opt = "--" + f.name.replace("_", "-")
        assert opt in text, opt
        assert "".join(f.metadata["help"].split()) in flat, f.name
        if f.type in ("bool", bool):
            assert f"--no-{opt[2:]}" in text, opt


def test_train_prints_table_and_eval_reads_it(tmp_path, cache_file):
    out = tmp_path / "run"
    res = invoke(*train_args(out, cache_file))
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert [line.split()[:2] for line in lines if line.startswith("step ")] == [
        ["step", "3/6"], ["step", "6/6"]]  # one progress line per evaluation off a terminal
    assert any(line.startswith("mean ") for line in lines)
    assert any(line.split()[:1] == ["dnmc"] for line in lines)
    assert load_checkpoint(out / "last.h5").step == 6
    res = invoke("eval", out, "--checkpoint", "last")
    assert res.exit_code == 0, res.output
    table = read_csv(out / "eval.csv")
    assert len(table) == 21 and f"{table['mean']['perf']:.3f}" in res.output
    res = invoke("eval", out)  # the default: best.h5, said, into its own table
    assert res.exit_code == 0, res.output
    assert f"checkpoint: {out / 'best.h5'}" in res.output
    best = read_csv(out / "eval_best.csv")
    assert f"{best['mean']['perf']:.3f}" in res.output
    res = invoke("eval", out, "--checkpoint", "best", "--noise", "--seed", 4)
    assert res.exit_code == 0, res.output
    assert (out / "eval_best_noise.csv").is_file()


def test_quiet_prints_only_the_table(tmp_path, cache_file):
    res = invoke(*train_args(tmp_path / "q", cache_file, "--quiet"))
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].split() == ["task", "perf", "dec_acc", "n"]


@pytest.mark.parametrize("extra,words", [
    (["--task-set", "yang2019"], ["--task-set", "yang2019"]),
    (["--sparsity", "0"], ["--sparsity", "0.0"]),
    (["--sparsity", "1.5"], ["--sparsity", "1.5"]),
    (["--sparsity", "nan"], ["--sparsity", "nan"]),
    (["--hidden", "10", "--sparsity", "0.01"], ["--sparsity", "k=0"]),
    (["--mask", "grid"], ["--mask"]),
    (["--steps", "0"], ["--steps"]),
    (["--device", "cuda"], ["--device"]),
])
def test_bad_options_exit_2(tmp_path, cache_file, extra, words):
    if extra[0] == "--device":
        from refrnn.backends.backend import available_devices
        if "cuda" in available_devices():
            pytest.skip("a GPU is present: --device cuda is valid here")
    res = invoke(*train_args(tmp_path / "bad", cache_file), *extra)
    assert_usage_error(res, *words)
    assert not (tmp_path / "bad").exists()


def test_existing_run_dir_needs_resume_or_force(tmp_path, cache_file):
    out = tmp_path / "run"
    assert invoke(*train_args(out, cache_file, "-q")).exit_code == 0
    assert_usage_error(invoke(*train_args(out, cache_file, "-q")), "--resume", "--force")
    res = invoke("train", "--out", out, "--resume", "--steps", 9, "-q")
    assert res.exit_code == 0, res.output
    assert load_checkpoint(out / "last.h5").step == 9
    assert_usage_error(invoke("train", "--out", out, "--resume", "--hidden", 32, "-q"),
                       "hidden=16")
    res = invoke(*train_args(out, cache_file, "--force", "-q", "--steps", "2"))
    assert res.exit_code == 0 and load_checkpoint(out / "last.h5").step == 2


def test_config_files_and_precedence(tmp_path, cache_file):
    toml = tmp_path / "c.toml"
    toml.write_text('hidden = 25\nsparsity = 0.2\nlr = 0.004\nseed = 7\n')
    out = tmp_path / "run"
    res = invoke(*train_args(out, cache_file, "--config", toml, "--seed", 2, "-q"))
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    # TINY's --hidden 16 and --seed 2 beat the file; lr comes from the file
    assert (cfg["hidden"], cfg["seed"], cfg["lr"]) == (16, 2, 0.004)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hidden": 16, "sparsity_level": 0.1}))
    assert_usage_error(invoke(*train_args(tmp_path / "r2", cache_file, "--config", bad)),
                       "sparsity_level")
    assert_usage_error(invoke(*train_args(tmp_path / "r3", cache_file, "--config",
                                          tmp_path / "none.toml")), "cannot read")


def test_nan_loss_exits_nonzero(tmp_path, cache_file, monkeypatch):
    import refrnn.core.losses as losses
    real = losses.cross_entropy
    monkeypatch.setattr(losses, "cross_entropy",
                        lambda y, l, w=None, **kw: (float("inf"), real(y, l, w, **kw)[1]))
    res = invoke(*train_args(tmp_path / "run", cache_file, "-q"))
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert "at step 1" in res.output


def test_eval_rejects_non_run_dirs(tmp_path):
    assert_usage_error(invoke("eval", tmp_path), "RUN_DIR")
    (tmp_path / "config.json").write_text("{}")
    assert_usage_error(invoke("eval", tmp_path, "--checkpoint", "nope"), "--checkpoint")


def test_corrupted_checkpoint_on_resume_is_one_line_error(tmp_path, cache_file):
    out = tmp_path / "run"
    assert invoke(*train_args(out, cache_file, "-q")).exit_code == 0
    data = bytearray((out / "last.h5").read_bytes())
    (out / "last.h5").write_bytes(bytes(data[: len(data) // 2]))
    res = invoke("train", "--out", out, "--resume", "--steps", 9, "-q")
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert "last.h5" in res.output and "corrupted" in res.output
    assert "Traceback" not in res.output
