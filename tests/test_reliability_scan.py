"""Damage anywhere never hangs a command: zeroed and 0xff blocks over the first
16 KiB and a sample of the rest of a checkpoint and of a trial cache, each
command ending at once with one clear line (refrnn/files/sealed_h5.py).

Every case runs in-process under a watchdog (faulthandler): a case that
hangs, as 64 zero bytes at offset 1500 of a checkpoint did before files were
sealed, ends the test run with a traceback after WATCHDOG_S instead of
blocking it.
"""
import faulthandler
import shutil
from contextlib import contextmanager

import pytest

from cli_helpers import TINY, invoke, train_tiny
from refrnn.data.cache import CacheError, open_cache
from refrnn.files import sealed_h5
from refrnn.run.checkpoint import CheckpointError, load_checkpoint

WATCHDOG_S = 20
BLOCK = 64
FILLS = {"zeros": b"\0", "ones": b"\xff"}


@contextmanager
def watchdog(seconds=WATCHDOG_S):
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def offsets(size):
    """Every 256 bytes of the first 16 KiB, then 8 more spread over the rest."""
    head = list(range(0, min(size, 16384) - BLOCK, 256))
    rest = [16384 + i * (size - 16384 - BLOCK) // 8 for i in range(8)] if size > 16384 + BLOCK else []
    return head + rest


def damaged_copies(src, dst):
    """Yield (offset, fill) after writing src, damaged there, to dst; skips a
    block that already held those bytes (the file would be unchanged)."""
    good = src.read_bytes()
    for off in offsets(len(good)):
        for fill, byte in FILLS.items():
            block = byte * BLOCK
            if good[off:off + BLOCK] == block:
                continue
            dst.write_bytes(good[:off] + block + good[off + BLOCK:])
            yield off, fill


def _one_line(r, what):
    errors = [ln for ln in r.output.splitlines() if ln.startswith(("Error:", "FAILED:"))]
    assert r.exit_code == 1 and len(errors) == 1 and "Traceback" not in r.output, (what, r.output)
    return errors[0]


@pytest.fixture(scope="module")
def run(cache_file, tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("scan") / "run", cache_file)


def test_damaged_checkpoints_end_at_once_with_one_line(run, tmp_path):
    victim = shutil.copytree(run, tmp_path / "run")
    good = run / "last.h5"
    cases = 0
    for off, fill in damaged_copies(good, victim / "last.h5"):
        cases += 1
        with watchdog():
            with pytest.raises(CheckpointError, match="last.h5"):
                load_checkpoint(victim / "last.h5")
            line = _one_line(invoke("eval", victim, "--checkpoint", "last",
                                    "--csv", tmp_path / "e.csv"), (off, fill))
            assert "last.h5" in line and "corrupted" in line, (off, fill, line)
            _one_line(invoke("export", victim, "--checkpoint", "last", "--format", "npz",
                             "--out", tmp_path / "x.npz"), (off, fill))
            r = invoke("train", "--out", victim, "--resume", "--steps", "9", "-q")
            assert r.exit_code == 1 and "last.h5" in _one_line(r, (off, fill))
    assert cases >= 100
    assert not (tmp_path / "e.csv").exists() and not (tmp_path / "x.npz").exists()


def test_damaged_caches_end_at_once_with_one_line(cache_file, run, tmp_path):
    from pathlib import Path
    victim = tmp_path / "c.h5"
    config = (run / "config.json").read_text().replace(cache_file, str(victim))
    other = tmp_path / "run"
    other.mkdir()
    (other / "config.json").write_text(config)
    shutil.copy(run / "last.h5", other / "last.h5")
    cases = 0
    for off, fill in damaged_copies(Path(cache_file), victim):
        cases += 1
        with watchdog():
            with pytest.raises(CacheError, match="c.h5"):
                open_cache(victim)
            line = _one_line(invoke("cache", "--verify", victim), (off, fill))
            assert "c.h5" in line and "damaged" in line, (off, fill, line)
            r = invoke("train", *TINY, "--cache-path", victim, "--out", tmp_path / "new", "-q")
            assert "c.h5" in _one_line(r, (off, fill)) and not (tmp_path / "new").exists()
            _one_line(invoke("eval", other, "--csv", tmp_path / "e.csv"), (off, fill))
    assert cases >= 100


def test_a_damaged_default_cache_is_rebuilt(tmp_path, monkeypatch):
    """The default cache, zeroed where it used to hang every train: rebuilt."""
    monkeypatch.setenv("REFRNN_CACHE_DIR", str(tmp_path / "cache"))
    args = (*TINY, "--steps", "1", "-q")
    assert invoke("train", *args, "--out", tmp_path / "a").exit_code == 0
    (path,) = (tmp_path / "cache").glob("*.h5")
    data = bytearray(path.read_bytes())
    data[1500:1564] = bytes(64)
    path.write_bytes(bytes(data))
    with watchdog():
        r = invoke("train", *args, "--out", tmp_path / "b")
    assert r.exit_code == 0 and "rebuilding it" in r.output, r.output
    open_cache(path)


def test_files_stay_readable_by_any_hdf5_reader(run):
    import h5py
    with h5py.File(run / "last.h5", "r") as f:  # plain h5py, no refrnn code
        assert f.userblock_size == sealed_h5.USERBLOCK and "params" in f
    assert sealed_h5.check_h5(run / "last.h5") == "sealed"


def test_unsealed_files_are_read_in_a_bounded_child_first(tmp_path, monkeypatch):
    """tests/data/checkpoint_v1.h5 was written before sealing: it still loads;
    damaged where libhdf5 loops, each open ends within the child's limit."""
    from pathlib import Path
    v1 = Path(__file__).parent / "data" / "checkpoint_v1.h5"
    assert sealed_h5.check_h5(v1) == "unsealed"
    assert load_checkpoint(v1).step == 5
    monkeypatch.setattr(sealed_h5, "UNSEALED_TIMEOUT_S", 2.0)
    good = v1.read_bytes()
    for off in range(1024, 3073, 512):
        victim = tmp_path / f"v1_{off}.h5"
        victim.write_bytes(good[:off] + bytes(BLOCK) + good[off + BLOCK:])
        with watchdog():
            try:
                load_checkpoint(victim)  # the damage may fall where nothing is read
            except CheckpointError as e:
                assert "v1_" in str(e) and "\n" not in str(e)
