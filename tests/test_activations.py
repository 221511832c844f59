"""The activations against their textbook forms (float64, 1e-12)."""
import numpy as np
import pytest

from refrnn.core import activations


def test_softplus_is_log_one_plus_exp_without_overflow():
    u = np.concatenate([np.linspace(-50, 50, 2001), [-800.0, 800.0, 0.0]])
    got = activations.apply("softplus", np, u)
    ref = np.logaddexp(0.0, u)                      # log(1 + e^u), overflow-free
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-300)
    u32 = u.astype(np.float32)
    f32 = activations.apply("softplus", np, u32)
    assert f32.dtype == np.float32                  # a few float32 roundings of the exact value
    np.testing.assert_allclose(f32, np.logaddexp(0.0, u32.astype(np.float64)), rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["relu", "tanh", "softplus"])
def test_out_may_be_a_strided_view_or_the_input_itself(name):
    rng = np.random.default_rng(0)
    U = rng.standard_normal((20, 30)) * 4
    want = activations.apply(name, np, U[:, 5:11].copy())
    buf = np.full((20, 40), np.nan)
    got = activations.apply(name, np, U[:, 5:11], out=buf[:, 3:9])  # as the engine writes H
    assert got is not None
    np.testing.assert_allclose(buf[:, 3:9], want, rtol=1e-12)
    inplace = U[:, 5:11].copy()
    activations.apply(name, np, inplace, out=inplace)
    np.testing.assert_allclose(inplace, want, rtol=1e-12)
