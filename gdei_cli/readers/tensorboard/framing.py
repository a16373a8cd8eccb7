"""TFRecord framing of event files: records, CRC32C, and resynchronisation.

An event file is a sequence of records: an 8-byte little-endian length, the
masked CRC32C of those 8 bytes, the payload (a serialized ``Event``), and the
masked CRC32C of the payload.

:class:`Framer` works on one window of the file (a buffer and its offset).
:meth:`Framer.walk` frames a few records one by one; when their lengths repeat
with a short period (a training loop logs the same tags in the same order, so
records have the same lengths), the next thousands of boundaries are
predicted at once and confirmed with vectorized comparisons of the length
fields (in growing chunks).  A record that breaks the cycle (a tag logged
every N steps beside per-step ones; up to 8 in a row) is framed alone and the
cycle resumed at whichever phase fits, the next stretch checked as long as
the last one at once; irregular stretches fall back to one record at a time.

After a damaged record, :class:`Resync` finds the next valid one: every
offset of a block is a candidate, its length checked for plausibility and its
header CRC computed for all offsets at once (a table-driven CRC32C in numpy);
only the few candidates whose header CRC matches have their payload CRC
checked, within a budget of payload bytes proportional to the file's size.
So resynchronisation is linear on any input (64 MB of zeros, or thousands of
CRC-valid headers claiming megabytes).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from itertools import accumulate
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MAX_RECORD: Final = 1 << 31
_SEQ_PROBE: Final = 16  # records framed one by one before predicting
_MAX_PERIOD: Final = 8
#: odd records framed one by one, the cycle kept, before it is given up
_MAX_ODD: Final = 8
_MASK_DELTA: Final = 0xA282EAD8
_U32: Final = 0xFFFFFFFF


def crc(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


def mask(value: int) -> int:
    return (((value >> 15) | (value << 17)) + _MASK_DELTA) & _U32


def unmask(masked: np.ndarray) -> np.ndarray:
    rot = (masked.astype(np.uint64) - _MASK_DELTA) & _U32
    return np.asarray(((rot >> 17) | (rot << 15)) & _U32, dtype=np.uint64)


def period(lengths: list[int]) -> int:
    """Smallest period (<= 8) with which the lengths repeat, or 0."""
    n = len(lengths)
    for p in range(1, _MAX_PERIOD + 1):
        if n < 2 * p:
            break
        if all(lengths[i] == lengths[i - p] for i in range(p, n)):
            return p
    return 0


class Framer:
    """Record boundaries over one window of the file.

    *buf* holds the file's bytes from offset *base*; *file_size* is the
    file's size, so that a record running past the window (``"window"``: read
    on) is told from one running past the end of the file (``"truncated"``).
    Positions are relative to the window.
    """

    def __init__(self, buf: np.ndarray, base: int = 0, file_size: int | None = None) -> None:
        self.buf = buf
        self.mem = buf.data
        self.size = buf.size
        self.base = base
        self.file_size = base + buf.size if file_size is None else file_size
        self.header_ok: dict[int, int] = {}  # length -> masked crc of its 8 bytes

    def _past(self, end: int) -> str:
        """Why a record ending at window position *end* cannot be framed here."""
        return "truncated" if self.base + end > self.file_size else "window"

    def u64(self, pos: int) -> int:
        return int(struct.unpack_from("<Q", self.mem, pos)[0])

    def u32(self, pos: int) -> int:
        return int(struct.unpack_from("<I", self.mem, pos)[0])

    def header_crc(self, length: int) -> int:
        got = self.header_ok.get(length)
        if got is None:
            got = self.header_ok[length] = mask(crc(struct.pack("<Q", length)))
        return got

    def walk(self, pos: int, budget: int) -> tuple[list[np.ndarray], list[np.ndarray], int, str]:
        """Frame records from *pos* until about *budget* bytes are covered.

        Returns starts, lengths (lists of arrays), the next position, and
        why it stopped: "budget", "eof", "window" (the next record runs past
        this window), "truncated" (past the end of the file) or "damaged".
        """
        starts: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        limit = min(self.size, pos + budget)
        cycle: list[int] = []  # the repeating lengths last predicted, if any
        run = 0  # bytes the last prediction accepted before an odd record stopped it
        odd = 0  # odd records framed alone since the cycle last resumed
        while pos < limit:
            if cycle:
                # a prediction stopped at an odd record (a tag logged every N steps
                # beside per-step ones; a few val tags in a row): frame it alone, then
                # resume the cycle at whichever phase fits, instead of probing record
                # by record again
                length, status = self._one(pos)
                if status:
                    return starts, lengths, pos, status
                starts.append(np.array([pos], dtype=np.int64))
                lengths.append(np.array([length], dtype=np.int64))
                pos += 16 + length
                if pos >= self.size:
                    return starts, lengths, pos, self._at_end()
                resumed = pos
                if pos + 12 <= self.size:
                    head = self.u64(pos)
                    for r in range(len(cycle)):
                        if cycle[r] == head:
                            turned = cycle[r:] + cycle[:r]
                            # odd records at a steady interval: the first chunk checked
                            # reaches the next one (one check per interval)
                            resumed = self._extrapolate(pos, turned, limit, starts, lengths, run)
                            if resumed > pos:
                                cycle = turned
                                break
                if resumed > pos:
                    run, pos, odd = resumed - pos, resumed, 0
                    continue
                odd += 1
                if odd >= _MAX_ODD:  # not a few odd records: probe again
                    cycle, odd = [], 0
                continue
            seq_pos: list[int] = []
            seq_len: list[int] = []
            p = pos
            status = ""
            while len(seq_pos) < _SEQ_PROBE and p < self.size:
                length, status = self._one(p)
                if status:
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
                return starts, lengths, pos, self._at_end()
            period_ = period(seq_len)
            if period_:
                cycle = seq_len[-period_:]
                start, pos = pos, self._extrapolate(pos, cycle, limit, starts, lengths)
                run = pos - start
        return starts, lengths, pos, "budget" if pos < self.size else self._at_end()

    def _one(self, p: int) -> tuple[int, str]:
        """The length of the record at *p*, or why it cannot be framed here."""
        if p + 12 > self.size:
            return 0, self._past(p + 12)
        length = self.u64(p)
        if self.u32(p + 8) != self.header_crc(length) or length >= MAX_RECORD:
            return 0, "damaged"
        if p + 16 + length > self.size:
            return 0, self._past(p + 16 + length)
        return length, ""

    def _at_end(self) -> str:
        return "eof" if self.base + self.size >= self.file_size else "window"

    def _extrapolate(
        self,
        pos: int,
        cycle: list[int],
        limit: int,
        starts: list[np.ndarray],
        lengths: list[np.ndarray],
        first: int = 0,
    ) -> int:
        """Accept whole repetitions of *cycle* from *pos* whose lengths check out
        (the repetitions in *first* bytes checked at once, at least 64, then in growing
        chunks)."""
        stride = sum(cycle) + 16 * len(cycle)
        reps = min((self.size - pos) // stride, (limit - pos) // stride + 1)
        # checked in growing chunks, so a cycle broken after a few repetitions
        # costs what it accepted, not a scan to the end of the window
        chunk = max(64, first // stride + 1)
        while reps > 0:
            n = min(chunk, reps)
            end = self._accept(pos, cycle, stride, n, starts, lengths)
            if end - pos < n * stride:
                return end
            pos, reps, chunk = end, reps - n, chunk * 4
        return pos

    def _accept(
        self,
        pos: int,
        cycle: list[int],
        stride: int,
        reps: int,
        starts: list[np.ndarray],
        lengths: list[np.ndarray],
    ) -> int:
        """Accept up to *reps* repetitions of *cycle* from *pos*; the position after them."""
        offsets = list(accumulate((c + 16 for c in cycle[:-1]), initial=0))
        ok = reps
        for off, length in zip(offsets, cycle, strict=True):
            base = pos + off
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
        firsts = np.arange(pos, pos + ok * stride, stride, dtype=np.int64)
        if len(cycle) == 1:
            starts.append(firsts)
            lengths.append(np.full(ok, cycle[0], dtype=np.int64))
        else:
            grid = firsts[:, None] + np.asarray(offsets, dtype=np.int64)[None, :]
            starts.append(grid.ravel())
            lengths.append(np.tile(np.asarray(cycle, dtype=np.int64), ok))
        return pos + ok * stride

    def _strided(self, offset: int, count: int, stride: int, dtype: str) -> np.ndarray:
        """*count* values of *dtype* at ``offset + i * stride`` (a view, unaligned is fine)."""
        return np.ndarray(
            shape=(count,), dtype=dtype, buffer=self.mem, offset=offset, strides=(stride,)
        )


def _header_tables() -> tuple[int, np.ndarray]:
    """CRC32C of 8 bytes is affine in the bytes: ``crc(x) = crc(0) ^ T0[x0] ^ ... ^ T7[x7]``.

    Returns ``crc(0^8)`` and four tables over 16-bit words (``U[k][w] =
    T[2k][w & 255] ^ T[2k+1][w >> 8]``), so a header's CRC is four lookups.
    """
    zero = crc(bytes(8))
    bytes_t = np.zeros((8, 256), dtype=np.uint32)
    for j in range(8):
        for v in range(1, 256):
            probe = bytearray(8)
            probe[j] = v
            bytes_t[j, v] = crc(bytes(probe)) ^ zero
    words = np.arange(1 << 16, dtype=np.uint32)
    tables = np.stack(
        [bytes_t[2 * k][words & 0xFF] ^ bytes_t[2 * k + 1][words >> 8] for k in range(4)]
    )
    return zero, tables


_HEADER_TABLES: tuple[int, np.ndarray] | None = None


def masked_crc8(rows: np.ndarray) -> np.ndarray:
    """The masked CRC32C of each row of a ``(k, 8)`` uint8 array, vectorized."""
    global _HEADER_TABLES
    if _HEADER_TABLES is None:
        _HEADER_TABLES = _header_tables()
    zero, tables = _HEADER_TABLES
    words = np.ascontiguousarray(rows).view("<u2")  # (k, 4) little-endian words
    value = tables[0][words[:, 0]] ^ np.uint32(zero)
    for k in range(1, 4):
        value ^= tables[k][words[:, k]]
    rotated = (value >> 15) | (value << 17)
    return np.asarray(rotated + np.uint32(_MASK_DELTA), dtype=np.uint32)


class Resync:
    """Finds the next valid record after damage, reading the file by blocks.

    *read_at(offset, n)* returns up to *n* bytes of the file as uint8.  The
    payload CRCs checked over the whole file are limited to *budget* bytes;
    past it, resynchronisation gives up (and says so) rather than turn
    quadratic on crafted input.
    """

    BLOCK: Final = 1 << 20

    def __init__(self, read_at: Callable[[int, int], np.ndarray], size: int, budget: int) -> None:
        self.read_at = read_at
        self.size = size
        self.budget = budget
        self.gave_up = False

    def find(self, pos: int) -> int | None:
        """The offset of the first valid record after *pos*, or None."""
        q = pos + 1
        while q + 16 <= self.size:
            chunk = self.read_at(q, self.BLOCK + 11)
            m = min(self.BLOCK, chunk.size - 11)
            if m <= 0:
                return None
            heads = sliding_window_view(chunk, 12)[:m]
            lens = np.ascontiguousarray(heads[:, :8]).view("<u8").ravel()
            len_bytes = lens.view(np.uint8).reshape(m, 8)  # the same bytes, contiguous
            offs = q + np.arange(m, dtype=np.int64)
            plausible = np.flatnonzero(
                (lens < MAX_RECORD)
                & (offs + 16 + np.minimum(lens, MAX_RECORD).astype(np.int64) <= self.size)
            )
            if plausible.size:
                want = np.ascontiguousarray(heads[plausible, 8:12]).view("<u4").ravel()
                rows = len_bytes if plausible.size == m else len_bytes[plausible]
                good = plausible[masked_crc8(rows) == want]
                for i in good.tolist():
                    length = int(lens[i])
                    if length + 4 > self.budget:
                        self.gave_up = True
                        return None
                    self.budget -= length + 4
                    offset = int(offs[i])
                    body = self.read_at(offset + 12, length + 4)
                    if body.size == length + 4:
                        got = int(body[length:].view("<u4")[0])
                        if got == mask(crc(body[:length].tobytes())):
                            return offset
            q += m
        return None
