"""Trials held compact in memory: every step an index into a table of distinct steps.

A cached trial shows the same observation for a whole period, and a task set
shows few distinct observations at all (the stimuli sit on the 16-unit ring
grid and a few strengths): the 3.0 M training steps of the Mod-Cog cache with
1,000 trials per task hold 8,658 distinct (observation, noise code, label)
triples. So a split is held as::

    TrialTable
        obs     float32 (R, 33)   the distinct observations, R rows
        noise   uint8   (R,)      their input-noise codes (NOISE_* of refrnn.tasks.trials)
        labels  int64   (R,)      their target classes
        steps   uint16  (S,)      every step of every task, back to back: its
                                  table row (uint32 when R > 65,536)

and each task as a :class:`CompactTrials`, a view of its steps in that table
(``start``, ``offsets``) with the task's own period bounds and parameters.
That is 2 bytes a step (4 past 65,536 distinct steps) instead of the 141 of
a dense TrialBatch (33 float32, an int64 label and a noise code). Batches
render their dense inputs from it when they are drawn
(:mod:`refrnn.data.stream`); :func:`compact_trials` makes one from
TrialBatches, and :class:`TableBuilder` task by task (the cache reads that
way, so a dense split is never in memory). docs/data.md, "In memory".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tasks.trials import N_OBS, TrialBatch, TrialIndex

_KEY = N_OBS + 2            # a step's key: 33 observation bit patterns, noise code, label
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier of the row hash


@dataclass
class TrialTable:
    """The distinct steps of a split and every step's row in them (module docstring)."""

    obs: np.ndarray
    noise: np.ndarray
    labels: np.ndarray
    steps: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.obs, self.noise, self.labels, self.steps))


class CompactTrials(TrialIndex):
    """n trials of one task as rows ``start + offsets[i] : start + offsets[i+1]``
    of ``table.steps``; the rest as in :class:`refrnn.tasks.trials.TrialBatch`.

    ``bounds`` (int64) and ``params`` are held in the narrowest integer dtype
    that holds their values (a trial's bounds and parameters would otherwise
    take more memory than its steps) and widened back on each access.
    ``obs``, ``labels`` and ``noise`` render this task's steps densely on each
    access (S x 33 floats): for tools and tests; batches never use them.
    """

    def __init__(self, task, table, start, offsets, bounds, period_names, params=None):
        self.task, self.table, self.start = task, table, int(start)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.period_names = tuple(period_names)
        self._bounds = narrow(np.asarray(bounds, dtype=np.int64))
        self._params = {k: (narrow(np.asarray(v)), np.asarray(v).dtype)
                        for k, v in (params or {}).items()}

    @property
    def bounds(self) -> np.ndarray:
        """int64 (n, P+1) period boundaries relative to each trial's onset."""
        return self._bounds.astype(np.int64)

    @property
    def params(self) -> dict:
        """dict name -> (n,) per-trial parameters, in their own dtypes."""
        return {k: v.astype(dtype) for k, (v, dtype) in self._params.items()}

    def rows(self, a: int = 0, b: int | None = None) -> np.ndarray:
        """Table rows of this task's steps a:b (default all), a view."""
        b = int(self.offsets[-1]) if b is None else b
        return self.table.steps[self.start + a:self.start + b]

    @property
    def obs(self) -> np.ndarray:
        """float32 (S, 33), rendered."""
        return self.table.obs[self.rows()]

    @property
    def labels(self) -> np.ndarray:
        """int64 (S,), rendered."""
        return self.table.labels[self.rows()]

    @property
    def noise(self) -> np.ndarray:
        """uint8 (S,), rendered."""
        return self.table.noise[self.rows()]

    def trial(self, i: int):
        """(obs float32 (T, 33), labels int64 (T,)) of trial i, rendered."""
        r = self.rows(int(self.offsets[i]), int(self.offsets[i + 1]))
        return self.table.obs[r], self.table.labels[r]

    def dense(self) -> TrialBatch:
        """The same trials as a dense TrialBatch."""
        return TrialBatch(self.task, self.obs, self.labels, self.noise, self.offsets,
                          self.bounds, self.period_names, self.params)

    def subset(self, idx) -> TrialBatch:
        """A dense TrialBatch of trials ``idx`` (1-D int array), in that order."""
        return self.dense().subset(idx)


def narrow(a: np.ndarray) -> np.ndarray:
    """An integer array in the narrowest dtype that holds its values; other
    arrays as they are."""
    if a.dtype.kind in "iu" and a.size:
        t = np.result_type(np.min_scalar_type(a.min()), np.min_scalar_type(a.max()))
        if t.itemsize < a.dtype.itemsize:
            return a.astype(t)
    return a


def step_keys(tb: TrialBatch) -> np.ndarray:
    """uint32 (S, 35): each step's observation bit patterns, noise code and label.

    ValueError when a label is outside 0..255 (the cache file's uint8)."""
    if tb.labels.size and (tb.labels.min() < 0 or tb.labels.max() > 255):
        raise ValueError(f"task {tb.task!r}: labels outside 0..255")
    keys = np.empty((tb.obs.shape[0], _KEY), dtype=np.uint32)
    keys[:, :N_OBS] = np.ascontiguousarray(tb.obs, dtype=np.float32).view(np.uint32)
    keys[:, N_OBS] = tb.noise
    keys[:, N_OBS + 1] = tb.labels
    return keys


def unique_rows(keys: np.ndarray):
    """(table (R, k), inverse (S,) int64) with table[inverse] == keys, rows in
    order of first appearance.

    Consecutive equal rows are merged first (a period repeats its step), the
    rest told apart by a 64-bit hash of each row and checked exactly; a hash
    collision falls back to numpy.unique over the rows."""
    s = keys.shape[0]
    if s == 0:
        return keys[:0], np.zeros(0, dtype=np.int64)
    new = np.ones(s, dtype=bool)
    new[1:] = np.any(keys[1:] != keys[:-1], axis=1)
    runs = keys[new]                                   # (M, k) run starts
    h = np.zeros(runs.shape[0], dtype=np.uint64)
    for j in range(runs.shape[1]):
        h = h * _HASH_MUL + runs[:, j]
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    if not np.array_equal(runs[first][inv], runs):    # a collision: exact, slower
        _, first, inv = np.unique(runs, axis=0, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
    order = np.argsort(first, kind="stable")           # table rows in order of appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    run_of_step = np.cumsum(new) - 1
    return runs[first[order]], rank[inv][run_of_step]


class TableBuilder:
    """Collects TrialBatches task by task into one TrialTable of ``n_steps``
    steps: each task's steps are written into their place as it is added, so
    the peak is one dense task beside the compact result."""

    def __init__(self, n_steps: int):
        self._steps = np.empty(int(n_steps), dtype=np.uint16)  # uint32 past 65,536 rows
        self._row = {}          # a distinct step's key bytes -> its table row
        self._new = []          # the keys of the rows, in row order, in blocks
        self._trials = {}       # name -> CompactTrials, their table set by finish()
        self._filled = 0

    def add(self, name: str, tb: TrialBatch):
        """Add the trials ``tb`` under the key ``name``."""
        keys = step_keys(tb)
        n = keys.shape[0]
        if self._filled + n > self._steps.size:
            raise ValueError(f"task {tb.task!r}: more steps than the {self._steps.size} announced")
        local, inv = unique_rows(keys)
        before = len(self._row)
        ids = np.array([self._row.setdefault(row.tobytes(), len(self._row))
                        for row in local], dtype=np.int64)  # a task has few distinct steps
        self._new.append(local[ids >= before])  # new rows got the ids before, before + 1, ...
        if len(self._row) > 1 << 16 and self._steps.dtype == np.uint16:
            self._steps = self._steps.astype(np.uint32)
        self._steps[self._filled:self._filled + n] = ids[inv]
        self._trials[name] = CompactTrials(tb.task, None, self._filled, tb.offsets, tb.bounds,
                                           tb.period_names, tb.params)
        self._filled += n

    def finish(self) -> dict:
        """dict name -> CompactTrials, all in one TrialTable (in the order added)."""
        if self._filled != self._steps.size:
            raise ValueError(f"{self._filled} steps added, {self._steps.size} announced")
        keys = np.concatenate(self._new) if self._new else np.zeros((0, _KEY), np.uint32)
        table = TrialTable(np.ascontiguousarray(keys[:, :N_OBS]).view(np.float32),
                           keys[:, N_OBS].astype(np.uint8), keys[:, N_OBS + 1].astype(np.int64),
                           self._steps)
        for ct in self._trials.values():
            ct.table = table
        return self._trials


def compact_trials(trials) -> dict:
    """dict task -> CompactTrials sharing one TrialTable, from a dict of
    TrialBatch or CompactTrials (returned as is when they already share one)."""
    values = list(trials.values())
    if values and all(isinstance(v, CompactTrials) and v.table is values[0].table
                      for v in values):
        return dict(trials)
    b = TableBuilder(sum(int(v.offsets[-1]) for v in values))
    for name, v in trials.items():
        b.add(name, v.dense() if isinstance(v, CompactTrials) else v)
    return b.finish()
