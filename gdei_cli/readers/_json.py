"""Parsing JSON-lines records and melting them into points (shared by the JSON readers).

The whole file is parsed by one call into the C JSON scanner (which, unlike
strict JSON parsers, accepts the ``NaN``/``Infinity``/``-Infinity`` tokens
training scripts write), then flattened into columns by pandas.  A missing key
or ``null`` is absent; ``NaN`` is a value.  Nested objects become
``outer/inner`` metric names.
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path
from typing import Any, Final

import numpy as np

from gdei_cli.errors import InputError
from gdei_cli.readers._table import Column, classify_text, table_to_raw
from gdei_cli.readers.base import RawLog, SkippedLine

# A NaN with a payload of our own marks "the log said NaN", so it survives the
# trip through pandas, where a missing key also becomes (an ordinary) NaN.
_NAN_TOKEN_BITS: Final = 0x7FF8_0000_DEAD_0BAD
_NAN_TOKEN: Final = struct.unpack("<d", struct.pack("<Q", _NAN_TOKEN_BITS))[0]
_CONSTANTS: Final = {"NaN": _NAN_TOKEN, "Infinity": math.inf, "-Infinity": -math.inf}
_BLANK_LINES = re.compile(r"\n[ \t\r]*(?=\n)")


def _parse_constant(token: str) -> float:
    return float(_CONSTANTS[token])


def parse_records(
    path: Path, text: str
) -> tuple[list[dict[str, Any]], list[int], list[SkippedLine], list[str]]:
    """Parse JSON lines; return records, their 1-based line numbers, skips, warnings."""
    body = _BLANK_LINES.sub("", text.replace("\r\n", "\n")).strip()
    skipped: list[SkippedLine] = []
    warnings: list[str] = []
    if not body:
        return [], [], skipped, warnings
    try:
        records = json.loads("[" + body.replace("\n", ",\n") + "]", parse_constant=_parse_constant)
        good = True
    except ValueError:
        good = False
    if good and set(map(type, records)) == {dict}:
        line_numbers = _line_numbers(text)
        return records, line_numbers, skipped, warnings
    # Slow path, only for damaged files: find the offending line.
    lines = text.split("\n")
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    records = []
    kept_lines = []
    for k, (lineno, ln) in enumerate(numbered):
        try:
            obj = json.loads(ln, parse_constant=_parse_constant)
        except json.JSONDecodeError as exc:
            if k == len(numbered) - 1:
                msg = "last line is cut short (not complete JSON); dropped"
                warnings.append(f"line {lineno}: {msg}")
                skipped.append(SkippedLine(lineno, msg))
                break
            raise InputError(f"not valid JSON: {exc.msg}", path=path, line=lineno) from None
        if not isinstance(obj, dict):
            raise InputError(
                f"expected a JSON object, found {type(obj).__name__}", path=path, line=lineno
            )
        records.append(obj)
        kept_lines.append(lineno)
    return records, kept_lines, skipped, warnings


def _line_numbers(text: str) -> list[int]:
    """Line numbers of non-blank lines (vectorized over the bytes)."""
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    nl = np.flatnonzero(raw == 0x0A)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [raw.size]))
    ws = np.isin(raw, np.frombuffer(b" \t\r\n", dtype=np.uint8))
    nonws_cum = np.concatenate(([0], np.cumsum(~ws)))
    nonblank = (nonws_cum[ends] - nonws_cum[starts]) > 0
    return list(np.flatnonzero(nonblank) + 1)


def records_to_raw(
    path: Path,
    fmt: str,
    records: list[dict[str, Any]],
    line_numbers: list[int],
    skipped: list[SkippedLine],
    warnings: list[str],
) -> RawLog:
    """Flatten parsed records into columns and melt them into points."""
    import pandas as pd

    if not records:
        return table_to_raw(
            [],
            0,
            path=path,
            fmt=fmt,
            row_lines=np.zeros(0, dtype=np.int64),
            skipped=skipped,
            warnings=warnings,
        )
    frame = pd.DataFrame.from_records(records)
    nested = [
        c
        for c in frame.columns
        if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, dict)).any()
    ]
    if nested:
        frame = pd.json_normalize(records, sep="/")
    return frame_to_raw(path, fmt, frame, line_numbers, skipped, warnings)


def frame_to_raw(
    path: Path,
    fmt: str,
    frame: Any,
    line_numbers: list[int] | np.ndarray,
    skipped: list[SkippedLine],
    warnings: list[str],
    step_names: tuple[str, ...] | None = None,
) -> RawLog:
    """Melt a frame of parsed JSON values (one row per record) into points."""

    n = len(frame)
    columns: list[Column] = []
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "fiu":
            vals = series.to_numpy(dtype=np.float64)
            token = vals.view(np.uint64) == _NAN_TOKEN_BITS
            present = ~np.isnan(vals) | token
            vals = np.where(token, np.nan, vals)
            columns.append(Column(name=str(name), values=vals, present=present))
        elif series.dtype.kind == "b":
            continue
        else:
            obj = series.to_numpy(dtype=object)
            kinds = series.map(type)
            is_num = kinds.isin([int, float]).to_numpy()
            is_str = kinds.eq(str).to_numpy()
            vals = np.full(len(obj), np.nan)
            vals[is_num] = np.asarray(obj[is_num], dtype=np.float64)
            token = vals.view(np.uint64) == _NAN_TOKEN_BITS
            num_present = is_num & (~np.isnan(vals) | token)  # a plain NaN is a missing key
            vals[token] = np.nan
            if not is_str.any():
                columns.append(Column(name=str(name), values=vals, present=num_present))
                continue
            texts = obj.copy()
            texts[~is_str] = None
            col = classify_text(str(name), texts, is_str)
            if col.numeric and col.bad_row is None:
                col = Column(
                    name=str(name),
                    values=np.where(is_str, col.values, vals),
                    present=num_present | is_str,
                )
            elif not col.numeric and num_present.any():
                # real numbers and words under one key: malformed
                first = int(np.flatnonzero(is_str)[0])
                col = Column(
                    name=str(name),
                    values=vals,
                    present=num_present | is_str,
                    bad_row=first,
                    bad_text=str(obj[first]),
                )
            columns.append(col)
    return table_to_raw(
        columns,
        n,
        path=path,
        fmt=fmt,
        row_lines=np.asarray(line_numbers, dtype=np.int64),
        skipped=skipped,
        warnings=warnings,
        step_names=step_names,
    )
