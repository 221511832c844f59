"""The same bodies on the CPU and on the fixture's backend must agree.

Reference: refrnn on the CPU in float64. Each test builds the reference and a
twin (the ``twin`` fixture below), gives the twin the reference's weights and
the same explicit inputs, noise and output gradients, and compares:

- float64 twin: within 1e-10 of the reference (relative to the array's scale);
- float32 twin: within float32 rounding of the reference (tolerances below,
  a few hundred float32 epsilons relative to the scale) and still float32.

The twins: the CPU in float32 (the float32 path against float64: rounding
only), and CUDA in float64 and float32. The CUDA cases skip cleanly where
CuPy sees no GPU; nothing here compares the CPU in float64 with itself.
The batch-pipeline tests at the end compare with the CPU's batches, so they
run on CUDA only.
"""
import numpy as np
import pytest

from refrnn.core import losses, optim
from refrnn.backends.backend import available_devices, get_backend
from refrnn.core.model import RNN, ModelConfig

CPU = get_backend("cpu")
N, N_IN, N_OUT, T, B = 64, 12, 5, 9, 4
# max |twin - ref| <= TOL * max(1, max |ref|)
# (float32 vs float64 on the CPU measured about 2e-7 for y, 1e-7 for gradients.)
TOL = {"float64": 1e-10, "float32": {"y": 1e-5, "grad": 2e-5, "param": 1e-6}}
CONFIGS = {  # sparse CSR path, leak and trained h0, and the dense (full-mask) path
    "relu-a1": dict(activation="relu", alpha=1.0),
    "tanh-a02-h0": dict(activation="tanh", alpha=0.2, train_h0=True),
    "softplus-full": dict(activation="softplus", alpha=0.5, mask="full", sparsity=1.0),
}
TWINS = [("cpu", "float32"), ("cuda", "float64"), ("cuda", "float32")]


def _device(name):
    if name not in available_devices():
        pytest.skip("no CUDA GPU with CuPy here")
    return get_backend(name)


@pytest.fixture(params=TWINS, ids=["-".join(t) for t in TWINS])
def twin(request):
    """(backend, dtype) of the twin compared with the CPU in float64."""
    return _device(request.param[0]), request.param[1]


@pytest.fixture
def gpu():
    return _device("cuda")


def _config(dtype, variant):
    kw = dict(n_in=N_IN, n_out=N_OUT, hidden=N, mask="locality", sparsity=0.1,
              sigma_rec=0.05, dtype=dtype)
    return ModelConfig(**{**kw, **CONFIGS[variant]})


def _twin(backend, dtype, variant, seed=3):
    """(reference CPU float64 model, twin on ``backend`` with its weights)."""
    ref = RNN(_config("float64", variant), backend=CPU, seed=seed)
    twin = RNN(_config(dtype, variant), backend=backend, seed=seed)
    assert set(twin.params) == set(ref.params)
    for k, v in ref.params.items():
        p = twin.params[k]
        assert isinstance(p, backend.xp.ndarray), k
        assert p.dtype == np.dtype(dtype), (k, p.dtype)
        p[...] = _dev(backend, v, p.dtype)  # in place: the model keeps its arrays
    return ref, twin


def _dev(backend, a, dtype=None):
    """A fresh copy of host array ``a`` on ``backend`` (never shares memory with ``a``)."""
    return backend.xp.array(a, dtype=dtype, copy=True)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, N_IN))
    noise = rng.standard_normal((T, B, N))
    dy = rng.standard_normal((T, B, N_OUT)) / (T * B)
    return x, noise, dy


def _close(backend, got, ref, tol, what):
    got = backend.to_numpy(got)
    ref = np.asarray(ref)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    err = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:.3g} * {scale:.3g}"


def _tol(dtype, kind):
    return TOL["float64"] if dtype == "float64" else TOL["float32"][kind]


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_forward_and_bptt_match_cpu_float64(twin, variant):
    backend, dtype = twin
    ref, twin = _twin(backend, dtype, variant)
    x, noise, dy = _inputs()
    y_ref, record_ref = ref.forward(x, noise=noise)
    g_ref = ref.backward(record_ref, dy)

    y, record = twin.forward(_dev(backend, x, dtype), noise=_dev(backend, noise, dtype))
    assert isinstance(y, backend.xp.ndarray) and y.dtype == np.dtype(dtype)
    _close(backend, y, y_ref, _tol(dtype, "y"), "y")
    grads = twin.backward(record, _dev(backend, dy, dtype))
    assert set(grads) == set(g_ref) == set(twin.params)
    for k in g_ref:
        assert isinstance(grads[k], backend.xp.ndarray), k
        assert grads[k].dtype == np.dtype(dtype), (k, grads[k].dtype)
        _close(backend, grads[k], g_ref[k], _tol(dtype, "grad"), f"grad {k}")
    # The noise really entered: without it the output differs.
    y0, _ = ref.forward(x)
    assert np.max(np.abs(y0 - y_ref)) > 1e-6


def test_cross_entropy_matches_cpu_float64(twin):
    backend, dtype = twin
    rng = np.random.default_rng(4)
    y = rng.standard_normal((T, B, N_OUT)) * 3
    labels = rng.integers(0, N_OUT, size=(T, B))
    weights = rng.random((T, B))
    loss_ref, dy_ref = losses.cross_entropy(y, labels, weights)
    loss, dy = losses.cross_entropy(_dev(backend, y, dtype), _dev(backend, labels),
                                    _dev(backend, weights, dtype), xp=backend.xp)
    assert isinstance(dy, backend.xp.ndarray) and dy.dtype == np.dtype(dtype)
    tol = _tol(dtype, "y")
    assert abs(float(loss) - float(loss_ref)) <= tol * max(1.0, abs(float(loss_ref)))
    _close(backend, dy, dy_ref, tol, "dL/dy")


def test_adam_and_clipping_match_cpu_float64(twin):
    backend, dtype = twin
    ref, twin = _twin(backend, dtype, "relu-a1")
    opt_ref = optim.Adam(ref.params, lr=1e-2)
    opt = optim.Adam(twin.params, lr=1e-2, xp=backend.xp)
    rng = np.random.default_rng(5)
    for step in range(3):
        g = {k: rng.standard_normal(v.shape) * 10.0 ** (step - 1) for k, v in ref.params.items()}
        g_twin = {k: _dev(backend, v, dtype) for k, v in g.items()}
        n_ref = optim.clip_grad_norm(g, 5.0)
        n_twin = optim.clip_grad_norm(g_twin, 5.0)
        assert abs(float(n_twin) - float(n_ref)) <= _tol(dtype, "y") * max(1.0, float(n_ref))
        opt_ref.step(ref.params, g)
        opt.step(twin.params, g_twin)
        for k in ref.params:
            assert twin.params[k].dtype == np.dtype(dtype), k
            _close(backend, twin.params[k], ref.params[k], _tol(dtype, "param"),
                   f"step {step} param {k}")
    # The optimiser state agrees too (moments and the step count).
    s_ref, s = opt_ref.state_dict(), opt.state_dict()
    assert set(s) == set(s_ref)
    assert s["step"] == s_ref["step"] == 3
    for k, v in s_ref.items():
        if isinstance(v, dict):  # per-parameter moment arrays
            assert set(s[k]) == set(v)
            for kk, vv in v.items():
                assert isinstance(s[k][kk], backend.xp.ndarray)
                _close(backend, s[k][kk], vv, _tol(dtype, "grad"), f"state {k}/{kk}")
        else:  # hyper-parameters: plain numbers and lists
            assert s[k] == v, k


def _train_curve(backend, dtype, steps=6):
    """Loss per step of a short run on one synthetic batch (explicit noise)."""
    ref, model = _twin(backend, dtype, "relu-a1", seed=7)
    del ref
    rng = np.random.default_rng(8)
    x = _dev(backend, rng.standard_normal((T, B, N_IN)), dtype)
    labels = _dev(backend, rng.integers(0, N_OUT, size=(T, B)))
    weights = _dev(backend, np.ones((T, B)), dtype)
    opt = optim.Adam(model.params, lr=1e-2, xp=backend.xp)
    curve = []
    for _ in range(steps):
        noise = _dev(backend, rng.standard_normal((T, B, N)), dtype)
        y, record = model.forward(x, noise=noise)
        loss, dy = losses.cross_entropy(y, labels, weights, xp=backend.xp)
        grads = model.backward(record, dy)
        optim.clip_grad_norm(grads, 1.0)
        opt.step(model.params, grads)
        curve.append(float(loss))
    return np.array(curve)


def test_short_training_run_gives_the_same_loss_curve(twin):
    backend, dtype = twin
    ref = _train_curve(CPU, "float64")
    got = _train_curve(backend, dtype)
    assert ref[-1] < ref[0]  # the run trains: the comparison is not of constants
    tol = 1e-10 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


# --- the batch pipeline serves batches already on the backend --------------

def _trials(task, n, seed):
    """n synthetic trials of lengths 4..11 (fixation, stimulus, decision)."""
    from refrnn.tasks.trials import N_CLASSES, N_OBS, TrialBatch

    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 12, size=n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    S = int(offsets[-1])
    fix = rng.integers(1, 3, size=n)
    bounds = np.stack([np.zeros(n), fix, fix + 1, lengths], axis=1).astype(np.int64)
    return TrialBatch(task, rng.random((S, N_OBS), dtype=np.float32),
                      rng.integers(0, N_CLASSES, size=S).astype(np.int64),
                      rng.integers(0, 4, size=S).astype(np.uint8), offsets, bounds,
                      ("fixation", "stimulus", "decision"))


def _assert_on_backend(backend, batch):
    for name in ("x", "labels", "weights", "task_ids"):
        assert isinstance(getattr(batch, name), backend.xp.ndarray), name
    assert batch.x.dtype == np.float32 and batch.weights.dtype == np.float32
    assert batch.labels.dtype == np.int64 and batch.task_ids.dtype == np.int64


@pytest.mark.parametrize("noise_std", [0.0, 0.1])
def test_stream_sampler_serves_backend_batches_equal_to_the_cpu(gpu, noise_std):
    backend = gpu
    from refrnn.data.stream import StreamSampler

    names = ["a", "b", "c"]
    trials = {t: _trials(t, 5, seed=i) for i, t in enumerate(names)}
    kw = dict(batch_size=4, seq_len=20, seed=9, noise_std=noise_std)
    cpu = StreamSampler(trials, names, backend=CPU, **kw)
    dev = StreamSampler(trials, names, backend=backend, **kw)
    for _ in range(3):
        want, got = cpu.next(), dev.next()
        _assert_on_backend(backend, got)
        assert got.x.shape == (20, 4, 33 + len(names))
        # Noise is drawn on the host, so the batches agree bit for bit.
        for name in ("x", "labels", "weights", "task_ids"):
            np.testing.assert_array_equal(backend.to_numpy(getattr(got, name)),
                                          getattr(want, name), err_msg=name)


def test_trial_batch_serves_backend_batches_equal_to_the_cpu(gpu):
    backend = gpu
    from refrnn.data.whole_trials import trial_batch

    tb = _trials("a", 6, seed=3)
    idx = np.array([4, 0, 2])
    want, ds_w, ln_w = trial_batch(tb, 1, 3, idx, backend=CPU, noise_std=0.1, rng=5)
    got, ds, ln = trial_batch(tb, 1, 3, idx, backend=backend, noise_std=0.1, rng=5)
    _assert_on_backend(backend, got)
    for name in ("x", "labels", "weights", "task_ids"):
        np.testing.assert_array_equal(backend.to_numpy(getattr(got, name)),
                                      getattr(want, name), err_msg=name)
    np.testing.assert_array_equal(ds, ds_w)
    np.testing.assert_array_equal(ln, ln_w)
    assert float(backend.to_numpy(got.weights).sum()) == float(tb.lengths[idx].sum())


def test_gpu_only_branch_of_the_sampler_matches_the_cpu_branch():
    """The sampler must serve the same batches whatever the backend is called:
    run it under a "cuda"-named NumPy backend (so any is_gpu branch data.py
    has or gains runs here) and compare with the CPU's bit for bit."""
    import scipy.sparse

    from refrnn.backends.backend import Backend
    from refrnn.data.stream import StreamSampler
    from refrnn.backends.plain import ArrayPrimitives

    fake_gpu = Backend("cuda", np, ArrayPrimitives(np, scipy.sparse, True))
    assert fake_gpu.is_gpu
    names = ["a", "b"]
    trials = {t: _trials(t, 4, seed=10 + i) for i, t in enumerate(names)}
    kw = dict(batch_size=3, seq_len=16, seed=2, noise_std=0.1)
    cpu = StreamSampler(trials, names, backend=CPU, **kw)
    gpu_branch = StreamSampler(trials, names, backend=fake_gpu, **kw)
    for _ in range(2):
        want, got = cpu.next(), gpu_branch.next()
        np.testing.assert_array_equal(got.x, want.x)
    # The noise is really there (the comparison is not of noise-free inputs).
    quiet = StreamSampler(trials, names, backend=CPU, **{**kw, "noise_std": 0.0})
    assert not np.array_equal(quiet.next().x, StreamSampler(trials, names, **kw).next().x)
