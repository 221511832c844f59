"""k-means clustering with the number of clusters chosen by the silhouette score.

    kmeans(X, k, rng)             -> (labels (U,), centres (k, A), inertia)
    silhouette(X, labels)         -> mean silhouette coefficient
    choose_clusters(X, ks, seed)  -> Clustering (best k, curve, labels)

k-means (Lloyd's iterations from a k-means++ start, Arthur & Vassilvitskii
2007), best of ``n_init`` seeded starts by inertia. The silhouette of point
i (Rousseeuw 1987): a_i its mean distance to the other points of its
cluster, b_i the smallest mean distance to the points of another cluster,
s_i = (b_i - a_i) / max(a_i, b_i) (0 for a point alone in its cluster);
the score is the mean of s_i. Yang et al. 2019 cluster the units' normalised
task-variance profiles this way and pick the k with the best score.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

MAX_ITER = 300
MAX_K = 30  # largest number of clusters tried by default


def _plus_plus(X, k, rng):
    centres = [X[rng.integers(X.shape[0])]]
    d2 = np.sum((X - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        total = d2.sum()
        i = rng.integers(X.shape[0]) if total <= 0 else rng.choice(X.shape[0], p=d2 / total)
        centres.append(X[i])
        d2 = np.minimum(d2, np.sum((X - X[i]) ** 2, axis=1))
    return np.array(centres)


def kmeans(X, k, rng, n_init=10):
    """Best of ``n_init`` k-means runs. X (U, A); rng a numpy Generator."""
    X = np.asarray(X, dtype=np.float64)
    if not 1 <= k <= X.shape[0]:
        raise ValueError(f"k must be in 1..{X.shape[0]}, got {k}")
    best = None
    for _ in range(int(n_init)):
        C = _plus_plus(X, k, rng)
        labels = None
        for _ in range(MAX_ITER):
            new = np.argmin(cdist(X, C, "sqeuclidean"), axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = X[labels == j]
                if members.size:
                    C[j] = members.mean(axis=0)
        inertia = float(np.sum((X - C[labels]) ** 2))
        if best is None or inertia < best[2] - 1e-12:
            best = (labels, C.copy(), inertia)
    return best


def silhouette(X, labels) -> float:
    """Mean silhouette coefficient (Euclidean) of ``labels`` (U,) on X (U, A)."""
    X = np.asarray(X, dtype=np.float64)
    ids, lab = np.unique(np.asarray(labels), return_inverse=True)
    if ids.size < 2:
        raise ValueError("the silhouette needs at least two clusters")
    D = cdist(X, X)
    onehot = np.eye(ids.size)[lab]                    # (U, k)
    count = onehot.sum(axis=0)                        # (k,)
    sums = D @ onehot                                 # (U, k): distance sums to each cluster
    rows = np.arange(X.shape[0])
    n_own = count[lab] - 1
    a = np.where(n_own > 0, sums[rows, lab] / np.maximum(n_own, 1), 0.0)
    mean_other = sums / count
    mean_other[rows, lab] = np.inf
    b = mean_other.min(axis=1)
    top = np.maximum(a, b)
    s = np.where((n_own > 0) & (top > 0), (b - a) / np.where(top > 0, top, 1.0), 0.0)
    return float(s.mean())


@dataclass
class Clustering:
    """The chosen clustering: k, labels (U,), centres (k, A), and the
    silhouette score of every k tried (dict k -> score)."""

    k: int
    labels: np.ndarray
    centres: np.ndarray
    curve: dict


def choose_clusters(X, ks=None, seed=0, n_init=10) -> Clustering:
    """k-means for every k in ``ks`` (default 2 .. min(MAX_K, U - 1)); keep the
    k with the highest silhouette score (the smallest k on a tie)."""
    X = np.asarray(X, dtype=np.float64)
    U = X.shape[0]
    if U < 3:
        raise ValueError(f"clustering needs at least 3 units, got {U}")
    ks = list(ks) if ks is not None else list(range(2, min(MAX_K, U - 1) + 1))
    rng = np.random.default_rng(seed)
    curve, fits = {}, {}
    for k in ks:
        labels, centres, _ = kmeans(X, k, rng, n_init)
        if np.unique(labels).size < 2:
            continue
        curve[k] = silhouette(X, labels)
        fits[k] = (labels, centres)
    if not curve:
        raise ValueError("no k gave two or more clusters")
    best = max(curve, key=lambda k: (curve[k], -k))
    labels, centres = fits[best]
    return Clustering(best, labels, centres, curve)


def tasks_served(centres, tasks, level=0.5):
    """Per cluster, the tasks whose mean normalised TV is above ``level``: list of lists."""
    return [[t for t, v in zip(tasks, row) if v > level] for row in np.asarray(centres)]
