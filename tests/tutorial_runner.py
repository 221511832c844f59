"""Run a MyST-NB tutorial's code cells in order, in plain Python (no Jupyter).

The tutorials in docs/tutorials/ are MyST markdown notebooks: code lives in
```{code-cell} ipython3``` blocks. ``run_tutorial`` executes them top to
bottom in one namespace (matplotlib on the Agg backend, figures closed) and
returns that namespace, so a test can check the numbers the text talks
about. ``python tests/tutorial_runner.py FILE...`` prints each one's run time
(wall clock, and CPU time over all threads).
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.S | re.M)
TUTORIALS = Path(__file__).resolve().parent.parent / "docs" / "tutorials"


def code_cells(path) -> list[str]:
    """The source of every code cell of a MyST notebook, in order."""
    text = Path(path).read_text(encoding="utf-8")
    cells = CELL.findall(text)
    if not cells:
        raise ValueError(f"{path}: no code cells")
    return cells


def run_tutorial(path, tmp_dir=None) -> dict:
    """Execute the notebook's cells in one namespace; returns it (and "_seconds").

    ``tmp_dir``: where the cells' ``tempfile.mkdtemp`` folders go (default:
    the system's temporary folder).
    """
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = {"__name__": "__tutorial__"}
    saved, tempfile.tempdir = tempfile.tempdir, (str(tmp_dir) if tmp_dir else tempfile.tempdir)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        for i, src in enumerate(code_cells(path)):
            exec(compile(src, f"{Path(path).name}[cell {i}]", "exec"), ns)
            plt.close("all")
    finally:
        tempfile.tempdir = saved
    ns["_seconds"] = time.perf_counter() - t0
    ns["_cpu_seconds"] = time.process_time() - c0   # all threads of this process
    return ns


if __name__ == "__main__":
    for p in sys.argv[1:]:
        if not CELL.search(Path(p).read_text(encoding="utf-8")):
            print(f"{p}: no code cells, skipped")
            continue
        ns = run_tutorial(p)
        print(f"{p}: {ns['_seconds']:.1f} s wall, {ns['_cpu_seconds']:.1f} s CPU", flush=True)
