"""What the command-line tests share: a tiny run's options, a runner, and a
tiny trained run."""
import csv

from click.testing import CliRunner

from refrnn_cli.main import cli

TINY = ["--hidden", "16", "--sparsity", "0.25", "--batch-size", "4", "--seq-len", "40",
        "--steps", "6", "--eval-every", "3", "--trials-per-task", "8", "--eval-trials", "3"]


def invoke(*args, **kw):
    """Run ``refrnn ARGS...`` in-process; returns click's Result."""
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def train_tiny(out, cache_file):
    """``refrnn train`` with TINY on ``cache_file`` into ``out``, quietly;
    asserts it succeeded and returns ``out``."""
    r = invoke("train", *TINY, "--cache-path", cache_file, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    return out


def read_eval_csv(path):
    """An eval.csv (refrnn.score.table.write_results_csv) back as a results dict:
    task -> {perf, decision_acc, n}."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out[row["task"]] = {"perf": float(row["perf"]),
                                "decision_acc": float(row["decision_acc"]), "n": int(row["n"])}
    return out
