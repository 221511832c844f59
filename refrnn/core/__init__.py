"""Core: the network, its one equation and its hand-written gradient.

``engine`` runs the forward and backward loops over time (each line derived
in docs/bptt.md); ``model`` holds the parameters and builds them (masks from
``masks``, the initial spectral radius from ``spectral``); ``activations``,
``losses`` and ``optim`` (Adam, gradient clipping) complete a training step.
Imports only ``refrnn.backends``; numpy and scipy only.
"""
