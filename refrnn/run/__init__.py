"""Run: one training run, from its settings to its files.

``loop`` is the training loop alone (``train_step``, then batches in and
events out); ``harness`` is the run directory's bookkeeping around it
(metrics.csv, checkpoints, progress, Ctrl-C, resume); ``training`` starts,
resumes and ends a run; ``open_run`` opens a trained one for every command
that reads it. ``settings`` is ``TrainConfig``, every setting with its type,
default and help (the CLI is generated from it); ``run_dir``, ``checkpoint``
and ``metrics_csv`` are the files a run writes. Imports the layers below it:
score, core, data, tasks, backends, files.
"""
