"""docs/architecture.md names every module of refrnn/ and cli/, and only modules
that exist; README.md names only module paths that exist."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a module path ("refrnn/core/model.py") or a package folder ("refrnn/core/")
NAMED = re.compile(r"\b((?:refrnn|cli)/(?:[A-Za-z_]\w*/)*(?:[A-Za-z_]\w*\.py)?)(?![\w/])")
SCRIPT = re.compile(r"\b((?:refrnn|cli|examples|benchmarks|tests)/(?:\w+/)*\w+\.py)\b")


def named(text):
    return {m for m in NAMED.findall(text) if m.endswith((".py", "/"))}


def modules():
    return sorted(p.relative_to(ROOT).as_posix()
                  for folder in ("refrnn", "cli") for p in (ROOT / folder).rglob("*.py"))


def unnamed(mods, names):
    """Modules the page does not name; a package's __init__.py counts as named
    when its folder is."""
    out = []
    for m in mods:
        folder = m[: -len("__init__.py")]
        if m in names or (m.endswith("/__init__.py") and folder in names):
            continue
        out.append(m)
    return out


def test_architecture_names_every_module():
    names = named((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    missing = unnamed(modules(), names)
    assert not missing, "docs/architecture.md does not name: " + ", ".join(missing)


def test_architecture_names_only_modules_that_exist():
    names = named((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    gone = sorted(n for n in names if not (ROOT / n).exists())
    assert not gone, "docs/architecture.md names what does not exist: " + ", ".join(gone)


def test_readme_module_paths_exist():
    paths = set(SCRIPT.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    assert "refrnn/core/engine.py" in paths
    gone = sorted(p for p in paths if not (ROOT / p).exists())
    assert not gone, "README.md names paths that do not exist: " + ", ".join(gone)


def test_the_check_can_fail():
    names = named("refrnn/core/model.py and refrnn/tasks/ and cli/main.py, not refrnn.core")
    assert names == {"refrnn/core/model.py", "refrnn/tasks/", "cli/main.py"}
    mods = ["refrnn/core/model.py", "refrnn/core/masks.py", "refrnn/tasks/__init__.py",
            "refrnn/data/__init__.py", "cli/main.py"]
    assert unnamed(mods, names) == ["refrnn/core/masks.py", "refrnn/data/__init__.py"]
