"""Decoding same-layout records by column slicing from a template.

Records of one length are gathered into a ``(k, n)`` byte matrix.  The first
record is parsed field by field into a *template* (where wall_time, step, tag
and value sit); every row whose other bytes equal the template's is decoded by
slicing columns: ``wall_time`` as float64, the step varint, the value as
float32/float64/int of a ``simple_value`` or of a rank-0 ``tensor`` with the
``scalars`` plugin.  Rows that match no template go to the general decoder
(:mod:`.events`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np

from gdei_cli.readers.tensorboard.proto import DTYPES

MAX_TEMPLATES: Final = 8


@dataclass(frozen=True)
class Template:
    """Where the fields of one record layout sit, and which bytes are fixed."""

    row: np.ndarray  # the template record's bytes
    fixed: np.ndarray  # column indices that must equal ``row``
    wall_off: int  # -1: wall_time absent (0.0)
    step_off: int
    step_len: int  # 0: step absent (0)
    value_off: int
    value_dtype: str
    tag: str
    tensor: bool
    plugin: str | None


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of value, end of value, varint value)."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        num, wt = key >> 3, key & 7
        if wt == 0:
            start = pos
            val, pos = _varint(buf, pos, end)
            yield num, wt, start, pos, val
        elif wt == 1:
            yield num, wt, pos, pos + 8, 0
            pos += 8
        elif wt == 5:
            yield num, wt, pos, pos + 4, 0
            pos += 4
        elif wt == 2:
            ln, pos = _varint(buf, pos, end)
            yield num, wt, pos, pos + ln, 0
            pos += ln
        else:
            raise ValueError("unsupported wire type")
        if pos > end:
            raise ValueError("field overruns its message")


def template(rec: bytes) -> Template | None:
    """The layout of a single-scalar event, or None for anything else."""
    try:
        return _template_or_raise(rec)
    except (ValueError, IndexError):
        return None


def _template_or_raise(rec: bytes) -> Template | None:
    n = len(rec)
    wall_off, step_off, step_len, summary = -1, 0, 0, None
    for num, wt, a, b, _ in _fields(rec, 0, n):
        if num == 1 and wt == 1:
            wall_off = a
        elif num == 2 and wt == 0:
            step_off, step_len = a, b - a
        elif num == 5 and wt == 2:
            summary = (a, b)
        else:
            return None
    if summary is None:
        return None
    values = list(_fields(rec, *summary))
    if len(values) != 1 or values[0][:2] != (1, 2):
        return None
    tag: str | None = None
    value_off, dtype, tensor, plugin = -1, "", False, None
    for num, wt, a, b, _ in _fields(rec, values[0][2], values[0][3]):
        if num == 1 and wt == 2:
            tag = rec[a:b].decode("utf-8")
        elif num == 2 and wt == 5:
            value_off, dtype = a, "<f4"
        elif num == 8 and wt == 2:
            tensor = True
            got = _tensor_value(rec, a, b)
            if got is None:
                return None
            value_off, dtype = got
        elif num == 9 and wt == 2:
            plugin = _plugin_name(rec, a, b)
        else:
            return None
    if tag is None or value_off < 0:
        return None
    size = 2 if dtype in ("bf16", "<f2") else np.dtype(dtype).itemsize
    variable = set(range(value_off, value_off + size))
    if wall_off >= 0:
        variable |= set(range(wall_off, wall_off + 8))
    variable |= set(range(step_off, step_off + step_len))
    fixed = np.array([i for i in range(n) if i not in variable], dtype=np.intp)
    return Template(
        row=np.frombuffer(rec, dtype=np.uint8).copy(),
        fixed=fixed,
        wall_off=wall_off,
        step_off=step_off,
        step_len=step_len,
        value_off=value_off,
        value_dtype=dtype,
        tag=tag,
        tensor=tensor,
        plugin=plugin,
    )


def _tensor_value(rec: bytes, a: int, b: int) -> tuple[int, str] | None:
    """Offset and dtype of a rank-0 tensor's single value, if fixed-size."""
    dtype_code, shape_empty, where = 0, True, None
    for num, wt, s, e, val in _fields(rec, a, b):
        if num == 1 and wt == 0:
            dtype_code = val
        elif num == 2 and wt == 2:
            shape_empty = s == e
        elif num == 4 and wt == 2:
            where = ("content", s, e)
        elif num == 5 and wt == 2 and e - s == 4:
            where = ("<f4", s, e)
        elif num == 5 and wt == 5:
            where = ("<f4", s, e)
        elif num == 6 and wt == 2 and e - s == 8:
            where = ("<f8", s, e)
        elif num == 6 and wt == 1:
            where = ("<f8", s, e)
        elif num == 3 and wt == 0:
            continue  # version_number
        else:
            return None
    if not shape_empty or where is None:
        return None
    kind, s, e = where
    if kind == "content":
        dt = DTYPES.get(dtype_code)
        if dt is None:
            return None
        size = 2 if dt == "bf16" else np.dtype(dt).itemsize
        if e - s != size:
            return None
        return s, dt
    return s, kind


def _plugin_name(rec: bytes, a: int, b: int) -> str | None:
    for num, wt, s, e, _ in _fields(rec, a, b):
        if num == 1 and wt == 2:
            for n2, w2, s2, e2, _ in _fields(rec, s, e):
                if n2 == 1 and w2 == 2:
                    return rec[s2:e2].decode("utf-8", errors="replace")
    return None


def as_float64(raw: np.ndarray, dtype: str) -> np.ndarray:
    """A (k, size) uint8 matrix of little-endian values -> float64."""
    flat = np.ascontiguousarray(raw)
    if dtype == "bf16":
        u16 = flat.view("<u2").ravel().astype(np.uint32) << 16
        return u16.view(np.float32).astype(np.float64)
    return flat.view(dtype).ravel().astype(np.float64)


def matches(sub: np.ndarray, tpl: Template) -> np.ndarray:
    """Rows of *sub* laid out like *tpl* (fixed bytes equal, a well-formed step varint)."""
    hit = np.all(sub[:, tpl.fixed] == tpl.row[tpl.fixed], axis=1)
    if tpl.step_len:
        cols = sub[:, tpl.step_off : tpl.step_off + tpl.step_len]
        cont = cols[:, :-1] >= 0x80
        hit &= np.all(cont, axis=1) & (cols[:, -1] < 0x80)
    return np.asarray(hit, dtype=bool)


def columns(rows: np.ndarray, tpl: Template) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wall_time, step, value) of rows laid out like *tpl*."""
    k = rows.shape[0]
    if tpl.wall_off >= 0:
        wall = np.ascontiguousarray(rows[:, tpl.wall_off : tpl.wall_off + 8]).view("<f8").ravel()
    else:
        wall = np.zeros(k)
    step = np.zeros(k, dtype=np.uint64)
    for i in range(tpl.step_len):
        col = rows[:, tpl.step_off + i].astype(np.uint64) & np.uint64(0x7F)
        step |= col << np.uint64(7 * i)
    size = 2 if tpl.value_dtype in ("bf16", "<f2") else np.dtype(tpl.value_dtype).itemsize
    value = as_float64(rows[:, tpl.value_off : tpl.value_off + size], tpl.value_dtype)
    return wall, step.view(np.int64), value
