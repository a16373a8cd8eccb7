"""Weights & Biases chart exports (the web UI's "Export CSV" of a panel).

Every value is quoted; runs sit side by side as ``"<run> - <metric>"``
columns, each with ``__MIN``/``__MAX`` companions (the bucket range, left
out).  gdei splits the file into one run per ``<run>`` prefix: runs named
``<file run>/<run>`` with metric ``<metric>``.  (W&B *history* exports, with
``_step``/``_runtime``/``_timestamp`` columns, are read by the plain CSV/JSONL
readers.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gdei_cli.errors import InputError
from gdei_cli.readers import csv as csv_reader
from gdei_cli.readers.base import RawLog, raw_frame
from gdei_cli.readers.registry import Format, ReadOptions

NAME: Final = "wandb_export"
SEPARATOR: Final = " - "


def is_chart_export(header: list[str]) -> bool:
    """A ``Step`` column plus ``run - metric`` columns with ``__MIN``/``__MAX``."""
    names = [h.strip() for h in header]
    return (
        bool(names)
        and names[0] in ("Step", "step", "_step")
        and any(SEPARATOR in n for n in names[1:])
        and any(n.endswith(("__MIN", "__MAX")) for n in names)
    )


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    """The export's runs, one :class:`RawLog` each, in ``subruns``."""
    import numpy as np

    log = csv_reader.read(path, options)
    log.format = NAME
    frame = log.frame
    if frame.empty:
        raise InputError("the export holds no values (its header only?)", path=path)
    names = np.asarray(frame["metric"].astype(str), dtype=object).astype(str)
    companion = np.char.endswith(names, "__MIN") | np.char.endswith(names, "__MAX")
    keep = ~companion & (np.char.find(names, SEPARATOR) >= 0)
    split = np.char.partition(names[keep], SEPARATOR)
    sub = frame.loc[keep].reset_index(drop=True)
    runs = split[:, 0]
    subruns: dict[str, RawLog] = {}
    for run in sorted(set(runs.tolist())):
        rows = np.flatnonzero(runs == run)
        subruns[run] = RawLog(
            path=path,
            format=NAME,
            frame=raw_frame(
                split[rows, 2].astype(object),
                sub["step"].to_numpy()[rows],
                sub["value"].to_numpy()[rows],
                sub["wall_time"].to_numpy()[rows],
            ),
            wall_clock=log.wall_clock,
            warnings=log.warnings,
            skipped_lines=log.skipped_lines,
        )
    log.frame = raw_frame([], [], [], [])
    log.subruns = subruns
    return log


FORMAT: Final = Format(
    name=NAME,
    description='W&B chart "Export CSV" (`<run> - <metric>` columns)',
    read=read,
    recognise=lambda s: s.is_csv and is_chart_export(s.header),
    order=11,
    run_doc="one per `<run>`",
    metric_doc="its only metric",
)
