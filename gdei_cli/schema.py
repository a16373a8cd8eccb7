"""The canonical frame: one schema, written down once.

Every reader returns (and :func:`gdei_cli.loader.load` assembles) a long, tidy
:class:`pandas.DataFrame` with exactly these columns, in this order:

========== ======================= =============================================
column     dtype                   meaning
========== ======================= =============================================
run        category (str values)   run name: the log's path relative to the
                                   common root of the inputs
metric     category (str values)   metric (tag) name as logged
step       int64                   training step (or epoch) of the point
value      float64                 logged value; NaN/inf kept as logged
wall_time  float64                 POSIX seconds; NaN where the log has none
========== ======================= =============================================

Rows are sorted by ``run``, ``metric``, ``step``; after restarts are resolved
there is at most one row per (run, metric, step).  ``run`` and ``metric`` are
categoricals because a run has few names and millions of points.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from gdei_cli.columns import COLUMNS as COLUMNS
from gdei_cli.columns import INDEX as INDEX
from gdei_cli.columns import METRIC as METRIC
from gdei_cli.columns import RUN as RUN
from gdei_cli.columns import SMOOTHED as SMOOTHED
from gdei_cli.columns import STEP as STEP
from gdei_cli.columns import VALUE as VALUE
from gdei_cli.columns import WALL_TIME as WALL_TIME

#: the engine's per-point columns (the export adds ``role``)
POINT_COLUMNS: Final = (*COLUMNS, SMOOTHED, INDEX)


def empty_frame() -> pd.DataFrame:
    """A canonical frame with no rows."""
    return make_frame(
        run=np.array([], dtype=object),
        metric=np.array([], dtype=object),
        step=np.array([], dtype=np.int64),
        value=np.array([], dtype=np.float64),
        wall_time=np.array([], dtype=np.float64),
        sort=False,
    )


def make_frame(
    *,
    run: object,
    metric: object,
    step: object,
    value: object,
    wall_time: object,
    sort: bool = True,
) -> pd.DataFrame:
    """Build a canonical frame from column-like inputs (arrays, lists, Series).

    Names become categories sorted by name; rows are sorted by run, metric,
    step (stable, so input order breaks ties) and, of rows sharing a
    (run, metric, step), the last one is kept, as a restart would.
    """
    frame = pd.DataFrame(
        {
            RUN: _sorted_categorical(run),
            METRIC: _sorted_categorical(metric),
            STEP: np.asarray(step, dtype=np.int64),
            VALUE: np.asarray(value, dtype=np.float64),
            WALL_TIME: np.asarray(wall_time, dtype=np.float64),
        }
    )
    if sort:
        frame = sort_frame(frame)
        if len(frame) > 1:
            r = frame[RUN].cat.codes.to_numpy()
            m = frame[METRIC].cat.codes.to_numpy()
            s = frame[STEP].to_numpy()
            last = np.r_[(np.diff(r) != 0) | (np.diff(m) != 0) | (np.diff(s) != 0), True]
            if not last.all():
                frame = frame.loc[last].reset_index(drop=True)
    return frame


def _sorted_categorical(values: object) -> pd.Categorical:
    """A categorical of str values whose categories are sorted by name."""
    if isinstance(values, pd.Categorical | pd.Series) and isinstance(
        getattr(values, "dtype", None), pd.CategoricalDtype
    ):
        values = np.asarray(values, dtype=object)
    strings = np.asarray(values, dtype=object).astype(str)
    codes, uniques = pd.factorize(strings)
    names = [clean_name(u) for u in uniques.tolist()]
    final = sorted(set(names))
    position = {n: i for i, n in enumerate(final)}
    remap = np.array([position[n] for n in names], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes], categories=str_index(final))


def clean_name(name: str) -> str:
    """*name* as valid Unicode: a lone surrogate (an undecodable byte of a file
    name, a ``"\\ud800"`` JSON escape) is written as its escape."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name


def categorical(codes: np.ndarray, names: list[str], *, checked: bool = True) -> pd.Categorical:
    """A categorical of str names (one categories dtype everywhere, pandas 2 and 3).

    A few names (a log's metrics) reuse one cached dtype: building the categories
    index is most of the cost of a small file's categorical.  With ``checked=False``
    pandas does not check the codes (two passes over them): only for codes valid by
    construction."""
    if len(names) <= _CACHED_NAMES:
        dtype = _dtype(tuple(str(n) for n in names))
        return pd.Categorical.from_codes(codes, dtype=dtype, validate=checked)
    return pd.Categorical.from_codes(codes, categories=str_index(names), validate=checked)


#: category lists up to this long are cached (as dtypes; they are immutable)
_CACHED_NAMES: Final = 64


@functools.lru_cache(maxsize=4096)
def _dtype(names: tuple[str, ...]) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(str_index(names))


def str_index(names: Iterable[object]) -> pd.Index:
    """An index of str values, object dtype (cheap to build; one dtype everywhere)."""
    values: Any = np.array(
        [clean_name(str(n)) for n in names] or np.empty(0, dtype=object), dtype=object
    )
    index: pd.Index = pd.Index(values, dtype=object)
    return index


def with_str_categories(cat: pd.Categorical) -> pd.Categorical:
    """*cat* with its categories as :func:`str_index` (cheap: categories only)."""
    return pd.Categorical.from_codes(cat.codes, categories=str_index(cat.categories))


def sort_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by run, metric, step (stable, so file order breaks ties)."""
    if len(frame) == 0:
        return frame.reset_index(drop=True)
    order = np.lexsort(
        (
            frame[STEP].to_numpy(),
            _sort_codes(frame[METRIC]),
            _sort_codes(frame[RUN]),
        )
    )
    return frame.take(order).reset_index(drop=True)


def _sort_codes(column: pd.Series) -> np.ndarray:
    """Codes of a categorical column that sort like its string values."""
    cat = column.astype("category")
    categories = np.asarray(cat.cat.categories, dtype=object).astype(str)
    rank = np.argsort(np.argsort(categories, kind="stable"), kind="stable")
    codes = cat.cat.codes.to_numpy()
    # sorted already (a canonical frame's), no missing value (code -1): the codes as
    # they are, in their own small dtype
    if np.array_equal(rank, np.arange(rank.size)) and (codes.size == 0 or codes.min() >= 0):
        return np.asarray(codes)
    return np.asarray(rank[codes], dtype=np.int64)


def check_frame(frame: pd.DataFrame) -> None:
    """Raise :class:`~gdei_cli.errors.SchemaError` if *frame* is not canonical.

    Canonical: the columns in order with their dtypes, categories sorted by
    name, rows sorted by run, metric, step with at most one row per
    (run, metric, step).
    """
    from gdei_cli.errors import SchemaError

    if tuple(frame.columns) != COLUMNS:
        raise SchemaError(f"columns {tuple(frame.columns)} are not {COLUMNS}")
    if not _is_canonical(frame):
        raise SchemaError("dtypes or row order are not canonical")
    for col in (RUN, METRIC):
        cats = [str(c) for c in frame[col].cat.categories]
        if cats != sorted(cats):
            raise SchemaError(f"{col} categories are not sorted by name")
    if len(frame) > 1:
        r = frame[RUN].cat.codes.to_numpy()
        m = frame[METRIC].cat.codes.to_numpy()
        s = frame[STEP].to_numpy()
        dup = (np.diff(r) == 0) & (np.diff(m) == 0) & (np.diff(s) == 0)
        if dup.any():
            raise SchemaError("two rows share a (run, metric, step)")


@dataclass(slots=True)
class RunColumns:
    """One run's points: metric names (sorted), codes into them, and the columns.

    Rows are sorted by metric code, then step, with one row per step.
    """

    run: str
    metric_names: Sequence[str]
    metric: np.ndarray
    step: np.ndarray
    value: np.ndarray
    wall_time: np.ndarray
    #: these columns are rows ``start:start + len`` of *whole*'s, under the same metric
    #: names (runs assembled together from one file): :func:`stack_runs` copies runs
    #: that follow one another there in one go, and takes a whole it would copy as is
    within: tuple[RunColumns, int] | None = field(default=None, repr=False, compare=False)


def stack_runs(parts: list[RunColumns]) -> pd.DataFrame:
    """The canonical frame of several runs: the one constructor the loader uses.

    Runs and metrics become categories sorted by name (so a frame does not
    depend on the order files were named on the command line); each run's
    codes are remapped through a small lookup table (no per-point string
    work); runs are stacked in name order, each run's parts freed as it is
    copied.  Runs that follow one another in one assembled whole (the runs of
    a file) are copied in one go, and a whole that is the frame is not copied.
    *parts* is emptied.
    """
    order = sorted(range(len(parts)), key=lambda i: parts[i].run)
    all_metrics = sorted({str(m) for p in parts for m in p.metric_names})
    position = {m: i for i, m in enumerate(all_metrics)}
    all_runs = sorted({p.run for p in parts if p.step.size})
    run_pos = {r: i for i, r in enumerate(all_runs)}
    total = sum(p.step.size for p in parts)
    if len(parts) == 1 and total:  # one run: its columns are the frame's, no copy
        (only,) = parts
        parts[0] = RunColumns(only.run, only.metric_names, *(np.zeros(0),) * 4)
        metric = np.empty(total, dtype=_codes_dtype(all_metrics))
        _frame_codes(only, all_metrics, position, metric)
        return _frame(
            np.zeros(total, dtype=_codes_dtype(all_runs)),
            metric,
            np.asarray(only.step, dtype=np.int64),
            np.asarray(only.value, dtype=np.float64),
            np.ascontiguousarray(only.wall_time, dtype=np.float64),  # (a no_clock view: copied)
            all_runs,
            all_metrics,
        )
    blocks = _blocks([parts[i] for i in order])
    parts.clear()  # the blocks hold the runs now, and let each go once it is copied
    whole = blocks[0][0] if len(blocks) == 1 else None
    if whole is not None and blocks[0][1:3] == (0, whole.step.size):  # a file's runs, in order
        members = blocks[0][3]
        metric = np.empty(total, dtype=_codes_dtype(all_metrics))
        _frame_codes(whole, all_metrics, position, metric)
        wall = np.ascontiguousarray(whole.wall_time, dtype=np.float64)  # (no_clock: copied)
        return _frame(
            _run_codes(members, run_pos, _codes_dtype(all_runs)),
            metric,
            np.asarray(whole.step, dtype=np.int64),
            np.asarray(whole.value, dtype=np.float64),
            wall,
            all_runs,
            all_metrics,
        )
    step = np.empty(total, dtype=np.int64)
    value = np.empty(total, dtype=np.float64)
    wall = np.empty(total, dtype=np.float64)
    mcode = np.empty(total, dtype=_codes_dtype(all_metrics))
    rcode = np.empty(total, dtype=_codes_dtype(all_runs))
    at = 0
    blocks.reverse()
    while blocks:
        whole, start, end, members = blocks.pop()
        k = end - start
        if whole is None:  # one run of its own
            (p,) = members
            src, rows = p, slice(None)
        else:  # runs one after another in one whole: copied in one go
            src, rows = whole, slice(start, end)
        if k:
            _frame_codes(src, all_metrics, position, mcode[at : at + k], rows)
            step[at : at + k] = src.step[rows]
            value[at : at + k] = src.value[rows]
            wall[at : at + k] = src.wall_time[rows]
            rcode[at : at + k] = _run_codes(members, run_pos, rcode.dtype)
        at += k
        del src, whole, members  # the runs' points are copied: free them now
    return _frame(rcode, mcode, step, value, wall, all_runs, all_metrics)


#: runs in stacking order, grouped: (the whole they are consecutive rows of, or None
#: for a run of its own; first row; end row; the runs)
Block = tuple["RunColumns | None", int, int, list["RunColumns"]]


def _blocks(ordered: list[RunColumns]) -> list[Block]:
    """*ordered* runs grouped into the stretches that follow one another in one
    assembled whole (see ``RunColumns.within``); any other run is a block of its own."""
    blocks: list[Block] = []
    for p in ordered:
        if p.within is not None and blocks:
            whole, start, end, members = blocks[-1]
            if whole is p.within[0] and end == p.within[1]:
                members.append(p)
                blocks[-1] = (whole, start, end + p.step.size, members)
                continue
        if p.within is not None:
            whole, start = p.within
            blocks.append((whole, start, start + p.step.size, [p]))
        else:
            blocks.append((None, 0, p.step.size, [p]))
    return blocks


def _run_codes(members: list[RunColumns], run_pos: dict[str, int], dtype: Any) -> np.ndarray:
    """The run code of each row of *members*' runs, one after another."""
    codes = np.array([run_pos.get(p.run, 0) for p in members], dtype=dtype)
    return (
        np.repeat(codes, [p.step.size for p in members])
        if len(members) > 1
        else (np.full(members[0].step.size, codes[0], dtype=dtype))
    )


def _frame_codes(
    part: RunColumns,
    all_metrics: list[str],
    position: dict[str, int],
    out: np.ndarray,
    rows: slice = slice(None),
) -> None:
    """The metric codes of *part*'s *rows* as codes into *all_metrics* (where *position*
    finds each name), written into *out*: as they are when its names are the first of
    them (the usual run, its names sorted as assembly gives them), else through a lookup."""
    names = [str(m) for m in part.metric_names]
    if names == all_metrics[: len(names)]:
        out[:] = part.metric[rows]
    else:
        lookup = np.array([position[m] for m in names], dtype=out.dtype)
        np.take(lookup, part.metric[rows], out=out)


def _codes_dtype(names: list[str]) -> np.dtype[Any]:
    """The integer type pandas keeps a categorical's codes into *names* in: codes
    written in it from the start need no second, narrowing copy."""
    for dtype in (np.int8, np.int16, np.int32):
        if len(names) < np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _frame(
    rcode: np.ndarray,
    mcode: np.ndarray,
    step: np.ndarray,
    value: np.ndarray,
    wall: np.ndarray,
    runs: list[str],
    metrics: list[str],
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            # (codes made here from lookups into these very names: valid by construction)
            RUN: categorical(rcode, runs, checked=False),
            METRIC: categorical(mcode, metrics, checked=False),
            STEP: step,
            VALUE: value,
            WALL_TIME: wall,
        },
        copy=False,
    )


#: column names other tools use for the canonical ones (tbparse: tag, dir_name)
ALIASES: Final = {"tag": METRIC, "dir_name": RUN, "name": METRIC, "time": WALL_TIME}


def as_canonical(frame: object) -> pd.DataFrame:
    """*frame* as a canonical frame: converted from a plain long DataFrame if need be.

    Accepts the canonical frame itself (returned as is when already sorted),
    or any long DataFrame with ``metric`` (or ``tag``), ``step`` and
    ``value`` columns, optionally ``run`` (or ``dir_name``) and
    ``wall_time``.  Anything else raises :class:`~gdei_cli.errors.SchemaError`.
    """
    from gdei_cli.errors import SchemaError

    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    cols = {ALIASES.get(str(c), str(c)): c for c in frame.columns}
    cols.update({str(c): c for c in frame.columns if str(c) in COLUMNS})
    missing = [c for c in (METRIC, STEP, VALUE) if c not in cols]
    if missing:
        raise SchemaError(
            "a frame for analyze() needs columns metric (or tag), step and value; "
            f"missing: {', '.join(missing)} (got: {', '.join(map(str, frame.columns))})"
        )
    if tuple(frame.columns) == COLUMNS and _is_canonical(frame):
        return frame
    n = len(frame)
    try:
        step = pd.to_numeric(frame[cols[STEP]], errors="raise")
        value = pd.to_numeric(frame[cols[VALUE]], errors="raise")
        wall = (
            pd.to_numeric(frame[cols[WALL_TIME]], errors="coerce")
            if WALL_TIME in cols
            else np.full(n, np.nan)
        )
        step_arr = np.asarray(step, dtype=np.float64)
        if np.any(~np.isfinite(step_arr)) or np.any(step_arr != np.round(step_arr)):
            raise ValueError("steps must be whole numbers")
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"cannot read the frame's step/value columns: {exc}") from None
    run = frame[cols[RUN]] if RUN in cols else np.full(n, "run", dtype=object)
    return make_frame(
        run=_as_cat(run),
        metric=_as_cat(frame[cols[METRIC]]),
        step=step_arr.astype(np.int64),
        value=np.asarray(value, dtype=np.float64),
        wall_time=np.asarray(wall, dtype=np.float64),
    )


def _as_cat(values: object) -> pd.Categorical:
    if isinstance(values, pd.Series):
        values = values.astype(str).to_numpy(dtype=object)
    cat: pd.Categorical = pd.Categorical(np.asarray(values, dtype=object).astype(str))
    return cat


#: rows checked at a time by :func:`rows_in_order` (small temporaries on any frame)
_CHECK_BLOCK = 1 << 18
#: rows checked first on their own: an unsorted log is usually so from its first rows
_PROBE = 64


def _is_canonical(frame: pd.DataFrame) -> bool:
    """Dtypes right, and rows sorted by run code, metric name, step (checked in O(n))."""
    if not (
        isinstance(frame[RUN].dtype, pd.CategoricalDtype)
        and isinstance(frame[METRIC].dtype, pd.CategoricalDtype)
        and frame[STEP].dtype == np.int64
        and frame[VALUE].dtype == np.float64
        and frame[WALL_TIME].dtype == np.float64
    ):
        return False
    if len(frame) < 2:
        return True
    keys = (frame[RUN].cat.codes.to_numpy(), _sort_codes(frame[METRIC]), frame[STEP].to_numpy())
    return rows_in_order(keys, strict=False)


def rows_in_order(keys: Sequence[np.ndarray], *, strict: bool) -> bool:
    """Whether rows are sorted by *keys* (the first key first); with *strict*, no two
    rows are equal on every key.  Checked :data:`_CHECK_BLOCK` rows at a time, so the
    temporaries stay small on millions of rows.  Codes among the keys are >= 0 and of a
    signed dtype: their differences fit it (an unsigned one would wrap)."""
    n = keys[0].size
    if n > _PROBE and not rows_in_order([k[:_PROBE] for k in keys], strict=strict):
        return False  # out of order at the start (metrics interleaved): no full pass
    for a in range(0, max(n - 1, 0), _CHECK_BLOCK):
        b = min(n, a + _CHECK_BLOCK + 1)
        *outer, last = (k[a + 1 : b] - k[a : b - 1] for k in keys)  # np.diff, minus its overhead
        ok = last > 0 if strict else last >= 0
        for d in reversed(outer):
            ok = (d > 0) | ((d == 0) & ok)
        if not ok.all():
            return False
    return True
