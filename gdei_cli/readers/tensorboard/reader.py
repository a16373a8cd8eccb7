"""Reading one event file: windows of records, framed, CRC-checked, decoded.

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

1. **Framing** (:mod:`.framing`): a few records are framed one by one; when their
   lengths repeat with a short period (a training loop logs the same tags in
   the same order, so records have the same lengths), the next thousands of
   record boundaries are predicted at once and confirmed with vectorized
   comparisons of the length fields.  A record that breaks the cycle is
   framed alone and the cycle resumed; irregular stretches fall back to one
   record at a time.
2. **CRC32C** with google-crc32c (hardware CRC) in bulk: CRC32C is affine, so
   for *k* payloads of one length, ``xor(crc(p_i)) == crc(xor(p_i))`` (xor
   ``crc(0^n)`` when *k* is even).  Each group of same-length records is
   verified with one CRC of their byte-wise xor; a group that fails is checked
   record by record to find the bad ones.
3. **Decoding** (:mod:`.templates`, :mod:`.events`): records of one length are gathered into
   a ``(k, n)`` byte matrix.  The first record is parsed field by field into a
   *template* (where wall_time, step, tag and value sit); every row whose other
   bytes equal the template's is decoded by slicing columns (``wall_time``
   as float64, the step varint, the value as float32/float64/int of a
   ``simple_value`` or of a rank-0 ``tensor`` with the ``scalars`` plugin).
   Rows that match no template go to the general decoder: protobuf with the
   message classes of :mod:`.proto`, which also handles ``SessionLog``,
   multi-value summaries and everything else.  Images, histograms, audio,
   graphs and hparams are never decoded.

The file is read (not memory-mapped: a file cut by another process while
being read must end the read with a warning, not a SIGBUS) in windows of
4 MB, so memory holds the resulting points and one window, not the file.

Damage
------
A truncated final record (a job killed mid-write, or a file still being
written) ends the file with a warning, keeping every complete record.  A CRC
mismatch, an impossible length, or a length running past the end of the file
in the middle of the file is reported with its byte offset, and reading
resumes at the next valid record (TensorBoard stops at the first bad record
and silently drops the rest).  A file that shrinks while being read ends the
read where it now ends, with a warning.

Restarts
--------
A ``SessionLog.START`` at step *s* (``SummaryWriter(purge_step=s)``) is
reported as a purge (its step, and how many points of each tag came before
it); :mod:`gdei_cli.assembly` applies it, with the one restart rule every
format shares.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.lib.stride_tricks import as_strided

from gdei_cli.errors import InputError
from gdei_cli.readers._io import open_regular
from gdei_cli.readers.base import Points, RawLog, SkippedLine, empty_log
from gdei_cli.readers.tensorboard import events, templates
from gdei_cli.readers.tensorboard.framing import Framer, Resync, crc, unmask

NAME: Final = "tensorboard"
SCALARS_PLUGIN: Final = "scalars"
_WINDOW: Final = 4 << 20  # bytes of records decoded per window
_EMPTY: Final = np.zeros(0)
_EMPTY_BYTES: Final = np.zeros(0, dtype=np.uint8)
#: payload bytes resynchronisation may CRC-check beyond twice the file size
_RESYNC_FLOOR: Final = 64 << 20
#: record layouts seen so far, by payload length; shared by every file read in
#: this process (a layout is checked byte by byte before it is used)
_TEMPLATES: dict[int, list[templates.Template]] = {}


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
    """One file: decoded points per tag, restarts, warnings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.buf = _EMPTY_BYTES
        self.size = 0
        self.base = 0  # file offset of self.buf[0]
        self.tags = events.Tags()
        self.warnings: list[str] = []
        self.skipped: list[SkippedLine] = []
        # per tag, pieces of (step, value, wall) in record order
        self.pieces: dict[int, list[list[np.ndarray]]] = {}
        self.counts: dict[int, int] = {}  # points per tag filed so far
        self.records = 0
        self.window_purges: list[tuple[int, int]] = []  # (record index, step)
        self.purges: list[tuple[int, dict[int, int]]] = []  # (step, points per tag before)
        self.hparams: dict[str, str] = {}

    def drop(self, offset: int | None, msg: str) -> None:
        where = f"byte {offset}" if offset is not None else "record"
        self.warnings.append(f"{where}: {msg}")
        self.skipped.append(SkippedLine(None, msg, offset=offset))

    # ---- decoding
    def decode(self, starts: np.ndarray, lengths: np.ndarray, rec0: int, out: _Points) -> None:
        """Verify payload CRCs and decode the records at *starts*."""
        lo = int(lengths.min()) if lengths.size else 0
        if lengths.size and int(lengths.max()) - lo < 1 << 16:
            distinct = np.flatnonzero(np.bincount(lengths - lo)) + lo
        else:
            distinct = np.unique(lengths)
        slow = events.SlowBatch()
        for n_ in distinct:
            n = int(n_)
            idx = np.flatnonzero(lengths == n) if distinct.size > 1 else np.arange(lengths.size)
            pstart = starts[idx] + 12
            # rows of n payload bytes + 4 CRC bytes, gathered in one copy
            rows = self._windows(n + 4)[pstart]
            block = rows[:, :n]
            crcs = unmask(np.ascontiguousarray(rows[:, n:]).view("<u4").ravel())
            good = self._check_crc(block, crcs, n)
            if not good.all():
                for i in np.flatnonzero(~good):
                    self.drop(
                        self.base + int(starts[idx[i]]),
                        f"record of {n} bytes failed its CRC check; dropped",
                    )
                block, idx = block[good], idx[good]
            self._decode_group(block, idx + rec0, n, out, slow)
        if len(slow):
            out.add(slow.tag, slow.step, slow.value, slow.wall, slow.rec)

    def window(self, buf: np.ndarray, base: int) -> None:
        """Decode from *buf*, which holds the file's bytes from offset *base*."""
        self.buf = buf
        self.size = buf.size
        self.base = base

    def _windows(self, width: int) -> np.ndarray:
        """All *width*-byte windows of the buffer, as a (size - width + 1, width) view."""
        return as_strided(self.buf, shape=(self.size - width + 1, width), strides=(1, 1))

    @staticmethod
    def _check_crc(block: np.ndarray, crcs: np.ndarray, n: int) -> np.ndarray:
        k = block.shape[0]
        folded = np.bitwise_xor.reduce(block, axis=0) if k else np.zeros(n, np.uint8)
        expect = crc(folded.tobytes())
        if k % 2 == 0:
            expect ^= crc(bytes(n))
        if int(np.bitwise_xor.reduce(crcs)) == expect:
            return np.ones(k, dtype=bool)
        return np.array([crc(row.tobytes()) == int(c) for row, c in zip(block, crcs, strict=True)])

    def _decode_group(
        self, block: np.ndarray, recs: np.ndarray, n: int, out: _Points, slow: events.SlowBatch
    ) -> None:
        todo = np.arange(block.shape[0])
        known = _TEMPLATES.setdefault(n, [])
        checked = 0  # templates already tried on every row of todo
        slow_first = 0
        limit = templates.MAX_TEMPLATES
        while todo.size:
            sub = block if todo.size == block.shape[0] else block[todo]
            matched = np.zeros(todo.size, dtype=bool)
            for tpl in known[checked:]:
                rest = np.flatnonzero(~matched)
                if rest.size == 0:
                    break
                cand = sub if rest.size == sub.shape[0] else sub[rest]
                hit = templates.matches(cand, tpl)
                if hit.all():
                    self._emit(cand, recs[todo[rest]], tpl, out)
                    matched[rest] = True
                elif hit.any():
                    rows = rest[hit]
                    self._emit(sub[rows], recs[todo[rows]], tpl, out)
                    matched[rows] = True
            checked = len(known)
            todo = todo[~matched]
            if todo.size == 0 or len(known) >= limit or slow_first >= limit:
                break
            new = templates.template(block[todo[0]].tobytes())
            if new is None:
                # not a single-scalar event (file_version, image, graph...)
                self._slow(block[todo[0]].tobytes(), int(recs[todo[0]]), slow)
                todo = todo[1:]
                slow_first += 1
                continue
            if len(known) < limit:
                known.append(new)
            else:  # the shared cache is full for this length: use it here only
                known = [*known, new]
        for i in todo:
            self._slow(block[i].tobytes(), int(recs[i]), slow)

    def _emit(
        self, rows: np.ndarray, recs: np.ndarray, tpl: templates.Template, out: _Points
    ) -> None:
        wall, step, value = templates.columns(rows, tpl)
        code = self.tags.code(tpl.tag)
        if tpl.plugin is not None:
            self.tags.plugins.setdefault(tpl.tag, tpl.plugin)
        (self.tags.tensor if tpl.tensor else self.tags.simple).add(code)
        out.add(np.full(rows.shape[0], code), step, value, wall, recs)

    def _slow(self, payload: bytes, rec: int, batch: events.SlowBatch) -> None:
        why = events.decode_event(payload, rec, self.tags, batch, self.window_purges, self.hparams)
        if why is not None:
            self.drop(None, f"record {rec}: {why}; dropped")

    # ---- results
    def keep(self, out: _Points) -> None:
        """File this window's points per tag; note its restarts (applied by assembly)."""
        if not out.tag:
            for _, pstep in self.window_purges:
                self.purges.append((pstep, dict(self.counts)))
            self.window_purges.clear()
            return
        tag = np.concatenate(out.tag)
        step = np.concatenate(out.step)
        value = np.concatenate(out.value)
        wall = np.concatenate(out.wall)
        rec = np.concatenate(out.rec)
        for prec, pstep in self.window_purges:
            before = dict(self.counts)
            codes, counts = np.unique(tag[rec < prec], return_counts=True)
            for c, k in zip(codes.tolist(), counts.tolist(), strict=True):
                before[c] = before.get(c, 0) + k
            self.purges.append((pstep, before))
        self.window_purges.clear()
        # by tag, then record order (one sort of a combined key)
        order = np.argsort(tag.astype(np.int64) << 40 | rec, kind="stable")
        del rec
        sorted_tag = tag[order]
        bounds = np.flatnonzero(np.r_[True, sorted_tag[1:] != sorted_tag[:-1], True])
        # each piece owns its memory, so pieces can be freed one at a time later
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            take = order[a:b]
            code = int(sorted_tag[a])
            self.pieces.setdefault(code, []).append([step[take], value[take], wall[take]])
            self.counts[code] = self.counts.get(code, 0) + int(b - a)


def read(path: Path) -> RawLog:
    """Read one event file into a :class:`RawLog` (points grouped by tag)."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb", buffering=0) as fh:
        size = os.fstat(fd).st_size
        if size == 0:
            log = empty_log(path, NAME)
            log.warnings.append("empty event file")
            return log
        return _read_file(path, fh, size)


def _read_at(fh: Any, offset: int, n: int) -> np.ndarray:
    """Up to *n* bytes at *offset* (fewer at the end of the file, or if it shrank)."""
    out = np.empty(max(n, 0), dtype=np.uint8)
    view = out.data
    got = 0
    fh.seek(offset)
    while got < n:
        k = fh.readinto(view[got:])
        if not k:
            break
        got += k
    return out[:got]


def _read_file(path: Path, fh: Any, size: int) -> RawLog:
    """Frame, check and decode the file window by window (read, never mapped:
    a file cut while being read ends the read with a warning, never a signal)."""
    reader = _Reader(path)

    def read_at(offset: int, n: int) -> np.ndarray:
        return _read_at(fh, offset, min(n, size - offset))

    resync = Resync(read_at, size, budget=2 * size + _RESYNC_FLOOR)
    pos = 0
    want = _WINDOW
    while pos < size:
        buf = _read_at(fh, pos, min(want, size - pos))
        if pos + buf.size < min(pos + want, size):
            size = pos + buf.size
            resync.size = size
            reader.drop(size, f"the file shrank to {size} bytes while being read")
        want = _WINDOW
        framer = Framer(buf, base=pos, file_size=size)
        starts, lengths, nxt, status = framer.walk(0, buf.size)
        out = _Points()
        if starts:
            reader.window(buf, pos)
            st = np.concatenate(starts)
            ln = np.concatenate(lengths)
            reader.decode(st, ln, reader.records, out)
            reader.records += st.size
        reader.keep(out)
        del buf
        at = pos + nxt
        if status == "window":
            if nxt == 0:  # one record larger than the window: read it whole
                want = 16 + framer.u64(0)
            pos = at
            continue
        if status in ("eof", "budget"):
            pos = at
            continue
        again = resync.find(at)
        if again is not None:
            what = "damaged record (bad length or CRC)"
            if status == "truncated":
                what = "record whose length runs past the end of the file"
            reader.drop(
                at,
                f"{what}; skipped {again - at} byte(s) to the next valid record at byte {again}",
            )
            pos = again
            continue
        lost = size - at
        if at == 0 and reader.records == 0 and status == "damaged":
            raise InputError("not an event file: no valid record in it", path=path)
        if resync.gave_up:
            reader.drop(
                at,
                "damaged record; gave up looking for a valid record after it (too many "
                f"false candidates), {lost} byte(s) left unread",
            )
        elif status == "truncated":
            reader.drop(at, f"last record is cut short ({lost} byte(s) at the end); dropped")
        else:
            reader.drop(
                at,
                "damaged record (bad length or CRC); no valid record after it, "
                f"{lost} byte(s) lost",
            )
        break
    return _finish(path, reader)


def _finish(path: Path, reader: _Reader) -> RawLog:
    tags = reader.tags
    names = sorted(tags.codes)
    # a tag holding only tensor values is a scalar only with the scalars plugin
    wanted = [
        t for t in names if tags.codes[t] in tags.simple or tags.plugins.get(t) == SCALARS_PLUGIN
    ]
    dropped = [t for t in names if t not in wanted and tags.codes[t] in tags.tensor]
    pieces = [reader.pieces.get(tags.codes[t], []) for t in wanted]
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
    reader.pieces.clear()
    del pieces
    step, value, wall = columns
    log = RawLog(
        path=path,
        format=NAME,
        points=Points(
            codes,  # int8 for a few tags: kept small
            wanted,
            np.asarray(step, dtype=np.int64),
            np.asarray(value, dtype=np.float64),
            np.asarray(wall, dtype=np.float64),
        ),
        wall_clock="logged",
        warnings=reader.warnings,
        skipped_lines=reader.skipped,
    )
    if dropped:
        log.attrs["non-scalar tensor tags"] = ", ".join(dropped)
    log.attrs.update({f"hparam.{k}": v for k, v in sorted(reader.hparams.items())})
    log.purges = [
        (pstep, {t: before[tags.codes[t]] for t in wanted if before.get(tags.codes[t])})
        for pstep, before in reader.purges
    ]
    return log
