"""The per-point frame: every analysed point, with its smoothed value and its index.

:func:`~gdei_cli.engine.judge_frame` judges a frame's runs in batches.  Each
batch's points go into a :class:`PointColumns` (one for the loss points, one
for the objective points) as soon as the batch is judged: the columns gdei
computes (run and metric codes, smoothed value, index, role) are written into
arrays sized once for all the frame's points (see
:func:`~gdei_cli.engine.series.rows_bound`), and the batch's own arrays die with it.  The
columns taken from the input (step, value, wall time) stay views of it when
they can.  So the frame's points are built once, at their final size, instead
of kept batch by batch and then concatenated: half the memory, and no fresh
pages for every batch's copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from gdei_cli import schema

#: the ``role`` of a point in the per-point frame
ROLES: Final = ("loss", "loss+objective", "objective")

#: columns :class:`PointColumns` writes (the others are the input's, joined)
_WRITTEN: Final = (schema.RUN, schema.METRIC, schema.SMOOTHED, schema.INDEX, "role")
_GIVEN: Final = (schema.STEP, schema.VALUE, schema.WALL_TIME)


def code_dtype(n_categories: int) -> np.dtype:
    """The integer dtype pandas keeps a categorical's codes in, for *n_categories*
    (codes built in it are taken as they are, not copied)."""
    for kind in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(kind).max:
            return np.dtype(kind)
    return np.dtype(np.int64)


class PointColumns:
    """One kind of point (loss or objective) of one frame, batch after batch.

    *runs* and *metrics* are every name a batch may bring (the frame's planned
    runs, and the metric names of both kinds): the categories, sorted, as
    :func:`stack` would make them.  *capacity* is the expected number of rows
    (more are taken, by growing the arrays).
    """

    def __init__(self, capacity: int, runs: Sequence[str], metrics: Sequence[str]) -> None:
        self.runs = sorted(set(runs))
        self.metrics = sorted(set(metrics))
        self._run_at = {name: i for i, name in enumerate(self.runs)}
        self._metric_at = {name: i for i, name in enumerate(self.metrics)}
        self._dtypes = {
            schema.RUN: code_dtype(len(self.runs)),
            schema.METRIC: code_dtype(len(self.metrics)),
            schema.SMOOTHED: np.dtype(np.float64),
            schema.INDEX: np.dtype(np.float64),
            "role": np.dtype(np.int8),
        }
        self._capacity = max(int(capacity), 0)
        self._size = 0
        self._written: dict[str, np.ndarray] = {}
        self._given: dict[str, list[np.ndarray]] = {col: [] for col in _GIVEN}

    def __len__(self) -> int:
        return self._size

    def add(
        self,
        runs: Sequence[str],
        codes: np.ndarray,
        metric_of_run: Sequence[str],
        role_of_run: np.ndarray,
        given: tuple[np.ndarray, np.ndarray, np.ndarray],
        computed: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """A batch's points: *codes* index the batch's *runs* (and its per-run
        *metric_of_run* names and *role_of_run* codes); *given* are their step,
        value and wall time, *computed* their smoothed value and index."""
        k = int(codes.size)
        if k == 0:
            return
        if not self._written:
            self._capacity = max(self._capacity, k)
            self._written = {col: np.empty(self._capacity, dt) for col, dt in self._dtypes.items()}
        elif self._size + k > self._capacity:
            self._grow(self._size + k)
        lo, hi = self._size, self._size + k
        out = {col: buf[lo:hi] for col, buf in self._written.items()}
        run_at = np.array([self._run_at[r] for r in runs], dtype=self._dtypes[schema.RUN])
        _take_codes(run_at, codes, out[schema.RUN])
        metric_at = np.array(
            [self._metric_at[m] for m in metric_of_run], dtype=self._dtypes[schema.METRIC]
        )
        _take_codes(metric_at, codes, out[schema.METRIC])
        _take_codes(np.asarray(role_of_run, dtype=np.int8), codes, out["role"])
        out[schema.SMOOTHED][:] = computed[0]
        out[schema.INDEX][:] = computed[1]
        for col, array in zip(_GIVEN, given, strict=True):
            self._given[col].append(array)
        self._size = hi

    def _grow(self, need: int) -> None:
        self._capacity = max(need, 2 * self._capacity)
        for col, buf in self._written.items():
            bigger = np.empty(self._capacity, buf.dtype)
            bigger[: self._size] = buf[: self._size]
            self._written[col] = bigger

    def frame(self) -> pd.DataFrame:
        """The points added, in order, as the per-point frame."""
        n = self._size
        cols = {
            col: self._written[col][:n] if n else np.zeros(0, self._dtypes[col]) for col in _WRITTEN
        }
        step, value, wall = (_joined(self._given[col], col) for col in _GIVEN)
        floats = (value, wall, cols[schema.SMOOTHED], cols[schema.INDEX])
        return point_frame(  # (codes valid by construction: not checked again)
            schema.categorical(cols[schema.RUN], self.runs, checked=False),
            schema.categorical(cols[schema.METRIC], self.metrics, checked=False),
            step,
            floats,
            cols["role"],
            checked=False,
        )


def _take_codes(per_run: np.ndarray, codes: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = per_run[codes]``: one value filled, or a shift where *per_run*
    counts up by one (a batch's runs are a stretch of the frame's), else a gather."""
    if per_run.size == 0:  # (then there are no codes either)
        return
    first = per_run[0]
    if (per_run == first).all():
        out.fill(first)
    elif np.array_equal(per_run, int(first) + np.arange(per_run.size)):  # (in int64)
        np.add(codes, first, out=out, casting="unsafe")
    else:
        np.take(per_run, codes, out=out)


def _joined(arrays: list[np.ndarray], col: str) -> np.ndarray:
    if not arrays:
        return np.zeros(0, dtype=np.int64 if col == schema.STEP else np.float64)
    if len(arrays) == 1:
        return arrays[0]
    view = joined_view(arrays)
    return view if view is not None else np.concatenate(arrays)


def point_frame(
    run: pd.Categorical,
    metric: pd.Categorical,
    step: np.ndarray,
    floats: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    role_codes: np.ndarray,
    *,
    checked: bool = True,
) -> pd.DataFrame:
    """The per-point frame's columns, in order: *floats* are value, wall time,
    smoothed value and index; *checked*: as :func:`~gdei_cli.schema.categorical`'s,
    for the role codes."""
    value, wall, smoothed, index = floats
    return pd.DataFrame(
        {
            schema.RUN: run,
            schema.METRIC: metric,
            schema.STEP: step,
            schema.VALUE: value,
            schema.WALL_TIME: wall,
            schema.SMOOTHED: smoothed,
            schema.INDEX: index,
            "role": schema.categorical(role_codes, list(ROLES), checked=checked),
        },
        copy=False,  # the arrays are ours: no copy into consolidated blocks
    )


def no_points() -> pd.DataFrame:
    """The per-point frame with no rows (its columns and dtypes)."""
    none = np.zeros(0, dtype=np.int64)
    empty = schema.categorical(none, [])
    return point_frame(empty, empty, none, (np.zeros(0),) * 4, none)


def stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Point frames as one, with one category set per categorical column (each
    column concatenated once, run and metric codes mapped onto the union)."""
    if len(parts) == 1:
        return parts[0]
    union = {
        col: sorted({str(c) for part in parts for c in part[col].cat.categories})
        for col in (schema.RUN, schema.METRIC)
    }
    full = [part for part in parts if len(part)]
    if len(full) == 1 and all(
        [str(c) for c in full[0][col].cat.categories] == names for col, names in union.items()
    ):
        return full[0]  # the others are empty and add no category: no copy
    cols: dict[str, object] = {}
    for col in parts[0].columns:
        if col in (schema.RUN, schema.METRIC):
            names = union[col]
            index = schema.str_index(names)
            cols[col] = schema.categorical(_union_codes(parts, col, index), names)
        elif col == "role":
            role = np.concatenate([part[col].cat.codes.to_numpy() for part in parts])
            cols[col] = schema.categorical(role, list(ROLES))
        else:
            cols[col] = _joined([part[col].to_numpy() for part in parts], col)
    return pd.DataFrame(cols, copy=False)


def joined_view(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The arrays as one read-only view, without a copy, when they are consecutive
    stretches of one buffer (the batches' views of the input frame's columns);
    None otherwise."""
    full = [a for a in arrays if a.size]
    if len(full) < 2:
        return None
    first = full[0]
    base = first.base
    if base is None:
        return None
    item = first.itemsize
    at = first.__array_interface__["data"][0]
    for a in full:
        if a.base is not base or a.dtype != first.dtype or a.ndim != 1 or a.strides != (item,):
            return None
        if a.__array_interface__["data"][0] != at:  # not right after the one before
            return None
        at += a.nbytes
    total = sum(a.size for a in full)
    return np.lib.stride_tricks.as_strided(first, shape=(total,), strides=(item,), writeable=False)


def _union_codes(parts: list[pd.DataFrame], col: str, union: pd.Index) -> np.ndarray:
    """The parts' codes of categorical *col*, one after another, as codes of *union*
    (in the dtype pandas keeps them in).  A part whose categories are a stretch of
    the union (a batch's runs) only shifts its codes."""
    small = code_dtype(len(union))
    out = np.empty(sum(len(part) for part in parts), dtype=small)
    at = 0
    for part in parts:
        codes = part[col].cat.codes.to_numpy()
        where = union.get_indexer(schema.str_index(part[col].cat.categories)).astype(small)
        _take_codes(where, codes, out[at : at + codes.size])
        at += codes.size
    return out
