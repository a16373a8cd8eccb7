"""Operations over runs stored as contiguous segments of sorted arrays.

The engine keeps every series as flat numpy arrays sorted by run, then step,
so a run is a contiguous slice.  Everything per run is computed with segment
operations (``reduceat``, cumulative sums, ``searchsorted``) over whole
arrays: no sorting of data that is already sorted, no Python loop over runs
or points.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: more uneven segments than this are searched together (composite keys), not one by one
_SEARCH_ONE_BY_ONE = 64


@dataclass(frozen=True)
class Segments:
    """Where each run's rows lie in a run-sorted array.

    ``ids[i]`` is the run code of segment *i*, rows ``starts[i]:ends[i]``.
    ``n_runs`` is the number of run codes (segments exist only for runs
    that have rows).
    """

    codes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    ids: np.ndarray
    n_runs: int

    @classmethod
    def of(cls, codes: np.ndarray, n_runs: int) -> Segments:
        codes = np.asarray(codes, dtype=np.int64)
        n = codes.size
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(codes, empty, empty, empty, n_runs)
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        ends = np.r_[starts[1:], n]
        return cls(codes, starts, ends, codes[starts], n_runs)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray(self.ends - self.starts, dtype=np.int64)

    @functools.cached_property
    def seg(self) -> np.ndarray:
        """Segment number of every row (computed once)."""
        return np.repeat(np.arange(self.starts.size), self.lengths)

    def per_run(self, per_segment: np.ndarray, fill: float | int = np.nan) -> np.ndarray:
        """Scatter a per-segment array into one indexed by run code."""
        dtype = np.result_type(np.asarray(per_segment).dtype, np.min_scalar_type(fill))
        out = np.full(self.n_runs, fill, dtype=dtype)
        out[self.ids] = per_segment
        return out

    def rows(self, per_segment: np.ndarray) -> np.ndarray:
        """Broadcast a per-segment array to every row."""
        return np.repeat(per_segment, self.lengths)

    def of_run(self, per_run: np.ndarray) -> np.ndarray:
        """Broadcast an array indexed by run code to every row (``per_run[codes]``)."""
        return np.repeat(np.asarray(per_run)[self.ids], self.lengths)

    # reductions (NaN-skipping; an all-NaN segment gives NaN) -----------------
    def min(self, a: np.ndarray) -> np.ndarray:
        if not self.starts.size:
            return np.zeros(0)
        return np.asarray(np.fmin.reduceat(a, self.starts), dtype=np.float64)

    def max(self, a: np.ndarray) -> np.ndarray:
        if not self.starts.size:
            return np.zeros(0)
        return np.asarray(np.fmax.reduceat(a, self.starts), dtype=np.float64)

    def count(self, mask: np.ndarray) -> np.ndarray:
        if not self.starts.size:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(np.add.reduceat(mask, self.starts, dtype=np.int64), dtype=np.int64)

    def rank(self, mask: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """Per row: how many *mask* rows of its segment come before it (a *mask* row's
        0-based rank among them; any other row has the rank of the one before it).
        *counts* is ``self.count(mask)`` where the caller has it already."""
        counts = self.count(mask) if counts is None else counts
        return np.asarray(np.cumsum(mask) - 1 - self.rows(np.r_[0, np.cumsum(counts)[:-1]]))

    def first_true(self, mask: np.ndarray) -> np.ndarray:
        """Row index of each segment's first True (-1 where none)."""
        return self._true_at(mask, last=False)

    def last_true(self, mask: np.ndarray) -> np.ndarray:
        """Row index of each segment's last True (-1 where none)."""
        return self._true_at(mask, last=True)

    def _true_at(self, mask: np.ndarray, *, last: bool) -> np.ndarray:
        if not self.starts.size:
            return np.full(0, -1, dtype=np.int64)
        # most masks hold at a segment's edge: look there first
        edge = self.ends - 1 if last else self.starts
        at_edge = mask[edge]
        out = np.where(at_edge, edge, -1).astype(np.int64)
        if at_edge.all():
            return out
        hit = np.flatnonzero(mask)
        if hit.size:
            # the others: each one's first hit at or after its start (last: its last hit
            # before its end), searched among the hits, kept if inside the segment
            todo = np.flatnonzero(~at_edge)
            if last:
                pos = np.searchsorted(hit, self.ends[todo]) - 1
                got = np.take(hit, pos, mode="clip")
                inside = (pos >= 0) & (got >= self.starts[todo])
            else:
                pos = np.searchsorted(hit, self.starts[todo])
                got = np.take(hit, pos, mode="clip")
                inside = (pos < hit.size) & (got < self.ends[todo])
            out[todo[inside]] = got[inside]
        return out

    def cummin(self, a: np.ndarray) -> np.ndarray:
        """Running minimum within each segment (NaN-skipping)."""
        if a.size == 0:
            return a.astype(np.float64)
        out = pd.Series(a).groupby(self.seg, sort=False).cummin().to_numpy(dtype=np.float64)
        return np.asarray(out, dtype=np.float64)

    def rev_cummin(self, a: np.ndarray) -> np.ndarray:
        """Minimum of each row and every later row of its segment."""
        if a.size == 0:
            return a.astype(np.float64)
        rev = pd.Series(a[::-1]).groupby(self.seg[::-1], sort=False).cummin()
        return np.asarray(rev.to_numpy(dtype=np.float64)[::-1], dtype=np.float64)

    def lookback(self, steps: np.ndarray, span: np.ndarray) -> np.ndarray:
        """Per row: the last row of its segment whose step is at most ``floor(step -
        span)`` (*span* per segment), or a row before the segment's start where none.

        A segment logged at an even integer stride ``s`` (the usual run) is
        answered without a search: that row is ``ceil(ceil(span) / s)`` rows back.
        Any other segment is searched (``searchsorted``, side right, minus one).
        """
        n = steps.size
        out = np.arange(n, dtype=np.int64)
        if n == 0:
            return out
        gaps = np.empty(n)
        np.subtract(steps[1:], steps[:-1], out=gaps[:-1])
        gaps[self.ends - 1] = np.nan  # not a gap of the segment
        lo = np.fmin.reduceat(gaps, self.starts)
        hi = np.fmax.reduceat(gaps, self.starts)
        first, last = steps[self.starts], steps[self.ends - 1]
        whole = np.ceil(span)
        single = self.lengths == 1
        big = 2.0**51  # below it every step - span is a float with an ulp of at most 1/2
        with np.errstate(invalid="ignore"):
            even = (
                (single | ((lo == hi) & (lo > 0) & (lo == np.floor(lo))))
                & (first == np.floor(first))
                & (np.abs(first) < big)
                & (np.abs(last) < big)
                & (whole >= 0)
                & (whole < big)
            )
            # step - span is rounded: where it reaches the next whole number (a span
            # a hair above one), its floor is not step - ceil(span).  Rounding is
            # coarsest at the largest |step - span|, at one end of the segment, and
            # with an ulp <= 1/2 a tie rounds up there too: checking both ends is
            # enough
            even &= (np.floor(first - span) == first - whole) & (
                np.floor(last - span) == last - whole
            )
        back = np.zeros(self.starts.size, dtype=np.int64)
        stride = np.where(single, 1.0, lo)[even].astype(np.int64)  # one row: any stride
        back[even] = -(-whole[even].astype(np.int64) // stride)  # ceil, in integers
        out -= self.rows(back)
        uneven = np.flatnonzero(~even)
        if uneven.size > _SEARCH_ONE_BY_ONE:  # many: one search over their rows together
            rows = np.flatnonzero(self.rows(~even))
            at = steps[rows]
            q = np.floor(at - self.rows(span)[rows])
            if np.array_equal(np.floor(at), at) and np.isfinite(q).all():  # composite keys
                pos = search_steps(self.codes[rows], at, self.codes[rows], q, "right")
                out[rows] = pos + (rows - np.arange(rows.size)) - 1  # back onto these rows
                return out
        for i in uneven.tolist():
            s, e = int(self.starts[i]), int(self.ends[i])
            q = np.floor(steps[s:e] - span[i])
            out[s:e] = s - 1 + np.searchsorted(steps[s:e], q, side="right")
        return out

    def at(self, a: np.ndarray, idx: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """``a[idx]`` with *fill* where idx < 0."""
        out = np.full(np.shape(idx), fill, dtype=np.float64)
        ok = idx >= 0
        out[ok] = a[idx[ok]]
        return out


#: more distinct range lengths than this: one pandas group median instead of one
#: sort per length
_MEDIAN_LENGTHS = 64


def group_medians(values: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The median of finite *values* per key, for *keys* sorted ascending (a key's rows
    are contiguous): ``(distinct keys, medians)``, as pandas' group median gives them."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    segs = Segments.of(keys, int(keys[-1]) + 1)
    return segs.ids, range_medians(values, segs.starts, segs.lengths)


def range_medians(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The median of each range of finite *values* (ranges of at least one row, one
    after another, covering *values*), as pandas' group median gives it.

    Ranges of equal length are sorted together as the rows of one 2-D array
    (a view where they lie end to end; numpy's vectorised sort beats its
    partition here): the same numbers as pandas (the middle value, or the mean
    of the two middle values), without its grouping.
    """
    sizes = np.unique(lengths)
    if sizes.size > _MEDIAN_LENGTHS:
        keys = np.repeat(np.arange(starts.size), lengths)
        med = pd.Series(values).groupby(keys, sort=False).median()
        return np.asarray(med.to_numpy(), dtype=np.float64)
    out = np.empty(starts.size)
    for size in sizes.tolist():
        sel = np.flatnonzero(lengths == size)
        if size == 1:
            out[sel] = values[starts[sel]]
            continue
        first = int(starts[sel[0]])
        if starts[sel[-1]] - first == (sel.size - 1) * size and sel[-1] - sel[0] == sel.size - 1:
            block = values[first : first + sel.size * size].reshape(sel.size, size)
        else:
            block = values[starts[sel, None] + np.arange(size)]
        ranked = np.sort(block, axis=1)
        mid = size // 2
        out[sel] = ranked[:, mid] if size % 2 else (ranked[:, mid - 1] + ranked[:, mid]) / 2.0
    return out


def spans(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the ranges ``starts[i]`` to ``starts[i] + lengths[i]``, one range
    after another, and where each range begins among them."""
    offsets = np.cumsum(lengths) - lengths
    rows = np.arange(int(lengths.sum())) + np.repeat(starts - offsets, lengths)
    return rows, offsets


def search_steps(
    codes: np.ndarray, steps: np.ndarray, q_codes: np.ndarray, q_steps: np.ndarray, side: str
) -> np.ndarray:
    """``searchsorted`` of (run, step) queries in (run, step)-sorted rows.

    Returns, for every query, the row position where it would be inserted
    among the rows of its own run (runs are contiguous and sorted).
    """
    if codes.size == 0:
        return np.zeros(np.shape(q_codes), dtype=np.int64)
    lo = min(float(np.min(steps)), float(np.min(q_steps))) if q_steps.size else float(np.min(steps))
    hi = max(float(np.max(steps)), float(np.max(q_steps))) if q_steps.size else float(np.max(steps))
    span = hi - lo + 2.0
    max_code = float(max(np.max(codes), np.max(q_codes) if q_codes.size else 0)) + 1.0
    few = q_codes.size * 16 < codes.size  # a search per query beats building the keys
    if not few and span * max_code < 2.0**62:  # one composite int64 key: one searchsorted
        base = np.int64(lo)
        width = np.int64(span)
        key = codes.astype(np.int64) * width + (steps.astype(np.int64) - base)
        q = q_codes.astype(np.int64) * width + (q_steps.astype(np.int64) - base)
        return np.asarray(np.searchsorted(key, q, side=side), dtype=np.int64)  # type: ignore[call-overload]
    # few queries, or steps too far apart for one key: per query, in its run's rows
    out = np.zeros(np.shape(q_codes), dtype=np.int64)
    starts = np.searchsorted(codes, q_codes, side="left")
    ends = np.searchsorted(codes, q_codes, side="right")
    for i in range(q_codes.size):
        s, e = int(starts[i]), int(ends[i])
        out[i] = s + int(np.searchsorted(steps[s:e], q_steps[i], side=side))  # type: ignore[call-overload]
    return out
