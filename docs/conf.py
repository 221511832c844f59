"""Sphinx configuration of refrnn's documentation site (docs/ is the source).

Build (from the repository root, with the ``docs`` extra installed):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

``-W`` turns every warning into an error: a broken cross-reference, a link
to a missing page or heading, a page left out of the navigation, a
docstring autodoc cannot parse, or a tutorial cell that raises. The
tutorials (docs/tutorials/*.md, MyST-NB text notebooks) are executed during
the build; the API pages (docs/api/) are written here from the package's
module list, so a module added, renamed or removed cannot be forgotten.
"""
import os
import pkgutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))     # plain_docstrings

import refrnn  # noqa: E402

project = "refrnn"
author = "the refrnn authors"
copyright = "2026, the refrnn authors"
release = version = refrnn.__version__

extensions = [
    "myst_nb",                    # Markdown pages and text notebooks (MyST), executed
    "sphinx.ext.autodoc",         # the API reference, from the docstrings
    "sphinx.ext.napoleon",        # "Args:" / "Returns:" docstring sections
    "sphinx.ext.viewcode",        # each API entry links to its highlighted source
    "sphinx-mathjax-offline",     # MathJax served from the site itself, no CDN
    "plain_docstrings",           # docs/plain_docstrings.py: plain-text docstrings as RST
]

source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_static", "README*"]
root_doc = "index"

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3          # [text](tasks.md#scoring) links to headings

# Notebook execution: every tutorial runs during the build; an error in a
# cell fails it. "cache" re-runs a tutorial only when its code changed.
nb_execution_mode = os.environ.get("REFRNN_DOCS_EXECUTE", "cache")
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

napoleon_use_ivar = True          # "Attributes:" as fields, not a second copy of each attribute
# napoleon reads a "Returns:" line such as "dict with the keys of params: ..."
# as a return type and tries to cross-reference its words; an ambiguous word
# is then a warning that says nothing about the page (only without -n).
suppress_warnings = ["ref.python"]

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True  # show "xp=np", not the repr of the numpy module
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "alabaster"
html_title = f"refrnn {release}"
html_static_path = ["_static"]       # custom.css: alabaster links it itself
html_theme_options = {
    "description": "locality-masked RNNs with hand-written BPTT",
    "fixed_sidebar": True,
    "page_width": "1240px",
    "sidebar_width": "230px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}

# ---- the API pages: one per subpackage, one section per module --------------
LAYERS = [
    ("files", "Files: atomic writes, errors, locks, notices, tables, figures, digests"),
    ("backends", "Backends: the array primitives the engine runs on"),
    ("core", "Core: the network, its equation and its gradient"),
    ("tasks", "Tasks: the Yang 2019 and Mod-Cog task batteries"),
    ("data", "Data: the trial cache and batches"),
    ("score", "Score: a network scored on held-out trials, the scoring rules, the table"),
    ("run", "Run: the training loop, its harness, settings, checkpoints, opening a run"),
    ("experiments", "Experiments: grids, sweeps, summaries, plots"),
    ("verify", "Verify: finite differences, the PyTorch twin, export"),
    ("analysis", "Analysis: looking inside a trained network"),
]


def _modules(package: str) -> list:
    pkg = __import__(f"refrnn.{package}", fromlist=["__path__"])
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_api_pages() -> None:
    """docs/api/index.rst and one page per subpackage of refrnn (generated, not in git).

    reStructuredText, not MyST: autodoc emits reStructuredText, which the
    page's own parser must read.
    """
    api = DOCS / "api"
    api.mkdir(exist_ok=True)
    known = {name for name, _ in LAYERS}
    found = {m.name for m in pkgutil.iter_modules(refrnn.__path__) if m.ispkg}
    if found - known:
        raise RuntimeError(f"docs/conf.py: add the subpackages {sorted(found - known)} to LAYERS")
    index = ["API reference", "=============", "",
             "Generated from the docstrings. The package is layered: each subpackage "
             "imports only those above it in this list (see :doc:`../architecture`).", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    for name, title in LAYERS:
        if name not in found:
            continue
        index.append(f"   {name}")
        lines = [title, "=" * len(title), "", f".. automodule:: refrnn.{name}",
                 "   :no-members:", ""]
        for mod in _modules(name):
            head = f"``refrnn.{name}.{mod}``"
            lines += [head, "-" * len(head), "", f".. automodule:: refrnn.{name}.{mod}", ""]
        _write_if_changed(api / f"{name}.rst", "\n".join(lines))
    _write_if_changed(api / "index.rst", "\n".join(index + [""]))


write_api_pages()
