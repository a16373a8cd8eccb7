"""TensorBoard event files (``events.out.tfevents.*``), read exactly and fast.

File format
-----------
A TFRecord file: each record is an 8-byte little-endian length, the masked
CRC32C of those 8 bytes, the payload (a serialized ``Event`` protobuf), and
the masked CRC32C of the payload.

Design
------
Python-level work per *record* is what makes the usual readers slow (tbparse,
TensorBoard's loaders: a loop of ``struct`` framing, CRC and
``Event.FromString`` per record). gdei pays Python-level cost per *layout*
instead:

1. **Framing** (:func:`_walk`): a few records are framed one by one; when their
   lengths repeat with a short period (a training loop logs the same tags in
   the same order, so records have the same lengths), the next thousands of
   record boundaries are predicted at once and confirmed with one vectorized
   comparison of the length fields.  Irregular stretches fall back to one
   record at a time.
2. **CRC32C** with google-crc32c (hardware CRC) in bulk: CRC32C is affine, so
   for *k* payloads of one length, ``xor(crc(p_i)) == crc(xor(p_i))`` (xor
   ``crc(0^n)`` when *k* is even).  Each group of same-length records is
   verified with one CRC of their byte-wise xor; a group that fails is checked
   record by record to find the bad ones.
3. **Decoding** (:func:`_decode_group`): records of one length are gathered into
   a ``(k, n)`` byte matrix.  The first record is parsed field by field into a
   *template* (where wall_time, step, tag and value sit); every row whose other
   bytes equal the template's is decoded by slicing columns (``wall_time``
   as float64, the step varint, the value as float32/float64/int of a
   ``simple_value`` or of a rank-0 ``tensor`` with the ``scalars`` plugin).
   Rows that match no template go to the general decoder: protobuf with the
   message classes of :mod:`._tfproto`, which also handles ``SessionLog``,
   multi-value summaries and everything else.  Images, histograms, audio,
   graphs and hparams are never decoded.

The file is memory-mapped and processed in windows of about 16 MB whose pages
are released after use, so memory holds the resulting points, not the file.

Damage
------
A truncated final record (a job killed mid-write, or a file still being
written) ends the file with a warning, keeping every complete record.  A CRC
mismatch or an impossible length in the middle of the file is reported with its
byte offset, and reading resumes at the next valid record (TensorBoard stops at
the first bad record and silently drops the rest).

Restarts
--------
A ``SessionLog.START`` at step *s* (``SummaryWriter(purge_step=s)``) discards
every earlier point at a step >= *s*; a step going backwards for one tag is left
to the loader's per-metric rule (:func:`gdei_cli.loader.superseded_mask`).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from gdei_cli._memory import release
from gdei_cli.errors import InputError
from gdei_cli.readers._tfproto import DTYPES, SESSION_START, event_class, hparams_class
from gdei_cli.readers.base import RawLog, SkippedLine, raw_frame
from gdei_cli.schema import categorical

FORMAT: Final = "tensorboard"
SCALARS_PLUGIN: Final = "scalars"

_WINDOW: Final = 4 << 20  # bytes of records decoded per window
_SEQ_PROBE: Final = 16  # records framed one by one before predicting
_MAX_PERIOD: Final = 8
_MAX_TEMPLATES: Final = 8
_MAX_RECORD: Final = 1 << 31
_MASK_DELTA: Final = 0xA282EAD8
_EMPTY: Final = np.zeros(0)
#: record layouts seen so far, by payload length; shared by every file read in
#: this process (a layout is checked byte by byte before it is used)
_TEMPLATES: dict[int, list[_Template]] = {}
_U32: Final = 0xFFFFFFFF


def _crc(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def _unmask(masked: np.ndarray) -> np.ndarray:
    rot = (masked.astype(np.uint64) - _MASK_DELTA) & _U32
    return np.asarray(((rot >> 17) | (rot << 15)) & _U32, dtype=np.uint64)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class _Template:
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


def _template(rec: bytes) -> _Template | None:
    """The layout of a single-scalar event, or None for anything else."""
    try:
        return _template_or_raise(rec)
    except (ValueError, IndexError):
        return None


def _template_or_raise(rec: bytes) -> _Template | None:
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
    return _Template(
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


def _as_float64(raw: np.ndarray, dtype: str) -> np.ndarray:
    """A (k, size) uint8 matrix of little-endian values -> float64."""
    flat = np.ascontiguousarray(raw)
    if dtype == "bf16":
        u16 = flat.view("<u2").ravel().astype(np.uint32) << 16
        return u16.view(np.float32).astype(np.float64)
    return flat.view(dtype).ravel().astype(np.float64)


# --------------------------------------------------------------------------- reading


@dataclass
class _Points:
    """Decoded points of one window, in record order within each array."""

    tag: list[np.ndarray] = field(default_factory=list)
    step: list[np.ndarray] = field(default_factory=list)
    value: list[np.ndarray] = field(default_factory=list)
    wall: list[np.ndarray] = field(default_factory=list)
    rec: list[np.ndarray] = field(default_factory=list)

    def add(self, tag: Any, step: Any, value: Any, wall: Any, rec: Any) -> None:
        self.tag.append(np.asarray(tag, dtype=np.int32))
        self.step.append(np.asarray(step, dtype=np.int64))
        self.value.append(np.asarray(value, dtype=np.float64))
        self.wall.append(np.asarray(wall, dtype=np.float64))
        self.rec.append(np.asarray(rec, dtype=np.int64))


class _Reader:
    def __init__(self, path: Path, buf: np.ndarray) -> None:
        self.path = path
        self.buf = buf  # uint8 view of the whole file
        self.mem = buf.data
        self.size = buf.size
        self.tags: dict[str, int] = {}
        self.plugins: dict[str, str] = {}  # tag -> plugin name from metadata
        self.tensor_tags: set[int] = set()
        self.simple_tags: set[int] = set()
        self.header_ok: dict[int, int] = {}  # length -> masked crc of its 8 bytes
        self.warnings: list[str] = []
        self.skipped: list[SkippedLine] = []
        self.purged: dict[int, int] = {}  # tag code -> points purged
        # per tag, pieces of (step, value, wall) in record order
        self.pieces: dict[int, list[list[np.ndarray]]] = {}
        self.records = 0
        self.purges: list[tuple[int, int]] = []  # (record index, step) of this window
        self.purge_steps: list[int] = []
        self.hparams: dict[str, str] = {}

    # ---- helpers
    def tag_code(self, tag: str) -> int:
        code = self.tags.get(tag)
        if code is None:
            code = self.tags[tag] = len(self.tags)
        return code

    def u64(self, pos: int) -> int:
        return int(struct.unpack_from("<Q", self.mem, pos)[0])

    def u32(self, pos: int) -> int:
        return int(struct.unpack_from("<I", self.mem, pos)[0])

    def header_crc(self, length: int) -> int:
        got = self.header_ok.get(length)
        if got is None:
            got = self.header_ok[length] = _mask(_crc(struct.pack("<Q", length)))
        return got

    def record_ok(self, pos: int) -> bool:
        """Is there a complete, CRC-valid record at *pos*?"""
        if pos + 12 > self.size:
            return False
        length = self.u64(pos)
        if length >= _MAX_RECORD or pos + 16 + length > self.size:
            return False
        if self.u32(pos + 8) != self.header_crc(length):
            return False
        payload = bytes(self.buf[pos + 12 : pos + 12 + length])
        return self.u32(pos + 12 + length) == _mask(_crc(payload))

    # ---- framing
    def walk(self, pos: int, budget: int) -> tuple[list[np.ndarray], list[np.ndarray], int, str]:
        """Frame records from *pos* until about *budget* bytes are covered.

        Returns starts, lengths (lists of arrays), the next position, and
        why it stopped: "budget", "eof", "truncated" or "damaged".
        """
        starts: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        limit = min(self.size, pos + budget)
        while pos < limit:
            seq_pos: list[int] = []
            seq_len: list[int] = []
            p = pos
            status = ""
            while len(seq_pos) < _SEQ_PROBE and p < self.size:
                if p + 12 > self.size:
                    status = "truncated"
                    break
                length = self.u64(p)
                if self.u32(p + 8) != self.header_crc(length) or length >= _MAX_RECORD:
                    status = "damaged"
                    break
                if p + 16 + length > self.size:
                    status = "truncated"
                    break
                seq_pos.append(p)
                seq_len.append(length)
                p += 16 + length
            if seq_pos:
                starts.append(np.array(seq_pos, dtype=np.int64))
                lengths.append(np.array(seq_len, dtype=np.int64))
            pos = p
            if status:
                return starts, lengths, pos, status
            if pos >= self.size:
                return starts, lengths, pos, "eof"
            period = _period(seq_len)
            if period:
                pos = self._extrapolate(pos, seq_len[-period:], limit, starts, lengths)
        return starts, lengths, pos, "budget" if pos < self.size else "eof"

    def _extrapolate(
        self,
        pos: int,
        cycle: list[int],
        limit: int,
        starts: list[np.ndarray],
        lengths: list[np.ndarray],
    ) -> int:
        """Accept whole repetitions of *cycle* from *pos* whose lengths check out."""
        stride = sum(cycle) + 16 * len(cycle)
        reps = min((self.size - pos) // stride, (limit - pos) // stride + 1)
        if reps <= 0:
            return pos
        offsets = np.cumsum([0] + [c + 16 for c in cycle[:-1]])
        ok = reps
        for off, length in zip(offsets, cycle, strict=True):
            base = pos + int(off)
            reps_here = min(ok, (self.size - base - 12) // stride + 1)
            if reps_here <= 0:
                ok = 0
                break
            # strided views straight onto the file: no copy of the headers
            lens = self._strided(base, reps_here, stride, "<u8")
            crcs = self._strided(base + 8, reps_here, stride, "<u4")
            bad = np.flatnonzero((lens != length) | (crcs != self.header_crc(length)))
            ok = min(ok, int(bad[0]) if bad.size else reps_here)
        # a record of the last repetition must also fit in the file
        while ok > 0 and pos + ok * stride > self.size:
            ok -= 1
        if ok == 0:
            return pos
        grid = pos + offsets[None, :] + stride * np.arange(ok, dtype=np.int64)[:, None]
        starts.append(grid.ravel())
        lengths.append(np.tile(np.asarray(cycle, dtype=np.int64), ok))
        return pos + ok * stride

    def _strided(self, offset: int, count: int, stride: int, dtype: str) -> np.ndarray:
        """*count* values of *dtype* at ``offset + i * stride`` (a view, unaligned is fine)."""
        return np.ndarray(
            shape=(count,), dtype=dtype, buffer=self.mem, offset=offset, strides=(stride,)
        )

    # ---- damage
    def resync(self, pos: int) -> int | None:
        """The next position after *pos* holding a valid record, or None."""
        step = 1 << 20
        q = pos + 1
        while q + 12 <= self.size:
            hi = min(self.size - 8, q + step)
            if hi <= q:
                break
            lens = sliding_window_view(self.buf[q : hi + 8], 8)[: hi - q]
            lens = np.ascontiguousarray(lens).view("<u8").ravel()
            offs = np.arange(q, hi, dtype=np.int64)
            plausible = np.flatnonzero(
                (lens < _MAX_RECORD) & (offs + 16 + lens.astype(np.int64) <= self.size)
            )
            for i in plausible:
                cand = int(offs[i])
                if self.record_ok(cand):
                    return cand
            q = hi
        return None

    # ---- decoding
    def decode(self, starts: np.ndarray, lengths: np.ndarray, rec0: int, out: _Points) -> None:
        """Verify payload CRCs and decode the records at *starts*."""
        lo = int(lengths.min()) if lengths.size else 0
        if lengths.size and int(lengths.max()) - lo < 1 << 16:
            distinct = np.flatnonzero(np.bincount(lengths - lo)) + lo
        else:
            distinct = np.unique(lengths)
        for n_ in distinct:
            n = int(n_)
            idx = np.flatnonzero(lengths == n) if distinct.size > 1 else np.arange(lengths.size)
            pstart = starts[idx] + 12
            # rows of n payload bytes + 4 CRC bytes, gathered in one copy
            rows = self._windows(n + 4)[pstart]
            block = rows[:, :n]
            crcs = _unmask(np.ascontiguousarray(rows[:, n:]).view("<u4").ravel())
            good = self._check_crc(block, crcs, n)
            if not good.all():
                for i in np.flatnonzero(~good):
                    off = int(starts[idx[i]])
                    msg = f"record of {n} bytes failed its CRC check; dropped"
                    self.warnings.append(f"byte {off}: {msg}")
                    self.skipped.append(SkippedLine(None, msg, offset=off))
                block, idx = block[good], idx[good]
            self._decode_group(block, idx + rec0, n, out)

    def _windows(self, width: int) -> np.ndarray:
        """All *width*-byte windows of the file, as a (size - width + 1, width) view."""
        return as_strided(self.buf, shape=(self.size - width + 1, width), strides=(1, 1))

    def _check_crc(self, block: np.ndarray, crcs: np.ndarray, n: int) -> np.ndarray:
        k = block.shape[0]
        folded = np.bitwise_xor.reduce(block, axis=0) if k else np.zeros(n, np.uint8)
        expect = _crc(folded.tobytes())
        if k % 2 == 0:
            expect ^= _crc(bytes(n))
        if int(np.bitwise_xor.reduce(crcs)) == expect:
            return np.ones(k, dtype=bool)
        return np.array([_crc(row.tobytes()) == int(c) for row, c in zip(block, crcs, strict=True)])

    def _decode_group(self, block: np.ndarray, recs: np.ndarray, n: int, out: _Points) -> None:
        todo = np.arange(block.shape[0])
        known = _TEMPLATES.setdefault(n, [])
        checked = 0  # templates already tried on every row of todo
        slow_first = 0
        while todo.size:
            sub = block if todo.size == block.shape[0] else block[todo]
            matched = np.zeros(todo.size, dtype=bool)
            for tpl in known[checked:]:
                rest = np.flatnonzero(~matched)
                if rest.size == 0:
                    break
                cand = sub if rest.size == sub.shape[0] else sub[rest]
                hit = self._match(cand, tpl)
                if hit.all():
                    self._emit(cand, recs[todo[rest]], tpl, out)
                    matched[rest] = True
                elif hit.any():
                    rows = rest[hit]
                    self._emit(sub[rows], recs[todo[rows]], tpl, out)
                    matched[rows] = True
            checked = len(known)
            todo = todo[~matched]
            if todo.size == 0 or len(known) >= _MAX_TEMPLATES or slow_first >= _MAX_TEMPLATES:
                break
            new = _template(block[todo[0]].tobytes())
            if new is None:
                # not a single-scalar event (file_version, image, graph...)
                self._slow(block[todo[0]].tobytes(), int(recs[todo[0]]), out)
                todo = todo[1:]
                slow_first += 1
                continue
            if len(known) < _MAX_TEMPLATES:
                known.append(new)
            else:  # the shared cache is full for this length: use it here only
                known = [*known, new]
        for i in todo:
            self._slow(block[i].tobytes(), int(recs[i]), out)

    @staticmethod
    def _match(sub: np.ndarray, tpl: _Template) -> np.ndarray:
        hit = np.all(sub[:, tpl.fixed] == tpl.row[tpl.fixed], axis=1)
        if tpl.step_len:
            cols = sub[:, tpl.step_off : tpl.step_off + tpl.step_len]
            cont = cols[:, :-1] >= 0x80
            hit &= np.all(cont, axis=1) & (cols[:, -1] < 0x80)
        return np.asarray(hit, dtype=bool)

    def _emit(self, rows: np.ndarray, recs: np.ndarray, tpl: _Template, out: _Points) -> None:
        k = rows.shape[0]
        if tpl.wall_off >= 0:
            wall = (
                np.ascontiguousarray(rows[:, tpl.wall_off : tpl.wall_off + 8]).view("<f8").ravel()
            )
        else:
            wall = np.zeros(k)
        step = np.zeros(k, dtype=np.uint64)
        for i in range(tpl.step_len):
            col = rows[:, tpl.step_off + i].astype(np.uint64) & np.uint64(0x7F)
            step |= col << np.uint64(7 * i)
        size = 2 if tpl.value_dtype in ("bf16", "<f2") else np.dtype(tpl.value_dtype).itemsize
        value = _as_float64(rows[:, tpl.value_off : tpl.value_off + size], tpl.value_dtype)
        code = self.tag_code(tpl.tag)
        if tpl.plugin is not None:
            self.plugins.setdefault(tpl.tag, tpl.plugin)
        (self.tensor_tags if tpl.tensor else self.simple_tags).add(code)
        out.add(np.full(k, code), step.view(np.int64), value, wall, recs)

    def _slow(self, payload: bytes, rec: int, out: _Points) -> None:
        """The general decoder: protobuf, for whatever no template matched."""
        from google.protobuf.message import DecodeError

        try:
            ev = event_class().FromString(payload)
        except DecodeError as exc:
            self.warnings.append(f"record {rec}: not a valid Event ({exc}); dropped")
            self.skipped.append(SkippedLine(None, f"record {rec}: not a valid Event"))
            return
        if ev.HasField("session_log"):
            if ev.session_log.status == SESSION_START:
                self.purges.append((rec, int(ev.step)))
            return
        if not ev.HasField("summary"):
            return
        tags: list[int] = []
        values: list[float] = []
        for v in ev.summary.value:
            if v.HasField("metadata") and v.metadata.plugin_data.plugin_name:
                self.plugins.setdefault(v.tag, v.metadata.plugin_data.plugin_name)
                if v.metadata.plugin_data.plugin_name == "hparams":
                    self._hparams(v.metadata.plugin_data.content)
            kind = v.WhichOneof("value")
            if kind == "simple_value":
                code = self.tag_code(v.tag)
                self.simple_tags.add(code)
                tags.append(code)
                values.append(float(v.simple_value))
            elif kind == "tensor":
                got = _tensor_scalar(v.tensor)
                if got is not None:
                    code = self.tag_code(v.tag)
                    self.tensor_tags.add(code)
                    tags.append(code)
                    values.append(got)
        if tags:
            k = len(tags)
            out.add(tags, [ev.step] * k, values, [ev.wall_time] * k, [rec] * k)

    def _hparams(self, content: bytes) -> None:
        """Hyperparameters of an hparams ``session_start_info``, as run attributes."""
        from google.protobuf.message import DecodeError

        try:
            data = hparams_class().FromString(content)
        except DecodeError:
            return
        for entry in data.session_start_info.hparams:
            kind = entry.value.WhichOneof("kind")
            if kind is not None and kind != "null_value":
                value = getattr(entry.value, kind)
                text = f"{value:g}" if isinstance(value, float) else str(value)
                self.hparams[entry.key] = text

    # ---- results
    def keep(self, out: _Points) -> None:
        """Apply this window's restarts, then file its points per tag."""
        if not out.tag:
            for _, pstep in self.purges:
                self._purge_earlier(pstep)
            self.purges.clear()
            return
        tag = np.concatenate(out.tag)
        step = np.concatenate(out.step)
        value = np.concatenate(out.value)
        wall = np.concatenate(out.wall)
        rec = np.concatenate(out.rec)
        for prec, pstep in self.purges:
            self._purge_earlier(pstep)
            gone = (rec < prec) & (step >= pstep)
            if gone.any():
                codes, counts = np.unique(tag[gone], return_counts=True)
                for c, k in zip(codes.tolist(), counts.tolist(), strict=True):
                    self.purged[c] = self.purged.get(c, 0) + k
                keep = ~gone
                tag, step, value, wall, rec = (
                    tag[keep],
                    step[keep],
                    value[keep],
                    wall[keep],
                    rec[keep],
                )
        self.purges.clear()
        # by tag, then record order (one sort of a combined key)
        order = np.argsort(tag.astype(np.int64) << 40 | rec, kind="stable")
        del rec
        sorted_tag = tag[order]
        bounds = np.flatnonzero(np.r_[True, sorted_tag[1:] != sorted_tag[:-1], True])
        # each piece owns its memory, so pieces can be freed one at a time later
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            take = order[a:b]
            piece = [step[take], value[take], wall[take]]
            self.pieces.setdefault(int(sorted_tag[a]), []).append(piece)

    def _purge_earlier(self, pstep: int) -> None:
        """Apply a restart at *pstep* to every point of earlier windows."""
        self.purge_steps.append(pstep)
        for code, pieces in self.pieces.items():
            self.pieces[code] = [self._drop(code, p, pstep) for p in pieces]

    def _drop(self, code: int, piece: list[np.ndarray], pstep: int) -> list[np.ndarray]:
        s, v, w = piece
        keep = s < pstep
        n_gone = int(keep.size - keep.sum())
        if n_gone:
            self.purged[code] = self.purged.get(code, 0) + n_gone
            return [s[keep], v[keep], w[keep]]
        return piece


def _tensor_scalar(t: Any) -> float | None:
    """The value of a rank-0 numeric TensorProto, or None."""
    if len(t.tensor_shape.dim):
        return None
    dt = DTYPES.get(int(t.dtype))
    if dt is None:
        return None
    if t.tensor_content:
        raw = np.frombuffer(t.tensor_content, dtype=np.uint8)
        size = 2 if dt == "bf16" else np.dtype(dt).itemsize
        if raw.size != size:
            return None
        return float(_as_float64(raw[None, :], dt)[0])
    for name in (
        "float_val",
        "double_val",
        "int_val",
        "int64_val",
        "uint32_val",
        "uint64_val",
        "bool_val",
    ):
        vals = getattr(t, name)
        if len(vals) == 1:
            return float(vals[0])
    if len(t.half_val) == 1:
        return float(np.array([t.half_val[0]], dtype=np.uint16).view(np.float16)[0])
    return None


def _period(lengths: list[int]) -> int:
    """Smallest period (<= 8) with which the lengths repeat, or 0."""
    n = len(lengths)
    for p in range(1, _MAX_PERIOD + 1):
        if n < 2 * p:
            break
        if all(lengths[i] == lengths[i - p] for i in range(p, n)):
            return p
    return 0


def read(path: Path) -> RawLog:
    """Read one event file into a :class:`RawLog` (points grouped by tag)."""
    try:
        size = path.stat().st_size
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    with fh:
        if size == 0:
            log = RawLog(path=path, format=FORMAT, frame=raw_frame([], [], [], []))
            log.warnings.append("empty event file")
            return log
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return _read_mapped(path, mm)
        finally:
            try:
                mm.close()
            except BufferError:  # views still alive (an exception's frames): GC closes it
                pass


def _read_mapped(path: Path, mm: mmap.mmap) -> RawLog:
    buf = np.frombuffer(mm, dtype=np.uint8)
    reader = _Reader(path, buf)
    pos = 0
    released = 0
    try:
        while pos < reader.size:
            starts, lengths, nxt, status = reader.walk(pos, _WINDOW)
            out = _Points()
            if starts:
                st = np.concatenate(starts)
                ln = np.concatenate(lengths)
                reader.decode(st, ln, reader.records, out)
                reader.records += st.size
            reader.keep(out)
            pos = nxt
            if status == "truncated":
                lost = reader.size - pos
                msg = f"last record is cut short ({lost} byte(s) at the end); dropped"
                reader.warnings.append(f"byte {pos}: {msg}")
                reader.skipped.append(SkippedLine(None, msg, offset=pos))
                break
            if status == "damaged":
                again = reader.resync(pos)
                if again is None:
                    lost = reader.size - pos
                    msg = (
                        "damaged record (bad length or CRC); no valid record after it, "
                        f"{lost} byte(s) lost"
                    )
                    reader.warnings.append(f"byte {pos}: {msg}")
                    reader.skipped.append(SkippedLine(None, msg, offset=pos))
                    break
                msg = (
                    f"damaged record (bad length or CRC); skipped {again - pos} byte(s) "
                    f"to the next valid record at byte {again}"
                )
                reader.warnings.append(f"byte {pos}: {msg}")
                reader.skipped.append(SkippedLine(None, msg, offset=pos))
                pos = again
            # let the kernel drop the pages already decoded
            done = (pos // mmap.PAGESIZE) * mmap.PAGESIZE
            if done - released >= _WINDOW and hasattr(mm, "madvise"):
                mm.madvise(mmap.MADV_DONTNEED, released, done - released)
                released = done
    finally:
        del buf
    return _finish(path, reader)


def _finish(path: Path, reader: _Reader) -> RawLog:

    names = sorted(reader.tags, key=lambda t: t)
    # a tag holding only tensor values is a scalar only with the scalars plugin
    wanted = [
        t
        for t in names
        if reader.tags[t] in reader.simple_tags or reader.plugins.get(t) == SCALARS_PLUGIN
    ]
    dropped = [t for t in names if t not in wanted and reader.tags[t] in reader.tensor_tags]
    pieces = [reader.pieces.get(reader.tags[t], []) for t in wanted]
    sizes = [sum(p[0].size for p in tag_pieces) for tag_pieces in pieces]
    total = sum(sizes)
    codes = np.repeat(
        np.arange(len(wanted), dtype=np.int8 if len(wanted) < 128 else np.int32), sizes
    )
    # one column at a time, freeing each piece's part as it is copied: memory
    # holds the points once, plus one column
    columns = []
    for j, dtype in enumerate((np.int64, np.float64, np.float64)):
        col = np.empty(total, dtype=dtype)
        at = 0
        for tag_pieces in pieces:
            for piece in tag_pieces:
                part = piece[j]
                piece[j] = _EMPTY
                col[at : at + part.size] = part
                at += part.size
                del part
        columns.append(col)
        release()  # the pieces of this column are free: hand their pages back
    reader.pieces.clear()
    del pieces
    step, value, wall = columns
    metric = categorical(codes, wanted)
    log = RawLog(
        path=path,
        format=FORMAT,
        frame=raw_frame(metric, step, value, wall),
        wall_clock="logged",
        warnings=reader.warnings,
        skipped_lines=reader.skipped,
    )
    if dropped:
        log.attrs["non-scalar tensor tags"] = ", ".join(dropped)
    log.attrs.update({f"hparam.{k}": v for k, v in sorted(reader.hparams.items())})
    log.purge_steps = list(reader.purge_steps)
    log.superseded = {
        t: reader.purged[reader.tags[t]] for t in wanted if reader.purged.get(reader.tags[t])
    }
    return log
