"""The ownership rule's parts (refrnn/files/ownership.py, refrnn/files/tables.py):
recognising refrnn's tables by their first columns, the manifest of the
figures refrnn wrote, its locking and compaction."""
import multiprocessing
import os

import pytest

from refrnn.files.errors import FileError
from refrnn.files.ownership import (MANIFEST, check_replaceable, owned_output,
                                    record_written, written_by_refrnn)
from refrnn.files.tables import write_csv


def test_write_csv_replaces_refrnn_tables_only(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("label,seed,final_perf\nold,0,0.5\n")  # an earlier version's, no manifest
    write_csv(path, [{"label": "a", "seed": 1, "other": 2}])
    assert path.read_text().startswith("label,seed,other")
    path.write_text("label,notes\n")  # the user's, though it starts alike
    with pytest.raises(FileError, match="not a refrnn table"):
        write_csv(path, [{"label": "a", "seed": 1}])
    write_csv(path, [{"label": "a", "seed": 1}], force=True)
    assert path.read_text() == "label,seed\na,1\n"


def test_a_file_is_recognised_only_with_the_bytes_refrnn_wrote(tmp_path):
    path = tmp_path / "f.bin"
    with owned_output(path, "a test file") as tmp:
        tmp.write_bytes(b"refrnn's")
    assert written_by_refrnn(path)
    check_replaceable(path, "a test file")
    path.write_bytes(b"the user's")
    assert not written_by_refrnn(path)
    with pytest.raises(FileError, match="move it away or choose another path$"):
        check_replaceable(path, "a test file")  # no force offered: none suggested
    with pytest.raises(FileError, match=r"force=True \(--force\)"):
        check_replaceable(path, "a test file", force=False)
    os.remove(path)
    (tmp_path / "dir").mkdir()
    with pytest.raises(FileError, match="is not a file"):
        check_replaceable(tmp_path / "dir", "a test file", force=True)


def _append_many(folder, k):
    for rep in range(3):  # every name three times: the file outgrows the compaction size
        for i in range(200):
            record_written(os.path.join(folder, f"w{k}_{i}.png"), f"{k:02d}{rep}{i:061d}")


def test_parallel_writers_keep_every_record_through_compaction(tmp_path):
    procs = [multiprocessing.get_context("fork").Process(target=_append_many,
                                                         args=(str(tmp_path), k))
             for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    last = {}
    for ln in (tmp_path / MANIFEST).read_text().splitlines():
        digest, name = ln.split("  ", 1)
        last[name] = digest
    assert last == {f"w{k}_{i}.png": f"{k:02d}2{i:061d}" for k in range(4) for i in range(200)}
    assert (tmp_path / MANIFEST).stat().st_size < 3 * 4 * 200 * 77  # compacted at least once
