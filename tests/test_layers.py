"""The layer rule (tests/layer_rule.py) holds on the tree, and its checker can fail.

The rule, as LAYERS says it: files, backends and tasks import nothing of
refrnn; core imports backends and tasks (the trial format's constants and
check_int); data imports tasks, backends and files; score
imports those and core; run imports those and score; experiments, verify and analysis import run and below
(not each other); refrnn/__init__.py and cli/ sit on top; nothing in refrnn/
imports cli. No cycles; imports inside functions only for optional extras; no
private names across modules.
"""
from pathlib import Path

import pytest

from layer_rule import LAYERS, check_sources, tree_sources

ROOT = Path(__file__).resolve().parents[1]

PKG = {"refrnn/__init__.py": "", "refrnn/core/__init__.py": "", "refrnn/run/__init__.py": "",
       "refrnn/data/__init__.py": "", "refrnn/files/__init__.py": "",
       "refrnn/experiments/__init__.py": "", "refrnn/verify/__init__.py": "",
       "cli/__init__.py": ""}


def check(files: dict):
    """check_sources on PKG plus ``files``: {'core/model': source} for refrnn/core/model.py."""
    sources = dict(PKG)
    for key, text in files.items():
        sources[(key if key.startswith("cli/") else "refrnn/" + key) + ".py"] = text
    return check_sources(sources)


def test_tree_follows_the_layer_rule():
    problems = check_sources(tree_sources(ROOT))
    if problems:
        pytest.fail(f"{len(problems)} violations of the layer rule (tests/layer_rule.py):\n"
                    + "\n".join(problems), pytrace=False)


def test_rule_names_only_layers():
    for layer, allowed in LAYERS.items():
        assert allowed <= set(LAYERS) - {layer}, layer
    assert "cli" not in set().union(*(LAYERS[k] for k in LAYERS if k != "cli"))


def test_clean_synthetic_tree_passes():
    assert check({"core/model": "import numpy as np\nfrom ..backends import plain\n",
                  "backends/plain": "import scipy.sparse\n",
                  "run/loop": "from ..core.model import RNN\nfrom ..data.stream import S\n"
                               "def f():\n    import torch\n",
                  "data/stream": "from ..tasks.trials import T\n",
                  "files/atomic": "def w():\n    import h5py\n",
                  "tasks/trials": "", "backends/__init__": "",
                  "tasks/__init__": ""}) == []


def test_reports_upward_import():
    problems = check({"core/model": "from ..run import loop\n", "run/loop": ""})
    assert any("refrnn/core/model.py:1: upward import: core imports refrnn.run.loop" in p
               for p in problems), problems


def test_reports_upward_import_of_a_package_and_of_the_cli():
    problems = check({"data/stream": "import refrnn.run\n",
                      "run/loop": "from refrnn_cli.main import cli\n",
                      "cli/main": ""})
    assert any("data imports refrnn.run " in p for p in problems), problems
    assert any("run imports refrnn_cli.main" in p for p in problems), problems


def test_experiments_and_verify_do_not_import_each_other():
    problems = check({"experiments/sweep": "from ..verify.export import x\n",
                      "verify/export": ""})
    assert any("experiments imports refrnn.verify.export" in p for p in problems), problems


def test_reports_a_layer_missing_from_the_rule():
    problems = check({"misc/thing": ""})
    assert any("layer 'misc' is not in LAYERS" in p for p in problems), problems


def test_reports_cycle_between_modules():
    problems = check({"core/model": "from .spectral import scale\n",
                      "core/spectral": "from .model import RNN\n"})
    assert ["import cycle: refrnn.core.model (refrnn/core/model.py:1) -> refrnn.core.spectral "
            "(refrnn/core/spectral.py:1) -> refrnn.core.model"] == problems


def test_reports_cycle_through_a_package_init():
    problems = check({"data/__init__": "from .stream import S\n",
                      "data/stream": "from .batch import B\n",
                      "data/batch": "from ..data import S\n"})
    assert len(problems) == 1 and problems[0].startswith("import cycle: refrnn.data "), problems


def test_package_init_importing_its_modules_is_no_cycle():
    # the parent package runs first; a module importing a sibling needs nothing from it
    assert check({"tasks/__init__": "from .registry import get_task\n",
                  "tasks/registry": "from .base import Task\nfrom . import base\n",
                  "tasks/base": ""}) == []


def test_reports_import_inside_function_unless_optional_extra():
    problems = check({"core/model": "def f():\n    import numpy as np\n"
                                    "def g():\n    import torch\n    import cupyx.scipy\n",
                      "core/losses": "def h():\n    from .model import RNN\n"
                                     "def k():\n    import h5py\n"})
    assert problems == [
        "refrnn/core/losses.py:2: import of refrnn.core.model inside a function "
        "(only optional extras may be imported there)",
        "refrnn/core/losses.py:4: import of h5py inside a function "
        "(only optional extras may be imported there)",
        "refrnn/core/model.py:2: import of numpy inside a function "
        "(only optional extras may be imported there)"]


def test_reports_private_imports_and_reads():
    problems = check({"data/cache": "from .cache_file import _write_batch, write\n"
                                    "from . import cache_file as L\n"
                                    "from .cache_file import write as _write\n"
                                    "x = L._layout\ny = L.__name__\n",
                      "data/cache_file": ""})
    assert problems == [
        "refrnn/data/cache.py:1: imports private _write_batch from refrnn.data.cache_file",
        "refrnn/data/cache.py:4: reads private refrnn.data.cache_file._layout"], problems


def test_private_imports_checked_in_examples_too():
    problems = check_sources({"examples/a.py": "import b as pc\nx = pc._pm\n"
                                               "from refrnn.data.cache import _task_rng\n"})
    assert problems == ["examples/a.py:2: reads private b._pm",
                        "examples/a.py:3: imports private _task_rng from refrnn.data.cache"]


def test_an_upward_import_or_a_cycle_added_to_the_tree_is_reported():
    sources = tree_sources(ROOT)
    before = set(check_sources(sources))

    def added(path, line):
        changed = dict(sources, **{path: sources[path] + "\n" + line + "\n"})
        return set(check_sources(changed)) - before, changed[path].count("\n")

    new, n = added("refrnn/core/masks.py", "from ..run.settings import TrainConfig")
    assert f"refrnn/core/masks.py:{n}: upward import: core imports refrnn.run.settings " \
           "(layer run; core may import backends, tasks)" in new, new
    new, n = added("refrnn/tasks/trials.py", "from . import registry")
    assert any(p.startswith("import cycle: refrnn.tasks.")
               and f"refrnn/tasks/trials.py:{n}" in p for p in new), new


def test_the_training_loop_imports_no_bookkeeping():
    """refrnn.run.loop is pure: no files, checkpoints, metrics, progress, CLI, clock."""
    sources = tree_sources(ROOT)
    assert "refrnn/run/loop.py" in sources
    before = set(check_sources(sources))
    assert not [p for p in before if "pure module" in p], before
    for line, what in (("from .checkpoint import save_checkpoint", "refrnn.run.checkpoint"),
                       ("from . import metrics_csv", "refrnn.run.metrics_csv"),
                       ("from ..score.evaluation import MEAN\nfrom .progress import fmt_loss",
                        "refrnn.run.progress"),
                       ("from ..files.atomic import atomic_write_text", "refrnn.files.atomic")):
        changed = dict(sources, **{"refrnn/run/loop.py": sources["refrnn/run/loop.py"]
                                   + "\n" + line + "\n"})
        new = set(check_sources(changed)) - before
        assert any(f"imports bookkeeping {what}" in p for p in new), (line, new)
    # through another module: evaluation importing a file writer makes the loop impure
    changed = dict(sources, **{"refrnn/score/evaluation.py": sources["refrnn/score/evaluation.py"]
                               + "\nfrom ..files.tables import write_csv\n"})
    new = set(check_sources(changed)) - before
    assert any("refrnn.run.loop imports bookkeeping refrnn.files.tables (through "
               "refrnn.run.loop -> refrnn.score.evaluation -> refrnn.files.tables)" in p
               for p in new), new
    changed = dict(sources, **{"refrnn/run/loop.py": "import time\n"
                               + sources["refrnn/run/loop.py"]})
    assert any("pure module refrnn.run.loop imports time" in p
               for p in check_sources(changed)), "a clock in the loop"
