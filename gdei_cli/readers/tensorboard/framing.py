"""TFRecord framing of event files: records, CRC32C, and resynchronisation.

An event file is a sequence of records: an 8-byte little-endian length, the
masked CRC32C of those 8 bytes, the payload (a serialized ``Event``), and the
masked CRC32C of the payload.

:meth:`Framer.walk` frames a few records one by one; when their lengths repeat
with a short period (a training loop logs the same tags in the same order, so
records have the same lengths), the next thousands of boundaries are
predicted at once and confirmed with one vectorized comparison of the length
fields.  Irregular stretches fall back to one record at a time.  After a
damaged record, :meth:`Framer.resync` finds the next valid one: candidate
offsets (a plausible length and a matching header CRC) are found with numpy
over whole blocks, and only those are checked one by one.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MAX_RECORD: Final = 1 << 31
_SEQ_PROBE: Final = 16  # records framed one by one before predicting
_MAX_PERIOD: Final = 8
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
    """Record boundaries over a byte buffer (a uint8 view of the file)."""

    def __init__(self, buf: np.ndarray) -> None:
        self.buf = buf
        self.mem = buf.data
        self.size = buf.size
        self.header_ok: dict[int, int] = {}  # length -> masked crc of its 8 bytes

    def u64(self, pos: int) -> int:
        return int(struct.unpack_from("<Q", self.mem, pos)[0])

    def u32(self, pos: int) -> int:
        return int(struct.unpack_from("<I", self.mem, pos)[0])

    def header_crc(self, length: int) -> int:
        got = self.header_ok.get(length)
        if got is None:
            got = self.header_ok[length] = mask(crc(struct.pack("<Q", length)))
        return got

    def record_ok(self, pos: int) -> bool:
        """Is there a complete, CRC-valid record at *pos*?"""
        if pos + 12 > self.size:
            return False
        length = self.u64(pos)
        if length >= MAX_RECORD or pos + 16 + length > self.size:
            return False
        if self.u32(pos + 8) != self.header_crc(length):
            return False
        payload = bytes(self.buf[pos + 12 : pos + 12 + length])
        return self.u32(pos + 12 + length) == mask(crc(payload))

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
                if self.u32(p + 8) != self.header_crc(length) or length >= MAX_RECORD:
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
            period_ = period(seq_len)
            if period_:
                pos = self._extrapolate(pos, seq_len[-period_:], limit, starts, lengths)
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
                (lens < MAX_RECORD) & (offs + 16 + lens.astype(np.int64) <= self.size)
            )
            for i in plausible:
                cand = int(offs[i])
                if self.record_ok(cand):
                    return cand
            q = hi
        return None
