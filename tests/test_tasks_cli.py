"""`refrnn tasks`: listing, sizes, period structure and bad input (exit 2)."""
from click.testing import CliRunner

from refrnn_cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, ["tasks", *args])


def test_lists_yang19_in_order():
    r = run("--task-set", "yang19")
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert "20 tasks" in lines[0] and "33 + 20" in lines[0] and "= 53" in lines[0]
    assert len(lines) == 21
    assert lines[1].split()[:2] == ["0", "go"] and lines[20].split()[:2] == ["19", "dnmc"]
    assert "delay 0 " in lines[1] and "fixation 200..400/100" in lines[7]


def test_modcog_and_one_task():
    r = run("--task-set", "modcog")
    assert r.exit_code == 0 and len(r.output.strip().splitlines()) == 127
    r = run("--task-set", "modcog", "--task", "dmsintlseqr")
    assert r.exit_code == 0, r.output
    assert "delay 0..1100/100" in r.output and "decision 1000" in r.output
    r = run("--task", "go", "--compat", "modcog-2023")
    assert "delay 500 " in r.output


def test_bad_input_exits_2_with_hint():
    r = run("--task-set", "modcog83")
    assert r.exit_code == 2 and "modcog82" in r.output and "Traceback" not in r.output
    r = run("--task", "dlygoo")
    assert r.exit_code == 2 and "dlygo" in r.output
    r = run("--task-set", "yang19", "--task", "dlygointr")
    assert r.exit_code == 2 and "not in task set" in r.output
    assert run("--dt", "0").exit_code == 2


def test_dt_that_floors_the_periods_is_refused_as_by_train():
    r = run("--dt", "33")
    assert r.exit_code == 2 and "--dt" in r.output and "does not divide" in r.output
    assert "Traceback" not in r.output
    assert run("--dt", "20").exit_code == 0


def test_a_closed_pipe_ends_quietly():
    """`refrnn tasks | head -1`: the reader leaves early; no error line, no traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "from refrnn_cli.main import cli; cli()",
                             "tasks", "--task-set", "modcog"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    proc.stdout.close()  # gone before the first line is written: that write fails
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Error" not in err and "Traceback" not in err, err
