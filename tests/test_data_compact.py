"""Compact trials (refrnn.data.compact) and the batches rendered from them.

The reference here is the dense pipeline written out plainly: every step's
observation held as a row, a batch gathered row by row from it, its input
noise drawn code by code, zeros for the one-hot units and a one per step.
The compact pipeline must give the same bits for the same seeds.
"""
import numpy as np
import pytest

from refrnn.data import compact as C
from refrnn.data.stream import normal_f32
from refrnn.data.stream import StreamSampler
from refrnn.data.whole_trials import trial_batch
from refrnn.tasks import get_task
from refrnn.tasks.trials import N_OBS, NOISE_UNITS, TrialBatch


def _add_noise(x, codes, std, rng):
    """Plain input noise: x (..., n_in) += std * N(0, 1) on the units of each
    step's noise code (codes (...,)), drawn code by code in step order."""
    flat, c = x.reshape(-1, x.shape[-1]), codes.reshape(-1)
    rows = {k: np.flatnonzero(c == k) for k in (1, 2, 3)}
    sizes = [rows[k].size * int(NOISE_UNITS[k].sum()) for k in (1, 2, 3)]
    z = normal_f32(rng, sum(sizes)) * np.float32(std)
    start = 0
    for k, size in zip((1, 2, 3), sizes):
        units = np.flatnonzero(NOISE_UNITS[k])
        flat[rows[k][:, None], units[None, :]] += z[start:start + size].reshape(-1, units.size)
        start += size


def stand_in(k, n, rng):
    """n trials of task k with period-wise constant observations on a coarse
    grid (so steps repeat, as real tasks' do), noise codes, labels and -0.0."""
    lengths = rng.integers(4, 16, n)
    off = np.concatenate([[0], np.cumsum(lengths)])
    s = int(off[-1])
    obs = np.repeat(rng.integers(-2, 3, (n, N_OBS)).astype(np.float32) / 4, lengths, axis=0)
    obs[::7, 3] = -0.0  # bit patterns count, not float equality
    obs[1::5, 5] = k + 0.5
    bounds = np.stack([np.zeros(n, np.int64), lengths - 2, lengths], 1)
    return TrialBatch(f"t{k}", obs, rng.integers(0, 17, s), rng.integers(0, 4, s).astype(np.uint8),
                      off, bounds, ("stimulus", "decision"), {"p": np.arange(n) + k})


@pytest.fixture(scope="module")
def trials():
    rng = np.random.default_rng(3)
    return {f"t{k}": stand_in(k, 30, rng) for k in range(4)}


NAMES = ["t0", "t1", "t2", "t3"]


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_unique_rows_rebuild_keys_and_survive_collisions(monkeypatch):
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 3, (500, 5)).astype(np.uint32)
    keys = np.repeat(keys, rng.integers(1, 4, 500), axis=0)
    table, inv = C.unique_rows(keys)
    assert same_bits(table[inv], keys)
    assert len(np.unique(table, axis=0)) == len(table)          # each row once
    assert same_bits(table[0], keys[0]) and inv[0] == 0          # order of appearance
    monkeypatch.setattr(C, "_HASH_MUL", np.uint64(0))            # every row hashes alike
    t2, inv2 = C.unique_rows(keys)
    assert same_bits(t2, table) and same_bits(inv2, inv)
    empty, inv0 = C.unique_rows(keys[:0])
    assert empty.shape == (0, 5) and inv0.shape == (0,)


def test_compact_trials_hold_the_same_trials(trials):
    ct = C.compact_trials(trials)
    tables = {id(v.table) for v in ct.values()}
    assert len(tables) == 1 and list(ct) == NAMES
    table = ct["t0"].table
    assert table.steps.dtype == np.uint16 and table.steps.size == sum(
        tb.offsets[-1] for tb in trials.values())
    for name, tb in trials.items():
        got = ct[name]
        assert same_bits(got.obs, tb.obs) and same_bits(got.noise, tb.noise)
        assert same_bits(got.labels, tb.labels.astype(np.int64))
        assert same_bits(got.lengths, tb.lengths) and got.n_trials == tb.n_trials
        assert same_bits(got.decision_start, tb.decision_start)
        for i in (0, 7, tb.n_trials - 1):
            assert all(same_bits(a, b) for a, b in zip(got.trial(i), tb.trial(i)))
        d = got.subset([2, 0])
        assert same_bits(d.obs, tb.subset([2, 0]).obs) and d.params["p"].tolist() == [
            tb.params["p"][2], tb.params["p"][0]]
    assert C.compact_trials(ct) == ct                  # already one table: kept
    sub = {"t2": ct["t2"]}
    assert C.compact_trials(sub)["t2"] is ct["t2"]


def test_compact_rejects_labels_a_byte_cannot_hold(trials):
    tb = trials["t0"]
    bad = TrialBatch("bad", tb.obs, tb.labels + 300, tb.noise, tb.offsets, tb.bounds,
                     tb.period_names)
    with pytest.raises(ValueError, match="labels outside 0..255"):
        C.compact_trials({"bad": bad})


def test_index_widens_past_65536_distinct_steps():
    n = 70_000
    obs = np.zeros((n, N_OBS), np.float32)
    obs[:, 0] = np.arange(n)
    tb = TrialBatch("wide", obs, np.zeros(n, np.int64), np.zeros(n, np.uint8),
                    np.array([0, n]), np.array([[0, n]]), ("decision",))
    ct = C.compact_trials({"wide": tb})["wide"]
    assert ct.table.steps.dtype == np.uint32 and same_bits(ct.obs, obs)


def dense_reference(trials, names, B, T, seed, std, n_batches):
    """The dense pipeline, written out: the same schedule and noise draws as
    StreamSampler (docs/data.md), every step's row held densely."""
    rng = np.random.Generator(np.random.SFC64(seed))
    tbs = [trials[t] for t in names]
    K = len(names)
    obs = np.concatenate([tb.obs for tb in tbs]).astype(np.float32)
    labels = np.concatenate([tb.labels for tb in tbs]).astype(np.int64)
    noise = np.concatenate([tb.noise for tb in tbs])
    base = np.cumsum([0] + [int(tb.offsets[-1]) for tb in tbs])
    M = -(-T // min(int(tb.lengths.min()) for tb in tbs))
    last = [-1] * B
    out = []
    for _ in range(n_batches):
        first = rng.integers(0, K, size=B)
        step = 1 + rng.integers(0, max(K - 1, 1), size=(B, M)) if K > 1 else np.zeros((B, M), int)
        pick_n = np.empty((B, M), dtype=np.int64)
        tasks = np.empty((B, M), dtype=np.int64)
        for b in range(B):
            k = first[b] if last[b] < 0 else (last[b] + step[b, 0]) % K
            for m in range(M):
                if m:
                    k = (k + step[b, m]) % K
                tasks[b, m] = k
                pick_n[b, m] = tbs[k].n_trials
        trial = rng.integers(0, pick_n)
        src = np.empty((T, B), dtype=np.int64)
        task = np.empty((T, B), dtype=np.int64)
        for b in range(B):
            t = 0
            for m in range(M):
                if t >= T:
                    break
                k, i = tasks[b, m], trial[b, m]
                a, e = tbs[k].offsets[i], tbs[k].offsets[i + 1]
                n = min(e - a, T - t)
                src[t:t + n, b] = base[k] + a + np.arange(n)
                task[t:t + n, b] = k
                last[b] = k
                t += n
        x = np.zeros((T, B, N_OBS + K), np.float32)
        x[..., :N_OBS] = obs[src]
        if std > 0:
            _add_noise(x, noise[src], std, rng)
        for t in range(T):
            for b in range(B):
                x[t, b, N_OBS + task[t, b]] = 1.0
        out.append((x, labels[src], task))
    return out


@pytest.mark.parametrize("B,T,seed,std", [(6, 40, 1, 0.1), (3, 25, 7, 0.0), (5, 60, 2, 0.5)])
def test_stream_batches_match_the_dense_rendering(trials, B, T, seed, std):
    want = dense_reference(trials, NAMES, B, T, seed, std, 4)
    fresh = StreamSampler(trials, NAMES, B, T, seed=seed, noise_std=std)
    reused = StreamSampler(C.compact_trials(trials), NAMES, B, T, seed=seed, noise_std=std,
                           reuse_x=True)
    for x, labels, task in want:
        a, b = fresh.next(), reused.next()
        for got in (a, b):
            assert same_bits(got.x, x)
            assert same_bits(got.labels, labels) and same_bits(got.task_ids, task)
            assert same_bits(got.weights, np.ones((T, B), np.float32))
    assert b.x is reused.next().x          # reuse_x: one buffer
    assert a.x is not fresh.next().x


def test_stream_over_a_subset_in_another_order_uses_the_table_in_place(trials):
    ct = C.compact_trials(trials)
    names = ["t3", "t1"]
    want = dense_reference(trials, names, 4, 30, 5, 0.1, 3)
    s = StreamSampler(ct, names, 4, 30, seed=5, noise_std=0.1, reuse_x=True)
    for x, labels, _ in want:
        b = s.next()
        assert same_bits(b.x, x) and same_bits(b.labels, labels)


def dense_trial_batch(tb, task_index, n_tasks, idx, std, seed):
    """Whole trials padded, written out from the dense TrialBatch. Padding
    holds the task's first observation times 0 (so -0.0 where it is negative),
    as refrnn has always rendered it."""
    rng = np.random.default_rng(seed)
    T = int(tb.lengths[idx].max())
    x = np.zeros((T, len(idx), N_OBS + n_tasks), np.float32)
    x[..., :N_OBS] = tb.obs[0] * np.float32(0)
    labels = np.zeros((T, len(idx)), np.int64)
    codes = np.zeros((T, len(idx)), np.uint8)
    for j, i in enumerate(idx):
        o, lab = tb.trial(i)
        x[:len(o), j, :N_OBS] = o
        x[:len(o), j, N_OBS + task_index] = 1.0
        labels[:len(o), j] = lab
        codes[:len(o), j] = tb.noise[tb.offsets[i]:tb.offsets[i + 1]]
    if std > 0:
        _add_noise(x, codes, std, rng)
    return x, labels


@pytest.mark.parametrize("std", [0.0, 0.3])
def test_trial_batches_match_the_dense_rendering(trials, std):
    ct = C.compact_trials(trials)
    idx = np.array([4, 0, 11, 4])
    x, labels = dense_trial_batch(trials["t2"], 2, 4, idx, std, 9)
    for tb in (trials["t2"], ct["t2"]):
        b, ds, ln = trial_batch(tb, 2, 4, idx, noise_std=std, rng=9)
        assert same_bits(b.x, x) and same_bits(b.labels, labels)
        assert same_bits(ln, trials["t2"].lengths[idx])


def test_real_tasks_repeat_their_steps():
    """Why the table is small: a task's steps repeat (one observation a period)."""
    tbs = {t: get_task(t).generate(50, np.random.default_rng(1)) for t in ("dlygo", "dm1")}
    ct = C.compact_trials(tbs)
    table = ct["dlygo"].table
    assert table.obs.shape[0] * 10 < table.steps.size
    for t, tb in tbs.items():
        assert same_bits(ct[t].obs, tb.obs) and same_bits(ct[t].labels, tb.labels)


def test_the_memory_estimate_covers_what_a_loaded_split_holds():
    """refrnn.data.footprint's per-step figure bounds the compact split's bytes
    (at a cache's size: the table of distinct steps grows slower than the steps)."""
    from refrnn.data.footprint import STEP_BYTES
    from refrnn.tasks import task_names
    rng = np.random.default_rng(2)
    tbs = {t: get_task(t).generate(1000, rng) for t in task_names("yang19")}
    table = next(iter(C.compact_trials(tbs).values())).table
    assert table.nbytes <= STEP_BYTES * table.steps.size
