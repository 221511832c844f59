"""Per-task performance on held-out trials (docs/tasks.md, "Scoring").

A trial counts as correct (``perf`` = 1) under refrnn's rule when the network's
argmax output is 0 (fixate) at every step before the decision period and
equals the label at the last decision step. Decision accuracy is the fraction
of decision steps, pooled over a task's trials, whose argmax equals the label.
The Yang 2019 and neurogym rules (refrnn.score.rules) are scored beside it, as
``perf_yang2019`` and ``perf_neurogym``; ``score=`` chooses which one ``perf``
holds. All are reported per task and as the unweighted mean over tasks (key
``"mean"``).
"""
from __future__ import annotations

import numpy as np

from .rules import SCORES, check_score, neurogym_correct, predicted_class, yang2019_correct
from ..data.whole_trials import trial_batch

MEAN = "mean"


def score_outputs(pred, labels, decision_start, lengths):
    """Score argmax predictions of padded whole trials.

    Args:
        pred: int (T, B) argmax output class per step.
        labels: int (T, B) target class per step (padding is ignored).
        decision_start: int (B,) first decision step of each trial.
        lengths: int (B,) trial lengths in steps (<= T).
    Returns:
        (correct (B,) bool, n_decision_hits int, n_decision_steps int)
    """
    pred = np.asarray(pred)
    labels = np.asarray(labels)
    ds = np.asarray(decision_start, dtype=np.int64)
    ln = np.asarray(lengths, dtype=np.int64)
    if pred.shape != labels.shape or pred.ndim != 2:
        raise ValueError(f"pred {pred.shape} and labels {labels.shape} must be equal (T, B)")
    T, B = pred.shape
    if ds.shape != (B,) or ln.shape != (B,):
        raise ValueError(f"decision_start {ds.shape} and lengths {ln.shape} must be ({B},)")
    if np.any(ln < 1) or np.any(ln > T) or np.any(ds < 0) or np.any(ds >= ln):
        raise ValueError("need 0 <= decision_start < lengths <= T for every trial")
    t = np.arange(T)[:, None]
    before = t < ds[None, :]
    fixated = ~np.any(before & (pred != 0), axis=0)
    cols = np.arange(B)
    last_ok = pred[ln - 1, cols] == labels[ln - 1, cols]
    in_dec = (t >= ds[None, :]) & (t < ln[None, :])
    hits = int(np.count_nonzero(in_dec & (pred == labels)))
    return fixated & last_ok, hits, int(np.count_nonzero(in_dec))


def evaluate(model, test_trials, task_names, batch_size=256, noise=False, rng=None,
             input_noise_std=0.1, tasks=None, score="refrnn"):
    """Score ``model`` on whole held-out trials of every task.

    Args:
        model: an RNN (``model.forward(x, rng=None) -> (y, record)``, y (T, B, 17);
            ``model.backend``).
        test_trials: dict task name -> TrialBatch.
        task_names: list of task names in one-hot order (the model's input).
        batch_size: trials per forward pass.
        noise: when True, add recurrent noise (from ``rng``) and input noise
            (std ``input_noise_std``); by default the network runs noise-free.
        rng: NumPy Generator or int seed, required when ``noise`` is True; it
            draws the input noise and seeds the backend's recurrent noise.
        tasks: optional subset of task names to score (default: all in
            ``test_trials`` that are in ``task_names``).
        score: the rule ``perf`` reports: "refrnn", "yang2019" or "neurogym"
            (refrnn.score.rules, docs/tasks.md).
    Returns:
        dict task -> {"perf", "decision_acc", "n", "perf_refrnn",
        "perf_yang2019", "perf_neurogym"}, plus "mean" (unweighted over tasks;
        "n" is the total number of trials).
    """

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if noise and rng is None:
        raise ValueError("evaluate(noise=True) needs an rng")
    check_score(score)
    backend = getattr(model, "backend", None)
    to_np = backend.to_numpy if backend is not None else np.asarray
    host_rng = rec_rng = None
    if noise:
        host_rng = np.random.default_rng(rng)
        rec_rng = backend.rng_from(host_rng) if backend is not None else host_rng
    names = list(task_names)
    chosen = list(tasks) if tasks is not None else [t for t in names if t in test_trials]
    out = {}
    for task in chosen:
        if task not in names:
            raise ValueError(f"task {task!r} is not in the model's task list")
        if task not in test_trials:
            raise ValueError(f"no test trials for task {task!r}")
        trials = test_trials[task]
        n = trials.n_trials
        correct = dict.fromkeys(SCORES, 0)
        hits = steps = 0
        for a in range(0, n, int(batch_size)):
            idx = np.arange(a, min(n, a + int(batch_size)))
            batch, ds, ln = trial_batch(
                trials, names.index(task), len(names), idx, backend=backend,
                noise_std=input_noise_std if noise else 0.0, rng=host_rng)
            y, _ = model.forward(batch.x, rng=rec_rng)
            y_host = to_np(y)
            pred = predicted_class(y_host)  # -1 at a step with a non-finite logit
            labels, ln = to_np(batch.labels), to_np(ln)
            ok, h, s = score_outputs(pred, labels, to_np(ds), ln)
            correct["refrnn"] += int(ok.sum())
            correct["yang2019"] += int(yang2019_correct(y_host, labels, ln).sum())
            correct["neurogym"] += int(neurogym_correct(y_host, labels, ln).sum())
            hits += h
            steps += s
        perfs = {f"perf_{r}": c / n if n else float("nan") for r, c in correct.items()}
        out[task] = {"perf": perfs[f"perf_{score}"],
                     "decision_acc": hits / steps if steps else float("nan"),
                     "n": int(n), **perfs}
    out[MEAN] = summarize(out)
    return out


def summarize(results):
    """The unweighted mean over the task entries of ``results`` (ignores "mean")."""
    rows = [v for k, v in results.items() if k != MEAN]
    if not rows:
        return {"perf": float("nan"), "decision_acc": float("nan"), "n": 0}
    keys = ["perf", "decision_acc"] + [k for k in rows[0] if k.startswith("perf_")
                                       and all(k in r for r in rows)]
    out = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    out["n"] = int(sum(r["n"] for r in rows))
    return out
