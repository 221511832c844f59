"""Checks that no other test pinned (issue 33, item 5): each rule with a test on
each side, so moving or loosening the check fails here.

- files/sealed_h5: bytes appended to (or cut from) a sealed file are refused;
- run/checkpoint_check: a NaN inside a *list* of the optimiser state (Adam's
  betas) is refused like one in an array;
- core/model: the self-weight clip comes before the spectral-radius scaling
  (an autapse mask asked for radius 2 gets radius 2);
- core/masks: k = floor(s * n + 0.5), halves rounded up, not to even;
- backends/noise: Box-Muller stays finite on uniforms that include 0.
"""
import math

import numpy as np
import pytest

from cli_helpers import train_tiny
from refrnn.backends.noise import box_muller
from refrnn.core.masks import in_degree, make_mask
from refrnn.core.model import RNN, SELF_MAX, ModelConfig
from refrnn.core.spectral import csr_with_data, spectral_radius
from refrnn.files.sealed_h5 import DamagedFile, check_h5, write_sealed_h5
from refrnn.run.checkpoint import CheckpointError, load_checkpoint
from refrnn.run.checkpoint_check import check_checkpoint
from refrnn.run.settings import TrainConfig


# ---- files/sealed_h5: the digest reads the whole file, not the sealed size ----
@pytest.fixture
def sealed(tmp_path):
    path = tmp_path / "s.h5"
    write_sealed_h5(path, lambda f: f.create_dataset("x", data=np.arange(1000.0)))
    return path


def test_an_untouched_sealed_file_passes(sealed):
    assert check_h5(sealed) == "sealed"


def test_bytes_appended_to_a_sealed_file_are_refused(sealed):
    with open(sealed, "ab") as f:
        f.write(b"\0" * 400)
    with pytest.raises(DamagedFile, match="truncated or extended"):
        check_h5(sealed)


def test_a_sealed_file_cut_short_is_refused(sealed):
    data = sealed.read_bytes()
    sealed.write_bytes(data[:-400])
    with pytest.raises(DamagedFile, match="truncated or extended"):
        check_h5(sealed)


# ---- run/checkpoint_check: the non-finite walk enters lists ----
@pytest.fixture(scope="module")
def last_checkpoint(cache_file, tmp_path_factory):
    run = train_tiny(tmp_path_factory.mktemp("pinned") / "run", cache_file)
    return load_checkpoint(run / "last.h5"), TrainConfig.load(run / "config.json")


def test_finite_adam_betas_pass(last_checkpoint):
    ck, cfg = last_checkpoint
    ck.optim["betas"] = [0.9, 0.999]
    check_checkpoint(ck, cfg, "last.h5")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_adam_beta_in_a_list_is_refused(last_checkpoint, bad):
    ck, cfg = last_checkpoint
    ck.optim["betas"] = [0.9, bad]
    with pytest.raises(CheckpointError, match=r"optimiser state betas\[1\] has 1 of 1"):
        check_checkpoint(ck, cfg, "last.h5")


# ---- core/model: clip the self-weights, then scale to the radius asked for ----
def _autapse(init_radius):
    cfg = ModelConfig(n_in=3, hidden=64, n_out=2, mask="autapse", sparsity=1.0,
                      init_radius=init_radius)
    return RNN(cfg, seed=0)


@pytest.mark.parametrize("radius", [0.5, 2.0, 3.0])
def test_an_autapse_start_has_the_radius_asked_for(radius):
    m = _autapse(radius)
    w = np.asarray(m.params["w_rec"], dtype=float)
    assert np.max(np.abs(w)) == pytest.approx(radius, rel=1e-6)
    assert spectral_radius(csr_with_data(make_mask("autapse", 64, 1.0, 0), w)) == pytest.approx(radius,
                                                                                  rel=1e-6)


def test_unscaled_self_weights_are_clipped():
    w = np.asarray(_autapse(0.0).params["w_rec"], dtype=float)
    assert np.max(np.abs(w)) == SELF_MAX  # the draw, N(0, 1) for k = 1, exceeds 1


# ---- core/masks: halves round up ----
@pytest.mark.parametrize("n, s, k", [(10, 0.25, 3), (10, 0.45, 5), (4, 0.125, 1),
                                     (10, 0.24, 2), (10, 0.26, 3), (10, 0.44, 4)])
def test_in_degree_rounds_halves_up(n, s, k):
    assert in_degree(n, s) == k


# ---- backends/noise: the log never sees 0 ----
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_muller_is_finite_on_uniforms_including_zero(dtype):
    top = np.nextafter(dtype(1), dtype(0))  # the largest uniform below 1
    u = np.array([[0.0, 0.0, 0.5, top, 0.25],
                  [0.0, 0.5, 0.0, 0.75, top]], dtype=dtype)
    out = box_muller(u.copy(), np.empty_like(u))
    assert np.all(np.isfinite(out))
    # u1 = 0 is radius sqrt(-2 ln 1) = 0; u1 just below 1 is the largest radius
    assert out[0, 0] == 0 and out[1, 0] == 0
    assert np.hypot(out[0, 3], out[1, 3]) == pytest.approx(
        math.sqrt(-2 * math.log(1 - float(top))), rel=1e-5)
