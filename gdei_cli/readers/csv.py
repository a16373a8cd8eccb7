"""Generic CSV logs: wide (one column per metric) or long (``metric``/``tag`` + ``value``).

Parsed with pyarrow's multithreaded CSV reader.  Empty cells and ``NA``/``null``
are absent; ``nan``/``inf`` are values.  A last line cut short (a run killed
mid-write) is dropped with a warning; any other ragged row is an error naming
its line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gdei_cli.errors import InputError
from gdei_cli.readers._io import (
    ARROW_RELEASE_BYTES,
    LINE_FRACTION,
    check_utf8,
    join_counting_lines,
    line_of,
    logical_suffix,
    open_regular,
    read_bytes,
    read_plain,
    release_arrow_memory,
)
from gdei_cli.readers.base import SkippedLine
from gdei_cli.readers.registry import Format, ReadOptions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import numpy as np

    from gdei_cli.readers._table import Column
    from gdei_cli.readers.base import RawLog

NAME: Final = "csv"
NULL_TOKENS: Final = ["", "NA", "N/A", "n/a", "null", "NULL", "None", "none"]


def read(
    path: Path, options: ReadOptions | None = None, *, step_names: tuple[str, ...] | None = None
) -> RawLog:
    """Read one CSV/TSV log (wide or long) into a :class:`RawLog`.

    *step_names* overrides the columns tried as the step (a dialect that
    knows its own step column).
    """
    import numpy as np
    import pyarrow as pa

    from gdei_cli.readers._table import settle_invalid_rows, table_to_raw

    options = options or ReadOptions()
    warnings: list[str] = []
    skipped: list[SkippedLine] = []
    delimiter = "\t" if logical_suffix(path) == ".tsv" else ","
    parsed = _parse_file(path, delimiter, options, step_names)
    if parsed is not None:
        table, size = parsed
        n, named = table.num_rows, list(zip(table.column_names, table.columns, strict=True))
        del table, parsed  # (each column's buffers are let go once it is converted)
        return _named_to_log(named, n, size, path, skipped, warnings, step_names)
    data = read_bytes(path, warnings, max_bytes=options.max_bytes)
    check_utf8(data, path)
    if not data or data.isspace():
        return table_to_raw(
            [],
            0,
            path=path,
            fmt=NAME,
            row_lines=np.zeros(0, dtype=np.int64),
            skipped=skipped,
            warnings=warnings,
        )
    data = _drop_cut_last_line(data, warnings, skipped)
    invalid: list[Any] = []
    types = _text_column_types(data, delimiter)
    # a block must hold the longest line read_bytes lets through; smaller blocks keep
    # both cores busy on a file of a few blocks: they are tried first
    longest = max(SMALL_BLOCK, options.max_bytes // LINE_FRACTION + 1)
    try:
        try:
            table = _parse(data, delimiter, types, invalid, SMALL_BLOCK)
        except pa.ArrowInvalid:
            if longest == SMALL_BLOCK:
                raise
            invalid.clear()  # a line longer than a block, or an error said again below
            table = _parse(data, delimiter, types, invalid, longest)
    except pa.ArrowInvalid as exc:
        raise InputError(f"not a readable CSV file: {exc}", path=path) from None

    # row numbers count data rows: the header is line 1
    settle_invalid_rows(data, invalid, path, warnings, skipped, line_ends=b"\r\n", number_offset=1)
    n, size = table.num_rows, len(data)
    named = list(zip(table.column_names, table.columns, strict=True))
    del table, data  # the file's bytes, and each column's buffers once it is converted
    return _named_to_log(named, n, size, path, skipped, warnings, step_names)


def _named_to_log(
    named: list[tuple[str, Any]],
    n: int,
    size: int,
    path: Path,
    skipped: list[SkippedLine],
    warnings: list[str],
    step_names: tuple[str, ...] | None,
) -> RawLog:
    """The log of a file of *size* bytes whose *n* rows Arrow parsed into *named*
    columns (emptied as they are converted, see :func:`_arrow_columns`)."""
    from gdei_cli.readers._table import table_to_raw

    columns = _arrow_columns(named, n, size)
    # rows are 1:1 with data lines for logs (no embedded newlines); line 1 is the header
    row_lines = range(2, n + 2)
    return table_to_raw(
        columns,
        n,
        path=path,
        fmt=NAME,
        row_lines=row_lines,
        skipped=skipped,
        warnings=warnings,
        step_names=step_names,
    )


#: Arrow's parse block (a file with a longer line is parsed again in larger ones):
#: small blocks keep both cores busy and the columns' chunks small.  Reads of 1M
#: points over pyarrow's default read, with 1 / 2 / 4 / 8 MiB blocks: long CSV
#: 1.36-1.59x / 1.52-1.60x / 1.53-1.67x / 1.54-1.67x, wide CSV 1.16-1.23x /
#: 1.15-1.28x / 1.21-1.27x / 1.40-1.49x; the wide load peaks at 2.5x the frame with
#: 1 MiB and 2.2x with 4 MiB (the long one at 3.5x with any)
SMALL_BLOCK: Final = 1 << 20


def _parse(
    data: bytes | Any, delimiter: str, types: dict[str, Any], invalid: list[Any], block: int
) -> Any:
    """Arrow's parse of CSV *data* (bytes, or an Arrow input stream) with gdei's
    options (*types*: columns typed ahead, see :func:`_text_column_types`) into a
    table; rows it rejects go to *invalid*."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    return pacsv.read_csv(
        pa.BufferReader(data) if isinstance(data, (bytes, bytearray)) else data,
        read_options=pacsv.ReadOptions(use_threads=True, block_size=block),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=False
        ),
        convert_options=pacsv.ConvertOptions(
            null_values=NULL_TOKENS,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            column_types=types,
        ),
    )


#: a plain file larger than this is parsed by Arrow from the file, a block at a time
STREAM_BYTES: Final = SMALL_BLOCK


def _parse_file(
    path: Path, delimiter: str, options: ReadOptions, step_names: tuple[str, ...] | None
) -> tuple[Any, int] | None:
    """Arrow's table of a large plain CSV file parsed straight from the file, and the
    file's size; ``None`` leaves the file to the whole read of :func:`read`.

    The whole read holds the file's bytes to check them first (UTF-8, line
    length, a cut last line; each message names its line), which costs a tenth
    of the parse and the file's size in memory under it.  Most logs pass every
    check, and what Arrow does already tells which pass: so a file above
    :data:`STREAM_BYTES`, not gzip, ending in a line end, with a header that is
    UTF-8 text, is parsed by Arrow from the file in blocks of :data:`SMALL_BLOCK`
    (a line of two blocks or more fails the parse: the line limit is taken to be
    no less).  The whole read takes it back (it then parses the file again, and
    says what is wrong) when the parse fails or rejects a row, when a column is
    not UTF-8 text (Arrow types it as binary), or when the file changed while it
    was read.
    """
    import pyarrow as pa

    if options.max_bytes // LINE_FRACTION < 2 * SMALL_BLOCK:
        return None  # (a line limit under two blocks: the whole read checks it)
    fd = open_regular(path)
    try:
        before = os.fstat(fd)
        size = before.st_size
        if not STREAM_BYTES < size <= options.max_bytes:
            return None
        head = os.read(fd, HEAD_BYTES)
        os.lseek(fd, size - 1, os.SEEK_SET)
        last = os.read(fd, 1)
        end = head.find(b"\n")
        if (
            head[:2] == b"\x1f\x8b"  # gzip
            or end < 0
            or not head[:end].strip()
            or last not in (b"\n", b"\r")
        ):
            return None
        try:
            head[:end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        types = _text_column_types(head[: end + 1], delimiter)
        invalid: list[Any] = []
        table = None
        with open(fd, "rb", buffering=0, closefd=False) as raw:
            # every column typed ahead first, then (a column that is not numbers)
            # Arrow's inference of the rest
            numbers = _number_types(head[:end], delimiter, types, step_names)
            for typed in (numbers, types) if numbers != types else (types,):
                raw.seek(0)
                invalid.clear()
                try:
                    source = pa.PythonFile(raw, mode="r")
                    table = _parse(source, delimiter, typed, invalid, SMALL_BLOCK)
                except pa.ArrowInvalid:
                    continue
                break
        after = os.fstat(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if table is None:
        return None
    binary = any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types)
    changed = (after.st_size, after.st_mtime_ns) != (size, before.st_mtime_ns)
    if invalid or binary or changed:
        return None
    return table, size


#: the head of a file read for its header line
HEAD_BYTES: Final = 64 << 10


def _number_types(
    header: bytes, delimiter: str, text: dict[str, Any], step_names: tuple[str, ...] | None
) -> dict[str, Any]:
    """Arrow types for every column of *header*: *text*'s (the run and metric names),
    64-bit integers for the step column, floats for the rest; or *text* alone when
    the header's names cannot all be typed.

    A column typed ahead gives what Arrow's inference gives when every cell is of
    that type (the inferred integers of another column are read as floats
    anyway), and the parse fails when one is not.  It also spares memory: Arrow
    keeps every block of the parse until it has inferred every column's type (2.6
    times the table, against 1.3 times with every type known)."""
    import pyarrow as pa

    from gdei_cli.readers._table import STEP_NAMES

    names = _header_names(header, delimiter)
    if names is None:
        return text
    step = next((n for n in step_names or STEP_NAMES if n in names), None)
    return {n: text.get(n, pa.int64() if n == step else pa.float64()) for n in names}


def read_many(paths: Sequence[Path], options: ReadOptions | None = None) -> list[RawLog | None]:
    """Many small CSV logs, each read as :func:`read` reads it, or ``None`` for a
    file left to :func:`read`.

    Arrow's parse costs about as much per call as for a few thousand rows, and
    most of a small file's read is that call.  So files with the same header
    line are parsed as one table (the header once, then each file's rows), and
    the table is cut back into each file's rows by its count of line ends.
    Only the plain case is taken: an ASCII file of at least one row ending in a
    line end, without quotes, blank lines or a lone carriage return, in a table
    of numbers, and of names in the header's run and metric columns (what a
    file's own parse gives then: Arrow types a column over the whole table as
    it would over each file, up to an integer or empty column becoming a float
    one, which :func:`_arrow_columns` reads alike; each file's names are
    re-coded in its own order of first use).  Any other file, and every file of
    a table with anything else in it (a rejected row, a text column, a name
    column mixing numbers and names), is ``None``: :func:`read` then reads it,
    with its own messages.
    """
    options = options or ReadOptions()
    out: list[RawLog | None] = [None] * len(paths)
    groups: dict[tuple[str, bytes], list[tuple[int, bytes]]] = {}
    for i, path in enumerate(paths):
        data = read_plain(path, options.max_bytes)
        if data is None:
            continue
        head = data.find(b"\n") + 1
        if (
            not head
            or head == len(data)  # no row
            or not data.endswith(b"\n")
            or not data.isascii()
            or b'"' in data
            or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n"))
            or not data[:head].strip()
        ):
            continue
        delimiter = "\t" if logical_suffix(path) == ".tsv" else ","
        groups.setdefault((delimiter, bytes(data[:head])), []).append((i, data))
    for (delimiter, header), members in groups.items():
        if len(members) > 1:
            for i, log in _read_group(header, members, delimiter, paths, options):
                out[i] = log
    return out


def dialect_many(
    finish: Callable[[Path, RawLog], RawLog],
) -> Callable[[Sequence[Path], ReadOptions | None], list[RawLog | None]]:
    """The ``read_many`` of a CSV dialect whose ``read`` is :func:`read` then
    *finish* (its format's name, side files): :func:`read_many`, then *finish*."""

    def many(paths: Sequence[Path], options: ReadOptions | None = None) -> list[RawLog | None]:
        logs = read_many(paths, options)
        return [None if log is None else finish(p, log) for p, log in zip(paths, logs, strict=True)]

    return many


def _read_group(
    header: bytes,
    members: list[tuple[int, bytes]],
    delimiter: str,
    paths: Sequence[Path],
    options: ReadOptions,
) -> list[tuple[int, RawLog]]:
    """:func:`read_many` of files sharing *header*: ``(index, log)`` of each file
    read, none when the table holds anything but numbers.  *members* (each file's
    index and bytes) is emptied once the files are joined."""
    import pyarrow as pa

    from gdei_cli.readers._table import Column, rounded_step, table_to_raw

    cut = len(header)
    # each file's line ends: its rows, unless it has blank lines (which Arrow skips, so
    # the table then has fewer rows than the files have line ends: checked below)
    joined, counts = join_counting_lines(header, [memoryview(data)[cut:] for _, data in members])
    indices = [i for i, _ in members]
    members.clear()  # (the files' own bytes: only the joined copy is kept)
    invalid: list[Any] = []
    try:
        types = _text_column_types(header, delimiter)
        table = _parse(joined, delimiter, types, invalid, SMALL_BLOCK)
    except pa.ArrowInvalid:
        return []
    n, size = table.num_rows, len(joined)
    del joined
    if invalid or n != sum(counts):
        return []
    kinds = (pa.types.is_integer, pa.types.is_floating, pa.types.is_null, pa.types.is_dictionary)
    if not all(any(is_(t) for is_ in kinds) for t in table.schema.types):
        return []
    named = list(zip(table.column_names, table.columns, strict=True))
    del table
    # (a batch's parse is handed back to the OS whatever its size: the next batch
    # would not reuse it before the runs' columns pile up)
    columns = _arrow_columns(named, n, max(size, ARROW_RELEASE_BYTES))
    if any(c.bad_row is not None for c in columns):
        return []  # a run or metric column mixing numbers and names: each file says where
    if any(rounded_step(c) for c in columns):
        return []  # (a file's own integers, exact, which the table's floats would round)
    got = []
    start = 0
    for i, rows in zip(indices, counts, strict=True):
        end = start + rows
        part = [
            _names_of_rows(c, start, end)
            if c.codes is not None
            else Column(c.name, c.values[start:end], c.present[start:end], whole=c.whole)
            for c in columns
        ]
        try:
            log = table_to_raw(
                part,
                rows,
                path=paths[i],
                fmt=NAME,
                row_lines=range(2, rows + 2),
                skipped=[],
                warnings=[],
            )
        except InputError:
            pass  # (read gives the file its message)
        else:
            got.append((i, log))
        start = end
    return got


def _names_of_rows(col: Column, start: int, end: int) -> Column:
    """Rows *start* to *end* of a text column (codes into names), as that file's own
    parse gives them: codes into the names those rows use, in order of first use,
    and the null column when they hold none."""
    import numpy as np

    from gdei_cli.readers._table import Column, _text_column

    if col.codes is None or col.uniques is None:
        raise AssertionError("not a text column")
    codes, present = col.codes[start:end], col.present[start:end]
    if not present.any():
        return Column(col.name, np.full(end - start, np.nan), np.zeros(end - start, dtype=bool))
    used = _first_used(codes, len(col.uniques))
    # (one slot more, never set: an absent cell's -1 picks it, and stays -1)
    lookup = np.full(len(col.uniques) + 1, -1, dtype=np.int32)
    lookup[used] = np.arange(used.size, dtype=np.int32)
    return _text_column(col.name, lookup[codes], col.uniques[used], present)


def _first_used(codes: np.ndarray, n_names: int) -> np.ndarray:
    """The codes (>= 0; -1 is absent) *codes* uses, in order of first use.  A file's
    first rows usually show every name it uses (a metric each, or its one run): then
    they are that order, told by a count instead of a hash table per file."""
    import numpy as np
    import pandas as pd

    counts = np.bincount(codes.astype(np.int64) + 1, minlength=n_names + 1)
    used = np.flatnonzero(counts[1:])
    head = codes[: used.size]
    if (head >= 0).all() and np.array_equal(np.sort(head), used):
        return np.asarray(head)
    got = pd.unique(codes)
    return np.asarray(got[got >= 0])


def _arrow_columns(named: list[tuple[str, Any]], n: int, nbytes: int) -> list[Column]:
    """Each (name, Arrow chunked array) of *named*, taken off the list one by one, as a
    :class:`Column` (numbers, or text as codes).  Arrow's pool hands its freed memory
    back before and after (for a file of *nbytes*, see ``release_arrow_memory``)."""
    import numpy as np
    import pyarrow as pa

    from gdei_cli.readers._table import Column, classify_arrow_text

    columns: list[Column] = []
    named.reverse()
    while named:
        # the parse's buffers, then each converted column's, before the next is converted
        release_arrow_memory(nbytes)
        name, chunked = named.pop()  # (the list no longer holds the column's buffers)
        t = chunked.type
        if chunked.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            # signed integers stay int64 (a step needs no float round trip: see Column);
            # else numpy's cast: an integer above 2**53 (a seed, a time_ns) rounds, as a
            # float does
            whole = pa.types.is_integer(t)
            ints = pa.types.is_signed_integer(t)
            vals = _into_numpy(chunked.iterchunks(), n, np.int64 if ints else np.float64)
            columns.append(Column(name, vals, np.ones(n, dtype=bool), whole=whole))
            continue
        if pa.types.is_dictionary(t):  # the run or metric names (see _text_column_types)
            columns.append(_dictionary_column(name, chunked, n))
            continue
        arr = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        del chunked
        if arr.null_count == 0:
            present = np.ones(n, dtype=bool)
        else:
            present = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            vals = (
                arr.cast(pa.float64(), safe=False)
                .fill_null(float("nan"))
                .to_numpy(zero_copy_only=False)
            )
            vals = np.asarray(vals, dtype=np.float64)
            columns.append(Column(name, vals, present, whole=pa.types.is_integer(t)))
        elif pa.types.is_null(t):
            columns.append(Column(name=name, values=np.full(n, np.nan), present=present))
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            columns.append(classify_arrow_text(name, arr, present))
        elif pa.types.is_timestamp(t):
            # counts of the column's own unit (an ns cast overflows past the year 2262)
            ticks = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
            per_s = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[t.unit]
            vals = np.where(present, np.asarray(ticks, dtype=np.float64) / per_s, np.nan)
            columns.append(Column(name=name, values=vals, present=present))
        # booleans, dates and other types are not metrics
    release_arrow_memory(nbytes)
    return columns


def _into_numpy(chunks: Iterable[Any], n: int, dtype: type) -> np.ndarray:
    """Arrow arrays of *n* values in all, copied one after another into one numpy
    array of *dtype* (numpy's cast): no combined Arrow copy, and nothing of Arrow's
    kept, so its pool can hand the whole table back."""
    import numpy as np

    out: np.ndarray = np.empty(n, dtype=dtype)
    at = 0
    for chunk in chunks:
        out[at : at + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        at += len(chunk)
    return out


def _dictionary_column(name: str, chunked: Any, n: int) -> Column:
    """A dictionary-typed column: its codes copied chunk by chunk into one numpy
    array (Arrow's int32, -1 where absent) under one dictionary, in order of first
    use (what ``dictionary_encode`` of the text would give), then classified."""
    import numpy as np

    from gdei_cli.readers._table import Column, classify_codes

    if chunked.null_count == n:  # no cell at all: the null column Arrow would infer
        return Column(name=name, values=np.full(n, np.nan), present=np.zeros(n, dtype=bool))
    # each chunk's codes into its own dictionary, mapped into one over the chunks (a
    # name joins it at its chunk's first use of it): one numpy pass per chunk, no
    # unified copy in Arrow's memory
    position: dict[str, int] = {}
    codes = np.empty(n, dtype=np.int32)
    at = 0
    for chunk in chunked.iterchunks():
        k = len(chunk)
        own = chunk.dictionary.to_pylist()
        lookup = np.array([position.setdefault(s, len(position)) for s in own] + [-1], np.int32)
        first = int(lookup[0]) if len(own) else 0
        if not chunk.null_count and (lookup[:-1] == np.arange(first, first + len(own))).all():
            # its names in the order they joined (a chunk that starts no name, or a run
            # column's next runs): its codes shifted, not looked up (an add, not a gather)
            np.add(chunk.indices.to_numpy(zero_copy_only=False), first, out=codes[at : at + k])
        else:
            indices = chunk.indices.fill_null(-1) if chunk.null_count else chunk.indices
            np.take(lookup, indices.to_numpy(zero_copy_only=False), out=codes[at : at + k])
        at += k
    present = codes >= 0 if chunked.null_count else np.ones(n, dtype=bool)
    return classify_codes(name, codes, np.asarray(list(position), dtype=object), present)


#: bytes in the header of any file with a column :func:`_text_column_types` types
_TEXT_NAMES: Final = (b"run", b"name", b"experiment", b"metric", b"tag")


def _text_column_types(data: bytes, delimiter: str) -> dict[str, Any]:
    """Arrow types for the header's run column and a long log's metric column:
    dictionaries, so the parse hands over codes into a few distinct names instead
    of a string per row (what :func:`~gdei_cli.readers._table.table_to_raw` would
    pick; anything else is left to Arrow's inference).  A run column is thus text
    whatever it holds: dates or ``true``/``false`` name runs as written (numbers
    are still numbers, through :func:`~gdei_cli.readers._table.classify_codes`)."""
    end = data.find(b"\n")
    line = data[: end if end >= 0 else len(data)]
    if not any(n in line for n in _TEXT_NAMES):
        return {}  # (a wide log's header, read without splitting it)
    import pyarrow as pa

    from gdei_cli.readers._table import LONG_METRIC_NAMES, LONG_VALUE_NAMES, RUN_NAMES

    names = _header_names(line, delimiter)
    if names is None:
        return {}
    picks: list[str | None] = [next((n for n in RUN_NAMES if n in names), None)]
    if any(n in names for n in LONG_VALUE_NAMES):
        picks.append(next((n for n in LONG_METRIC_NAMES if n in names), None))
    text = pa.dictionary(pa.int32(), pa.string())
    return {n: text for n in picks if n is not None}


def _header_names(line: bytes, delimiter: str) -> list[str] | None:
    """The column names of a header *line*, or ``None`` when they are not UTF-8 text,
    or some name is repeated (Arrow would type every column of a repeated name)."""
    import csv

    try:
        names = next(csv.reader([line.rstrip(b"\r").decode("utf-8")], delimiter=delimiter))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return names if len(set(names)) == len(names) else None


#: a field of an unterminated last line that can only be a number cut short
_CUT_FIELD: Final = re.compile(
    rb"\s*+(?:[-+]?+(?:\d++\.|\.|(?:\d++\.?+\d*+|\.\d++)[eE][-+]?+)|[-+])\s*+"
)


def _drop_cut_last_line(data: bytes, warnings: list[str], skipped: list[SkippedLine]) -> bytes:
    """Drop a last line without a line end that is visibly cut short.

    A writer killed mid-line leaves a line without its line end; when a field
    of it is a number that cannot be complete (``0.``, ``1e-``, ``-``) or a
    quote is left open, the line is dropped with a warning.  (A line cut at a
    digit cannot be told from a complete one: it is kept.)  A line with too
    few fields is dropped later, by the parser's row check.
    """
    if data.endswith((b"\n", b"\r")):
        return data
    cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
    if cut == 0:
        return data  # the header only
    last = data[cut:]
    fields = last.replace(b"\t", b",").split(b",")
    if last.count(b'"') % 2 == 0 and not any(_CUT_FIELD.fullmatch(f) for f in fields):
        return data
    line = line_of(data, cut)
    msg = "last line is cut short (no line end, a number or quote left open); dropped"
    warnings.append(f"line {line}: {msg}")
    skipped.append(SkippedLine(line, msg))
    return data[:cut]


FORMAT: Final = Format(
    name=NAME,
    description="any CSV/TSV (`.gz` too): wide (a column per metric) or long "
    "(`metric`/`tag` + `value`)",
    read=read,
    recognise=lambda s: s.is_csv,
    order=90,
    read_many=read_many,
)
