"""The layer rule of refrnn, as data, and the checker that enforces it.

Data flows one way: tasks -> data -> core -> score -> run -> files, with
experiments, verify and the CLI on top (docs/architecture.md). A layer is a
folder of refrnn/ (``refrnn/core/`` is the layer ``core``); ``cli/`` (installed
as ``refrnn_cli``) is the layer ``cli``; ``refrnn/__init__.py`` is the public
surface, the layer ``refrnn``. The checker reads every module's syntax tree
(nothing is imported) and reports, one line each:

- an import of a layer that ``LAYERS`` does not allow (an upward import;
  experiments and verify do not import each other; nothing imports cli);
- an import cycle between modules (packages count: importing ``refrnn.tasks``
  runs ``refrnn/tasks/__init__.py`` and whatever that imports);
- an import inside a function, unless it is an optional extra
  (``OPTIONAL_EXTRAS``) or one of the few ``LAZY_FOR_MINIMAL`` imports that let
  a module import with numpy and scipy only;
- an import of a private name (``_x``) from another module, or a read of
  ``module._x`` through an imported module;
- a pure module (``PURE``: the training loop) that imports, directly or
  through any refrnn module it imports, the run directory's bookkeeping
  (files, locks, checkpoints, metrics.csv, progress, settings files, the
  CLI), or a standard module that reaches files, clocks, signals or the
  terminal.

``check_sources({path: source})`` takes the sources as text, so tests can feed
it small synthetic trees and watch it fail.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

# Which layers a layer may import besides itself.
_BELOW_RUN = {"score", "core", "data", "tasks", "backends", "files"}
LAYERS = {
    "files": set(),
    "backends": set(),
    "tasks": set(),
    "core": {"backends", "tasks"},
    "data": {"tasks", "backends", "files"},
    "score": {"core", "data", "tasks", "backends", "files"},
    "run": _BELOW_RUN,
    "experiments": {"run"} | _BELOW_RUN,
    "verify": {"run"} | _BELOW_RUN,
    "analysis": {"run"} | _BELOW_RUN,
    # refrnn/__init__.py: the public surface a script imports
    "refrnn": {"run", "experiments", "verify", "analysis"} | _BELOW_RUN,
    "cli": {"refrnn", "run", "experiments", "verify", "analysis"} | _BELOW_RUN,
}

# Packages a function may import when it needs them (not installed by default).
OPTIONAL_EXTRAS = {"cupy", "cupyx", "torch", "dask", "distributed", "matplotlib",
                   "threadpoolctl"}

# Required packages a module imports inside the one function that needs them,
# so that the module itself imports with numpy and scipy only. files.atomic is
# imported by every writer (tables, evaluation's eval.csv); only
# atomic_write_h5 needs h5py.
LAZY_FOR_MINIMAL = {
    "refrnn.files.atomic": {"h5py"},
    # Dataset reads the HDF5 trial cache; the rest of data/ imports without h5py
    "refrnn.data.dataset": {"refrnn.data.cache"},
    # the refrnn script's entry point: Ctrl-C while the command line imports
    # NumPy and refrnn must land in its handler, so it imports them in main()
    "refrnn_cli.launch": {"refrnn_cli.main"},
}

# Modules that must stay pure: module -> (refrnn modules (and their
# sub-modules) that nothing in its import closure may be, standard or
# third-party modules it may not import itself).
_BOOKKEEPING = ("refrnn.files", "refrnn.run.checkpoint", "refrnn.run.checkpoint_check",
                "refrnn.run.harness", "refrnn.run.metrics_csv", "refrnn.run.progress",
                "refrnn.run.run_dir", "refrnn.run.training", "refrnn.run.open_run",
                "refrnn.score.table", "refrnn.run.settings", "refrnn.data.cache",
                "refrnn.data.cache_file", "refrnn_cli")
_OUTSIDE_WORLD = ("os", "sys", "io", "time", "signal", "threading", "pathlib", "shutil",
                  "tempfile", "json", "csv", "h5py", "click", "warnings", "logging")
PURE = {"refrnn.run.loop": (_BOOKKEEPING, _OUTSIDE_WORLD)}

# Where the checked code lives: (folder, its import name).
PACKAGES = (("refrnn", "refrnn"), ("cli", "refrnn_cli"))
# Also checked for private imports only.
SCRIPT_FOLDERS = ("examples", "benchmarks")

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def module_name(path: str):
    """'refrnn/core/model.py' -> ('refrnn.core.model', False); a package's
    __init__.py -> (its name, True); None for a file outside the packages."""
    parts = Path(path).with_suffix("").parts
    for folder, name in PACKAGES:
        if parts and parts[0] == folder:
            is_pkg = parts[-1] == "__init__"
            mod = [name] + list(parts[1:-1] if is_pkg else parts[1:])
            return ".".join(mod), is_pkg
    return None


def layer_of(module: str):
    """The layer a module belongs to ('refrnn.core.model' -> 'core')."""
    parts = module.split(".")
    if parts[0] == "refrnn_cli":
        return "cli"
    if parts == ["refrnn"]:
        return "refrnn"
    return parts[1]


def _parents(module: str):
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(node: ast.ImportFrom, module: str, is_pkg: bool) -> str:
    """The absolute module a ``from ... import`` names."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(tree: ast.AST):
    """(node, inside_a_function) for every import statement."""
    out = []

    def walk(node, in_fn):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, in_fn))
            walk(child, in_fn or isinstance(child, _FUNCTIONS))

    walk(tree, False)
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Module:
    def __init__(self, path, source):
        self.path = path
        self.tree = ast.parse(source, filename=path)
        named = module_name(path)
        self.name, self.is_pkg = named if named else (None, False)


def _targets(mod, node, known):
    """The known modules an import statement loads, explicitly named."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    src = _resolve(node, mod.name, mod.is_pkg) if mod.name else (node.module or "")
    subs = [f"{src}.{a.name}" for a in node.names if f"{src}.{a.name}" in known]
    own_parent = mod.name and src in _parents(mod.name)
    out = list(subs)
    # `from . import sibling` does not need the package's own names;
    # anything else from a package is read from its __init__.
    if src in known and not (own_parent and len(subs) == len(node.names)):
        out.append(src)
    return out


def _edges(mods, known):
    """module -> {module: first line importing it}, packages included."""
    edges = {m.name: {} for m in mods if m.name}
    for m in mods:
        if not m.name:
            continue
        for node, _ in _imports(m.tree):
            for t in _targets(m, node, known):
                loaded = [t] + [p for p in _parents(t)
                                if p not in ("refrnn", "refrnn_cli")
                                and p not in _parents(m.name)]
                for x in loaded:
                    if x != m.name and x in known:
                        edges[m.name].setdefault(x, node.lineno)
    return edges


def _cycles(edges):
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, on, stack, groups = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def _cycle_path(group, edges):
    """One closed path through a strongly connected group: [a, b, ..., a]."""
    start, members = group[0], set(group)
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v]):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return path[::-1] + [start]
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return group


def check_sources(sources: dict) -> list:
    """Every violation of the rule in ``{path: source}``, one line each, sorted."""
    mods = [_Module(p, s) for p, s in sorted(sources.items())]
    known = {m.name for m in mods if m.name}
    by_name = {m.name: m for m in mods if m.name}
    problems = []

    for m in mods:
        if m.name:
            layer = layer_of(m.name)
            if layer not in LAYERS:
                problems.append(f"{m.path}: layer {layer!r} is not in LAYERS "
                                "(add it to the rule, or move the module into a layer)")
                continue
        module_aliases = {}
        for node, in_fn in _imports(m.tree):
            line = f"{m.path}:{node.lineno}"
            if m.name:
                for t in _targets(m, node, known):
                    tl = layer_of(t)
                    if tl != layer and tl not in LAYERS[layer]:
                        problems.append(f"{line}: upward import: {layer} imports {t} "
                                        f"(layer {tl}; {layer} may import "
                                        f"{', '.join(sorted(LAYERS[layer])) or 'nothing of refrnn'})")
                if in_fn:
                    if isinstance(node, ast.Import):
                        names = [a.name for a in node.names]
                    else:
                        src = _resolve(node, m.name, m.is_pkg)
                        names = [src] if node.level == 0 else (
                            sorted(_targets(m, node, known)) or [src])
                    lazy = LAZY_FOR_MINIMAL.get(m.name, ())
                    for n in names:
                        top = n.split(".")[0]
                        if top in OPTIONAL_EXTRAS or top in lazy or n in lazy:
                            continue
                        problems.append(f"{line}: import of {n} inside a function "
                                        "(only optional extras may be imported there)")
            # private names, in every checked file
            if isinstance(node, ast.ImportFrom):
                src = _resolve(node, m.name, m.is_pkg) if m.name else (node.module or "")
                for a in node.names:
                    if _private(a.name):
                        problems.append(f"{line}: imports private {a.name} from {src}")
                    if f"{src}.{a.name}" in known:
                        module_aliases[a.asname or a.name] = f"{src}.{a.name}"
            else:
                for a in node.names:
                    if any(_private(p) for p in a.name.split(".")) and a.name.split(".")[0] in ("refrnn", "refrnn_cli"):
                        problems.append(f"{line}: imports private module {a.name}")
                    if a.asname:
                        module_aliases[a.asname] = a.name
        for node in ast.walk(m.tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in module_aliases and _private(node.attr)):
                problems.append(f"{m.path}:{node.lineno}: reads private "
                                f"{module_aliases[node.value.id]}.{node.attr}")

    edges = _edges(mods, known)
    for name, (banned, outside) in PURE.items():
        if name in by_name:
            problems += _impurities(by_name[name], edges, banned, outside)
    for group in _cycles(edges):
        path = _cycle_path(group, edges)
        steps = " -> ".join(f"{a} ({by_name[a].path}:{edges[a][b]})"
                            for a, b in zip(path, path[1:]))
        problems.append(f"import cycle: {steps} -> {path[-1]}")
    return sorted(set(problems), key=_line_order)


def _impurities(mod, edges, banned, outside) -> list:
    """What makes the pure module ``mod`` impure: a banned module in its import
    closure (named with the path that reaches it) or an outside-world import."""
    out = []
    for node, _ in _imports(mod.tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if node.level == 0 else [])
        for n in names:
            if n.split(".")[0] in outside:
                out.append(f"{mod.path}:{node.lineno}: pure module {mod.name} imports {n}")
    via = {mod.name: [mod.name]}
    frontier = [mod.name]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges.get(v, ())):
                if w not in via:
                    via[w] = via[v] + [w]
                    nxt.append(w)
        frontier = nxt
    for target, path in sorted(via.items()):
        if any(target == b or target.startswith(b + ".") for b in banned):
            out.append(f"pure module {mod.name} imports bookkeeping {target} "
                       f"(through {' -> '.join(path)})")
    return out


def _line_order(problem: str):
    """Sort by file, then by line number as a number."""
    m = re.match(r"([^:]+):(\d+):", problem)
    return (m.group(1), int(m.group(2)), problem) if m else ("~", 0, problem)


def tree_sources(root) -> dict:
    """{path relative to root: source} for every module the rule covers."""
    root = Path(root)
    out = {}
    for folder in [f for f, _ in PACKAGES] + list(SCRIPT_FOLDERS):
        for p in sorted((root / folder).rglob("*.py")):
            out[p.relative_to(root).as_posix()] = p.read_text(encoding="utf-8")
    return out
