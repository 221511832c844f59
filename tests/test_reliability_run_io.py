"""A run's own streams and files: a closed or broken stdout does not stop
training, a damaged metrics.csv or config.json stops a resume with one line
naming the file, and a signal during start-up ends without a traceback."""
import os
import subprocess
import sys
from pathlib import Path

from refrnn.run.checkpoint import load_checkpoint

from cli_helpers import TINY, invoke, train_tiny

ROOT = Path(__file__).resolve().parents[1]
CLI = "from refrnn_cli.main import cli; cli(prog_name='refrnn')"


def refrnn(*args, **kw):
    """``refrnn ARGS...`` as its own process (a real stdout and real signals)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", CLI, *[str(a) for a in args]], env=env,
                          stderr=subprocess.PIPE, text=True, timeout=180, **kw)


def assert_trained_to_end(out):
    assert load_checkpoint(out / "last.h5").step == 6  # TINY's steps
    assert (out / "eval.csv").is_file()


def test_closed_stdout_trains_to_the_end(tmp_path, cache_file):
    out = tmp_path / "run"
    # `refrnn train ... >&-`: no stdout at all (sys.stdout is None)
    p = refrnn("train", *TINY, "--cache-path", cache_file, "--out", out,
               preexec_fn=lambda: os.close(1))
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert_trained_to_end(out)


def test_broken_stdout_trains_to_the_end(tmp_path, cache_file):
    out = tmp_path / "run"
    # `refrnn train ... | head -0`: the reader is gone before the first line
    r, w = os.pipe()
    os.close(r)
    try:
        p = refrnn("train", *TINY, "--cache-path", cache_file, "--out", out, stdout=w)
    finally:
        os.close(w)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert p.stderr.count("progress is no longer printed; training goes on") == 1, p.stderr
    assert_trained_to_end(out)


def one_error_line(r):
    """The single ``Error: ...`` line of a failed in-process command."""
    assert r.exit_code != 0, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, r.output
    return lines[0]


def resume(out, cache_file, *more):
    return invoke("train", "--cache-path", cache_file, "--out", out, "--resume", "-q", *more)


def half_run(tmp_path, cache_file):
    """A tiny run stopped after 3 of 6 steps (so a resume has work to do)."""
    out = tmp_path / "run"
    r = invoke("train", *TINY, "--steps", "3", "--cache-path", cache_file, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    return out


def test_damaged_metrics_csv_stops_resume_with_one_line(tmp_path, cache_file):
    out = half_run(tmp_path, cache_file)
    good = (out / "metrics.csv").read_bytes()
    ncol = good.splitlines()[0].count(b",") + 1
    cases = {
        "binary": (bytes(range(128, 256)) * 3)[:300],                  # head -c 300 /dev/urandom
        "garbage": good + b"garbage,row,here\n",                      # echo garbage,row,here >>
        "truncated": good + b",".join([b"3"] + [b"0.5"] * 20) + b"\n",  # 21 of 47 fields
        "words": good.replace(b"\n3,", b"\nthree,"),
    }
    expected = {"binary": "is not text (byte 0 is not UTF-8)",
                "garbage": f"line 4 has 3 of {ncol} fields",
                "truncated": f"line 4 has 21 of {ncol} fields",
                "words": "line 3 holds something other than numbers: 'three,"}
    for case, data in cases.items():
        (out / "metrics.csv").write_bytes(data)
        line = one_error_line(resume(out, cache_file, "--steps", "6"))
        assert str(out / "metrics.csv") in line and expected[case] in line, (case, line)
        assert "the resumed run then starts a new log) and resume again" in line
        assert (out / "metrics.csv").read_bytes() == data, case  # left as it was
        assert load_checkpoint(out / "last.h5").step == 3, case
    (out / "metrics.csv").unlink()  # what the line offers: a new log, the run resumes
    r = resume(out, cache_file, "--steps", "6")
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out / "last.h5").step == 6


def test_damaged_or_missing_config_json_stops_resume_with_one_line(tmp_path, cache_file):
    out = half_run(tmp_path, cache_file)
    good = (out / "config.json").read_text()
    (out / "config.json").write_bytes((bytes(range(128, 256)) * 3)[:300])
    line = one_error_line(resume(out, cache_file))
    assert f"cannot resume: config file {str(out / 'config.json')!r} is not valid JSON" in line
    assert "repair the run's config.json or put it back" in line
    (out / "config.json").write_text(good.replace('"hidden": 16', '"hidden": -4'))
    line = one_error_line(resume(out, cache_file))
    assert f"config file {str(out / 'config.json')!r}: hidden must be" in line, line
    (out / "config.json").unlink()
    line = one_error_line(resume(out, cache_file))
    assert "has last.h5 but no config.json" in line and "hidden=" not in line, line
    (out / "config.json").write_text(good)
    assert resume(out, cache_file).exit_code == 0


def test_force_clears_the_old_runs_tables_and_figures(tmp_path, cache_file):
    out = train_tiny(tmp_path / "run", cache_file)
    assert invoke("eval", out, "--checkpoint", "best").exit_code == 0
    r = invoke("plot", out)
    assert r.exit_code == 0, r.output
    r = invoke("analyze", out)
    assert r.exit_code == 0, r.output
    derived = [out / "eval_best.csv", out / "plot_curves.png", out / "analysis_best"]
    assert all(p.exists() for p in derived)
    mine = [out / "eval_mine.csv", out / "notes.txt", out / "analysis_last" / "notes.txt"]
    for p in mine:
        p.parent.mkdir(exist_ok=True)
        p.write_text("my own\n")
    r = invoke("train", *TINY, "--cache-path", cache_file, "--out", out, "--force", "-q")
    assert r.exit_code == 0, r.output
    assert [p for p in derived if p.exists()] == []
    assert list(out.glob("plot_*")) == []
    assert all(p.read_text() == "my own\n" for p in mine)  # a user's files are kept


def test_copied_run_config_does_not_aim_at_that_run(tmp_path, cache_file):
    first = train_tiny(tmp_path / "first", cache_file)
    kept = {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()}
    (tmp_path / "my.json").write_bytes((first / "config.json").read_bytes())
    for extra in ([], ["--force"]):
        r = invoke("train", "--config", tmp_path / "my.json", "--lr", "0.01", "-q", *extra)
        assert r.exit_code == 2, r.output
        assert "is a copy of the config.json of run directory" in r.output
        assert "needs its own --out" in r.output, r.output
        assert {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()} == kept
    r = invoke("train", "--config", tmp_path / "my.json", "--lr", "0.01", "-q",
               "--out", tmp_path / "second")
    assert r.exit_code == 0, r.output
    assert load_checkpoint(tmp_path / "second" / "last.h5").config["lr"] == 0.01
    # a settings file of a few keys keeps its out: the user wrote it
    (tmp_path / "few.json").write_text('{"out": "%s", "lr": 0.02}' % (tmp_path / "third"))
    r = invoke("train", *TINY, "--cache-path", cache_file, "--config", tmp_path / "few.json",
               "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "third" / "last.h5").is_file()


def test_ctrl_c_while_starting_is_one_line(tmp_path, cache_file):
    import signal
    import time
    from importlib.metadata import entry_points
    (ep,) = tuple(entry_points(group="console_scripts", name="refrnn"))
    module, func = ep.value.split(":")  # the installed entry point
    # the entry point's module is light (no NumPy, no refrnn), so that the
    # handler that turns Ctrl-C into one line is in place before the heavy imports
    code = (f"import sys; from {module} import {func}; "
            "assert 'numpy' not in sys.modules and 'refrnn' not in sys.modules; "
            "sys.stderr.write('ready\\n'); sys.stderr.flush(); "
            f"sys.argv[0] = 'refrnn'; {func}()")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # from 10 ms: a signal sent the instant 'ready' is read can land in this -c
    # code's last bytecodes, before main() is entered (a loaded machine made
    # that happen at 0.0 with the earlier launch code too)
    for i, delay in enumerate([0.01, 0.02, 0.05, 0.1, 0.2, 0.4]):
        p = subprocess.Popen([sys.executable, "-c", code, "train", *TINY, "--cache-path",
                              cache_file, "--out", tmp_path / f"run{i}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert p.stderr.readline() == "ready\n"
        time.sleep(delay)  # within refrnn's imports (about a second), or just after
        p.send_signal(signal.SIGINT)
        err = p.stderr.read()
        assert p.wait(timeout=120) == 130, (delay, err)
        assert "Traceback" not in err and "Aborted" not in err, (delay, err)
        assert err.strip().startswith("interrupted"), (delay, err)


def test_sigterm_while_starting_is_one_line_and_leaves_nothing(tmp_path, cache_file):
    """SIGTERM before train's own handlers are in place (imports, the cache, the
    model) was a silent death (exit -15) that could leave a run directory
    holding only its lock file; now it unwinds as Ctrl-C does: one line, exit
    143, and no run directory without a checkpoint. Before refrnn_cli.launch.main
    runs (the first milliseconds) the default action may still end the process
    silently, which writes nothing."""
    import signal
    import time
    from importlib.metadata import entry_points
    (ep,) = tuple(entry_points(group="console_scripts", name="refrnn"))
    module, func = ep.value.split(":")
    code = (f"import sys; from {module} import {func}; "
            "sys.stderr.write('ready\\n'); sys.stderr.flush(); "
            f"sys.argv[0] = 'refrnn'; {func}()")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    handled = 0
    for i, delay in enumerate([0.01, 0.05, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3]):
        out = tmp_path / f"run{i}"
        p = subprocess.Popen([sys.executable, "-c", code, "train", *TINY, "--steps", "400",
                              "--cache-path", cache_file, "--out", out], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert p.stderr.readline() == "ready\n"
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        err = p.stderr.read()
        rc = p.wait(timeout=120)
        assert not out.exists() or (out / "last.h5").is_file(), (delay, sorted(out.iterdir()))
        if rc == -signal.SIGTERM and not err:  # before main() ran (a loaded machine
            continue                          # can hold the child there a while)
        assert rc == 143, (delay, rc, err)
        assert "Traceback" not in err and "Aborted" not in err, (delay, err)
        assert err.strip().startswith("interrupted (SIGTERM)"), (delay, err)
        handled += 1
    assert handled >= 5, handled  # the earlier code handled none: all were silent


def test_config_file_errors_name_the_file(tmp_path, cache_file):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hidden": -4}')
    r = invoke("train", "--config", bad, "--out", tmp_path / "r")
    line = one_error_line(r)
    assert f"config file {str(bad)!r}: hidden must be" in line, line
    assert "'--hidden'" not in line  # the option was not given
    r = invoke("train", "--config", bad, "--hidden", "-5", "--out", tmp_path / "r")
    assert "'--hidden'" in one_error_line(r) and str(bad) not in r.output  # the option's
    newer = tmp_path / "newer.toml"
    newer.write_text("hidden = 16\nwarp_drive = 3\n")
    line = one_error_line(invoke("train", "--config", newer, "--out", tmp_path / "r"))
    assert f"config file {str(newer)!r}: unknown setting(s): 'warp_drive'" in line, line
    assert not (tmp_path / "r").exists()


def test_python_errors_say_python_arguments_and_the_cli_its_flags(tmp_path, cache_file):
    import pytest
    from refrnn.run.settings import ConfigError
    from refrnn.run.training import train
    out = train_tiny(tmp_path / "run", cache_file)
    kw = dict(hidden=16, sparsity=0.25, batch_size=4, seq_len=40, steps=6, eval_every=3,
              trials_per_task=8, eval_trials=3, cache_path=cache_file, quiet=True)
    with pytest.raises(ConfigError) as e:
        train(out=str(out), **kw)
    assert "pass resume=True to continue it or force=True to overwrite it" in str(e.value)
    assert "--" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        train(out=str(tmp_path / "none"), resume=True, **kw)
    assert "start it without resume=True" in str(e.value) and "--" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        train(out=str(out), resume=True, **dict(kw, seed=5))
    assert "(start a new run, or force=True)" in str(e.value)
    r = invoke("train", *TINY, "--cache-path", cache_file, "--out", out)
    assert "pass --resume to continue it or --force to overwrite it" in one_error_line(r)
    r = invoke("train", *TINY, "--cache-path", cache_file, "--out", out, "--resume",
               "--seed", "5")
    line = one_error_line(r)
    assert "(start a new run, or --force)" in line and "=True" not in line, line


def test_ctrl_c_in_a_finaliser_is_delivered_not_ignored():
    """Ctrl-C while the garbage collector runs a weakref callback or __del__
    (seen while train starts: 'Exception ignored in: ...WeakValueDictionary...
    KeyboardInterrupt', then the run trained on to the end) reaches the program."""
    code = ("from refrnn_cli.launch import install_interrupt_handlers as i; i()\n"
            "class A:\n"
            "    def __del__(self):\n"
            "        raise KeyboardInterrupt\n"
            "def work():\n"
            "    return sum(range(10))\n"
            "try:\n"
            "    A()\n"
            "    for _ in range(1000):\n"
            "        work()\n"
            "    print('lost')\n"
            "except KeyboardInterrupt:\n"
            "    print('delivered')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.strip() == "delivered", (r.stdout, r.stderr)
    assert "Exception ignored" not in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_ctrl_c_before_trains_handlers_names_itself(tmp_path, cache_file, monkeypatch):
    """A bare KeyboardInterrupt while train sets up (after its first line, before
    its own handlers) printed an empty line; now 'interrupted (Ctrl-C)', exit 130."""
    import refrnn.run.training as training

    def interrupted(cfg):
        raise KeyboardInterrupt
    monkeypatch.setattr(training, "check_run_fits", interrupted)
    r = invoke("train", *TINY, "--cache-path", cache_file, "--out", tmp_path / "run")
    assert r.exit_code == 130, r.output
    assert r.output.strip().splitlines()[-1] == "interrupted (Ctrl-C)", r.output
    assert not (tmp_path / "run").exists()
