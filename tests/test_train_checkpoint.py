"""Checkpoint files: exact round trip, checksums, atomic replacement."""
import numpy as np
import pytest

from refrnn.run.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint


def _ckpt(rng):
    return Checkpoint(
        step=17,
        params={"W_in": rng.standard_normal((4, 3)).astype(np.float32),
                "w_rec": rng.standard_normal(6).astype(np.float32)},
        mask_indptr=np.array([0, 2, 4, 6]), mask_indices=np.array([0, 1, 1, 2, 0, 2]),
        mask_shape=(3, 3),
        optim={"step": 17, "lr": 0.002, "betas": [0.9, 0.999],
               "m": {"W_in": rng.standard_normal((4, 3)), "w_rec": np.zeros(6)},
               "scalar0d": np.float64(2.5), "arr0d": np.array(3.0)},
        config={"hidden": 3, "sparsity": 0.5},
        sampler={"rng": {"state": np.array([2**64 - 1, 5, 7], dtype=np.uint64)}, "served": 4},
        extra={"best_perf": -np.inf, "loss_n": 0})


def test_round_trip_is_exact(tmp_path, rng):
    ck = _ckpt(rng)
    save_checkpoint(tmp_path / "c.h5", ck)
    back = load_checkpoint(tmp_path / "c.h5")
    assert back.step == 17 and back.mask_shape == (3, 3)
    for k in ck.params:
        assert back.params[k].dtype == ck.params[k].dtype
        assert back.params[k].tobytes() == ck.params[k].tobytes()
    assert np.array_equal(back.mask_indices, ck.mask_indices)
    assert back.optim["betas"] == [0.9, 0.999] and back.optim["step"] == 17
    assert np.array_equal(back.optim["m"]["W_in"], ck.optim["m"]["W_in"])
    assert back.optim["scalar0d"] == 2.5 and back.optim["arr0d"].shape == ()
    st = back.sampler["rng"]["state"]
    assert st.dtype == np.uint64 and st.tolist() == [2**64 - 1, 5, 7]
    assert back.extra["best_perf"] == -np.inf and back.config == ck.config


def test_replacing_keeps_old_file_on_failure(tmp_path, rng):
    path = tmp_path / "c.h5"
    save_checkpoint(path, _ckpt(rng))
    before = path.read_bytes()
    bad = _ckpt(rng)
    bad.optim["oops"] = object()  # cannot be stored: the write fails part-way
    with pytest.raises(TypeError):
        save_checkpoint(path, bad)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5"]


def test_errors_name_the_file(tmp_path, rng):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(CheckpointError, match="junk.h5"):
        load_checkpoint(tmp_path / "junk.h5")


def _restamp(path, digest):
    """Give every dataset of a checkpoint file the sha256 attribute digest(array)."""
    import h5py

    with h5py.File(path, "r+") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                obj.attrs["sha256"] = digest(np.array(obj[()], order="C"))
        f.visititems(visit)


def test_a_digest_of_the_bytes_alone_is_rejected(tmp_path, rng):
    # The stored digest covers dtype and shape too: a bytes-only digest fails.
    import hashlib

    ck = _ckpt(rng)
    path = tmp_path / "ck.h5"
    save_checkpoint(path, ck)
    assert load_checkpoint(path).step == 17
    _restamp(path, lambda a: hashlib.sha256(a.tobytes()).hexdigest())
    with pytest.raises(CheckpointError, match="fails its checksum"):
        load_checkpoint(path)
