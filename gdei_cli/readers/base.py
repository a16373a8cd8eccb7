"""What every reader returns: :class:`RawLog`, the points of one file in file order.

Readers do not name runs, sort, or resolve restarts: :mod:`gdei_cli.loader`
does that once for all formats, so the rules are the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd

from gdei_cli.schema import METRIC, STEP, VALUE, WALL_TIME

#: columns of a reader's raw frame (file order; ``metric`` holds str values)
RAW_COLUMNS: Final = (METRIC, STEP, VALUE, WALL_TIME)

WallClock = Literal["logged", "relative", "derived", "absent"]


@dataclass(frozen=True)
class SkippedLine:
    """A line (or record) of a log that gdei left out, and why."""

    line: int | None
    reason: str
    offset: int | None = None

    def describe(self) -> str:
        if self.line is not None:
            where = f"line {self.line}"
        elif self.offset is not None:
            where = f"byte {self.offset}"
        else:
            where = "?"
        return f"{where}: {self.reason}"


@dataclass
class RawLog:
    """The points one reader found in one file.

    Within each metric, rows are in the order they were written (rows of
    different metrics may be grouped).  ``purge_steps`` are explicit restarts
    (TensorBoard's ``SessionLog.START``): the reader has applied them within
    the file (counted in ``superseded``); the loader applies them to the run's
    earlier files, whose points at a step >= a purge step are discarded.
    """

    path: Path
    format: str
    frame: pd.DataFrame
    wall_clock: WallClock = "absent"
    warnings: list[str] = field(default_factory=list)
    skipped_lines: list[SkippedLine] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    purge_steps: list[int] = field(default_factory=list)
    superseded: dict[str, int] = field(default_factory=dict)


def raw_frame(metric: object, step: object, value: object, wall_time: object) -> pd.DataFrame:
    """A raw (file-order) frame with the canonical dtypes."""
    return pd.DataFrame(
        {
            METRIC: metric,
            STEP: np.asarray(step, dtype=np.int64),
            VALUE: np.asarray(value, dtype=np.float64),
            WALL_TIME: np.asarray(wall_time, dtype=np.float64),
        },
        copy=False,  # no consolidation copy: the arrays become the columns
    )
