"""Ultralytics ``results.csv`` (+ ``args.yaml``).

Space-padded headers and values, an ``epoch`` column (0-based in 8.0.x,
1-based since); ``args.yaml`` beside it gives the plan (``epochs``,
``patience``) as run attributes.  Ultralytics writes no total loss: the
engine sums the ``train/*_loss`` components and judges on fitness.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.readers import csv
from gdei_cli.readers._yaml import scalar_attrs
from gdei_cli.readers.registry import Format, ReadOptions

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog

ARGS: Final = ("model", "data", "epochs", "patience", "batch", "imgsz", "optimizer", "lr0")


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    return _finish(path, csv.read(path, options))


def _finish(path: Path, log: RawLog) -> RawLog:
    """A ``results.csv`` read as CSV, as this format: its name, ``args.yaml``."""
    log.format = FORMAT.name
    log.attrs.update(scalar_attrs(path.parent / "args.yaml", ARGS))
    return log


FORMAT: Final = Format(
    name="ultralytics",
    description="Ultralytics `results.csv` (+ `args.yaml`)",
    read=read,
    recognise=lambda s: (
        s.is_csv
        and s.name.startswith("results.")
        and "epoch" in s.header
        and any(h.startswith("train/") for h in s.header)
    ),
    order=12,
    generic_names=frozenset({"results"}),
    skip_names=frozenset({"args.yaml"}),
    side_files=lambda path: [path.parent / "args.yaml"],
    run_doc="its folder",
    metric_doc="sum of `train/*_loss` (objective: fitness)",
    read_many=csv.dialect_many(_finish),
)
