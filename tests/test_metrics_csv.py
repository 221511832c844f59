"""refrnn.run.metrics_csv: the one writer and reader of a run's metrics.csv."""
import math

import numpy as np
import pytest

from refrnn.run.metrics_csv import (MetricsMismatch, append_row, metrics_columns, read_metrics,
                                    read_rows, start_metrics, trim_rows)

NAMES = ["go", "anti"]


def _res(perf):
    task = {"perf": perf, "decision_acc": perf / 2}
    mean = {**task, "perf_yang2019": perf + 0.1, "perf_neurogym": perf + 0.2}
    return {"go": task, "anti": task, "mean": mean}


def test_write_trim_and_read_back(tmp_path):
    start_metrics(tmp_path, NAMES)
    append_row(tmp_path, NAMES, 0, math.nan, _res(0.0), 0.5)
    append_row(tmp_path, NAMES, 10, 1.25, _res(0.5), 2.0)
    append_row(tmp_path, NAMES, 20, 0.75, _res(0.75), 4.0)
    rows = read_rows(tmp_path)
    assert list(rows[0]) == metrics_columns(NAMES)
    assert rows[0]["loss"] == "" and rows[1]["loss"] == "1.25"
    assert rows[2]["mean_perf_neurogym"] == repr(0.95) and rows[2]["acc_anti"] == "0.375"
    curve = read_metrics(tmp_path)
    assert curve.steps.tolist() == [0, 10, 20]
    assert curve.mean_perf.tolist() == [0.0, 0.5, 0.75]
    assert curve.seconds.tolist() == [0.5, 2.0, 4.0]
    assert set(curve.task_perf) == set(NAMES)  # perf_<task>; mean_perf_* are not tasks
    trim_rows(tmp_path, NAMES, 10)  # a resume from step 10 drops the later rows
    assert [r["step"] for r in read_rows(tmp_path)] == ["0", "10"]


def test_trim_refuses_other_columns_and_reader_names_the_file(tmp_path):
    start_metrics(tmp_path, ["go"])
    with pytest.raises(MetricsMismatch, match="other columns"):
        trim_rows(tmp_path, NAMES, 0)
    with pytest.raises(ValueError, match="no evaluation rows"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.csv").write_text("step,loss\n1,2\n")
    with pytest.raises(ValueError, match="mean_perf"):
        read_metrics(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        read_metrics(tmp_path / "none")
    (tmp_path / "metrics.csv").write_text("step,mean_perf\n1,0.5\n")
    assert np.isnan(read_metrics(tmp_path).seconds[0])  # no seconds column: NaN
