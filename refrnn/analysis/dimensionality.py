"""Dimensionality of activity: participation ratio and PCA.

The participation ratio of states with covariance eigenvalues lambda_j
(Gao et al. 2017, "A theory of multineuronal dimensionality"; Litwin-Kumar
et al. 2017):

    PR = (sum_j lambda_j)^2 / sum_j lambda_j^2     in [1, N]

and the variance explained by the first PCs, lambda_1..m / sum_j lambda_j.
``Moments`` accumulates sum h and sum h h^T over many tasks' states, so the
pooled covariance needs N x N float64, never all the states at once.
"""
from __future__ import annotations

import numpy as np


def participation_ratio(eigenvalues) -> float:
    """(sum lambda)^2 / sum lambda^2 of covariance eigenvalues (negatives from
    round-off clipped to 0)."""
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None)
    s2 = np.sum(lam ** 2)
    return float(np.sum(lam) ** 2 / s2) if s2 > 0 else 0.0


def covariance_spectrum(states):
    """Eigenvalues (descending) and eigenvectors (N, N) of the covariance of
    ``states`` (S, N)."""
    X = np.asarray(states, dtype=np.float64)
    return _spectrum(np.cov(X, rowvar=False, bias=True).reshape(X.shape[1], X.shape[1]))


def _spectrum(C):
    lam, V = np.linalg.eigh(C)
    order = np.argsort(lam)[::-1]
    return np.clip(lam[order], 0.0, None), V[:, order]


class Moments:
    """Running sum, sum of outer products and count of states (N,)."""

    def __init__(self, n):
        self.s1 = np.zeros(n)
        self.s2 = np.zeros((n, n))
        self.count = 0

    def add(self, states):
        X = np.asarray(states, dtype=np.float64)
        self.s1 += X.sum(axis=0)
        self.s2 += X.T @ X
        self.count += X.shape[0]

    def mean(self):
        return self.s1 / self.count

    def spectrum(self):
        """(eigenvalues, eigenvectors, mean) of the pooled covariance."""
        m = self.mean()
        return (*_spectrum(self.s2 / self.count - np.outer(m, m)), m)


def explained(eigenvalues, m) -> np.ndarray:
    """Fraction of the variance in each of the first ``m`` PCs."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    total = lam.sum()
    return lam[:m] / total if total > 0 else np.zeros(min(m, lam.size))
