"""examples/tv_statistics.py: the two statistics compared on one network's task variance."""
import numpy as np

from example_loader import load_example


def tvs():
    """Task variance (N=6, tasks go, anti, dm1) under both statistics: unit 0's
    top task moves from go to anti, unit 5 is near-silent on go and anti."""
    rng = np.random.default_rng(0)
    cur = rng.uniform(0.1, 1.0, (6, 3))
    cur[0] = [0.2, 0.9, 0.1]
    cur[5] = [1e-6, 2e-6, 0.5]
    old = cur.copy()
    old[0] = [0.9, 0.2, 0.1]
    return ["go", "anti", "dm1"], {"current": cur, "earlier": old}


def test_top_task_changes_and_the_ftv_selections():
    mod = load_example("tv_statistics")
    tasks, tv = tvs()
    row, (pair,) = mod.compare(tasks, tv)
    assert row["current_kept"] == row["earlier_kept"] == row["units_in_both"] == 6
    assert row["top_task_changed"] == round(1 / 6, 4)
    assert pair["pair"] == "go:anti"
    # Yang's rule leaves unit 5 out (go + anti = 3e-6); the earlier rule keeps it (> 0)
    assert pair["current_units"] == 5 and pair["earlier_units"] == 6
    # unit 0: FTV (0.2-0.9)/1.1 now, (0.9-0.2)/1.1 before: the largest difference
    assert np.isclose(pair["ftv_max_diff"], round(1.4 / 1.1, 4))


def test_the_same_statistic_twice_changes_nothing():
    mod = load_example("tv_statistics")
    tasks, tv = tvs()
    tv["earlier"] = tv["current"].copy()
    row, (pair,) = mod.compare(tasks, tv)
    assert row["top_task_changed"] == 0 and row["norm_tv_corr"] == 1.0
    assert row["current_k"] == row["earlier_k"]
    assert pair["ftv_max_diff"] == 0 and pair["ftv_corr"] == 1.0
    assert mod.earlier_ftv_units(np.array([0.0, 1e-6]), np.array([0.0, 0.0]),
                                 np.array([True, True])).tolist() == [1]


def test_both_statistics_are_refrnn_analyzes(tmp_path, cache_file):
    """On a tiny trained run, each column set is what the analysis computes
    with that statistic (the tables `refrnn analyze` writes)."""
    from refrnn.analysis.activity import load_network
    from refrnn.analysis.report import Options, analyze
    from refrnn.run.training import train

    mod = load_example("tv_statistics")
    out = tmp_path / "run"
    train(task_set="yang19", hidden=16, sparsity=0.25, batch_size=4, seq_len=40, steps=6,
          eval_every=3, trials_per_task=8, eval_trials=3, cache_path=cache_file,
          out=str(out), quiet=True)
    tasks, tv = mod.both_statistics(out)
    net = load_network(out, "best")
    assert tasks == net.task_names
    for key, stat in mod.STATISTICS.items():
        res = analyze(net, Options(n_starts=1, fp_iter=5, tv_statistic=stat))
        np.testing.assert_array_equal(tv[key], res.tv.tv)
    assert not np.allclose(tv["current"], tv["earlier"])
