"""refrnn.files.tables: the one CSV writer and the one text-table formatter."""
import csv

from refrnn.files.tables import format_table, write_csv


def test_format_table_aligns_and_rules():
    text = format_table(["name", "x"], [["a", "1.5"], None, ["long name", "10.25"]], right=(1,))
    lines = text.splitlines()
    assert lines == ["name           x",
                     "---------  -----",
                     "a            1.5",
                     "---------  -----",
                     "long name  10.25"]


def test_write_csv_round_trip_and_empty(tmp_path):
    rows = [{"label": "a", "n": 1, "v": 0.5}, {"label": "b,c", "n": 2, "v": None}]
    path = write_csv(tmp_path / "t.csv", rows)
    with open(path, newline="") as f:
        back = list(csv.DictReader(f))
    assert back == [{"label": "a", "n": "1", "v": "0.5"}, {"label": "b,c", "n": "2", "v": ""}]
    assert write_csv(tmp_path / "e.csv", []).read_text() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv", "t.csv"]  # no temp files left
