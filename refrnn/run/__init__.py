"""Run: one training run, from its settings to its files.

``settings`` is ``TrainConfig``, every setting with its type, default and
help (the CLI is generated from it); ``training`` starts, resumes and ends a
run; ``loop`` is the training step and the loop of bookkeeping around it;
``run_dir``, ``checkpoint`` and ``metrics_csv`` are the files a run writes;
``evaluation`` and ``scoring`` score a network on held-out trials. Imports
the layers below it: core, data, tasks, backends, files.
"""
