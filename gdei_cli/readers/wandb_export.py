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

import numpy as np

from gdei_cli.readers import csv as csv_reader
from gdei_cli.readers.base import RawLog, raw_frame

FORMAT: Final = "wandb_export"
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


def read(path: Path) -> RawLog:
    log = csv_reader.read(path)
    log.format = FORMAT
    frame = log.frame
    names = np.asarray(frame["metric"].astype(str), dtype=object)
    companion = np.char.endswith(names.astype(str), "__MIN") | np.char.endswith(
        names.astype(str), "__MAX"
    )
    keep = ~companion & (np.char.find(names.astype(str), SEPARATOR) >= 0)
    split = np.char.partition(names[keep].astype(str), SEPARATOR)
    sub = frame.loc[keep].reset_index(drop=True)
    log.frame = raw_frame(split[:, 2].astype(object), sub["step"], sub["value"], sub["wall_time"])
    log.frame["subrun"] = split[:, 0].astype(object)
    return log
