"""Yang et al. 2019's task variance, written again in plain NumPy, apart from
refrnn.analysis: the reference that tests/test_analysis_yang_variance.py
and the check on a trained network compare refrnn's numbers with.

Written from gyyang/multitask at commit 817e23d (read for the definition,
no code copied):

- analysis/variance.py ``_compute_variance_bymodel``: test trials, no
  noise; ``h[trial.epochs['fix1'][1]:]`` drops the fixation period; then
  ``.var(axis=1).mean(axis=0)``: variance across trials (ddof 0) at each
  step, mean over steps. There every test trial of a task shares one timing;
  here trials have their own fixation lengths and their own ends, so each
  trial is cut at its own fixation end (aligned at stimulus onset) and a
  step's variance is over the trials still running (at least two).
- analysis/clustering.py ``Analysis.__init__``: units with summed variance
  ``> 1e-3`` kept, each divided by its maximum over tasks.
- analysis/variance.py ``_compute_hist_varprop``: for a pair, the units
  with TV_A + TV_B ``> 1e-3``, FTV = (TV_A - TV_B) / (TV_A + TV_B).

The states come from a forward loop written out here (float64, dense W_rec,
noise off), not from refrnn's engine.

As a script, ``python tests/yang_reference.py RUN_DIR`` compares refrnn's
analysis of RUN_DIR's best checkpoint with this reference and with
refrnn's "all-steps" statistic (the b65a536 definition).
"""
from __future__ import annotations

import sys

import numpy as np

ACTIVATIONS = {"relu": lambda u: np.maximum(u, 0.0), "tanh": np.tanh,
               "softplus": lambda u: np.logaddexp(0.0, u)}


def states(model, trials, task_index, n_tasks, n=None):
    """The noise-free states of each trial: a list of (T_k, N) float64 arrays.

    h_t = (1 - alpha) h_{t-1} + alpha f(W_in x_t + b + W_rec h_{t-1}), h_0 = 0
    (or the trained h0), x_t = [observation, one-hot rule].
    """
    p = {k: np.asarray(v, dtype=np.float64) for k, v in model.params.items()}
    N = model.config.hidden
    W = np.zeros((N, N))
    m = model.mask  # W_rec's CSR pattern: w_rec is its data, row by row
    W[np.repeat(np.arange(N), np.diff(m.indptr)), m.indices] = p["w_rec"]
    alpha, f = float(model.config.alpha), ACTIVATIONS[model.config.activation]
    rule = np.zeros(n_tasks)
    rule[task_index] = 1.0
    out = []
    for k in range(trials.n_trials if n is None else n):
        obs, _ = trials.trial(k)
        h = p["h0"].copy() if "h0" in p else np.zeros(N)
        hs = []
        for x_obs in np.asarray(obs, dtype=np.float64):
            x = np.concatenate([x_obs, rule])
            h = (1 - alpha) * h + alpha * f(p["W_in"] @ x + p["b"] + W @ h)
            hs.append(h)
        out.append(np.array(hs))
    return out


def yang_tv(trial_states, fixation_end):
    """TV (N,) of one task: trial k's states from step fixation_end[k] on,
    stacked from stimulus onset (NaN past a trial's end), variance over the
    trials present (at least two) at each step, mean over those steps."""
    cut = [h[int(f):] for h, f in zip(trial_states, fixation_end)]
    T, N = max(c.shape[0] for c in cut), cut[0].shape[1]
    stack = np.full((T, len(cut), N), np.nan)
    for k, c in enumerate(cut):
        stack[:c.shape[0], k] = c
    present = (~np.isnan(stack[:, :, 0])).sum(axis=1)
    return np.nanvar(stack[present >= 2], axis=1).mean(axis=0)


def keep_and_normalise(tv, threshold=1e-3):
    """(kept (N,) bool, normalised (U, A)): sum over tasks > threshold, / max."""
    kept = tv.sum(axis=1) > threshold
    return kept, tv[kept] / tv[kept].max(axis=1, keepdims=True)


def yang_ftv(tv_a, tv_b, threshold=1e-3):
    """(units, FTV) of the pair's own units, TV_A + TV_B > threshold."""
    units = np.where(tv_a + tv_b > threshold)[0]
    a, b = tv_a[units], tv_b[units]
    return units, (a - b) / (a + b)


def reference(net, tasks=None, n=None):
    """Yang's TV (N, A) of ``net`` (an activity.Network) over ``tasks``."""
    tasks = list(net.task_names) if tasks is None else list(tasks)
    cols = []
    for t in tasks:
        tr = net.test_trials[t]
        hs = states(net.model, tr, net.task_names.index(t), len(net.task_names), n)
        cols.append(yang_tv(hs, tr.period("fixation")[:len(hs), 1]))
    return np.stack(cols, axis=1)


# pairs the issue (36) measured beyond the default ones
EXTRA_PAIRS = (("dm1", "dm2"), ("dm1", "dlydm1"), ("go", "rtgo"), ("go", "dm1"))


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def compare(run_dir):
    """Print refrnn's TV and FTV against the reference, and what changed
    against the "all-steps" statistic, for RUN_DIR's best checkpoint."""
    from refrnn.analysis.activity import load_network
    from refrnn.analysis.fractional import default_pairs
    from refrnn.analysis.report import Options, analyze

    net = load_network(run_dir)
    ref = reference(net)
    have = set(net.task_names)
    pairs = default_pairs(net.task_names) + [p for p in EXTRA_PAIRS if set(p) <= have]
    new = analyze(net, Options(n_starts=1, fp_iter=1, pairs=pairs))
    old = analyze(net, Options(n_starts=1, fp_iter=1, pairs=pairs, tv_statistic="all-steps"))
    tv = new.tv.tv
    rel = np.abs(tv - ref) / np.maximum(np.abs(ref), 1e-12)
    print(f"{run_dir}: step {net.step}, N = {tv.shape[0]}, {len(new.tasks)} tasks, "
          f"{net.test_trials[new.tasks[0]].n_trials} test trials per task")
    print(f"TV refrnn (yang) vs reference: corr {_corr(tv, ref):.9f}, max |diff| "
          f"{np.abs(tv - ref).max():.3g}, max rel diff (TV > 1e-6) {rel[ref > 1e-6].max():.3g}")
    kept, norm = keep_and_normalise(ref)
    same = np.array_equal(kept, new.tv.kept)
    print(f"kept units: refrnn {int(new.tv.kept.sum())}, reference {int(kept.sum())}, "
          f"same set {same}; normalised TV max |diff| "
          f"{np.abs(new.tv.norm - norm).max() if same else float('nan'):.3g}")
    for A, B in pairs:
        units, f = yang_ftv(ref[:, new.tasks.index(A)], ref[:, new.tasks.index(B)])
        same = np.array_equal(units, new.ftv_units[(A, B)])
        d = np.abs(f - new.ftv[(A, B)]).max() if same else float("nan")
        print(f"FTV {A}:{B}: {units.size} units, same units {same}, max |diff| {d:.3g}, "
              f"corr {_corr(f, new.ftv[(A, B)]) if same else float('nan'):.9f}")
    otv = old.tv.tv
    print(f"all-steps (b65a536) vs reference: TV corr {_corr(otv, ref):.4f}, max rel diff "
          f"{(np.abs(otv - ref) / np.maximum(ref, 1e-12))[ref > 1e-6].max():.3f}")
    both = kept & old.tv.kept
    onorm = otv[both] / otv[both].max(axis=1, keepdims=True)
    rnorm = ref[both] / ref[both].max(axis=1, keepdims=True)
    changed = np.mean(onorm.argmax(axis=1) != rnorm.argmax(axis=1))
    print(f"top task changed for {changed:.1%} of {int(both.sum())} units kept by both; "
          f"normalised TV corr {_corr(onorm, rnorm):.3f}, max |diff| "
          f"{np.abs(onorm - rnorm).max():.3f}")
    kc = [r.clustering.k if r.clustering else "-" for r in (new, old)]
    print(f"clusters: {kc[0]} (yang), {kc[1]} (all-steps)")
    for A, B in pairs:
        a, b = otv[:, new.tasks.index(A)], otv[:, new.tasks.index(B)]
        ok = old.tv.kept & (a + b > 0)  # b65a536's rule: kept units, TV_A + TV_B > 0
        fo = (a - b) / np.where(ok, a + b, 1.0)
        units, f = yang_ftv(ref[:, new.tasks.index(A)], ref[:, new.tasks.index(B)])
        common = ok[units]
        print(f"FTV {A}:{B} b65a536 vs reference: {int(ok.sum())} against {units.size} units; "
              f"on the {int(common.sum())} in both: corr "
              f"{_corr(fo[units][common], f[common]):.3f}, max |diff| "
              f"{np.abs(fo[units][common] - f[common]).max():.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/yang_reference.py RUN_DIR")
    compare(sys.argv[1])
