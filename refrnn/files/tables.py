"""Tables written out: CSV files (atomically) and fixed-width text.

    write_csv(path, rows)           list of dicts -> CSV, columns from the first row
    format_table(head, rows, right) cells -> aligned text with a rule under the header

Used for eval.csv and the evaluation table (metrics), and for the sweep
summaries (sweep_results).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .atomic import atomic_write_text


def write_csv(path, rows: list[dict]) -> Path:
    """Write dict rows as CSV, atomically (an empty file when there are no rows)."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(Path(path), buf.getvalue())
    return Path(path)


def format_table(head, rows, right=()) -> str:
    """A fixed-width text table of string cells.

    Args:
        head: column titles; rows: sequences of cells (str), or None for a
        rule of dashes at that place; right: indices of right-aligned columns.
    """
    widths = [max(len(r[i]) for r in [head, *rows] if r is not None) for i in range(len(head))]
    rule = "  ".join("-" * w for w in widths)

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(head), rule] + [rule if r is None else line(r) for r in rows])
