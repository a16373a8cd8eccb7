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
from typing import Final

import numpy as np
import pandas as pd

from gdei_cli.errors import InputError
from gdei_cli.readers.base import RawLog, SkippedLine, WallClock, raw_frame
from gdei_cli.schema import categorical

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
    values: np.ndarray  # float64 (NaN where absent)
    present: np.ndarray  # bool
    numeric: bool = True
    #: first row whose cell is present but not a number (for error messages)
    bad_row: int | None = None
    bad_text: str | None = None
    #: the cells' text, for a non-numeric column
    texts: np.ndarray | None = None


def _is_integral(col: Column) -> bool:
    vals = col.values[col.present]
    if vals.size == 0 or not np.all(np.isfinite(vals)):
        return False
    return bool(np.all(vals == np.round(vals)) and np.all(np.abs(vals) < 2.0**62))


def _wall_seconds(col: Column, name: str) -> tuple[np.ndarray, WallClock] | None:
    """Interpret *col* as a clock; ``None`` if it does not look like one."""
    vals = col.values[col.present]
    if vals.size == 0 or not col.numeric:
        return None
    if name in REL_TIME_NAMES:
        return col.values, "relative"
    med = float(np.nanmedian(np.where(np.isfinite(vals), vals, np.nan))) if vals.size else 0.0
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
    row_lines: np.ndarray,
    skipped: list[SkippedLine],
    warnings: list[str],
    step_names: tuple[str, ...] | None = None,
) -> RawLog:
    """Melt a table into a :class:`RawLog`.

    *row_lines* maps each table row to its 1-based line in the file, for
    error messages.
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
        steps = np.where(row_ok, step_col.values, 0).astype(np.int64)
        n_missing = int(n_rows - row_ok.sum())
        if n_missing:
            warnings.append(f"{n_missing} row(s) without a {step_col.name!r} value were left out")
    else:
        row_ok = np.ones(n_rows, dtype=bool)
        steps = np.arange(n_rows, dtype=np.int64)
    wall_arr = np.full(n_rows, np.nan) if wall is None else wall

    run_col = next((by_name[n] for n in RUN_NAMES if n in by_name), None)
    reserved = {c for c in (step_col.name if step_col else None, wall_name) if c}
    if run_col is not None:
        reserved.add(run_col.name)
        row_ok = row_ok & run_col.present
    if long_names is not None and metric_col is not None and value_col is not None:
        reserved |= {metric_col.name, value_col.name}
        names_raw = metric_col_names(metric_col)
        keep = row_ok & value_col.present & metric_col.present
        idx = np.flatnonzero(keep)
        frame = raw_frame(
            np.asarray(names_raw, dtype=object)[idx],
            steps[idx],
            value_col.values[idx],
            wall_arr[idx],
        )
        source_rows = idx
    else:
        metrics = [c for c in by_name.values() if c.numeric and c.name not in reserved]
        if not metrics:
            frame = raw_frame([], [], [], [])
            source_rows = np.zeros(0, dtype=np.int64)
        else:
            values = np.column_stack([c.values for c in metrics])
            present = np.column_stack([c.present for c in metrics]) & row_ok[:, None]
            rows, cols = np.nonzero(present)  # row-major: file order
            names = np.asarray([c.name for c in metrics], dtype=object)
            frame = raw_frame(
                categorical(cols, list(names)),
                steps[rows],
                values[rows, cols],
                wall_arr[rows],
            )
            source_rows = rows
    if run_col is not None:
        log = RawLog(path=path, format=fmt, frame=raw_frame([], [], [], []), wall_clock=wall_kind,
                     warnings=warnings, skipped_lines=skipped)  # fmt: skip
        log.subruns = split_runs(frame, run_keys(run_col)[source_rows], log)
        return log
    return RawLog(
        path=path,
        format=fmt,
        frame=frame,
        wall_clock=wall_kind,
        warnings=warnings,
        skipped_lines=skipped,
    )


def run_keys(col: Column) -> np.ndarray:
    """Each row's run name, from a run column of text or numbers (object array)."""
    if col.numeric:
        codes, uniques = pd.factorize(col.values)
        names = np.array(
            [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in uniques],
            dtype=object,
        )
    else:
        codes, uniques = pd.factorize(np.asarray(col.texts, dtype=object))
        names = np.array([str(v).strip() for v in uniques], dtype=object)
    return np.where(codes >= 0, names[np.maximum(codes, 0)] if names.size else "", "")


def split_runs(frame: pd.DataFrame, keys: np.ndarray, like: RawLog) -> dict[str, RawLog]:
    """One RawLog per run name in *keys* (a name per row of *frame*), in name order."""
    codes, uniques = pd.factorize(keys, sort=True)
    order = np.argsort(codes, kind="stable")  # keeps file order within each run
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    out: dict[str, RawLog] = {}
    for i, name in enumerate(uniques.tolist()):
        rows = order[bounds[i] : bounds[i + 1]]
        out[str(name) or "(no name)"] = RawLog(
            path=like.path,
            format=like.format,
            frame=frame.take(rows).reset_index(drop=True),
            wall_clock=like.wall_clock,
            warnings=like.warnings,
            skipped_lines=like.skipped_lines,
        )
    return out


def metric_col_names(col: Column) -> np.ndarray:
    """Text values of a long table's metric column."""
    if col.texts is None:
        raise AssertionError("metric column has no text")
    return np.asarray(col.texts, dtype=object)


def classify_text(name: str, texts: np.ndarray, present: np.ndarray) -> Column:
    """A column read as text: numbers written as text (quoted CSV) become a
    numeric column; a column mixing numbers and words is flagged malformed."""
    as_num = pd.to_numeric(pd.Series(texts, dtype=object).str.strip(), errors="coerce")
    values = as_num.to_numpy(dtype=np.float64, na_value=np.nan)
    # "nan"/"inf" spellings parse to NaN/inf, so a NaN here may still be a number
    is_nan_word = (
        pd.Series(texts, dtype=object)
        .str.strip()
        .str.lower()
        .isin(["nan", "-nan", "+nan"])
        .to_numpy()
    )
    numeric_ok = present & (~np.isnan(values) | is_nan_word)
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
            bad_text=str(texts[first]),
        )
    return Column(
        name=name,
        values=np.full(len(texts), np.nan),
        present=present,
        numeric=False,
        texts=texts,
    )
