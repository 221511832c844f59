"""`refrnn cache`: build, verify, and clean errors (exit 2 / exit 1, no traceback)."""
import h5py
from click.testing import CliRunner

from refrnn_cli.main import cli


def run(*args, env=None):
    return CliRunner().invoke(cli, ["cache", *args], env=env)


def test_build_and_verify(tmp_path):
    out = tmp_path / "y.h5"
    r = run("--task-set", "yang19", "--trials-per-task", "8", "--cache-seed", "2", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and out.is_file()
    r = run("--verify", str(out))
    assert r.exit_code == 0 and "ok" in r.output
    with h5py.File(out, "r+") as f:
        f["train/go/labels"][0] = (f["train/go/labels"][0] + 1) % 17
    r = run("--verify", str(out))
    assert r.exit_code == 1 and "SHA-256 mismatch" in r.output  # the file's seal
    from refrnn.files.sealed_h5 import reseal_file
    reseal_file(out)  # behind it: every dataset's own checksum
    r = run("--verify", str(out))
    assert r.exit_code == 1 and "train/go/labels" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_default_location_env(tmp_path):
    r = run("--task-set", "yang19", "--trials-per-task", "3",
            env={"REFRNN_CACHE_DIR": str(tmp_path / "cd")})
    assert r.exit_code == 0, r.output
    files = list((tmp_path / "cd").iterdir())
    assert len(files) == 1 and files[0].name.startswith("yang19-refrnn-dt100-n3-s0-")


def test_bad_options_exit_2(tmp_path):
    for args in (["--task-set", "nope"], ["--trials-per-task", "0"], ["--cache-seed", "-1"],
                 ["--compat", "x"], ["--eval-trials", "0"], ["--task-seed", "-1"],
                 ["--dt", "30"]):
        r = run(*args, "--out", str(tmp_path / "z.h5"))
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output
    r = run("--verify", str(tmp_path / "missing.h5"))
    assert r.exit_code == 1 and "no such file" in r.output


def test_defaults_build_the_cache_train_opens(tmp_path, monkeypatch):
    """`refrnn cache` with train's settings writes the file `refrnn train` looks for."""
    from refrnn.data.cache import default_cache_path
    from refrnn.run.settings import TrainConfig
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cd"))
    r = run("--trials-per-task", "3")
    assert r.exit_code == 0, r.output
    args, kw = TrainConfig(trials_per_task=3).resolved().cache_request()
    expected = default_cache_path(*args, **kw)
    assert [p.name for p in (tmp_path / "cd").iterdir()] == [expected.name]


def test_an_identical_cache_is_not_rebuilt(tmp_path):
    env = {"REFRNN_CACHE_DIR": str(tmp_path / "cd")}
    args = ("--task-set", "yang19", "--trials-per-task", "3")
    assert "wrote" in run(*args, env=env).output
    (path,) = (tmp_path / "cd").iterdir()
    stamp = path.stat().st_mtime_ns
    r = run(*args, env=env)
    assert r.exit_code == 0 and r.output.startswith(f"up to date: {path}")
    assert path.stat().st_mtime_ns == stamp
    r = run(*args, "--cache-seed", "1", env=env)  # other settings: another file, built
    assert r.exit_code == 0 and "wrote" in r.output
    out = tmp_path / "x.h5"
    assert "wrote" in run(*args, "--out", str(out)).output
    assert run(*args, "--out", str(out)).output.startswith("up to date")
    r = run("--task-set", "yang19", "--trials-per-task", "4", "--out", str(out))
    assert r.exit_code == 0 and "wrote" in r.output  # other settings: rebuilt in place
    with h5py.File(out, "r+") as f:  # damaged: rebuilt, not called up to date
        f["train/go/labels"][0] = (f["train/go/labels"][0] + 1) % 17
    r = run("--task-set", "yang19", "--trials-per-task", "4", "--out", str(out))
    assert r.exit_code == 0 and "wrote" in r.output, r.output
