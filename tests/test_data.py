"""Batch pipeline: stream windows and padded whole-trial batches.

Stand-in trials carry their identity in the observations (unit 0 = a trial
uid, unit 1 = step within the trial), so a served batch can be decoded back
into the trials it was built from.
"""
import json

import numpy as np
import pytest

from refrnn.backends.backend import available_devices, get_backend
from refrnn.data.stream import Batch, StreamSampler
from refrnn.data.whole_trials import trial_batch
from refrnn.tasks.trials import NOISE_UNITS, TrialBatch


def make_task(k, n, rng, lo=3, hi=15):
    """n trials of task k; obs[:, 0] = 1000k + trial, obs[:, 1] = step."""
    lengths = rng.integers(lo, hi, n)
    off = np.concatenate([[0], np.cumsum(lengths)])
    s = int(off[-1])
    trial = np.repeat(np.arange(n), lengths)
    step = np.arange(s) - off[trial]
    obs = np.zeros((s, 33), np.float32)
    obs[:, 0] = 1000 * k + trial
    obs[:, 1] = step
    obs[:, 2:] = rng.random((s, 31), dtype=np.float32)
    bounds = np.stack([np.zeros(n, np.int64), lengths - 2, lengths], 1)
    return TrialBatch(f"t{k}", obs, rng.integers(0, 17, s),
                      rng.integers(0, 4, s).astype(np.uint8), off, bounds,
                      ("stimulus", "decision"), {})


@pytest.fixture(scope="module")
def trials():
    rng = np.random.default_rng(7)
    return {f"t{k}": make_task(k, 40, rng) for k in range(5)}


NAMES = [f"t{k}" for k in range(5)]


def decode_row(x, b):
    """Segments (task, trial, n_steps) of batch row b."""
    uid, step = x[:, b, 0], x[:, b, 1]
    starts = np.flatnonzero(step == 0)
    ends = np.append(starts[1:], len(step))
    return [(int(uid[s]) // 1000, int(uid[s]) % 1000, e - s) for s, e in zip(starts, ends)]


def test_stream_batch_is_whole_trials(trials):
    s = StreamSampler(trials, NAMES, batch_size=16, seq_len=60, seed=1, noise_std=0)
    prev_last = None
    for _ in range(4):
        b = s.next()
        assert isinstance(b, Batch)
        assert b.x.shape == (60, 16, 38) and b.x.dtype == np.float32
        assert b.labels.dtype == np.int64 and b.task_ids.dtype == np.int64
        assert b.weights.dtype == np.float32 and np.all(b.weights == 1)
        np.testing.assert_array_equal(b.x[..., 33:].argmax(-1), b.task_ids)
        assert np.all(b.x[..., 33:].sum(-1) == 1)
        firsts, lasts = [], []
        for row in range(16):
            segs = decode_row(b.x, row)
            assert b.x[0, row, 1] == 0  # every row starts at a trial onset
            t = 0
            for i, (k, j, n) in enumerate(segs):
                tb = trials[f"t{k}"]
                full = tb.lengths[j]
                assert n == full or (i == len(segs) - 1 and n < full)
                obs, lab = tb.trial(j)
                np.testing.assert_array_equal(b.x[t:t + n, row, :33], obs[:n])
                np.testing.assert_array_equal(b.labels[t:t + n, row], lab[:n])
                assert np.all(b.task_ids[t:t + n, row] == k)
                t += n
            tasks = [k for k, _, _ in segs]
            assert all(a != c for a, c in zip(tasks, tasks[1:]))  # never twice in a row
            firsts.append(tasks[0])
            lasts.append(tasks[-1])
        if prev_last is not None:  # the rule holds across batch boundaries
            assert all(a != c for a, c in zip(prev_last, firsts))
        prev_last = lasts


def test_task_and_trial_draws_are_uniform(trials):
    s = StreamSampler(trials, NAMES, batch_size=64, seq_len=200, seed=2, noise_std=0)
    seen_tasks, seen_trials = np.zeros(5), np.zeros(40)
    for _ in range(10):
        x = s.next().x
        for row in range(64):
            for k, j, _ in decode_row(x, row):
                seen_tasks[k] += 1
                seen_trials[j] += 1
    for counts in (seen_tasks, seen_trials):
        expected = counts.sum() / counts.size
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert chi2 < 3 * counts.size, counts  # loose: catches a skewed draw


def test_single_task_repeats(trials):
    s = StreamSampler(trials, ["t3"], batch_size=4, seq_len=50, seed=0, noise_std=0)
    b = s.next()
    assert b.x.shape[-1] == 34 and np.all(b.task_ids == 0)
    assert {k for k, _, _ in decode_row(b.x, 0)} == {3}


def test_noise_on_coded_units_fresh_each_serve(trials):
    clean = StreamSampler(trials, NAMES, 32, 80, seed=5, noise_std=0).next()
    noisy_s = StreamSampler(trials, NAMES, 32, 80, seed=5, noise_std=0.5)
    state = noisy_s.get_state()
    noisy = noisy_s.next()
    np.testing.assert_array_equal(noisy.labels, clean.labels)  # same schedule
    diff = noisy.x[..., :33] - clean.x[..., :33]
    # which units got noise follows the per-step code of the trial served
    codes = np.empty(clean.labels.shape, np.uint8)
    for row in range(32):
        t = 0
        for k, j, n in decode_row(clean.x, row):
            tb = trials[f"t{k}"]
            codes[t:t + n, row] = tb.noise[tb.offsets[j]:tb.offsets[j] + n]
            t += n
    units = NOISE_UNITS[codes]
    assert np.all(diff[~units] == 0) and np.all(diff[units] != 0)
    assert abs(diff[units].std() - 0.5) < 0.02 and abs(diff[units].mean()) < 0.02
    assert np.all(noisy.x[..., 33:] == clean.x[..., 33:])
    noisy_s.set_state(state)
    np.testing.assert_array_equal(noisy_s.next().x, noisy.x)
    # a single-trial task: every serve repeats the trial, never its noise
    one = {"t0": trials["t0"].subset([0])}
    b = StreamSampler(one, ["t0"], 2, trials["t0"].lengths[0] * 2, seed=0, noise_std=1.0).next()
    n0 = trials["t0"].lengths[0]
    assert not np.array_equal(b.x[:n0, 0, 2:], b.x[n0:2 * n0, 0, 2:])


def test_state_resume_is_bit_exact(trials):
    a = StreamSampler(trials, NAMES, 8, 70, seed=9)
    for _ in range(3):
        a.next()
    state = json.loads(json.dumps(a.get_state()))
    want = [a.next() for _ in range(3)]
    b = StreamSampler(trials, NAMES, 8, 70, seed=123)
    b.set_state(state)
    for w in want:
        got = b.next()
        for f in ("x", "labels", "weights", "task_ids"):
            np.testing.assert_array_equal(getattr(got, f), getattr(w, f))
    assert b.served == a.served == 6
    with pytest.raises(ValueError, match="batch_size"):
        StreamSampler(trials, NAMES, 9, 70).set_state(state)
    other = dict(trials, t0=trials["t0"].subset([1, 0, 2]))
    with pytest.raises(ValueError, match="n_steps"):
        StreamSampler(other, NAMES, 8, 70).set_state(state)
    with pytest.raises(ValueError, match="rng"):
        b.set_state(dict(state, rng={"bit_generator": "nope"}))


def test_seeds_differ(trials):
    x1 = StreamSampler(trials, NAMES, 8, 70, seed=1).next().x
    x2 = StreamSampler(trials, NAMES, 8, 70, seed=2).next().x
    assert not np.array_equal(x1, x2)


@pytest.mark.parametrize("bad", [dict(batch_size=0), dict(seq_len=0), dict(seed=-1),
                                 dict(noise_std=-0.1), dict(noise_std=float("nan")),
                                 dict(task_names=["t0", "zz"]), dict(task_names=[])])
def test_stream_bad_input(trials, bad):
    args = dict(task_names=NAMES, batch_size=4, seq_len=10)
    args.update(bad)
    with pytest.raises(ValueError):
        StreamSampler(trials, **args)


def test_cuda_batches_hold_the_host_numbers(trials):
    """The same seed serves the same numbers on the GPU as on the host."""
    if "cuda" not in available_devices():
        pytest.skip("no CUDA GPU with CuPy here")
    backend = get_backend("cuda")
    cpu = StreamSampler(trials, NAMES, 8, 70, seed=4).next()
    dev = StreamSampler(trials, NAMES, 8, 70, seed=4, backend=backend).next()
    for f in ("x", "labels", "weights", "task_ids"):
        assert isinstance(getattr(dev, f), backend.xp.ndarray)
        np.testing.assert_array_equal(backend.to_numpy(getattr(dev, f)), getattr(cpu, f))
    tb, _, _ = trial_batch(trials["t1"], 1, 5, [0, 3], backend=backend)
    assert isinstance(tb.x, backend.xp.ndarray)


def test_trial_batch_pads(trials):
    tb = trials["t2"]
    idx = np.array([5, 0, 17, 5])
    b, dstart, lengths = trial_batch(tb, 2, 5, idx)
    np.testing.assert_array_equal(lengths, tb.lengths[idx])
    np.testing.assert_array_equal(dstart, tb.decision_start[idx])
    assert b.x.shape == (lengths.max(), 4, 38)
    for col, (j, n) in enumerate(zip(idx, lengths)):
        obs, lab = tb.trial(j)
        np.testing.assert_array_equal(b.x[:n, col, :33], obs)
        np.testing.assert_array_equal(b.labels[:n, col], lab)
        assert np.all(b.x[:n, col, 35] == 1) and np.all(b.x[:n, col, 33:].sum(-1) == 1)
        assert np.all(b.weights[:n, col] == 1) and np.all(b.task_ids[:n, col] == 2)
        assert np.all(b.x[n:, col] == 0) and np.all(b.labels[n:, col] == 0)
        assert np.all(b.weights[n:, col] == 0) and np.all(b.task_ids[n:, col] == -1)


def test_trial_batch_noise_and_errors(trials):
    tb = trials["t4"]
    clean, _, lengths = trial_batch(tb, 4, 5, [1, 2])
    noisy, _, _ = trial_batch(tb, 4, 5, [1, 2], noise_std=0.3, rng=np.random.default_rng(0))
    again, _, _ = trial_batch(tb, 4, 5, [1, 2], noise_std=0.3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(noisy.x, again.x)
    diff = noisy.x - clean.x
    assert np.any(diff != 0)
    for col, n in enumerate(lengths):
        assert np.all(diff[n:, col] == 0)  # no noise on padding
    for bad in [dict(idx=[40]), dict(idx=[-1]), dict(idx=[]), dict(task_index=5),
                dict(noise_std=0.1), dict(n_tasks=0)]:
        args = dict(task_index=4, n_tasks=5, idx=[0])
        args.update(bad)
        with pytest.raises(ValueError):
            trial_batch(tb, **args)


def test_normal_f32_is_standard_normal():
    from refrnn.data.stream import normal_f32
    z = normal_f32(np.random.default_rng(0), 400_001)
    assert z.shape == (400_001,) and z.dtype == np.float32
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(((z - z.mean()) ** 4).mean() / z.var() ** 2 - 3) < 0.05  # Gaussian tails
    assert abs((np.abs(z) < 1).mean() - 0.6827) < 0.005
    assert np.isfinite(z).all() and np.abs(z).max() < 5.8
    assert normal_f32(np.random.default_rng(0), 0).shape == (0,)
