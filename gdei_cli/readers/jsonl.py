"""JSON-lines logs: one JSON object per line, one key per metric.

A missing key or ``null`` is absent; ``NaN`` is a value.  Nested objects become
``outer/inner`` metric names.  A last line that does not parse (a run killed
mid-write) is dropped with a warning; any other bad line is an error naming
its line.  (Parsing: :mod:`gdei_cli.readers._json`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.readers._io import read_bytes
from gdei_cli.readers.registry import Format, ReadOptions, Sniff

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gdei_cli.readers.base import RawLog

NAME: Final = "jsonl"


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    """Read one JSON-lines log into a :class:`RawLog`."""
    from gdei_cli.readers._json import fast_columns, fast_to_raw, frame_to_raw, parse_lines

    options = options or ReadOptions()
    warnings: list[str] = []
    # (mutable: a NaN word is written over in place for pyarrow, then back)
    data = read_bytes(path, warnings, max_bytes=options.max_bytes, mutable=True)
    fast = fast_columns(data)
    if fast is not None:
        del data  # the file's bytes go before the columns are melted into points
        return fast_to_raw(path, fast, NAME, warnings)
    got = parse_lines(path, data)
    del data
    return frame_to_raw(
        path, NAME, got.frame, got.line_numbers, got.skipped, warnings + got.warnings
    )


def read_many(paths: Sequence[Path], options: ReadOptions | None = None) -> list[RawLog | None]:
    """Many small JSON-lines logs, each read as :func:`read` reads it, or ``None``
    for a file left to :func:`read` (see :func:`gdei_cli.readers._json.fast_many`)."""
    from gdei_cli.readers._json import fast_many

    return fast_many(paths, NAME, (options or ReadOptions()).max_bytes)


def read_as(name: str, path: Path, options: ReadOptions | None = None) -> RawLog:
    """:func:`read` for a format of JSON lines of its own, *name* (Detectron2's,
    DeiT's): the log is that format's."""
    log = read(path, options)
    log.format = name
    return log


def read_many_as(
    name: str, paths: Sequence[Path], options: ReadOptions | None = None
) -> list[RawLog | None]:
    """:func:`read_many` as :func:`read_as` reads: each log it gives is *name*'s."""
    logs = read_many(paths, options)
    for log in logs:
        if log is not None:
            log.format = name
    return logs


def _recognise(s: Sniff) -> bool:
    if s.suffix in (".jsonl", ".ndjson"):
        return True
    return s.suffix in (".json", ".txt", ".log") and s.first_record is not None


FORMAT: Final = Format(
    name=NAME,
    description="JSON lines (`*.jsonl`, `*.ndjson`, `*.json`, `.gz` too); W&B history exports",
    read=read,
    recognise=_recognise,
    order=91,
    read_many=read_many,
)
