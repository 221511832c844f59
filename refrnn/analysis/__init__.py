"""Analysis: what a trained network does inside, from its run directory.

``activity`` runs a checkpoint noise-free over held-out trials, one task at a
time; ``task_variance``, ``clusters`` (k-means with the silhouette score) and
``fractional`` give Yang et al. 2019's task variance, unit clusters and
fractional task variance; ``dimensionality`` the participation ratio and
PCA; ``dynamics`` writes out the speed q(h) = 1/2 |F(h) - h|^2 of the
noise-free map F and its gradient by hand, and ``fixed_points`` minimises it
to convergence (Sussillo & Barak 2013) on the sparse W_rec as the model
holds it, with ``kinks`` for points on a relu kink (both one-sided
Jacobians) and ``slow_sets`` for continuous sets checked along their paths;
``report`` runs everything for ``refrnn analyze`` and writes the CSVs, and
``figures`` draws them (matplotlib, the plot extra, imported inside its
functions). NumPy and SciPy only; imports ``refrnn.run`` and the layers below
it (docs/analysis.md).
"""
