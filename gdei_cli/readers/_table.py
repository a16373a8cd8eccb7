"""Turn a wide or long table (CSV rows, JSON records) into raw points.

Shared by the CSV and JSONL readers: find the step and wall-clock columns,
keep every other numeric column as a metric, and melt the table into points
with numpy (no per-row Python loop).  A cell that is *absent* (empty CSV field,
missing JSON key, ``null``) contributes nothing; a cell that holds NaN or an
infinity is a point with that value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from gdei_cli.errors import InputError
from gdei_cli.readers._io import line_of
from gdei_cli.readers.base import Points, RawLog, SkippedLine, WallClock, no_clock, take

#: step columns, in order of preference
STEP_NAMES: Final = ("step", "global_step", "iteration", "iter", "epoch", "_step", "Step")
#: wall-clock columns holding absolute times, in order of preference
ABS_TIME_NAMES: Final = ("wall_time", "Wall time", "timestamp", "time", "_timestamp")
#: wall-clock columns holding seconds since the start of the run
REL_TIME_NAMES: Final = ("_runtime",)
#: a column naming the run of each row: one file holding several runs side by side
RUN_NAMES: Final = ("run", "run_id", "run_name", "experiment", "name")
#: names of long-format tables' columns
LONG_METRIC_NAMES: Final = ("metric", "tag")
LONG_VALUE_NAMES: Final = ("value", "Value")

# POSIX seconds between 1973 and 2286: anything outside is not an absolute clock
_MIN_POSIX_S: Final = 1e8
_MAX_POSIX_S: Final = 1e10


@dataclass
class Column:
    """One column of a table: float64 values and a mask of present cells."""

    name: str
    #: float64 (NaN where absent); or int64 when every cell is a present integer (an
    #: Arrow integer column): a step column needs no float round trip, and a metric's
    #: values are cast to float64 as they become points (numpy's cast, as before)
    values: np.ndarray
    present: np.ndarray  # bool
    numeric: bool = True
    #: first row whose cell is present but not a number (for error messages)
    bad_row: int | None = None
    bad_text: str | None = None
    #: a non-numeric column's cells, as codes into its distinct values (-1: absent)
    codes: np.ndarray | None = None
    uniques: np.ndarray | None = None
    #: every present value was parsed as an integer (an Arrow integer column): whole
    #: numbers without checking (a hint: the answers are the same without it)
    whole: bool = False


def _is_integral(col: Column) -> bool:
    """Every present value a whole number below 2**62 in size (so finite too)."""
    vals = col.values if col.present.all() else col.values[col.present]
    if vals.size == 0:
        return False
    if col.whole:  # integers already: only their size to check
        return bool(-(2.0**62) < vals.min() and vals.max() < 2.0**62)
    if not (np.abs(vals) < 2.0**62).all():  # NaN and inf fail here
        return False
    return bool((vals == np.rint(vals)).all())


def rounded_step(col: Column) -> bool:
    """Whether *col*, a column of a table parsed from many files at once, may be a step
    column of floats holding a whole number of 2**53 or more: in its own file's parse
    that number may be an integer, a step read exactly (an int64 column, see
    :class:`Column`), so such files are read alone.  (Any other column's numbers
    become float64 in either parse, alike.)"""
    name = col.name.strip().lstrip("\ufeff").strip()  # (as table_to_raw reads it)
    if name not in STEP_NAMES or col.codes is not None or col.values.dtype != np.float64:
        return False
    big = np.abs(col.values) >= 2.0**53  # (NaN is not; an infinity is, and is not whole)
    return bool((big & np.isfinite(col.values)).any())


def _wall_seconds(col: Column, name: str) -> tuple[np.ndarray, WallClock] | None:
    """Interpret *col* as a clock; ``None`` if it does not look like one."""
    vals = col.values[col.present]
    if vals.size == 0 or not col.numeric:
        return None
    if name in REL_TIME_NAMES:
        return np.asarray(col.values, dtype=np.float64), "relative"
    finite = vals[np.isfinite(vals)]
    if finite.size == 0:  # (NaN or infinite only: no clock, and no median to warn about)
        return None
    med = float(np.median(finite))
    for scale in (1.0, 1e3, 1e6, 1e9):  # s, ms, us, ns
        if _MIN_POSIX_S <= med / scale <= _MAX_POSIX_S:
            return col.values / scale, "logged"
    return None


def table_to_raw(
    columns: list[Column],
    n_rows: int,
    *,
    path: Path,
    fmt: str,
    row_lines: np.ndarray | range,
    skipped: list[SkippedLine],
    warnings: list[str],
    step_names: tuple[str, ...] | None = None,
) -> RawLog:
    """Melt a table into a :class:`RawLog`.

    *row_lines* maps each table row to its 1-based line in the file, for
    error messages (a ``range`` when rows are lines one after another: no array
    of a number per row).
    """
    by_name: dict[str, Column] = {}
    for col in columns:
        name = col.name.strip().lstrip("\ufeff").strip()
        if name in by_name or name == "":
            continue
        col.name = name
        by_name[name] = col

    # A column mixing numbers with text is malformed content, not a text column.
    for col in by_name.values():
        if col.bad_row is not None and col.numeric:
            raise InputError(
                f"column {col.name!r} holds {col.bad_text!r}, which is not a number",
                path=path,
                line=int(row_lines[col.bad_row]),
            )

    metric_col = next((by_name[n] for n in LONG_METRIC_NAMES if n in by_name), None)
    value_col = next((by_name[n] for n in LONG_VALUE_NAMES if n in by_name), None)
    long_names: list[str] | None = None
    if metric_col is not None and value_col is not None and not metric_col.numeric:
        long_names = [metric_col.name]

    # step column: the first candidate whose present values are whole numbers
    step_col: Column | None = None
    for name in step_names or STEP_NAMES:
        cand = by_name.get(name)
        if cand is not None and cand.numeric and _is_integral(cand):
            step_col = cand
            break
        if cand is not None and cand.numeric and cand.present.any():
            warnings.append(f"column {name!r} is not whole numbers; not used as the step")

    wall: np.ndarray | None = None
    wall_kind: WallClock = "absent"
    wall_name: str | None = None
    for name in (*ABS_TIME_NAMES, *REL_TIME_NAMES):
        cand = by_name.get(name)
        if cand is None:
            continue
        got = _wall_seconds(cand, name)
        if got is not None:
            wall, wall_kind = got
            wall_name = name
            break

    if step_col is not None:
        row_ok = step_col.present.copy()
        n_missing = int(n_rows - row_ok.sum())
        # (an absent step's NaN must not be cast: it is 0 until the row is dropped)
        vals = np.where(row_ok, step_col.values, 0) if n_missing else step_col.values
        steps = vals.astype(np.int64, copy=False)
        if n_missing:
            warnings.append(f"{n_missing} row(s) without a {step_col.name!r} value were left out")
    else:
        row_ok = np.ones(n_rows, dtype=bool)
        steps = np.arange(n_rows, dtype=np.int64)
    wall_arr = no_clock(n_rows) if wall is None else wall

    run_col = next((by_name[n] for n in RUN_NAMES if n in by_name), None)
    reserved = {c for c in (step_col.name if step_col else None, wall_name) if c}
    if run_col is not None:
        reserved.add(run_col.name)
        row_ok = row_ok & run_col.present
    if long_names is not None and metric_col is not None and value_col is not None:
        reserved |= {metric_col.name, value_col.name}
        keep = row_ok & value_col.present & metric_col.present
        idx: np.ndarray | slice = slice(None) if keep.all() else np.flatnonzero(keep)
        points = Points(
            *metric_col_codes(metric_col, idx),
            step=steps[idx],
            value=_floats(value_col.values[idx]),
            wall_time=take(wall_arr, idx),
        )
        source_rows: np.ndarray | slice = idx
    else:
        metrics = [c for c in by_name.values() if c.numeric and c.name not in reserved]
        if not metrics:
            points = Points.empty()
            source_rows = np.zeros(0, dtype=np.int64)
        else:
            # melted metric by metric, by name (each in file order): the order assembly
            # sorts into, so a log whose steps rise needs no sort there
            metrics.sort(key=lambda c: c.name)
            names = [c.name for c in metrics]
            k = len(metrics)
            if row_ok.all() and all(bool(c.present.all()) for c in metrics):
                # every cell present (the usual wide log): the columns one after another
                # (each point's row is only needed to split runs by a run column)
                rows = np.tile(np.arange(n_rows), k) if run_col is not None else slice(0, 0)
                points = Points(
                    np.repeat(np.arange(k, dtype=np.min_scalar_type(-k)), n_rows),  # small codes
                    names,
                    np.tile(steps, k) if k > 1 else steps,
                    _floats(
                        np.concatenate([c.values for c in metrics]) if k > 1 else metrics[0].values
                    ),
                    no_clock(n_rows * k)  # no wall clock: nothing to tile
                    if wall is None
                    else (np.tile(wall_arr, k) if k > 1 else wall_arr),
                )
            else:
                present = np.vstack([c.present & row_ok for c in metrics])  # metric by row
                cols, rows = np.nonzero(present)  # metric-major, rows ascending
                values = np.vstack([c.values for c in metrics], dtype=np.float64)
                points = Points(cols, names, steps[rows], values[cols, rows], take(wall_arr, rows))
            source_rows = rows
    if run_col is not None:
        log = RawLog(path=path, format=fmt, points=Points.empty(), wall_clock=wall_kind,
                     warnings=warnings, skipped_lines=skipped)  # fmt: skip
        codes, run_names = run_keys(run_col)
        log.subruns = split_runs(points, codes[source_rows], run_names, log)
        return log
    return RawLog(
        path=path,
        format=fmt,
        points=points,
        wall_clock=wall_kind,
        warnings=warnings,
        skipped_lines=skipped,
    )


def _floats(values: np.ndarray) -> np.ndarray:
    """*values* as float64 (numpy's cast of an int64 column; a float64 one as it is)."""
    return np.asarray(values, dtype=np.float64)


def run_keys(col: Column) -> tuple[np.ndarray, list[str]]:
    """Each row's run as a code into the run names (-1: none), from text or numbers."""
    if col.numeric:
        codes, uniques = pd.factorize(col.values)
        names = [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in uniques]
        return np.asarray(codes, dtype=np.int64), names
    if col.codes is None or col.uniques is None:
        raise AssertionError("run column has no text")
    return np.asarray(col.codes), [str(v).strip() for v in col.uniques]


def split_runs(
    points: Points, codes: np.ndarray, names: list[str], like: RawLog
) -> dict[str, RawLog]:
    """One RawLog per run: *codes* gives each point its run in *names*."""
    if codes.size < 2 or bool((codes[1:] >= codes[:-1]).all()):
        # the file lists its runs one after another: each run is already a slice
        sorted_codes = codes
        m, st, v, w = points.metric_codes, points.step, points.value, points.wall_time
    else:
        order = np.argsort(codes, kind="stable")  # keeps file order within each run
        sorted_codes = codes[order]
        # one gather per column; each run is then a slice of it
        m, st = points.metric_codes[order], points.step[order]
        v, w = points.value[order], take(points.wall_time, order)
    # queries in the codes' dtype where they fit: numpy would copy the codes to a wider one
    wide = np.result_type(sorted_codes.dtype, np.min_scalar_type(len(names) + 1))
    bounds = np.searchsorted(sorted_codes, np.arange(len(names) + 1, dtype=wide))
    whole = Points(m, points.metric_names, st, v, w)
    out: dict[str, RawLog] = {}
    for i, name in enumerate(names):
        a, b = int(bounds[i]), int(bounds[i + 1])
        if a == b:
            continue
        sub = Points(m[a:b], whole.metric_names, st[a:b], v[a:b], w[a:b], within=(whole, a))
        key = name or "(no name)"
        if key in out:  # two spellings of one name (" a" and "a"): one run
            was = out[key].points
            sub = Points(
                np.concatenate([was.metric_codes, sub.metric_codes]),
                points.metric_names,
                np.concatenate([was.step, sub.step]),
                np.concatenate([was.value, sub.value]),
                np.concatenate([was.wall_time, sub.wall_time]),
            )
        out[key] = RawLog(
            path=like.path,
            format=like.format,
            points=sub,
            wall_clock=like.wall_clock,
            warnings=like.warnings,
            skipped_lines=like.skipped_lines,
        )
    return out


def metric_col_codes(col: Column, rows: np.ndarray | slice) -> tuple[np.ndarray, list[str]]:
    """The metric codes of a long table's *rows* (present rows), and the names they index."""
    if col.codes is None or col.uniques is None:
        raise AssertionError("metric column has no text")
    return col.codes[rows], [str(u) for u in col.uniques]


def classify_text(name: str, texts: np.ndarray, present: np.ndarray) -> Column:
    """A column read as text (an object array, None where absent): see :func:`classify_codes`."""
    codes, uniques = pd.factorize(np.asarray(texts, dtype=object))
    return classify_codes(
        name, np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object), present
    )


def classify_arrow_text(name: str, arr: Any, present: np.ndarray) -> Column:
    """:func:`classify_codes` of an Arrow string array, through its dictionary
    encoding: no Python string per row (Arrow's int32 indices are used as they come)."""
    enc = arr.dictionary_encode()
    indices = enc.indices.fill_null(-1) if enc.indices.null_count else enc.indices
    codes = indices.to_numpy(zero_copy_only=False)
    uniques = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    return classify_codes(name, codes, uniques, present)


def classify_codes(
    name: str, codes: np.ndarray, uniques: np.ndarray, present: np.ndarray
) -> Column:
    """A text column given as codes into its distinct values (-1: absent).

    Numbers written as text (quoted CSV) become a numeric column; a column
    mixing numbers and words is flagged malformed; otherwise it is text (a
    metric name, a run name).  Each distinct text is classified once (a run or
    tag column holds a few distinct values over a million rows), then broadcast
    back by its code.
    """
    distinct = pd.Series(uniques, dtype=object).str.strip()
    u_values = pd.to_numeric(distinct, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    # "nan"/"inf" spellings parse to NaN/inf, so a NaN here may still be a number
    u_nan_word = distinct.str.lower().isin(["nan", "-nan", "+nan"]).to_numpy(dtype=bool)
    u_ok = ~np.isnan(u_values) | u_nan_word
    if not u_ok.any():  # no distinct value is a number: text, with no pass over the rows
        return _text_column(name, codes, uniques, present)
    has = codes >= 0
    safe = np.maximum(codes, 0)
    values = np.where(has, u_values[safe] if u_values.size else np.nan, np.nan)
    numeric_ok = present & has & (u_ok[safe] if u_ok.size else False)
    bad = present & ~numeric_ok
    n_ok, n_bad = int(numeric_ok.sum()), int(bad.sum())
    if n_bad == 0 and n_ok > 0:
        return Column(name=name, values=values, present=present)
    if n_ok > 0 and n_bad > 0:
        first = int(np.flatnonzero(bad)[0])
        return Column(
            name=name,
            values=values,
            present=present,
            bad_row=first,
            bad_text=str(uniques[codes[first]]) if codes[first] >= 0 else "",
        )
    return _text_column(name, codes, uniques, present)


def _text_column(name: str, codes: np.ndarray, uniques: np.ndarray, present: np.ndarray) -> Column:
    """A text column: its values read as NaN everywhere (a read-only view: no memory)."""
    values = np.broadcast_to(np.float64(np.nan), codes.shape)
    return Column(name=name, values=values, present=present, numeric=False,
                  codes=codes, uniques=uniques)  # fmt: skip


def settle_invalid_rows(
    data: bytes,
    invalid: list[Any],
    path: Path,
    warnings: list[str],
    skipped: list[SkippedLine],
    *,
    line_ends: bytes,
    number_offset: int | None,
) -> None:
    """Rows pyarrow's CSV parser rejected (``invalid_row_handler``): one last line
    cut short (no line end after it) is dropped with a warning; anything else is
    an error naming its line.  *line_ends* are the bytes that end a line;
    *number_offset* turns pyarrow's row number into a file line when a row's
    text cannot be found (``None``: the line is then unknown, and not dropped).
    """
    if not invalid:
        return
    first = invalid[0]
    last_line = line_of(data, len(data.rstrip(line_ends)))
    line = invalid_line(data, first, number_offset)
    ends_cleanly = data.endswith(tuple(bytes([c]) for c in line_ends))
    unknown_ok = line is None and number_offset is not None
    if len(invalid) == 1 and not ends_cleanly and (line == last_line or unknown_ok):
        msg = (
            f"last line is cut short (got {first.actual_columns} of "
            f"{first.expected_columns} fields); dropped"
        )
        warnings.append(f"line {last_line}: {msg}")
        skipped.append(SkippedLine(last_line, msg))
        return
    raise InputError(
        f"expected {first.expected_columns} fields, got {first.actual_columns}",
        path=path,
        line=line,
    )


def invalid_line(data: bytes, row: Any, number_offset: int | None) -> int | None:
    """The 1-based file line of a pyarrow ``InvalidRow`` (located by its text at a line start)."""
    text = getattr(row, "text", None)
    if text:
        pos = data.find(text.encode())
        while pos > 0 and data[pos - 1 : pos] not in (b"\n", b"\r"):
            pos = data.find(text.encode(), pos + 1)
        if pos >= 0:
            return line_of(data, pos)
    number = getattr(row, "number", None)
    return None if number is None or number_offset is None else int(number) + number_offset
