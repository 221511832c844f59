"""examples/inside_networks.py on a sweep folder whose runs were analysed
already, one before the delay-start search existed (no delay_* columns)."""
from example_loader import load_example
from refrnn.files.tables import write_csv

OLD = {"run": "r", "checkpoint": "best", "step": 10, "task_set": "yang19", "mask": "locality",
       "hidden": 16, "n_tasks": 20, "n_units_kept": 16, "n_units_dropped": 0,
       "n_clusters": 3, "silhouette": 0.2, "pr_all": 5.0, "pr_task_mean": 3.0,
       "var_pc1": 0.3, "var_pc3": 0.6, "fp_per_task": 2.0, "stable_per_task": 1.0,
       "tasks_continuous": 2, "set_dim_mean": 0.5, "seconds": 1.0}
DELAY = {"delay_tasks": 11, "delay_fp_per_task": 3.0, "delay_stable_per_task": 1.5,
         "delay_tasks_continuous": 1, "delay_set_dim_mean": 0.8}


def fake_run(root, name, summary):
    run = root / name
    (run / "analysis_best").mkdir(parents=True)
    (run / "best.h5").write_bytes(b"")
    (run / "eval.csv").write_text("task,perf\n")
    (run / "metrics.csv").write_text("step,mean_perf\n5,0.5\n10,0.75\n")
    write_csv(run / "analysis_best" / "summary.csv", [summary])


def test_old_and_new_summaries_aggregate(tmp_path):
    mod = load_example("inside_networks")
    sweep = tmp_path / "sweep"
    fake_run(sweep, "yang19_locality__seed0", OLD)                       # sorts first
    fake_run(sweep, "yang19_locality__seed1", {**{k: v for k, v in OLD.items() if k != "seconds"}, **DELAY, "seconds": 1.0})
    rows = mod.analyse(sweep, redo=False, starts=16)
    assert [r["seed"] for r in rows] == [0, 1] and rows[0]["perf"] == 0.75
    write_csv(tmp_path / "runs.csv", rows)  # one column set for both rows
    (agg,) = mod.aggregate(rows)
    assert agg["seeds"] == 2 and agg["frac_continuous"] == 0.1
    assert agg["delay_frac_continuous"] != agg["delay_frac_continuous"]  # nan: one run lacks it
    text = mod.block([agg], rows, sweep, 16)
    assert "16 fixed-point starts per task and set of starts" in text
    assert "from delay-period starts" in text and "yang19_locality" in text


def test_task_families_and_the_delay_table(tmp_path):
    mod = load_example("inside_networks")
    fams = {t: mod.family(t) for t in ("dlyanti", "rtantiseqr", "dlyantiintl",
                                       "multidlydmintr", "dlygointrseqr", "dnmcintlseql")}
    assert fams == {"dlyanti": "base", "rtantiseqr": "seq", "dlyantiintl": "int",
                    "multidlydmintr": "int", "dlygointrseqr": "int+seq",
                    "dnmcintlseql": "int+seq"}
    run = tmp_path / "modcog_locality__seed0"
    fake_run(tmp_path, run.name, {**OLD, **DELAY, "seconds": 1.0})
    write_csv(run / "analysis_best" / "fixed_point_tasks.csv", [
        {"task": t, "starts": st, "continuous": c} for t, st, c in (
            ("dlygo", "activity", 1), ("dlygo", "delay", 0), ("dlygointr", "delay", 1),
            ("dlyantiintl", "delay", 0))])
    write_csv(run / "analysis_best" / "fixed_points.csv", [
        {"task": t, "starts": st, "n_marginal": m} for t, st, m in (
            ("dlygo", "activity", 1), ("dlygo", "delay", 0), ("dlygointr", "delay", 2),
            ("dlygointr", "delay", 0), ("dlyantiintl", "delay", 1))])
    (run / "eval.csv").write_text("task,perf,decision_acc,n\ndlygo,0.5,0.6,100\n"
                                  "dlygointr,0.25,0.3,100\ndlyantiintl,0.75,0.8,100\n")
    rows = {r["family"]: r for r in mod.by_family(run)}
    assert set(rows) == {"base", "int"}
    assert rows["base"]["tasks"] == 1 and rows["base"]["points_per_task"] == 1.0
    assert rows["base"]["marginal_share"] == 0.0 and rows["base"]["continuous_share"] == 0.0
    assert rows["int"]["tasks"] == 2 and rows["int"]["points_per_task"] == 1.5
    assert rows["int"]["marginal_share"] == 2 / 3 and rows["int"]["continuous_share"] == 0.5
    assert rows["base"]["final_perf"] == 0.5 and rows["int"]["final_perf"] == 0.5
    text = "\n".join(mod.family_block(list(rows.values())))
    assert "| modcog_locality | int | 2 | 0.500 | 1.50 | 67% | 50% |" in text


def test_keep_other_keeps_old_rows_and_marks_their_rules(tmp_path):
    """--keep-other: the committed rows of configurations not in the sweep stay,
    marked as measured under the earlier rules; without it they are dropped."""
    mod = load_example("inside_networks")
    docs = tmp_path / "docs"
    dest = docs / "results" / "inside"
    dest.mkdir(parents=True)
    old = [{"label": "modcog_full", "seed": s, "perf": 0.5 + s / 10, **OLD, **DELAY,
            "frac_continuous": 0.25, "delay_frac_continuous": 0.5} for s in (0, 1)]
    write_csv(dest / "runs.csv", old)
    write_csv(dest / "by_family.csv", [
        {"label": "modcog_full", "seed": s, "family": "int", "tasks": 22, "final_perf": 0.5,
         "points_per_task": 1.5, "marginal_share": 0.1, "continuous_share": 0.0}
        for s in (0, 1)])
    sweep = tmp_path / "sweep"
    new = {**{k: v for k, v in OLD.items() if k != "seconds"}, "tv_statistic": "yang",
           "fp_not_converged": 0, **DELAY, "delay_not_converged": 0, "seconds": 1.0}
    fake_run(sweep, "yang19_full__seed0", new)
    marker = "<!-- inside_networks:begin -->\n\n<!-- inside_networks:end -->\n"
    (docs / "results.md").write_text("# Results\n\n" + marker)

    mod.main([str(sweep), "--docs", str(docs), "--keep-other"])
    runs = mod.read_csv(dest / "runs.csv")
    assert [(r["label"], r["rules"]) for r in runs] == [
        ("modcog_full", "earlier"), ("modcog_full", "earlier"), ("yang19_full", "current")]
    by_config = {r["label"]: r for r in mod.read_csv(dest / "by_config.csv")}
    assert float(by_config["modcog_full"]["perf"]) == 0.55  # recomputed from the kept rows
    assert by_config["modcog_full"]["seeds"] == "2"
    assert [r["label"] for r in mod.read_csv(dest / "by_family.csv")] == ["modcog_full"] * 2
    text = (docs / "results.md").read_text()
    assert "| modcog_full † | 2 |" in text and "| yang19_full | 1 |" in text
    assert "| modcog_full † | int | 22 |" in text
    assert "1 run analysed and 2 runs kept" in text and mod.OLD_NOTE in text

    mod.main([str(sweep), "--docs", str(docs)])  # without: only the sweep's runs
    assert [r["label"] for r in mod.read_csv(dest / "runs.csv")] == ["yang19_full"]
    assert "modcog_full" not in (docs / "results.md").read_text()


def test_keep_other_reads_the_older_spellings_of_the_rules(tmp_path):
    """Committed rows whose ``rules`` cell has the older spellings ("36/37",
    "pre-36/37") are kept as "current" and "earlier": only the earlier ones
    carry the dagger."""
    mod = load_example("inside_networks")
    docs = tmp_path / "docs"
    dest = docs / "results" / "inside"
    dest.mkdir(parents=True)
    base = {**OLD, **DELAY, "frac_continuous": 0.25, "delay_frac_continuous": 0.5}
    write_csv(dest / "runs.csv", [  # columns from the first row: the wider one first
        {"label": "yang19_random", "seed": 0, "perf": 0.9, **base, "tv_statistic": "yang",
         "rules": "36/37"},
        {"label": "modcog_full", "seed": 0, "perf": 0.5, **base, "rules": "pre-36/37"}])
    write_csv(dest / "by_family.csv", [
        {"label": lab, "seed": 0, "family": "base", "tasks": 11, "final_perf": 0.5,
         "points_per_task": 1.5, "marginal_share": 0.1, "continuous_share": 0.0,
         "rules": rules} for lab, rules in (("modcog_full", "pre-36/37"),
                                            ("yang19_random", "36/37"))])
    sweep = tmp_path / "sweep"
    fake_run(sweep, "yang19_full__seed0", {**OLD, "tv_statistic": "yang", **DELAY})
    (docs / "results.md").write_text("<!-- inside_networks:begin -->\n"
                                     "<!-- inside_networks:end -->\n")
    mod.main([str(sweep), "--docs", str(docs), "--keep-other"])
    assert {r["label"]: r["rules"] for r in mod.read_csv(dest / "runs.csv")} == {
        "modcog_full": "earlier", "yang19_full": "current", "yang19_random": "current"}
    assert {r["label"]: r["rules"] for r in mod.read_csv(dest / "by_family.csv")} == {
        "modcog_full": "earlier", "yang19_random": "current"}
    text = (docs / "results.md").read_text()
    assert "| modcog_full † | 1 |" in text and "| yang19_random | 1 |" in text
    assert "36/37" not in text


def test_several_sweeps_under_their_own_name(tmp_path):
    """--name converged: the runs of two sweep folders go to results/converged/
    and the converged_networks block; the inside block is left as it was."""
    mod = load_example("inside_networks")
    docs = tmp_path / "docs"
    docs.mkdir()
    new = {**OLD, "tv_statistic": "yang", **DELAY}
    fake_run(tmp_path / "n256", "modcog_full_N256__seed0", new)
    fake_run(tmp_path / "n1280", "modcog_locality_N1280__seed0", new)
    inside = "<!-- inside_networks:begin -->\nkept\n<!-- inside_networks:end -->\n"
    (docs / "results.md").write_text(inside + "<!-- converged_networks:begin -->\n"
                                     "<!-- converged_networks:end -->\n")
    mod.main([str(tmp_path / "n256"), str(tmp_path / "n1280"), "--docs", str(docs),
              "--name", "converged"])
    runs = mod.read_csv(docs / "results" / "converged" / "runs.csv")
    assert [r["label"] for r in runs] == ["modcog_full_N256", "modcog_locality_N1280"]
    text = (docs / "results.md").read_text()
    assert text.startswith(inside) and "--name converged" in text
    assert "| modcog_locality_N1280 | 1 |" in text
    assert "(results/converged/comparison.png)" in text
    assert not (docs / "results" / "inside").exists()
