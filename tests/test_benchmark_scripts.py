"""The measurement scripts behind docs' speed claims run and print what they
say they print (benchmarks/blocks.py, noise.py, calls.py, inputs.py); no
timing is checked here."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(script, *args):
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_blocks_compares_csr_and_each_strip_width():
    out = run("blocks.py", "--sizes", "256", "--reps", "2")
    assert "csr_matvecs" in out and "plan: bc=8" in out
    widths = re.findall(r"^\s+(8|16)\s+0\.\d\d\s", out, flags=re.M)
    assert widths == ["8", "16"], out


def test_noise_times_every_method():
    out = run("noise.py", "--elements", "300000", "--reps", "1")
    for name in ("box-muller sfc64", "uniforms sfc64", "ziggurat sfc64 f32",
                 "ziggurat pcg64 f32", "ziggurat pcg64 f64", "inverse cdf sfc64"):
        assert re.search(rf"^{re.escape(name)}\s+\d", out, flags=re.M), (name, out)


def test_calls_per_step_are_whole_numbers():
    """The count is exact: T and 2T steps differ by the same calls every step."""
    out = run("calls.py", "--steps", "5")
    m = re.search(r"calls per time step: forward (\S+), backward (\S+);", out)
    assert m, out
    fwd, bwd = float(m.group(1)), float(m.group(2))
    assert fwd == int(fwd) and bwd == int(bwd) and fwd >= 4 and bwd >= 4


def test_inputs_times_both_gemms_and_the_gather():
    out = run("inputs.py", "--sizes", "32", "--reps", "1")
    assert re.search(r"^\s+32(\s+\d+\.\d){5}\s*$", out, flags=re.M), out
