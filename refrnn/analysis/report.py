"""Everything ``refrnn analyze`` computes for one run, and the CSV files it writes.

    resolve_tasks(requested, net)        -> task names (AnalysisError on a bad name)
    analyze(net, options)                -> Analysis
    write_tables(analysis, out_dir)      -> list of CSV paths (refrnn.analysis.tables)
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
from ..files.tables import is_table_starting
from ..run.run_dir import checkpoint_choice
from ..tasks.registry import TASK_SETS, task_names
from .activity import AnalysisError, load_network, task_activity
from .clusters import choose_clusters
from .dimensionality import Moments, covariance_spectrum, explained, participation_ratio
from .dynamics import constant_input, model_dynamics, recurrent_matrix
from .figures import FIGURES, draw_all
from .fixed_points import MAX_ITER, find_fixed_points_many
from .fractional import default_pairs, fractional_variance, pair_units
from .slow_sets import continuous_sets
from .tables import TABLES, write_tables
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
    analysis_seed: int = 0          # fixed-point starts and k-means
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
    N = model.config.hidden
    rng = np.random.default_rng(opt.analysis_seed)
    rng_delay = np.random.default_rng([opt.analysis_seed, 1])  # its own: activity starts stay put
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
        res.clustering = choose_clusters(res.tv.norm, seed=opt.analysis_seed)
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
