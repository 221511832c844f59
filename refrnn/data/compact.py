"""Trials held compact in memory: every step an index into a table of distinct steps.

A cached trial shows the same observation for a whole period, and a task set
shows few distinct observations at all (the stimuli sit on the 16-unit ring
grid and a few strengths): the 3.0 M training steps of the Mod-Cog cache with
1,000 trials per task hold about 8,700 distinct (observation, noise code,
label) triples. So a split is held as

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
(:mod:`refrnn.data.batch`); :func:`compact_trials` makes one from
TrialBatches (the cache does it task by task as it reads, so a dense split is
never in memory).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..tasks.trials import N_OBS, TrialBatch

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


@dataclass
class CompactTrials:
    """n trials of one task as rows ``start + offsets[i] : start + offsets[i+1]``
    of ``table.steps``; the rest as in :class:`refrnn.tasks.trials.TrialBatch`.

    ``obs``, ``labels`` and ``noise`` render this task's steps densely on each
    access (S x 33 floats): for tools and tests; batches never use them.
    """

    task: str
    table: TrialTable
    start: int
    offsets: np.ndarray
    bounds: np.ndarray
    period_names: tuple
    params: dict = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def lengths(self) -> np.ndarray:
        """(n,) int64 trial lengths in steps."""
        return np.diff(self.offsets)

    def period(self, name: str) -> np.ndarray:
        """(n, 2) start and end step of period ``name`` in each trial."""
        p = self.period_names.index(name)
        return self.bounds[:, p:p + 2]

    @property
    def decision_start(self) -> np.ndarray:
        """(n,) first step of the decision period in each trial."""
        return self.period("decision")[:, 0]

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


def _index_dtype(n_rows: int):
    return np.uint16 if n_rows <= 1 << 16 else np.uint32


class TableBuilder:
    """Collects TrialBatches task by task into one TrialTable (peak: one dense
    task at a time plus 4 bytes a step)."""

    def __init__(self):
        self._parts = []  # (TrialBatch without obs, local table keys, local inverse)

    def add(self, name: str, tb: TrialBatch):
        """Add the trials ``tb`` under the key ``name``."""
        keys = step_keys(tb)
        table, inv = unique_rows(keys)
        inv = inv.astype(_index_dtype(table.shape[0]))  # a task's own table is small
        meta = (name, tb.task, tb.offsets, tb.bounds, tb.period_names, tb.params)
        self._parts.append((meta, table, inv))

    def finish(self) -> dict:
        """dict task -> CompactTrials, all in one TrialTable (in the order added)."""
        if not self._parts:
            return {}
        local = [p[1] for p in self._parts]
        table, remap = unique_rows(np.concatenate(local))
        steps = np.empty(sum(p[2].size for p in self._parts), dtype=_index_dtype(len(table)))
        tt = TrialTable(np.ascontiguousarray(table[:, :N_OBS]).view(np.float32),
                        table[:, N_OBS].astype(np.uint8), table[:, N_OBS + 1].astype(np.int64),
                        steps)
        out, start, row0 = {}, 0, 0
        while self._parts:
            (name, task, offsets, bounds, period_names, params), tab, inv = self._parts.pop(0)
            steps[start:start + inv.size] = remap[row0:row0 + tab.shape[0]][inv]
            out[name] = CompactTrials(task, tt, start, offsets, bounds, period_names, params)
            start, row0 = start + inv.size, row0 + tab.shape[0]
        return out


def compact_trials(trials) -> dict:
    """dict task -> CompactTrials sharing one TrialTable, from a dict of
    TrialBatch or CompactTrials (returned as is when they already share one)."""
    values = list(trials.values())
    if values and all(isinstance(v, CompactTrials) and v.table is values[0].table
                      for v in values):
        return dict(trials)
    b = TableBuilder()
    for name, v in trials.items():
        b.add(name, v.dense() if isinstance(v, CompactTrials) else v)
    return b.finish()
