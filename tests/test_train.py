"""train(): the run directory, learning at a tiny size, divergence, checkpoints."""
import csv
import json
import math

import h5py
import numpy as np
import pytest

from refrnn.run.checkpoint import CheckpointError, load_checkpoint
from refrnn.run.settings import ConfigError
from cli_helpers import read_eval_csv as read_csv
from refrnn.tasks.registry import task_names
from refrnn.run.open_run import evaluate_run
from refrnn.run.training import TrainingDiverged, train

TINY = dict(hidden=16, sparsity=0.25, batch_size=4, seq_len=40, steps=12, eval_every=4,
            checkpoint_every=3, trials_per_task=8, eval_trials=3, lr=5e-3)




def run(tmp_path, cache_file, name="run", **kw):
    return train(**{**TINY, "cache_path": cache_file, "out": str(tmp_path / name),
                    "quiet": True, **kw})


def test_run_directory_contents(tmp_path, cache_file):
    r = run(tmp_path, cache_file)
    out = tmp_path / "run"
    assert sorted(p.name for p in out.iterdir()) == [
        "best.h5", "config.json", "eval.csv", "last.h5", "metrics.csv"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg == r.config.to_dict() and cfg["hidden"] == 16 and cfg["dt"] == 100.0
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(x["step"]) for x in rows] == [0, 4, 8, 12]
    names = task_names("yang19")
    assert {f"perf_{t}" for t in names} <= set(rows[0]) and "seconds" in rows[0]
    assert rows[0]["loss"] == "" and all(float(x["loss"]) > 0 for x in rows[1:])
    means = [float(x["mean_perf"]) for x in rows]
    assert float(rows[-1]["mean_perf"]) == pytest.approx(r.mean_perf)
    assert r.best_perf == max(means) and r.best_step == [0, 4, 8, 12][int(np.argmax(means))]
    assert read_csv(out / "eval.csv")["mean"]["perf"] == pytest.approx(r.mean_perf)
    last, best = load_checkpoint(out / "last.h5"), load_checkpoint(out / "best.h5")
    assert last.step == 12 and best.step == r.best_step
    assert last.config == cfg and last.optim["step"] == 12
    assert last.mask_indices.size == 16 * 4 and last.sampler["served"] == 12
    assert last.params["w_rec"].shape == (64,)
    # eval from the run directory reproduces the final table
    again = evaluate_run(out, checkpoint="last")
    assert again["mean"] == pytest.approx(r.eval["mean"])


def test_same_seed_same_run_other_seed_differs(tmp_path, cache_file):
    a = run(tmp_path, cache_file, "a", steps=4)
    b = run(tmp_path, cache_file, "b", steps=4)
    c = run(tmp_path, cache_file, "c", steps=4, seed=1)
    pa, pb, pc = (load_checkpoint(r.out / "last.h5").params for r in (a, b, c))
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert not np.array_equal(pa["W_in"], pc["W_in"])


def test_loss_falls_at_tiny_size(tmp_path, cache_file):
    losses = []
    run(tmp_path, cache_file, batch_size=8, seq_len=50, steps=300, eval_every=300, lr=1e-2,
        callback=lambda info: losses.append(info["loss"]))
    assert len(losses) == 300 and all(math.isfinite(x) for x in losses)
    first, last = np.mean(losses[:10]), np.mean(losses[-30:])
    assert last < 0.5 * first, (first, last)


def test_existing_dir_needs_resume_or_force(tmp_path, cache_file):
    run(tmp_path, cache_file, steps=3)
    with pytest.raises(ConfigError, match="already exists"):
        run(tmp_path, cache_file, steps=3)
    r = run(tmp_path, cache_file, steps=2, force=True)
    assert r.step == 2 and load_checkpoint(r.out / "last.h5").step == 2


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, cache_file, monkeypatch):
    import refrnn.core.losses as losses
    real, calls = losses.cross_entropy, []

    def poisoned(y, labels, w=None, **kw):
        calls.append(1)
        loss, dy = real(y, labels, w, **kw)
        return (float("nan") if len(calls) == 8 else loss), dy

    monkeypatch.setattr(losses, "cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match="at step 8"):
        run(tmp_path, cache_file)
    assert load_checkpoint(tmp_path / "run" / "last.h5").step == 6  # every 3 steps


def test_corrupted_and_mismatched_checkpoints(tmp_path, cache_file):
    r = run(tmp_path, cache_file, steps=6, checkpoint_every=6)
    last = r.out / "last.h5"
    with h5py.File(last, "r+") as f:  # flip bytes of one weight without the checksum
        w = f["params/W_in"]
        w[...] = w[()] + 1.0
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        run(tmp_path, cache_file, steps=8, resume=True)
    last.write_bytes(last.read_bytes()[:1000])  # truncated
    with pytest.raises(CheckpointError, match="unreadable or corrupted"):
        run(tmp_path, cache_file, steps=8, resume=True)
    # a checkpoint from another run (other hidden size) in this directory
    other = run(tmp_path, cache_file, "other", steps=2, hidden=25, sparsity=0.2)
    last.write_bytes((other.out / "last.h5").read_bytes())
    with pytest.raises(ConfigError, match="hidden=25"):
        run(tmp_path, cache_file, steps=8, resume=True)


def test_failed_checkpoint_write_keeps_old_file(tmp_path, cache_file, monkeypatch):
    import refrnn.run.checkpoint as ck
    r = run(tmp_path, cache_file, steps=3, checkpoint_every=3)
    before = (r.out / "last.h5").read_bytes()

    def broken(group, obj):
        raise OSError("disk full")

    monkeypatch.setattr(ck, "write_tree", broken)
    with pytest.raises(OSError, match="disk full"):
        run(tmp_path, cache_file, steps=6, resume=True)
    assert (r.out / "last.h5").read_bytes() == before
    assert not [p for p in r.out.iterdir() if ".tmp" in p.name]


def test_a_config_json_with_dt_null_still_resumes_and_evaluates(tmp_path, cache_file):
    """dt has the default 100 now; a settings file that leaves it null (the
    task set's step, as refrnn's earlier TrainConfig spelled it) still reads."""
    r = run(tmp_path, cache_file, steps=4)
    path = r.out / "config.json"
    d = json.loads(path.read_text())
    d["dt"] = None
    path.write_text(json.dumps(d))
    assert math.isfinite(float(evaluate_run(r.out, "last")["mean"]["perf"]))
    again = run(tmp_path, cache_file, steps=8, resume=True)
    assert again.step == 8 and again.config.dt == 100
