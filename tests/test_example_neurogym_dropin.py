"""examples/neurogym_dropin.py: neurogym's supervised-learning notebook on refrnn.Dataset
runs end to end (training and the env.new_trial() evaluation) without neurogym."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "neurogym_dropin.py"


@pytest.mark.parametrize("args", [["--task", "yang19.dm1-v0"],
                                  ["--task", "yang19", "--compat", "neurogym-2.3"]])
def test_runs_briefly(tmp_path, args):
    """Run as a user without neurogym (or gym) would: importing either fails."""
    env = {**os.environ, "REFRNN_CACHE_DIR": str(tmp_path)}
    argv = [str(SCRIPT), "--epochs", "20", "--trials", "5", "--seed", "0", *args]
    code = ("import runpy, sys; sys.modules['neurogym'] = sys.modules['gymnasium'] = "
            f"sys.modules['gym'] = None; sys.argv = {argv!r}; "
            f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert "Finished Training" in lines
    assert lines[lines.index("Average performance in 5 trials") + 1] in \
        {"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}
    assert lines[-1].startswith("last 100 updates' mean loss ")


def test_refuses_compat_on_neurogym(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--package", "neurogym", "--compat",
                        "neurogym-2.3"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--compat is refrnn's rule-set switch" in r.stderr
