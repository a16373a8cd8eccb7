"""Readers: one module per log format, each returning a :class:`RawLog`.

:func:`detect_format` is the one place that guesses a file's format; an
explicit ``--format`` overrides it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from gdei_cli.readers._io import logical_suffix
from gdei_cli.readers.base import RawLog, SkippedLine

__all__ = ["FORMATS", "RawLog", "SkippedLine", "detect_format", "reader_for"]

#: every format name ``--format`` accepts
FORMATS: Final = ("csv", "jsonl", "tensorboard")

_SNIFF_BYTES: Final = 64 * 1024


def is_event_file(path: Path) -> bool:
    return "tfevents" in path.name


def detect_format(path: Path) -> tuple[str | None, str]:
    """Guess *path*'s format from its name and first bytes.

    Returns ``(format, reason)``; format is ``None`` when it is not a log gdei
    reads, and *reason* says why.
    """
    if is_event_file(path):
        return "tensorboard", "TensorBoard event file"
    suffix = logical_suffix(path)
    if suffix in (".csv", ".tsv"):
        return "csv", "CSV"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl", "JSON lines"
    if suffix == ".json":
        from gdei_cli.readers import jsonl

        head = _head(path)
        if head is not None and jsonl.is_json_lines(head):
            return "jsonl", "JSON lines"
        return None, "a JSON document, not JSON lines"
    return None, "not a recognised log format"


def _head(path: Path) -> bytes | None:
    import gzip

    try:
        with path.open("rb") as fh:
            start = fh.read(2)
        opener = gzip.open if start == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            data: bytes = fh.read(_SNIFF_BYTES)
            return data
    except (OSError, EOFError):
        return None


def reader_for(fmt: str) -> Callable[[Path], RawLog]:
    """The read function of format *fmt*."""
    if fmt == "csv":
        from gdei_cli.readers import csv

        return csv.read
    if fmt == "jsonl":
        from gdei_cli.readers import jsonl

        return jsonl.read
    if fmt == "tensorboard":
        from gdei_cli.readers import tensorboard

        return tensorboard.read
    raise KeyError(fmt)
