"""`import refrnn` and one training step need numpy and scipy only.

Runs tests/minimal_env_check.py in a fresh Python where h5py and click cannot
be imported (a sys.meta_path blocker installed before anything else). .ci/run
runs the same script in a venv that has only numpy and scipy installed.
"""
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parent / "minimal_env_check.py"


def run_check(tmp_path, *args):
    return subprocess.run([sys.executable, str(CHECK), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_refrnn_imports_and_trains_without_h5py_and_click(tmp_path):
    r = run_check(tmp_path, "--block", "h5py,click")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "minimal-dependency check: PASS" in r.stdout
    assert "train (h5py)" in r.stdout


def test_check_fails_where_h5py_is_importable(tmp_path):
    pytest.importorskip("h5py")
    r = run_check(tmp_path)  # nothing blocked: refrnn.train loads, so the check must say so
    assert r.returncode == 1
    assert r.stdout.startswith("minimal-dependency check: FAIL: refrnn.train")


def test_missing_package_is_one_line(monkeypatch):
    import refrnn

    real = refrnn.importlib.import_module

    def without_h5py(name):
        if name == "refrnn.data.cache":
            raise ModuleNotFoundError("No module named 'h5py'", name="h5py")
        return real(name)

    monkeypatch.setattr(refrnn.importlib, "import_module", without_h5py)
    monkeypatch.delitem(vars(refrnn), "open_cache", raising=False)
    with pytest.raises(ImportError) as e:
        refrnn.open_cache
    assert str(e.value) == "refrnn.open_cache needs h5py: pip install h5py"


def test_public_names_resolve():
    import refrnn

    for name in refrnn.__all__:
        assert getattr(refrnn, name) is not None, name
    assert set(refrnn.__all__) <= set(dir(refrnn))
    with pytest.raises(AttributeError):
        refrnn.no_such_name
