"""Parsing JSON-lines records and melting them into points (shared by the JSON readers).

Most files are parsed by pyarrow's C++ reader (:func:`fast_columns`), the
``NaN``/``Infinity``/``-Infinity`` words training scripts write (strict JSON
parsers refuse them) included (:func:`_arrow_table`).  The rest (a blank line,
an escaped surrogate, bytes that are not UTF-8, a bad line to name) go to the
Python parser: each chunk of about 4 MB of lines is parsed by one call into the
C JSON scanner (which accepts those words), then flattened into columns by
pandas.  A missing
key or ``null`` is absent; ``NaN`` is a value.  Nested objects become
``outer/inner`` metric names.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from gdei_cli.errors import InputError
from gdei_cli.readers._io import (
    ARROW_RELEASE_BYTES,
    check_utf8,
    join_counting_lines,
    read_plain,
    release_arrow_memory,
)
from gdei_cli.readers._table import (
    Column,
    classify_arrow_text,
    classify_text,
    rounded_step,
    table_to_raw,
)
from gdei_cli.readers.base import RawLog, SkippedLine

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

# A NaN with a payload of our own marks "the log said NaN", so it survives the
# trip through pandas, where a missing key also becomes (an ordinary) NaN.
_NAN_TOKEN_BITS: Final = 0x7FF8_0000_DEAD_0BAD
_NAN_TOKEN: Final = struct.unpack("<d", struct.pack("<Q", _NAN_TOKEN_BITS))[0]
_CONSTANTS: Final = {"NaN": _NAN_TOKEN, "Infinity": math.inf, "-Infinity": -math.inf}
_BLANK_LINES = re.compile(r"\n[ \t\r]*+(?=\n)")
_INNER_BLANK = re.compile(r"\n[ \t\r]*+\n")
_LEADING_BLANK = re.compile(r"[ \t\r]*+\n")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
#: bytes of JSON lines parsed per call
CHUNK_BYTES: Final = 4 << 20


def _parse_constant(token: str) -> float:
    return float(_CONSTANTS[token])


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_parse_constant)


#: a record may nest this deep (beyond the interpreter's recursion limit, it is parsed
#: on a thread with a larger stack); deeper is "nested too deeply to read"
DEEP_MAX: Final = 100_000
_DEEP_STACK: Final = 512 << 20  # bytes of (virtual) stack for that thread


def _loads_deep(text: str) -> Any:
    """:func:`_loads` of one record nested deeper than the recursion limit allows.

    json's C parser counts its nesting against the recursion limit, so the limit is
    raised for one parse on a thread whose stack is large enough for
    :data:`DEEP_MAX` levels; a deeper record raises :class:`RecursionError`.
    """
    import sys
    import threading

    if _nested_deeper_than(text.encode("utf-8", "surrogatepass"), DEEP_MAX):
        raise RecursionError("deeper than DEEP_MAX")
    got: list[Any] = []
    failed: list[BaseException] = []

    def parse() -> None:
        try:
            got.append(_loads(text))
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    limit, stack = sys.getrecursionlimit(), threading.stack_size()
    try:
        threading.stack_size(_DEEP_STACK)
        sys.setrecursionlimit(max(limit, DEEP_MAX + 1_000))
        worker = threading.Thread(target=parse, name="gdei-deep-json")
        worker.start()
        worker.join()
    finally:
        threading.stack_size(stack)
        sys.setrecursionlimit(limit)
    if failed:
        raise failed[0]
    return got[0]


@dataclass
class Parsed:
    """JSON lines parsed into a frame (one row per record), with where each row was."""

    frame: pd.DataFrame
    line_numbers: np.ndarray  # 1-based file line of each row
    skipped: list[SkippedLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_lines(path: Path, data: bytes, *, errors: str = "strict") -> Parsed:
    """Parse JSON lines, about 4 MB at a time: each chunk in one call to the
    C JSON scanner, made into a frame, the frames concatenated.

    Memory holds the parsed objects of one chunk at a time, not of the file.
    A byte-order mark and CR-only line ends are accepted.  A last line that
    does not parse (a run killed mid-write) is dropped with a warning; any
    other bad line is an error naming its line.
    """
    import pandas as pd

    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    out = Parsed(frame=pd.DataFrame(), line_numbers=np.zeros(0, dtype=np.int64))
    frames = []
    numbers = []
    pos = 0
    line0 = 0  # lines before this chunk
    size = len(data)
    while pos < size:
        end = data.find(b"\n", min(pos + CHUNK_BYTES, size))
        end = size if end < 0 else end + 1
        chunk = data[pos:end]
        try:
            text = chunk.decode("utf-8", errors=errors)
        except UnicodeDecodeError as exc:
            line = line0 + chunk.count(b"\n", 0, exc.start) + 1
            raise InputError(
                f"not UTF-8 text (byte {pos + exc.start})", path=path, line=line
            ) from None
        records, lines = _parse_chunk(path, text, line0, last=end >= size, out=out)
        if records:
            frames.append(_records_frame(records))
            numbers.append(lines)
        del records
        line0 += chunk.count(b"\n")
        pos = end
    if frames:
        out.frame = (
            frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True, sort=False)
        )
        out.line_numbers = np.concatenate(numbers)
    return out


def _parse_chunk(
    path: Path, text: str, line0: int, *, last: bool, out: Parsed
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Records of one chunk and their 1-based lines (*line0* lines came before)."""
    body = _BLANK_LINES.sub("", text).strip()
    if not body:
        return [], np.zeros(0, dtype=np.int64)
    try:
        records = _loads("[" + body.replace("\n", ",\n") + "]")
        good = set(map(type, records)) == {dict}
    except (ValueError, RecursionError):
        good = False
    if good:
        if "\\u" in text and _SURROGATE.search(text):
            records = [_clean_surrogates(r) for r in records]
        return records, _line_numbers(text) + line0
    # Slow path, only for damaged chunks: find the offending line.
    numbered = [(line0 + i + 1, ln) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    records = []
    kept: list[int] = []
    for k, (lineno, ln) in enumerate(numbered):
        try:
            try:
                obj = _loads(ln)
            except RecursionError:
                obj = _loads_deep(ln)
        except RecursionError:
            raise InputError("JSON nested too deeply to read", path=path, line=lineno) from None
        except json.JSONDecodeError as exc:
            if last and k == len(numbered) - 1:
                msg = "last line is cut short (not complete JSON); dropped"
                out.warnings.append(f"line {lineno}: {msg}")
                out.skipped.append(SkippedLine(lineno, msg))
                break
            raise InputError(f"not valid JSON: {exc.msg}", path=path, line=lineno) from None
        except ValueError:  # an integer of more than 4300 digits: Python's limit, not JSON's
            try:  # read as a float (inf, as 1e999 is), as pyarrow's reader does
                obj = json.loads(ln, parse_constant=_parse_constant, parse_int=float)
            except (ValueError, RecursionError) as exc:
                why = str(exc).split(";", 1)[0]
                raise InputError(f"not valid JSON: {why}", path=path, line=lineno) from None
        if not isinstance(obj, dict):
            raise InputError(
                f"expected a JSON object, found {type(obj).__name__}", path=path, line=lineno
            )
        records.append(_clean_surrogates(obj) if "\\u" in ln and _SURROGATE.search(ln) else obj)
        kept.append(lineno)
    return records, np.asarray(kept, dtype=np.int64)


def _clean_surrogates(obj: Any) -> Any:
    """*obj* with lone UTF-16 surrogates (``"\\ud800"`` in the JSON) written as escapes.

    They are not characters: no encoder, pyarrow's included, accepts them.
    """
    if isinstance(obj, str):
        return obj.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(obj, dict):
        return {_clean_surrogates(k): _clean_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_surrogates(v) for v in obj]
    return obj


def _line_numbers(text: str) -> np.ndarray:
    """The 1-based line numbers of the non-blank lines of *text*."""
    body = text.rstrip(" \t\r\n")
    if not (_LEADING_BLANK.match(body) or _INNER_BLANK.search(body)):  # usual: no blank line
        return np.arange(1, body.count("\n") + 2 if body else 1, dtype=np.int64)
    raw = np.frombuffer(text.encode("utf-8", errors="surrogatepass"), dtype=np.uint8)
    nl = np.flatnonzero(raw == 0x0A)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [raw.size]))
    nonws = ~np.isin(raw, np.frombuffer(b" \t\r\n", dtype=np.uint8))
    nonws_cum = np.concatenate(([0], np.cumsum(nonws, dtype=np.int32)))
    nonblank = (nonws_cum[ends] - nonws_cum[starts]) > 0
    return np.flatnonzero(nonblank).astype(np.int64) + 1


def _records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records as a frame; nested objects become ``outer/inner`` columns."""
    import pandas as pd

    frame = pd.DataFrame.from_records(records)
    nested = [
        c
        for c in frame.columns
        if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, dict)).any()
    ]
    if nested:
        frame = pd.json_normalize(records, sep="/")
    return frame


def records_to_raw(
    path: Path,
    fmt: str,
    records: list[dict[str, Any]],
    line_numbers: list[int],
    skipped: list[SkippedLine],
    warnings: list[str],
) -> RawLog:
    """Flatten parsed records into columns and melt them into points."""
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
    return frame_to_raw(path, fmt, _records_frame(records), line_numbers, skipped, warnings)


def _as_float(objs: np.ndarray) -> np.ndarray:
    """Python numbers as float64; an integer too large for a float is +-inf."""
    try:
        return np.asarray(objs, dtype=np.float64)
    except OverflowError:
        return np.array([_big_float(v) for v in objs], dtype=np.float64)


def _big_float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


#: text that sends a file to the Python parser: blank lines or CR line ends (whose
#: line numbers the fast path does not track), and (below) an escape of a surrogate
#: (a lone one is no character: Python's parser keeps it, then gdei writes it out)
_SLOW_MARKERS: Final = (b"\n\n", b"\r")  # (as _fast_path_may_read looks)
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
#: words Python's json reads as numbers (not JSON, but written by training scripts):
#: the fast path reads them as :func:`_arrow_table` says
_TOKENS: Final = (b"NaN", b"Infinity")


#: nesting the fast path accepts (logs nest a level or three)
_FAST_MAX_DEPTH: Final = 32


def _nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether brackets nest deeper than *limit* anywhere in *body* (brackets inside
    strings count too: a deep-looking file only goes the slow, exact way)."""
    return _brackets_deeper_than(body.translate(None, _NOT_BRACKETS), limit)


def _brackets_deeper_than(brackets: bytes, limit: int) -> bool:
    """:func:`_nested_deeper_than` of text holding only its brackets."""
    if len(brackets) <= limit:
        return False
    if brackets == b"{}" * (len(brackets) // 2):  # flat records (the usual log): one level
        return limit < 1
    arr = np.frombuffer(brackets, dtype=np.uint8)
    step = (arr & 2).astype(np.int8) - 1  # "[" and "{" have bit 1 set: +1; "]" "}": -1
    return bool(np.cumsum(step, dtype=np.int64).max() > limit)


_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
#: the bytes a slow marker starts with (a file with none has no marker)
_MARKER_STARTS: Final = b"NI\\\r\n"
_NOT_SCANNED: Final = bytes(b for b in range(256) if b not in b"[]{}" + _MARKER_STARTS)
_LEADING_SPACE: Final = re.compile(rb"\s*")


@dataclass(frozen=True)
class _Scan:
    """What :func:`_fast_path_may_read` found in a text pyarrow may read."""

    #: which of :data:`_TOKENS` may be in it (their first byte is)
    words: tuple[bytes, ...]
    #: its lines, each a record if pyarrow reads as many rows (none is blank, each
    #: starts with an object: pyarrow reads ``{...}{...}`` on one line as two)
    lines: int


def _fast_path_may_read(body: bytes) -> _Scan | None:
    """Whether *body* may go to pyarrow: an object first on each line, no slow
    marker, no deep nesting (``None`` if not).  One pass keeps only brackets and
    the bytes markers and words start with; the exact searches run only if one of
    those bytes is there (a key with a capital N or I), and blank lines are looked
    for only among the line ends kept."""
    start = _LEADING_SPACE.match(body)
    if start is None or body[start.end() : start.end() + 1] != b"{":
        return None  # blank, or not a JSON object first
    kept = body.translate(None, _NOT_SCANNED)
    if b"\r" in kept or (b"\\" in kept and _SURROGATE_ESCAPE.search(body)):
        return None
    # every line of objects keeps a bracket: an empty line shows as two line ends
    if b"\n\n" in kept and b"\n\n" in body:
        return None
    breaks = kept.count(b"\n")
    lines = breaks + (not kept.endswith(b"\n"))
    if kept[:1] != b"{" or kept.count(b"\n{") != lines - 1:
        return None  # a line that is no object (null, a list) or starts with a word
    if _brackets_deeper_than(kept.translate(None, _MARKER_STARTS), _FAST_MAX_DEPTH):
        return None
    return _Scan(tuple(w for w in _TOKENS if w[:1] in kept), lines)


def fast_to_raw(path: Path, got: tuple[list[Column], int], fmt: str, warnings: list[str]) -> RawLog:
    """The :class:`RawLog` of :func:`fast_columns`' columns: a call of its own, so that
    a caller can drop the file's bytes before the columns are melted into points."""
    columns, n = got
    return table_to_raw(
        columns,
        n,
        path=path,
        fmt=fmt,
        row_lines=range(1, n + 1),
        skipped=[],
        warnings=warnings,
    )


def _utf8(body: bytes) -> bool:
    """Whether *body* is UTF-8 text (pyarrow's JSON reader does not check: a byte
    that is not would fail later, when a name or a text is decoded)."""
    try:
        check_utf8(body, Path())
    except InputError:
        return False
    return True


def fast_columns(data: bytes) -> tuple[list[Column], int] | None:
    """JSON lines through pyarrow's C++ reader: the columns and the row count, or
    ``None`` when this file needs the Python parser (see ``_SLOW_MARKERS`` and
    :func:`_fast_path_may_read`; or any file pyarrow refuses: a cut last line, a
    value changing type, a record that is not an object; or a ``NaN`` in a string,
    see :func:`_arrow_table`).

    With :func:`fast_to_raw`, the result is the Python parser's, value for value (a
    test checks it): null and missing keys are absent, nested objects become
    ``outer/inner`` columns, lists, booleans and timestamps are not metrics, strings
    holding numbers are numbers.  Line *i* of the file is record *i*, as no line is
    blank.
    """
    got = _fast_body(data)
    return None if got is None else _arrow_columns(*got)


def _fast_body(data: bytes) -> tuple[bytes, _Scan] | None:
    """The text of a file's *data* the fast path reads (no byte-order mark) and what
    :func:`_fast_path_may_read` found in it; ``None`` if it is the Python parser's:
    not UTF-8 (that parser names the line), a slow marker, or deep nesting
    (pyarrow's type inference is slow on deep nesting: 6,000 levels, 12 s)."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if not _utf8(body):
        return None
    scan = _fast_path_may_read(body)
    return None if scan is None else (body, scan)


#: the smallest block pyarrow parses JSON lines in: a body is cut in about 8 blocks
#: (both cores parse; pyarrow parses the first block alone).  A 2 MB batch of small
#: files in 1 MiB blocks is parsed nearly on one core: 200 JSON-lines files (27 MB)
#: in 14 such batches took 187-216 ms with 1 MiB blocks and 141 ms with 256 KiB
#: ones; a 22 MB file is 104-117 ms with any block from 128 KiB to 4 MiB
MIN_BLOCK: Final = 256 << 10


def _parse_arrow(body: bytes | bytearray) -> Any:
    """pyarrow's table of JSON lines *body*, or ``None`` if it refuses the text."""
    import pyarrow as pa
    import pyarrow.json as pajson

    try:
        return pajson.read_json(
            pa.BufferReader(body),
            read_options=pajson.ReadOptions(
                use_threads=True, block_size=max(MIN_BLOCK, len(body) // 8 + 1)
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _arrow_table(body: bytes | bytearray, scan: _Scan, *, nan: float = math.nan) -> Any:
    """pyarrow's table of JSON lines *body* (as *scan* found it: a row a line), where
    the words ``NaN``, ``Infinity`` and ``-Infinity`` are values: *nan* and the
    infinities, present (not null) in float64 columns; ``None`` if pyarrow refuses
    the text or a word is anywhere but where Python's json reads it as a number (or
    a line is not one record).

    JSON has no such words, so the text is parsed twice: once with each word
    written over by a zero of its length (``0e0``, ``0e000000``: a bytearray
    *body*, the caller's, in place and written back after the parse, so no copy
    of the file is made; bytes are copied once), then its lines that hold a word
    with ``NaN`` written ``1`` and ``Infinity`` ``2``.  Each word must stand
    alone where a value may (:func:`_stand_alone`: else ``1NaN`` would read as
    ``10e0``), and none may be inside a string (a key or a text): else the file
    goes to the Python parser.  The second parse then differs from the first
    only where a word stood: a cell zero in the first and 1, 2 or -2 in the
    second held a word (any other difference, which cannot be, also sends the
    file to the Python parser)."""
    found = _word_places(body, scan.words) if scan.words else {}
    if not found:
        table = _parse_arrow(body)
        return None if table is None or table.num_rows != scan.lines else table
    import pyarrow as pa

    words, places = tuple(found), list(found.values())
    arr = np.frombuffer(body, dtype=np.uint8)
    if not all(_stand_alone(arr, w, at) for w, at in found.items()):
        return None
    del arr  # (a bytearray exported to it cannot change size)
    rows, spans = _lines_with(body, places)
    first = _parse_held(body, words, places)
    if first is None or first.num_rows != scan.lines:
        return None
    names = first.column_names
    if len(set(names)) != len(names):
        return None
    release_arrow_memory(len(body))  # (the parse's buffers, before the second parse)
    view = memoryview(body)  # (slices of it are not copies)
    text = b"".join(view[a:b] for a, b in spans)  # the lines with a word, as written
    del view
    if not text.endswith(b"\n"):
        text += b"\n"
    if not _outside_strings(text, words):
        return None  # (a word in a key: the two parses' names need not tell)
    text = _numbered(text, words)  # (the lines as written go first)
    second = _parse_arrow(text)
    del text
    if second is None or second.num_rows != rows.size or not set(second.column_names) <= set(names):
        return None
    arrays = list(first.columns)  # (as parsed, in chunks: only a column with a word changes)
    del first
    try:
        for i, name in enumerate(names):
            if name not in second.column_names:
                continue  # (no line with a word has this key)
            got = _with_words(arrays[i], _one_array(second.column(name)), rows, nan)
            if got is None:
                return None
            arrays[i] = got
        return pa.Table.from_arrays(arrays, names=names)
    except (pa.ArrowException, ValueError, TypeError):
        # Arrow refusing a shape the tests have not met (an empty object beside a word
        # was one): the Python parser reads every file exactly, only slower
        return None


#: what each word is written as for :func:`_arrow_table`'s first parse: a zero of
#: the word's length (pyarrow reads it as a float)
_HOLDERS: Final = {b"NaN": b"0e0", b"Infinity": b"0e000000"}


def _parse_held(body: bytes | bytearray, words: tuple[bytes, ...], places: list[Any]) -> Any:
    """:func:`_parse_arrow` of *body* with each of *words* (at *places*) written as its
    :data:`_HOLDERS`: in a bytearray *body* itself, written back after the parse."""
    own = isinstance(body, bytearray)
    buf = body if own else bytearray(body)
    arr = np.frombuffer(buf, dtype=np.uint8)
    try:
        for word, at in zip(words, places, strict=True):
            _put(arr, at, _HOLDERS[word])
        del arr  # (pyarrow's reader exports the buffer itself)
        return _parse_arrow(buf)
    finally:
        if own:
            arr = np.frombuffer(buf, dtype=np.uint8)
            for word, at in zip(words, places, strict=True):
                _put(arr, at, word)
            del arr


def _put(arr: np.ndarray, at: np.ndarray, text: bytes) -> None:
    """Write *text* into the bytes *arr* at each of the offsets *at*."""
    for k, byte in enumerate(text):
        arr[at + k] = byte


#: bytes that may stand before a value in a line of JSON (a word starts no line: a
#: line starts with ``{``) and after one
_BEFORE_VALUE: Final = np.frombuffer(b" \t:[,", dtype=np.uint8)
_AFTER_VALUE: Final = np.frombuffer(b" \t\n,]}", dtype=np.uint8)


def _stand_alone(arr: np.ndarray, word: bytes, at: np.ndarray) -> bool:
    """Whether each *word* at offsets *at* of the bytes *arr* stands where Python's
    json reads a value: after a space, ``:``, ``[`` or ``,`` (``Infinity`` after a
    ``-`` that is after one of them), and before a space, a line end, ``,``,
    ``]``, ``}`` or the end of the text.  Only such a word, written as a number
    of its length, cannot join a neighbour into another number."""
    before = arr[np.maximum(at - 1, 0)]
    if word == b"Infinity":
        before = np.where(before == 0x2D, arr[np.maximum(at - 2, 0)], before)
    end = at + len(word)
    after = arr[np.minimum(end, arr.size - 1)]
    alone = np.isin(before, _BEFORE_VALUE) & (at > 0)
    alone &= (end == arr.size) | np.isin(after, _AFTER_VALUE)
    return bool(alone.all())


def _word_places(body: bytes | bytearray, words: tuple[bytes, ...]) -> dict[bytes, np.ndarray]:
    """Where each of *words* that *body* holds is (as :func:`_found` finds it)."""
    arr = np.frombuffer(body, dtype=np.uint8)
    found = {w: _found(arr, w) for w in words}
    return {w: at for w, at in found.items() if at.size}


def _lines_with(
    body: bytes | bytearray, places: list[np.ndarray]
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The lines of *body* that hold a byte of *places* (0-based, ascending), and
    where they are, as pieces of lines next to each other (a run's diverged tail
    is one): the first byte of each piece and the one after its last line end."""
    arr = np.frombuffer(body, dtype=np.uint8)
    ends = _found(arr, b"\n")
    size = arr.size
    del arr
    found = [np.searchsorted(ends, at) for at in places]
    lines = found[0] if len(found) == 1 else np.sort(np.concatenate(found))
    rows = lines[np.diff(lines, prepend=-1) != 0]  # (ascending: each line once)
    starts = np.concatenate(([0], ends + 1))
    stops = np.append(ends + 1, size)  # (the last line may have no line end)
    first = np.flatnonzero(np.diff(rows, prepend=-2) != 1)  # where a piece starts
    last = np.append(first[1:], rows.size) - 1
    spans = zip(starts[rows[first]].tolist(), stops[rows[last]].tolist(), strict=True)
    return rows, list(spans)


def _outside_strings(text: bytes, words: tuple[bytes, ...]) -> bool:
    """Whether every one of *words* in JSON lines *text* stands outside the strings:
    an even number of quotes before it (a quote after an odd run of backslashes is
    escaped, part of a string; every line holds an even number of the others, so
    the text is looked at some lines at a time, about :data:`_SCAN_BYTES` each)."""
    view = memoryview(text)
    at = 0
    while at < len(text):
        end = text.find(b"\n", min(at + _SCAN_BYTES, len(text)) - 1) + 1 or len(text)
        if not _outside_strings_in(np.frombuffer(view[at:end], dtype=np.uint8), words):
            return False
        at = end
    return True


def _outside_strings_in(arr: np.ndarray, words: tuple[bytes, ...]) -> bool:
    """:func:`_outside_strings` of whole lines, the bytes *arr*."""
    quotes = np.flatnonzero(arr == 0x22)
    if quotes.size == 0:
        return True
    # the few quotes after a backslash: the length of the run of backslashes
    after = quotes[(quotes > 0) & (arr[np.maximum(quotes - 1, 0)] == 0x5C)]
    run = np.zeros(after.size, dtype=np.int64)
    going = np.ones(after.size, dtype=bool)
    while going.any():
        back = after - run - 1
        going &= (back >= 0) & (arr[np.maximum(back, 0)] == 0x5C)
        run += going
    real = np.setdiff1d(quotes, after[run % 2 == 1], assume_unique=True)
    at = np.concatenate([_found(arr, word) for word in words])
    return bool((np.searchsorted(real, at) % 2 == 0).all())


def _found(arr: np.ndarray, word: bytes) -> np.ndarray:
    """Where *word* starts in the bytes *arr* (ascending), looked for
    :data:`_SCAN_BYTES` at a time."""
    n = arr.size - len(word) + 1
    parts = [np.zeros(0, dtype=np.intp)]
    for lo in range(0, max(n, 0), _SCAN_BYTES):
        at = np.flatnonzero(arr[lo : min(lo + _SCAN_BYTES, n)] == word[0])
        at += lo
        for k in range(1, len(word)):
            at = at[arr[at + k] == word[k]]
        parts.append(at)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


#: bytes compared per numpy pass of :func:`_found`: a mask of a whole large file,
#: once freed, stays in the C allocator's heap (a 22 MB file read 21 MB higher)
_SCAN_BYTES: Final = 1 << 20


def _numbered(text: bytes, words: tuple[bytes, ...]) -> bytes:
    """*text* with the *words* written as :func:`_arrow_table`'s second parse reads
    them: ``NaN`` as ``1``, ``Infinity`` as ``2`` (so ``-Infinity`` as ``-2``)."""
    if b"Infinity" in words:
        text = text.replace(b"Infinity", b"2")
    return text.replace(b"NaN", b"1") if b"NaN" in words else text


def _one_array(chunked: Any) -> Any:
    """A chunked Arrow column as one array (an array: itself)."""
    if not hasattr(chunked, "num_chunks"):
        return chunked
    return chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)


def _with_words(a: Any, b: Any, rows: np.ndarray, nan: float) -> Any:
    """Column *a* (an array, or a chunked one) of :func:`_arrow_table`'s first parse
    with the words its second parse of *a*'s *rows*, *b*, shows (see there): *a*
    itself if it has none; ``None`` if the two differ anywhere else."""
    import pyarrow as pa

    part = a.take(pa.array(rows))
    ta, tb = a.type, b.type
    if pa.types.is_null(tb) and part.null_count == len(part):
        return a  # (null in every line with a word: no word here)
    if pa.types.is_struct(ta):
        a, part = _one_array(a), _one_array(part)
        names = [ta.field(i).name for i in range(ta.num_fields)]
        if not pa.types.is_struct(tb) or not part.is_valid().equals(b.is_valid()):
            return None
        inner = [tb.field(i).name for i in range(tb.num_fields)]
        if len(set(names)) != len(names) or not set(inner) <= set(names):
            return None
        fields, changed = [], False
        for i, name in enumerate(names):
            field = a.field(i)
            if name in inner:  # (a field no line with a word has is as first read)
                got = _with_words(field, b.field(name), rows, nan)
                if got is None:
                    return None
                changed |= got is not field
                field = got
            fields.append(field)
        if not changed:
            return a  # (no word in it; an empty object has no fields to build it from)
        mask = a.is_null() if a.null_count else None
        return pa.StructArray.from_arrays(fields, names=names, mask=mask)
    if not (_is_number(ta) and _is_number(tb)):
        return a if ta == tb and _one_array(part).equals(b) else None
    valid = _valid(part)
    if not np.array_equal(valid, _valid(b)):
        return None
    held = _floats(part)
    written = _floats(b)
    word = valid & (held != written)
    if not word.any():
        return a
    written = written[word]
    if not (np.isin(written, (1.0, 2.0, -2.0)).all() and (held[word] == 0.0).all()):
        return None
    values = _floats(a)
    values[rows[word]] = np.where(written == 1.0, nan, np.copysign(math.inf, written))
    return pa.array(values, mask=None if a.null_count == 0 else ~_valid(a))


def _floats(arr: Any) -> np.ndarray:
    """Arrow number array *arr* as float64 numpy values (a copy; null as 0)."""
    import pyarrow as pa

    got = arr.cast(pa.float64(), safe=False).fill_null(0.0).to_numpy(zero_copy_only=False)
    return np.array(got, dtype=np.float64)


def _valid(arr: Any) -> np.ndarray:
    """Which cells of Arrow array *arr* are not null."""
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _arrow_columns(
    body: bytes,
    scan: _Scan,
    *,
    numbers_only: bool = False,
    release: int | None = None,
) -> tuple[list[Column], int] | None:
    """pyarrow's parse of JSON lines *body* (as *scan* found it; ``NaN`` and
    ``Infinity`` are values: see :func:`_arrow_table`), as :func:`fast_columns` gives it, or
    ``None`` when pyarrow refuses the text (or, with *numbers_only*, when a key holds
    anything but numbers and ``null``; or when two keys are one name once trimmed,
    as the Python parser's order of keys decides which is kept).  Arrow's memory is
    handed back before and after the columns are converted as for a file of
    *release* bytes (default: the body's size; see ``release_arrow_memory``)."""

    table = _arrow_table(body, scan)
    if table is None:
        return None
    if numbers_only and not all(_is_number(t) for t in table.schema.types):
        return None
    nbytes = len(body) if release is None else release
    release_arrow_memory(nbytes)  # the parse's buffers, before the columns are converted
    n = table.num_rows
    columns: list[Column] = []
    for name, chunked in zip(table.column_names, table.columns, strict=True):
        _add_arrow_column(columns, n, str(name), _one_array(chunked))
    del table  # nothing else holds Arrow's buffers now
    release_arrow_memory(nbytes)
    if _names_clash([c.name for c in columns]):
        return None
    return columns, n


def _is_number(t: Any) -> bool:
    """Whether Arrow type *t* holds numbers (or only nulls)."""
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t))


def _names_clash(names: list[str]) -> bool:
    """Whether two of *names* are one once trimmed: which is kept goes by the Python
    parser's order of keys, which pyarrow's (its threads' blocks) need not be."""
    return len({name.strip() for name in names}) != len(names)


def _add_arrow_column(columns: list[Column], n: int, name: str, arr: Any) -> None:
    """Append Arrow array *arr* (of *n* rows) to *columns* as :func:`_arrow_columns`
    gives it: a struct's fields as ``name/field`` columns, numbers and text as
    columns, anything else left out.  (A function of its own, not a closure: a
    recursive closure is a reference cycle, which held the file's columns until
    the cyclic garbage collector ran.)"""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_struct(t):
        for i in range(t.num_fields):
            _add_arrow_column(columns, n, f"{name}/{t.field(i).name}", arr.field(i))
        return
    present = (
        np.ones(n, dtype=bool)
        if arr.null_count == 0
        else np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    )
    if pa.types.is_signed_integer(t) and arr.null_count == 0:
        # an integer key in every record stays int64 (a step of 2**53 or more is
        # kept exactly, as the Python parser keeps it: see Column)
        ints = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)
        columns.append(Column(name=name, values=ints, present=present, whole=True))
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        vals = arr.cast(pa.float64(), safe=False).fill_null(float("nan"))
        columns.append(
            Column(
                name=name,
                values=np.asarray(vals.to_numpy(zero_copy_only=False), dtype=np.float64),
                present=present,
            )
        )
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        columns.append(classify_arrow_text(name, arr, present))
    # null, bool, list, timestamp: not metrics


def fast_frame(data: bytes) -> pd.DataFrame | None:
    """The frame :func:`parse_lines` gives *data* (a row a record, a column a key,
    ``NaN`` words as its marked NaN), through pyarrow, for flat records of numbers
    and text; ``None`` for anything else (nesting, lists, booleans, text pyarrow
    reads as times) and for what :func:`fast_columns` leaves to the Python parser.
    Record *i* is line *i*."""
    import pyarrow as pa

    got = _fast_body(data)
    table = None if got is None else _arrow_table(*got, nan=_NAN_TOKEN)
    if table is None:
        return None
    if not all(_is_number(t) or pa.types.is_string(t) for t in table.schema.types):
        return None
    if _names_clash(table.column_names):
        return None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def fast_many(paths: Sequence[Path], fmt: str, max_bytes: int) -> list[RawLog | None]:
    """Many small JSON-lines logs, each read as :func:`fast_columns` and
    :func:`fast_to_raw` read it, or ``None`` for a file left to its own read.

    pyarrow's JSON parse costs about 2 ms a call whatever the file, more than a
    small file's lines, so the files are parsed as one table (one after another)
    and the table is cut back into each file's lines.  Taken: UTF-8 files ending
    in a line end, without a byte-order mark, whose joined lines the fast path
    takes (no slow marker, blank line or deep nesting), in a table of numbers
    only (flat records: no text, object, list or boolean values).  Then a key a
    file holds no number under is no column of that file, as in its own parse
    (where it is missing, or all ``null``).  Anything else: every file ``None``.
    """
    out: list[RawLog | None] = [None] * len(paths)
    taken: list[tuple[int, bytes]] = []
    for i, path in enumerate(paths):
        data = read_plain(path, max_bytes)
        if data is not None and data.endswith(b"\n") and data[:1] == b"{" and _utf8(data):
            taken.append((i, data))
    if len(taken) < 2:
        return out
    # each file's lines: its records (no line is blank, or the fast path refuses)
    joined, counts = join_counting_lines(b"", [data for _, data in taken])
    indices = [i for i, _ in taken]
    taken.clear()  # (the files' own bytes: only the joined copy is kept)
    got = None
    scan = _fast_path_may_read(joined)
    if scan is not None:
        # (a batch's parse is handed back to the OS whatever its size: the next batch
        # would not reuse it before the runs' columns pile up)
        got = _arrow_columns(joined, scan, numbers_only=True, release=ARROW_RELEASE_BYTES)
    if got is None or got[1] != sum(counts) or any(rounded_step(c) for c in got[0]):
        return out
    columns = got[0]
    start = 0
    for i, rows in zip(indices, counts, strict=True):
        end = start + rows
        part = [
            Column(c.name, c.values[start:end], c.present[start:end])
            for c in columns
            if c.present[start:end].any()  # (a key this file never gives a number)
        ]
        out[i] = fast_to_raw(paths[i], (part, rows), fmt, [])
        start = end
    return out


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
        if series.dtype.kind == "i":
            # an integer in every record stays int64 (a step of 2**53 or more is kept
            # exactly: see Column)
            ints = series.to_numpy(dtype=np.int64)
            columns.append(Column(str(name), ints, np.ones(n, dtype=bool), whole=True))
        elif series.dtype.kind in "fu":
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
            vals[is_num] = _as_float(obj[is_num])
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
