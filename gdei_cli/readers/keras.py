"""Keras' ``CSVLogger`` (any file name, e.g. ``training.log``).

``epoch`` (0-based) comes first, then the metrics in alphabetical order;
``NA`` marks a missing value.  A resumed run appends to the same file, so
epochs repeat: the restart rule keeps the new ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.readers import csv
from gdei_cli.readers.registry import Format, ReadOptions, Sniff

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    return _finish(path, csv.read(path, options))


def _finish(path: Path, log: RawLog) -> RawLog:
    """A log read as CSV, as this format (its name)."""
    log.format = FORMAT.name
    return log


def _recognise(s: Sniff) -> bool:
    csv_like = s.is_csv or (s.is_text and s.first_record is None)
    return csv_like and s.header[:1] == ["epoch"] and len(s.header) > 1


FORMAT: Final = Format(
    name="keras",
    description="Keras `CSVLogger` (any name, e.g. `training.log`)",
    read=read,
    recognise=_recognise,
    order=16,
    metric_doc="`loss`",
    read_many=csv.dialect_many(_finish),
)
