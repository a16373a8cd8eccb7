"""Detectron2's ``metrics.json``: JSON lines keyed by ``iteration``.

Appended on relaunch, so iterations repeat: the restart rule keeps the new ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.readers import jsonl
from gdei_cli.readers.registry import Format, ReadOptions, Sniff

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gdei_cli.readers.base import RawLog


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    return jsonl.read_as(FORMAT.name, path, options)


def read_many(paths: Sequence[Path], options: ReadOptions | None = None) -> list[RawLog | None]:
    """Many small logs, each as :func:`read` reads it (or ``None``: left to it)."""
    return jsonl.read_many_as(FORMAT.name, paths, options)


def _recognise(s: Sniff) -> bool:
    first = s.first_record
    return first is not None and s.name.startswith("metrics.json") and "iteration" in first


FORMAT: Final = Format(
    name="detectron2",
    description="Detectron2 `metrics.json`",
    read=read,
    read_many=read_many,
    recognise=_recognise,
    order=21,
    generic_names=frozenset({"metrics"}),
    run_doc="its folder",
    metric_doc="`total_loss`",
)
