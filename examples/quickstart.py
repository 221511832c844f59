"""Quick start from Python: train on yang19, print the per-task table, re-score.

    python examples/quickstart.py                 # the README quick-start settings
    python examples/quickstart.py --steps 200     # a shorter try

The same as `refrnn train --task-set yang19 --out runs/quickstart-py`; every
TrainConfig setting can be passed to refrnn.train() as a keyword.
"""
import argparse

import refrnn
from refrnn.score.table import results_table
from refrnn.run.open_run import evaluate_run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=refrnn.TrainConfig.steps)
    ap.add_argument("--out", default="runs/quickstart-py")
    ap.add_argument("--resume", action="store_true", help="continue an earlier run")
    args = ap.parse_args()

    config = refrnn.TrainConfig(task_set="yang19", steps=args.steps, out=args.out)
    # force=True replaces an earlier run in the same folder unless resuming
    result = refrnn.train(config, resume=args.resume, force=not args.resume)
    print(result.table())
    print(f"mean performance {result.mean_perf:.3f} after {result.step} steps "
          f"({result.seconds:.0f} s); best {result.best_perf:.3f} at step {result.best_step}")

    # The run directory alone is enough to score a checkpoint again, here with noise.
    noisy = evaluate_run(result.out, checkpoint="best", noise=True, noise_seed=1)
    print("\nbest checkpoint, with recurrent and input noise:")
    print(results_table(noisy))


if __name__ == "__main__":
    main()
