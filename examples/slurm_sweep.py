"""Run a refrnn sweep on a Slurm cluster through dask-jobqueue.

Each Slurm job is one dask worker with one thread (one run at a time); the
script starts the dask scheduler in this process (run it on a login node, or
inside a small long-lived job), asks Slurm for ``--workers`` jobs and sends
every run of the sweep to them, exactly as ``refrnn sweep --scheduler ADDRESS``
does. Stopped (Ctrl-C, walltime, lost nodes)? Run it again: finished runs are
skipped, unfinished ones resume from their ``last.h5``.

Requirements (docs/distributed.md):
- ``pip install 'refrnn[dist]' dask-jobqueue`` in an environment the compute
  nodes see (``--python`` is the interpreter the jobs start, default: this
  one), with the same refrnn version (checked before anything runs);
- ``--out`` on storage every node sees under the same path (a shared home or
  scratch file system; checked by a probe file first); set
  ``REFRNN_CACHE_DIR`` there too so the trial caches are built once.

    python examples/slurm_sweep.py --out /scratch/$USER/lmrnn --workers 16 \\
        --partition cpu --walltime 08:00:00 --seeds 3
    python examples/slurm_sweep.py --out /tmp/x --print-job-script   # no Slurm needed

Not run in CI (it needs a Slurm cluster); ``--print-job-script`` only builds
the cluster object and prints the batch script it would submit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refrnn.experiments.summary import aggregate, summary_table  # noqa: E402
from refrnn.experiments.sweep import sweep  # noqa: E402

# The sweep: mask kinds x sparsities at N = 256 on the Yang 2019 tasks.
GRID = {"task_set": ["yang19"], "mask": ["locality", "random"],
        "sparsity": [0.04, 0.1], "hidden": [256]}
BASE = {"steps": 20000, "eval_every": 500, "checkpoint_every": 250,
        "batch_size": 64, "lr": 1e-3}


def make_cluster(args):
    """A dask_jobqueue.SLURMCluster whose jobs are single-threaded workers."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        sys.exit("this example needs dask-jobqueue: pip install 'refrnn[dist]' dask-jobqueue")
    return SLURMCluster(
        queue=args.partition, account=args.account, walltime=args.walltime,
        cores=1, processes=1, memory=args.memory,  # one worker, one thread per job
        python=args.python, log_directory=str(Path(args.out) / "_slurm_logs"),
        # BLAS gets the job's cores; the worker runs one run at a time
        job_script_prologue=[f"export OMP_NUM_THREADS={args.cpus}",
                             f"export OPENBLAS_NUM_THREADS={args.cpus}"],
        job_cpu=args.cpus,
        # a run's checkpoint survives a lost job; give the scheduler time to
        # reassign it instead of tearing workers down when it is busy
        worker_extra_args=["--lifetime", args.lifetime, "--lifetime-stagger", "2m"]
        if args.lifetime else [],
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="sweep folder on shared storage")
    ap.add_argument("--workers", type=int, default=8, help="Slurm jobs (workers)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--partition", default=None)
    ap.add_argument("--account", default=None)
    ap.add_argument("--walltime", default="08:00:00")
    ap.add_argument("--memory", default="8GB")
    ap.add_argument("--cpus", type=int, default=2, help="cores per job (BLAS threads)")
    ap.add_argument("--lifetime", default=None,
                    help="retire workers before walltime, e.g. 7h50m (dask-worker --lifetime)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--wait", type=float, default=3600.0,
                    help="seconds to wait for the first job to start")
    ap.add_argument("--print-job-script", action="store_true",
                    help="print the batch script and stop (no jobs are submitted)")
    args = ap.parse_args(argv)

    cluster = make_cluster(args)
    try:
        if args.print_job_script:
            print(cluster.job_script())
            return 0
        cluster.scale(jobs=args.workers)
        rows = sweep(GRID, args.out, seeds=list(range(args.seeds)), base=BASE,
                     scheduler=cluster.scheduler_address, connect_timeout=args.wait,
                     echo=print)
    finally:
        cluster.close()
    print(summary_table(aggregate(rows)))
    return 0 if all(r.status == "done" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
