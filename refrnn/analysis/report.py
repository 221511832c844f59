"""Everything ``refrnn analyze`` computes for one run, and the CSV files it writes.

    resolve_tasks(requested, net)        -> task names (AnalysisError on a bad name)
    analyze(net, options)                -> Analysis
    write_tables(analysis, out_dir)      -> list of CSV paths
    analyze_run(run_dir, checkpoint, tasks, out, **options) -> (Analysis, paths)

Per task, one at a time (docs/analysis.md): the noise-free states of the
held-out trials, their task variance (Yang et al. 2019's statistic unless
``tv_statistic`` names another; every TV table says which), covariance and
mean trajectory, and the starts of the fixed-point search: ``n_starts``
states drawn from that task's activity. Then the fixed and slow points of every task's map at once, each
under its fixation-period input (fixation unit and rule unit on, stimuli
off: the observation of the trials' first step), searched twice: from
states of the whole activity ("activity" starts), and, for tasks with a
delay (the same input again after a stimulus), from delay-period states
("delay" starts), where a memory of the stimulus would sit. Then over the
tasks: normalised task variance, clusters, fractional task variance, the
pooled PCA, and every point and trajectory in its PC space.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files.figures import check_figures
from ..files.ownership import check_replaceable
from ..files.tables import is_table_starting, write_csv
from ..run.open_run import checkpoint_choice
from ..tasks.registry import TASK_SETS, task_names
from .activity import AnalysisError, load_network, task_activity
from .clusters import choose_clusters, tasks_served
from .dimensionality import Moments, covariance_spectrum, explained, participation_ratio
from .dynamics import constant_input, model_dynamics, recurrent_matrix
from .figures import FIGURES, draw_all
from .fixed_points import MAX_ITER, find_fixed_points_many
from .fractional import default_pairs, fractional_variance, pair_units
from .slow_sets import continuous_sets
from .task_variance import DEFAULT_STATISTIC, STATISTICS, THRESHOLD, normalise, task_variance

N_PCS = 10


@dataclass
class Options:
    """Settings of one analysis (docs/analysis.md gives each one's reason)."""

    tasks: list | None = None
    max_trials: int | None = None   # trials per task (default: all held-out ones)
    n_starts: int = 32              # fixed-point starts per task
    q_tol: float = 1e-4             # slow point: q below this
    fp_iter: int = MAX_ITER         # L-BFGS iterations per start and round at most
    threshold: float = THRESHOLD    # summed task variance at or under which a unit is left out
    pairs: list | None = None       # FTV pairs (default: fractional.default_pairs)
    tv_statistic: str = DEFAULT_STATISTIC  # task_variance.STATISTICS: "yang" or "all-steps"
    seed: int = 0
    batch_size: int = 100

    def __post_init__(self):
        for name in ("q_tol", "threshold"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")


@dataclass
class Analysis:
    """What one analysis found (arrays described where they are made)."""

    run_dir: Path
    checkpoint: str
    step: int
    config: dict
    tasks: list
    tv: object = None                    # TaskVariance
    clustering: object = None            # Clustering or None
    cluster_note: str = ""
    ftv: dict = field(default_factory=dict)        # (A, B) -> (U',) values
    ftv_units: dict = field(default_factory=dict)  # (A, B) -> (U',) their unit indices
    pr_task: dict = field(default_factory=dict)    # task -> participation ratio
    var_task: dict = field(default_factory=dict)   # task -> first PCs' shares
    n_states: dict = field(default_factory=dict)
    pr_all: float = 0.0
    var_all: np.ndarray = None
    pcs: np.ndarray = None               # (N, 3) top PCs of the pooled activity
    mean_state: np.ndarray = None
    trajectories: dict = field(default_factory=dict)  # task -> (T, 3) mean trajectory in PC space
    fixed: dict = field(default_factory=dict)         # task -> FixedPoints, activity starts
    fixed_delay: dict = field(default_factory=dict)   # task -> FixedPoints, delay starts
    n_delay_states: dict = field(default_factory=dict)  # task -> delay-period states
    sets: dict = field(default_factory=dict)          # task -> [SlowSet], activity starts
    sets_delay: dict = field(default_factory=dict)    # task -> [SlowSet], delay starts
    seconds: float = 0.0


def resolve_tasks(requested, net) -> list:
    """The task names to analyse, in the run's one-hot order.

    ``requested``: None (all the run's tasks) or names, each a task or a task
    set (comma-separated lists allowed). A name that is no task, or one the
    run was not trained on, is an AnalysisError naming it.
    """
    have = list(net.task_names)
    if not requested:
        return have
    known = set(task_names("modcog")) | set(task_names("yang19"))
    wanted = []
    for item in requested:
        for name in (s.strip() for s in str(item).split(",")):
            if not name:
                continue
            if name in TASK_SETS:
                missing = [t for t in task_names(name) if t not in have]
                if missing:
                    raise AnalysisError(
                        f"the run was trained on {net.config.task_set} ({len(have)} tasks), "
                        f"not on task set {name!r} ({len(missing)} of its tasks are missing, "
                        f"e.g. {missing[0]!r})")
                wanted += task_names(name)
            elif name in have:
                wanted.append(name)
            elif name in known:
                raise AnalysisError(f"task {name!r} is not one the run was trained on "
                                    f"(task set {net.config.task_set}); see refrnn tasks")
            else:
                raise AnalysisError(f"unknown task {name!r}; see refrnn tasks for the names")
    if not wanted:
        raise AnalysisError(f"no task named in {list(requested)!r}; give task or task-set "
                            "names (see refrnn tasks), or none for all the run's tasks")
    return [t for t in have if t in set(wanted)]


def analyze(net, options: Options | None = None) -> Analysis:
    """Run every analysis on ``net`` (an activity.Network)."""
    opt = options or Options()
    t0 = time.perf_counter()
    tasks = resolve_tasks(opt.tasks, net)
    model, names = net.model, net.task_names
    N = model.config.n_hidden
    rng = np.random.default_rng(opt.seed)
    rng_delay = np.random.default_rng([opt.seed, 1])  # its own: activity starts stay put
    if opt.tv_statistic not in STATISTICS:
        raise AnalysisError(f"task-variance statistic must be one of {STATISTICS}, "
                            f"got {opt.tv_statistic!r}")
    no_fix = [t for t in tasks if "fixation" not in net.test_trials[t].period_names]
    if opt.tv_statistic == "yang" and no_fix:
        raise AnalysisError(f"task {no_fix[0]!r} has no fixation period, which the 'yang' "
                            "task variance drops; use the 'all-steps' statistic")
    pairs = opt.pairs if opt.pairs is not None else default_pairs(tasks)
    for A, B in pairs:  # checked before any work
        if A not in tasks or B not in tasks:
            raise AnalysisError(f"FTV pair {A}:{B} names a task not analysed ({A!r} and "
                                f"{B!r} must both be among the --tasks)")
    res = Analysis(net.run_dir, net.checkpoint, net.step, net.config.to_dict(), tasks)
    moments = Moments(N)
    tv = np.zeros((N, len(tasks)))
    means, starts, dyns, delay_starts, delay_tasks = {}, [], [], [], []
    W = recurrent_matrix(model)
    for a, task in enumerate(tasks):
        act = task_activity(model, net.test_trials[task], names.index(task), len(names),
                            opt.batch_size, opt.max_trials)
        tv[:, a] = task_variance(act.h, act.valid, act.fixation_end, opt.tv_statistic)
        states = act.states().astype(np.float64)
        moments.add(states)
        lam, _ = covariance_spectrum(states)
        res.pr_task[task] = participation_ratio(lam)
        res.var_task[task] = explained(lam, N_PCS)
        res.n_states[task] = states.shape[0]
        means[task] = act.h[:int(act.lengths.min())].astype(np.float64).mean(axis=1)
        starts.append(states[rng.choice(states.shape[0], replace=False,
                                        size=min(opt.n_starts, states.shape[0]))])
        dyns.append(model_dynamics(model, constant_input(act.first_obs, names.index(task),
                                                         len(names)), W))
        held = act.delay_states().astype(np.float64)
        res.n_delay_states[task] = held.shape[0]
        if held.shape[0]:
            delay_tasks.append(a)
            pick = rng_delay.choice(held.shape[0], replace=False,
                                    size=min(opt.n_starts, held.shape[0]))
            delay_starts.append(held[pick])
    found = find_fixed_points_many(dyns, starts, q_tol=opt.q_tol, max_iter=opt.fp_iter)
    res.fixed = dict(zip(tasks, found))
    res.sets = {t: continuous_sets(d, fp, opt.q_tol) for t, d, fp in zip(tasks, dyns, found)}
    if delay_tasks:
        found = find_fixed_points_many([dyns[a] for a in delay_tasks], delay_starts,
                                       q_tol=opt.q_tol, max_iter=opt.fp_iter)
        res.fixed_delay = {tasks[a]: fp for a, fp in zip(delay_tasks, found)}
        res.sets_delay = {tasks[a]: continuous_sets(dyns[a], fp, opt.q_tol)
                          for a, fp in zip(delay_tasks, found)}
    res.tv = normalise(tv, tasks, opt.threshold, opt.tv_statistic)
    U = int(res.tv.kept.sum())
    if U >= 3 and len(tasks) >= 2:
        res.clustering = choose_clusters(res.tv.norm, seed=opt.seed)
    else:
        res.cluster_note = (f"not clustered: {U} units above the threshold and "
                            f"{len(tasks)} task(s); need 3 units and 2 tasks")
    col = {t: i for i, t in enumerate(tasks)}
    for A, B in pairs:  # over the pair's own units (Yang et al.), not the kept ones
        a, b = res.tv.tv[:, col[A]], res.tv.tv[:, col[B]]
        res.ftv_units[(A, B)] = pair_units(a, b, opt.threshold)
        res.ftv[(A, B)] = fractional_variance(a, b, opt.threshold)
    lam, V, m = moments.spectrum()
    res.pr_all, res.var_all = participation_ratio(lam), explained(lam, N_PCS)
    res.pcs, res.mean_state = V[:, :3], m
    res.trajectories = {t: (means[t] - m) @ res.pcs for t in tasks}
    res.seconds = time.perf_counter() - t0
    return res


def _f(v, digits=6):
    return f"{float(v):.{digits}g}"


def fixed_point_rows(res: Analysis, starts="activity"):
    """One row per task searched from ``starts`` ("activity" or "delay"):
    starts, converged, unique points, their stability, the largest
    continuous set (docs/analysis.md)."""
    rows = []
    found, sets = (res.fixed, res.sets) if starts == "activity" else \
        (res.fixed_delay, res.sets_delay)
    for task, fp in found.items():
        big = sets[task][0] if sets[task] else None
        rows.append({"task": task, "starts": starts, "n_starts": fp.n_starts,
                     "n_converged": fp.n_converged, "n_not_converged": fp.n_not_converged,
                     "n_points": fp.n_points,
                     "n_stable": int(np.sum(fp.stability == "stable")),
                     "n_mixed": int(np.sum(fp.stability == "mixed")),
                     "n_on_kink": int(np.sum(fp.n_kink > 0)),
                     "min_q": _f(fp.q.min()) if fp.n_points else "",
                     "median_marginal": _f(np.median(fp.n_marginal)) if fp.n_points else "",
                     "continuous": int(big is not None),
                     "set_points": big.members.size if big else 0,
                     "set_dim": big.dim if big else 0,
                     "set_q_path": _f(big.q_path) if big else "",
                     "eigs_complete": int(fp.complete)})
    return rows


def summary_row(res: Analysis) -> dict:
    """The run's headline numbers (one CSV row; docs/analysis.md defines each)."""
    fpr = fixed_point_rows(res)
    c = res.clustering
    return {
        "run": str(res.run_dir), "checkpoint": res.checkpoint, "step": res.step,
        "task_set": res.config.get("task_set"), "mask": res.config.get("mask"),
        "hidden": res.config.get("hidden"), "n_tasks": len(res.tasks),
        "tv_statistic": res.tv.statistic,
        "n_units_kept": int(res.tv.kept.sum()), "n_units_dropped": res.tv.n_dropped,
        "n_clusters": c.k if c else "", "silhouette": _f(c.curve[c.k]) if c else "",
        "pr_all": _f(res.pr_all), "pr_task_mean": _f(np.mean(list(res.pr_task.values()))),
        "var_pc1": _f(res.var_all[0]), "var_pc3": _f(res.var_all[:3].sum()),
        "fp_per_task": _f(np.mean([r["n_points"] for r in fpr])),
        "fp_not_converged": sum(r["n_not_converged"] for r in fpr),
        "stable_per_task": _f(np.mean([r["n_stable"] for r in fpr])),
        "tasks_continuous": sum(r["continuous"] for r in fpr),
        "set_dim_mean": _f(np.mean([r["set_dim"] for r in fpr])),
        **_delay_summary(fixed_point_rows(res, "delay")),
        "seconds": _f(res.seconds, 4)}


def _delay_summary(rows) -> dict:
    """The delay-start search's headline numbers; empty cells without delays."""
    if not rows:
        return {"delay_tasks": 0, "delay_fp_per_task": "", "delay_not_converged": "",
                "delay_stable_per_task": "",
                "delay_tasks_continuous": "", "delay_set_dim_mean": ""}
    return {"delay_tasks": len(rows),
            "delay_fp_per_task": _f(np.mean([r["n_points"] for r in rows])),
            "delay_not_converged": sum(r["n_not_converged"] for r in rows),
            "delay_stable_per_task": _f(np.mean([r["n_stable"] for r in rows])),
            "delay_tasks_continuous": sum(r["continuous"] for r in rows),
            "delay_set_dim_mean": _f(np.mean([r["set_dim"] for r in rows]))}


# what write_tables writes: each file and its first columns
TABLES = {"summary.csv": ("run", "checkpoint"), "task_variance.csv": ("unit", "kept"),
          "clusters.csv": ("cluster", "n_units"), "silhouette.csv": ("k", "silhouette"),
          "ftv.csv": ("task_a", "task_b"), "dimensionality.csv": ("task", "n_states"),
          "fixed_point_tasks.csv": ("task", "starts"), "fixed_points.csv": ("task", "starts")}


def write_tables(res: Analysis, out, force=False) -> list:
    """Write the analysis CSVs (names: TABLES) into ``out`` (atomically; an
    existing file only when it is refrnn's, or with ``force``); returns their paths."""
    out = Path(out)
    tasks, tvr = res.tasks, res.tv
    stat = {"tv_statistic": tvr.statistic}
    labels = np.full(tvr.kept.size, -1)
    if res.clustering is not None:
        labels[tvr.kept] = res.clustering.labels
    paths = [write_csv(out / "summary.csv", force=force, record=True, rows=[summary_row(res)])]
    paths.append(write_csv(out / "task_variance.csv", force=force, record=True, rows=[
        {"unit": i, "kept": int(tvr.kept[i]), "cluster": int(labels[i]), **stat,
         **{t: _f(tvr.tv[i, a]) for a, t in enumerate(tasks)}}
        for i in range(tvr.kept.size)]))
    if res.clustering is not None:
        c = res.clustering
        served = tasks_served(c.centres, tasks)
        paths.append(write_csv(out / "clusters.csv", force=force, record=True, rows=[
            {"cluster": j, "n_units": int(np.sum(c.labels == j)),
             "tasks_served": " ".join(served[j]), **stat,
             **{t: _f(c.centres[j, a], 3) for a, t in enumerate(tasks)}}
            for j in range(c.k)]))
        paths.append(write_csv(out / "silhouette.csv", force=force, record=True, rows=[
            {"k": k, "silhouette": _f(s), "chosen": int(k == c.k), **stat}
            for k, s in c.curve.items()]))
    paths.append(write_csv(out / "ftv.csv", force=force, record=True, kind=TABLES["ftv.csv"], rows=[
        {"task_a": A, "task_b": B, "unit": int(i), "ftv": _f(v), **stat}
        for (A, B), vals in res.ftv.items() for i, v in zip(res.ftv_units[(A, B)], vals)]))
    dim = [{"task": t, "n_states": res.n_states[t], "n_delay_states": res.n_delay_states[t],
            "pr": _f(res.pr_task[t]),
            **{f"var_pc{j + 1}": _f(v) for j, v in enumerate(res.var_task[t][:3])}}
           for t in tasks]
    dim.append({"task": "all", "n_states": sum(res.n_states.values()),
                "n_delay_states": sum(res.n_delay_states.values()), "pr": _f(res.pr_all),
                **{f"var_pc{j + 1}": _f(v) for j, v in enumerate(res.var_all[:3])}})
    paths.append(write_csv(out / "dimensionality.csv", force=force, record=True, rows=dim))
    paths.append(write_csv(out / "fixed_point_tasks.csv",
                           fixed_point_rows(res) + fixed_point_rows(res, "delay"), record=True))
    rows = []
    for starts, task, fp, sets in \
            [("activity", t, fp, res.sets[t]) for t, fp in res.fixed.items()] + \
            [("delay", t, fp, res.sets_delay[t]) for t, fp in res.fixed_delay.items()]:
        xy = (fp.points - res.mean_state) @ res.pcs if fp.n_points else np.zeros((0, 3))
        in_set = np.full(fp.n_points, -1)
        for k, s in enumerate(sets):
            in_set[s.members] = k
        for p in range(fp.n_points):
            rows.append({"task": task, "starts": starts, "point": p, "q": _f(fp.q[p]),
                         "n_kink": int(fp.n_kink[p]), "stability": fp.stability[p],
                         "n_unstable": int(fp.n_unstable[p]), "slowest": _f(fp.slowest[p]),
                         "n_marginal": int(fp.n_marginal[p]), "set": int(in_set[p]),
                         "pc1": _f(xy[p, 0]), "pc2": _f(xy[p, 1]), "pc3": _f(xy[p, 2])})
    paths.append(write_csv(out / "fixed_points.csv", force=force, record=True, rows=rows,
                           kind=TABLES["fixed_points.csv"]))
    return paths


def analyze_run(run_dir, checkpoint=None, tasks=None, out=None, figures=True,
                force=False, **options):
    """Load RUN_DIR's checkpoint (None: best when it exists, else last), analyse it
    and write CSVs (and figures when ``figures`` and matplotlib is there) into
    ``out`` (default RUN_DIR/analysis_<checkpoint>). Returns (Analysis, written paths).

    A file in ``out`` of a name the analysis writes that refrnn did not write
    is a FileError before any work, unless ``force`` (refrnn.files.ownership)."""
    opt = Options(tasks=tasks, **options)
    if out is None:
        out = Path(run_dir) / f"analysis_{checkpoint_choice(run_dir, checkpoint)}"
    out = Path(out)
    for name, cols in TABLES.items():  # checked again as each is written
        check_replaceable(out / name, f"a refrnn table ({','.join(cols)},...)",
                          lambda p, c=cols: is_table_starting(p, c), force)
    if figures:
        check_figures([out / name for name in FIGURES], force)
    net = load_network(run_dir, checkpoint)
    res = analyze(net, opt)
    paths = write_tables(res, out, force)
    if figures:
        paths += draw_all(res, out, force)  # needs matplotlib, the plot extra
    return res, paths
