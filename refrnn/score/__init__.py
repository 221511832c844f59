"""Score: how well a network does the tasks, on held-out trials.

``evaluation`` runs a network over whole held-out trials and scores each
task (refrnn's rule, with Yang et al. 2019's and neurogym's beside it);
``rules`` holds the trial scoring rules; ``table`` prints the per-task table
and writes it as eval.csv. Used by training (run/), by ``refrnn eval``, the
analysis and the PyTorch checks alike. Imports core, data, tasks, backends
and files.
"""
