"""Generic CSV logs: wide (one column per metric) or long (``metric``/``tag`` + ``value``).

Parsed with pyarrow's multithreaded CSV reader.  Empty cells and ``NA``/``null``
are absent; ``nan``/``inf`` are values.  A last line cut short (a run killed
mid-write) is dropped with a warning; any other ragged row is an error naming
its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gdei_cli.errors import InputError
from gdei_cli.readers._io import line_of, logical_suffix, read_bytes
from gdei_cli.readers.base import SkippedLine
from gdei_cli.readers.registry import Format, ReadOptions

if TYPE_CHECKING:
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
    import pyarrow.csv as pacsv

    from gdei_cli.readers._table import Column, classify_text, table_to_raw

    data = read_bytes(path)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start})", path=path, line=line_of(data, exc.start)
        ) from None
    warnings: list[str] = []
    skipped: list[SkippedLine] = []
    if not data.strip():
        return table_to_raw(
            [],
            0,
            path=path,
            fmt=NAME,
            row_lines=np.zeros(0, dtype=np.int64),
            skipped=skipped,
            warnings=warnings,
        )
    delimiter = "\t" if logical_suffix(path) == ".tsv" else ","
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=True),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=False
            ),
            convert_options=pacsv.ConvertOptions(
                null_values=NULL_TOKENS, strings_can_be_null=True, quoted_strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"not a readable CSV file: {exc}", path=path) from None

    ends_cleanly = data.endswith((b"\n", b"\r"))
    if invalid:
        last_line = line_of(data, len(data.rstrip(b"\r\n")))
        first = invalid[0]
        line = _invalid_line(data, first)
        if len(invalid) == 1 and not ends_cleanly and (line is None or line == last_line):
            msg = (
                f"last line is cut short (got {first.actual_columns} of "
                f"{first.expected_columns} fields); dropped"
            )
            warnings.append(f"line {last_line}: {msg}")
            skipped.append(SkippedLine(last_line, msg))
        else:
            raise InputError(
                f"expected {first.expected_columns} fields, got {first.actual_columns}",
                path=path,
                line=line,
            )

    n = table.num_rows
    # rows are 1:1 with data lines for logs (no embedded newlines); line 1 is the header
    row_lines = np.arange(2, n + 2, dtype=np.int64)
    columns: list[Column] = []
    for name, chunked in zip(table.column_names, table.columns, strict=True):
        arr = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        present = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        t = arr.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            vals = arr.cast(pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
            columns.append(
                Column(name=name, values=np.asarray(vals, dtype=np.float64), present=present)
            )
        elif pa.types.is_null(t):
            columns.append(Column(name=name, values=np.full(n, np.nan), present=present))
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            texts = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
            columns.append(classify_text(name, texts, present))
        elif pa.types.is_timestamp(t):
            secs = arr.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy(zero_copy_only=False)
            vals = np.where(present, np.asarray(secs, dtype=np.float64) / 1e9, np.nan)
            columns.append(Column(name=name, values=vals, present=present))
        # booleans, dates and other types are not metrics
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


def _invalid_line(data: bytes, row: Any) -> int | None:
    """The 1-based file line of a pyarrow ``InvalidRow`` (located by its text)."""
    text = getattr(row, "text", None)
    if text:
        pos = data.find(text.encode())
        while pos > 0 and data[pos - 1 : pos] not in (b"\n", b"\r"):
            pos = data.find(text.encode(), pos + 1)
        if pos >= 0:
            return line_of(data, pos)
    number = getattr(row, "number", None)
    return None if number is None else int(number) + 1


FORMAT: Final = Format(
    name=NAME,
    description="any CSV/TSV (`.gz` too): wide (a column per metric) or long "
    "(`metric`/`tag` + `value`)",
    read=read,
    recognise=lambda s: s.is_csv,
    order=90,
)
