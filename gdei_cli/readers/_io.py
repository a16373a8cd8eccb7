"""Reading a log's bytes (plain or gzip) without ever writing to it, within limits.

Every text reader gets its bytes here, so the limits hold for every format:

* only a regular file is opened (never a FIFO, device or socket, which could
  block or never end), opened non-blocking and read with a size cap;
* a file (after decompression) may hold at most ``max_bytes`` (``--max-file-size``,
  2 GiB by default);
* gzip is decompressed as a stream and stops at that cap, and at 100 times the
  compressed size (real logs compress 3-20 times; a "zip bomb" of zeros
  compresses 1000 times), so a small ``.gz`` cannot fill the memory;
* a truncated gzip keeps what decompressed, with a warning (its last line is
  then cut, which the readers already handle);
* no line may be longer than ``max_bytes / 256`` (8 MiB by default): no log
  record is that long, and a JSON or regex parser given one uses many times
  its size.
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path
from typing import Final, cast

from gdei_cli.errors import InputError

#: the default of ``--max-file-size``: bytes per file, after decompression
DEFAULT_MAX_BYTES: Final = 2 << 30
#: gzip may expand at most this many times its compressed size (and 64 MiB)
MAX_GZIP_RATIO: Final = 100
_GZIP_FLOOR: Final = 64 << 20
#: the longest line, as a fraction of the file limit
LINE_FRACTION: Final = 256
_READ_CHUNK: Final = 1 << 20


def human_bytes(n: int) -> str:
    """``2147483648`` -> ``2 GiB``."""
    value = float(n)
    unit = "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"


def parse_size(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"64k"``, ``"1000"`` -> bytes (binary units)."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = 1
    for suffix, factor in (("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40)):
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)], factor
            break
    try:
        value = float(t)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 2G, 512M, 64k)") from None
    if not value > 0 or value * scale > 1 << 50:
        raise ValueError(f"size out of range: {text!r}")
    return int(value * scale)


def open_regular(path: Path) -> int:
    """A read-only descriptor of *path*, which must be a regular file.

    Opened with ``O_NONBLOCK`` so that a FIFO swapped in after discovery cannot
    block; anything but a regular file is refused.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputError("not a regular file", path=path)
    return fd


def _read_capped(path: Path, limit: int, *, mutable: bool = False) -> bytes:
    """*path*'s bytes, at most *limit* of them; with *mutable*, in a bytearray (read
    into it: no copy), typed as bytes like :func:`gunzip`'s."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise InputError(
                f"{human_bytes(size)}, over the {human_bytes(limit)} limit",
                path=path,
                hint="raise it with --max-file-size",
            )
        parts: list[bytes] = []
        got = 0
        buf = bytearray(size if mutable else 0)
        while got < len(buf):  # (a file that shrinks while it is read ends early)
            n = os.readv(fd, [memoryview(buf)[got:]])
            if not n:
                del buf[got:]
                break
            got += n
        while True:
            piece = os.read(fd, min(max(size + 1 - got, _READ_CHUNK), limit + 1 - got, 1 << 30))
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
            if got > limit:
                raise InputError(
                    f"grew past the {human_bytes(limit)} limit while being read",
                    path=path,
                    hint="raise it with --max-file-size",
                )
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    finally:
        os.close(fd)
    if mutable:
        for piece in parts:  # (what a file that grew while it was read gained)
            buf += piece
        return cast(bytes, buf)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def gunzip(data: bytes, limit: int, path: Path, warnings: list[str]) -> bytes:
    """Decompress gzip *data* (all members) as a stream, stopping at *limit* bytes.

    Cut or damaged data keeps what decompressed before the damage, with a
    warning; nothing decompressed at all is an error.
    """
    cap = min(limit, max(_GZIP_FLOOR, MAX_GZIP_RATIO * len(data)))
    out = bytearray()
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        chunk: bytes = data[pos:] if pos else data
        try:
            while True:
                # at most 1 MiB per call: memory grows with the output, not in jumps
                out += d.decompress(chunk, min(cap + 1 - len(out), _READ_CHUNK))
                if len(out) > cap:
                    why = "the --max-file-size limit"
                    if cap < limit:
                        why = f"{MAX_GZIP_RATIO} times its compressed size: a decompression bomb?"
                    raise InputError(
                        f"gzip data decompresses to more than {human_bytes(cap)} ({why})",
                        path=path,
                        hint="raise it with --max-file-size" if cap == limit else None,
                    )
                if d.eof:
                    break
                chunk = d.unconsumed_tail
                if not chunk:
                    tail = d.flush()  # output still held back for want of room
                    out += tail
                    if not tail:
                        break
        except zlib.error as exc:
            if not out:
                raise InputError(f"broken gzip data: {exc}", path=path) from None
            warnings.append(
                f"gzip data damaged after {len(out)} decompressed bytes ({exc}); "
                "kept what came before"
            )
            break
        if not d.eof:
            if not out:
                raise InputError("broken gzip data: cut short before any content", path=path)
            warnings.append(
                f"gzip data cut short after {len(out)} decompressed bytes; kept what came before"
            )
            break
        rest = d.unused_data
        pos = len(data) - len(rest)
        if rest[:2] != b"\x1f\x8b":
            if rest.strip(b"\0"):
                warnings.append(f"{len(rest)} byte(s) after the gzip data ignored")
            break
    # the bytearray itself (it has every bytes method the readers use): no second copy
    return cast(bytes, out)


def read_bytes(
    path: Path,
    warnings: list[str] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    lines: bool = True,
    mutable: bool = False,
) -> bytes:
    """The file's content, decompressed when it is gzip, within the limits.

    *warnings* receives what was kept despite damage (a cut gzip); with
    ``lines`` the content must be text lines no longer than the line limit.  With
    *mutable*, a bytearray (typed as bytes: it has every bytes method the readers
    use), which a reader may write into and back (a gzip file's is one anyway).
    """
    got: list[str] = [] if warnings is None else warnings
    data = _read_capped(path, max_bytes, mutable=mutable)
    if data[:2] == b"\x1f\x8b":
        data = gunzip(data, max_bytes, path, got)
    if lines:
        check_line_length(data, max(1, max_bytes // LINE_FRACTION), path)
    return data


def read_plain(path: Path, max_bytes: int) -> bytes | None:
    """:func:`read_bytes` of a file to read in a batch with others, or ``None`` when
    it cannot be read or comes with a warning (a damaged gzip): such a file is left
    to its own read, which says so."""
    warnings: list[str] = []
    try:
        data = read_bytes(path, warnings, max_bytes=max_bytes)
    except InputError:
        return None
    return None if warnings else data


def join_counting_lines(head: bytes, bodies: list[bytes | memoryview]) -> tuple[bytes, list[int]]:
    """*head*, then every body, as one text; and each body's count of line ends (one
    pass of numpy over the whole text, not one ``count`` per body)."""
    import itertools

    import numpy as np

    joined = b"".join([head, *bodies])
    bounds = np.cumsum([len(head)] + [len(b) for b in bodies]).tolist()
    line_end = np.frombuffer(joined, np.uint8) == ord("\n")
    counts = [int(np.count_nonzero(line_end[a:b])) for a, b in itertools.pairwise(bounds)]
    return joined, counts


def check_line_length(data: bytes, limit: int, path: Path) -> None:
    """Refuse a line longer than *limit* bytes (a few ``rfind`` calls per *limit* bytes)."""
    start = 0
    size = len(data)
    while start + limit < size:
        last = max(
            data.rfind(b"\n", start, start + limit + 1), data.rfind(b"\r", start, start + limit + 1)
        )
        if last < 0:
            raise InputError(
                f"a line longer than {human_bytes(limit)}: not a log",
                path=path,
                line=line_of(data, start),
                hint="raise the limit with --max-file-size (a line may be 1/256 of it)",
            )
        start = last + 1


def check_utf8(data: bytes, path: Path) -> None:
    """Refuse bytes that are not UTF-8 (checked 16 MB at a time; nothing is kept)."""
    if data.isascii():  # the usual log: one fast pass, no decoding
        return
    step = 16 << 20
    at, n = 0, len(data)
    while at < n:
        end = min(at + step, n)
        while at < end < n and 0x80 <= data[end] < 0xC0:  # not inside a character
            end -= 1
        if end == at:
            end = min(at + step, n)
        try:
            data[at:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            pos = at + exc.start
            raise InputError(
                f"not UTF-8 text (byte {pos})", path=path, line=line_of(data, pos)
            ) from None
        at = end


#: Arrow reads of at least this many bytes hand their freed memory back (see below)
ARROW_RELEASE_BYTES: Final = 8 << 20


def release_arrow_memory(nbytes: int) -> None:
    """After Arrow parsed *nbytes* of a file and its table is gone: ask Arrow's memory
    pool to hand freed memory back to the OS.  Its allocator keeps the parse's
    buffers (about three times the table) for reuse, which would sit under every
    later stage of the load.  Skipped for small files, where the call would cost
    more than it returns."""
    if nbytes < ARROW_RELEASE_BYTES:
        return
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def logical_suffix(path: Path) -> str:
    """The format suffix of a file name, ignoring a trailing ``.gz``."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def line_of(data: bytes, pos: int) -> int:
    """1-based line number of byte *pos*."""
    return data.count(b"\n", 0, pos) + 1


def read_small(path: Path, limit: int = 1 << 20) -> str | None:
    """A small side file's text (YAML, a tag), or ``None`` when missing, odd or too big."""
    try:
        fd = open_regular(path)
    except InputError:
        return None
    try:
        data = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > limit:
        return None
    return data.decode("utf-8", errors="replace")


def regular_files(folder: Path) -> list[Path]:
    """Regular files under *folder*, sorted, found without recursion.

    Symbolic links are followed to regular files only; linked folders, FIFOs,
    devices and sockets are left out.
    """
    out: list[Path] = []
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=True):
                    out.append(Path(entry.path))
            except OSError:
                continue
    return sorted(out)
