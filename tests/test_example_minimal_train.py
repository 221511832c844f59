"""examples/minimal_train.py: one screen, the public API alone, and the loss falls."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import refrnn

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "minimal_train.py"


def test_it_fits_one_screen_and_uses_the_public_api_only():
    text = SCRIPT.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 60
    tree = ast.parse(text)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert imported == {"argparse", "numpy", "refrnn"}
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "refrnn"}
    assert used and used <= set(refrnn.__all__), used - set(refrnn.__all__)


def test_the_loss_falls_and_every_task_is_scored(tmp_path):
    p = subprocess.run([sys.executable, str(SCRIPT), "--steps", "40", "--hidden", "32"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    losses = [float(x) for x in re.findall(r"^step +\d+  loss (\S+)$", p.stdout, re.M)]
    assert len(losses) == 5, p.stdout  # steps 1, 10, 20, 30, 40
    assert losses[-1] < 0.7 * losses[0], losses
    scored = re.findall(r"^(\w+) +perf [01]\.\d\d$", p.stdout, re.M)
    assert scored == refrnn.task_names("yang19"), p.stdout
    assert re.search(r"^mean perf [01]\.\d{3}$", p.stdout, re.M), p.stdout
    assert list(tmp_path.iterdir()) == []  # no run directory, nothing written
