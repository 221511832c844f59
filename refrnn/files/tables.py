"""Tables written out: CSV files (atomically) and fixed-width text.

    write_csv(path, rows, force)    list of dicts -> CSV, columns from the first row;
                                    replaces only refrnn's own table (files.ownership)
    is_table_starting(path, cols)   an empty file or a CSV whose header starts so
    format_table(head, rows, right) cells -> aligned text with a rule under the header

Used for eval.csv and the evaluation table (metrics), and for the sweep
summaries (sweep_results).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .ownership import owned_output


LEADING = 2  # columns that name a table's kind (later ones may vary: one per task)


def leading_columns(rows: list[dict]) -> tuple:
    """The first LEADING column names of the table these rows make."""
    return tuple(list(rows[0])[:LEADING]) if rows else ()


def is_table_starting(path, columns) -> bool:
    """Whether ``path`` is empty or a CSV whose header starts with ``columns``
    (refrnn's table of that kind, from this or an earlier version; the
    columns after them, e.g. one per task, may differ)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 16).decode("utf-8", errors="replace")
    except OSError:
        return False
    if not first:
        return True  # an empty file (refrnn's table without rows) holds nothing to lose
    head = first.rstrip("\r\n").split(",")
    return bool(columns) and tuple(head[:len(columns)]) == tuple(columns)


def write_csv(path, rows: list[dict], force=None, kind: tuple = (), record=False) -> Path:
    """Write dict rows as CSV, atomically (an empty file when there are no rows).
    ``kind``: the table's first columns, for recognising an existing file when
    ``rows`` is empty; ``record``: list it in the folder's manifest too (a
    table inside a run directory, which ``train --force`` then clears).

    An existing file is replaced only when it is refrnn's table of the same
    kind (:func:`is_table_starting`: its first columns), or ``force`` (refrnn.files.ownership: None when the caller
    offers no force); else FileError, before anything is written."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    cols = leading_columns(rows) or tuple(kind)
    with owned_output(path, f"a refrnn table ({','.join(cols) or 'empty'},...)",
                      lambda p: is_table_starting(p, cols), force, record=record) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
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
