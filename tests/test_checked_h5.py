"""refrnn.files.checked_h5: the one writer and reader of checksummed HDF5 datasets."""
import h5py
import numpy as np
import pytest

from refrnn.files.checked_h5 import ChecksumMismatch, checksum_ok, read_checked, write_dataset


def test_round_trip_plain_and_compressed(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        plain = write_dataset(f, "plain", a)
        packed = write_dataset(f, "packed", a, {"compression": "gzip", "compression_opts": 1})
        zero_d = write_dataset(f, "zero_d", np.float64(2.5), {"compression": "gzip"})
        assert plain.chunks is None and packed.chunks is not None and packed.fletcher32
        assert zero_d.shape == () and zero_d.chunks is None
    with h5py.File(tmp_path / "f.h5", "r") as f:
        for name in ("plain", "packed"):
            assert np.array_equal(read_checked(f[name]), a) and checksum_ok(f[name])
        assert read_checked(f["zero_d"]).shape == ()


def test_a_changed_value_fails_the_checksum(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        write_dataset(f, "x", np.arange(5))
    with h5py.File(tmp_path / "f.h5", "r+") as f:
        f["x"][1] = 7
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert not checksum_ok(f["x"])
        with pytest.raises(ChecksumMismatch, match="'/x'.*fails its checksum"):
            read_checked(f["x"])
