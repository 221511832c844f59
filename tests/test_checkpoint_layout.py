"""Checkpoint parameter layout: named datasets now, the k0..k4 layout still loads."""
from pathlib import Path

import h5py
import numpy as np
import pytest

from refrnn.run.checkpoint import (FORMAT, Checkpoint, CheckpointError, load_checkpoint,
                               save_checkpoint)

DATA = Path(__file__).parent / "data"


def _ckpt(rng):
    p = {"W_in": rng.standard_normal((4, 3)).astype(np.float32),
         "b": rng.standard_normal(4).astype(np.float32),
         "w_rec": rng.standard_normal(6).astype(np.float32),
         "W_out": rng.standard_normal((2, 4)).astype(np.float32),
         "b_out": rng.standard_normal(2).astype(np.float32),
         "h0": rng.standard_normal(4).astype(np.float32)}
    return Checkpoint(step=3, params=p, mask_indptr=np.array([0, 2, 3, 5, 6]),
                      mask_indices=np.array([0, 1, 1, 2, 3, 3]), mask_shape=(4, 4),
                      optim={"t": 3, "m": {k: np.zeros_like(v) for k, v in p.items()}},
                      config={"hidden": 4})


def test_parameters_are_stored_under_their_names(tmp_path):
    ck = _ckpt(np.random.default_rng(0))
    path = save_checkpoint(tmp_path / "c.h5", ck)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == FORMAT == "refrnn-checkpoint-3"
        assert sorted(f["json"]) == ["config", "extra", "sampler"]  # no json/rng note
        assert list(f["params"]) == list(ck.params)  # names, in the model's order
        for k, v in ck.params.items():
            assert np.array_equal(f[f"params/{k}"][()], v)
    back = load_checkpoint(path)
    assert list(back.params) == list(ck.params)
    for k, v in ck.params.items():
        assert back.params[k].dtype == v.dtype and np.array_equal(back.params[k], v)


def test_old_layout_fixture_still_loads():
    """tests/data/checkpoint_v1.h5 was written by refrnn 0.1.0 (params/k0..k4)."""
    with h5py.File(DATA / "checkpoint_v1.h5", "r") as f:
        assert f.attrs["format"] == "refrnn-checkpoint-1" and "k0" in f["params"]
    ck = load_checkpoint(DATA / "checkpoint_v1.h5")
    want = np.load(DATA / "checkpoint_v1_params.npz", allow_pickle=False)
    assert list(ck.params) == ["W_in", "b", "w_rec", "W_out", "b_out"]
    for k in want.files:
        assert np.array_equal(ck.params[k], want[k])
    assert ck.step == 5 and ck.mask_shape == (16, 16)


def test_format_2_with_its_rng_note_still_loads(tmp_path):
    """Format 2 files hold a json/rng blob (a note on the seeds, unused): it is ignored."""
    from refrnn.files.checked_h5 import write_dataset

    ck = _ckpt(np.random.default_rng(3))
    path = save_checkpoint(tmp_path / "c.h5", ck)
    blob = b'{"noise": "update s draws from SeedSequence([seed, 1, s])", "seed": 0}'
    with h5py.File(path, "r+") as f:
        f.attrs["format"] = "refrnn-checkpoint-2"
        write_dataset(f["json"], "rng", np.frombuffer(blob, dtype=np.uint8))
    back = load_checkpoint(path)
    assert back.step == ck.step and not hasattr(back, "rng")
    for k, v in ck.params.items():
        assert np.array_equal(back.params[k], v)


def test_tampered_named_parameter_fails_its_checksum(tmp_path):
    path = save_checkpoint(tmp_path / "c.h5", _ckpt(np.random.default_rng(1)))
    with h5py.File(path, "r+") as f:
        f["params/w_rec"][0] += 1.0
    with pytest.raises(CheckpointError, match="params/w_rec.*checksum"):
        load_checkpoint(path)


def test_unknown_format_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c.h5", _ckpt(np.random.default_rng(2)))
    with h5py.File(path, "r+") as f:
        f.attrs["format"] = "refrnn-checkpoint-9"
    with pytest.raises(CheckpointError, match="refrnn-checkpoint-9"):
        load_checkpoint(path)
