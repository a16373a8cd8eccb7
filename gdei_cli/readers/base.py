"""What every reader returns: :class:`RawLog`, the points of one file in file order.

Readers do not name runs, sort, or resolve restarts: :mod:`gdei_cli.assembly`
does that once for all formats, so the rules are the same everywhere.  This
module imports no heavy library at import time (the registry loads it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

WallClock = Literal["logged", "relative", "derived", "absent"]

#: an explicit restart written into a log (TensorBoard's ``SessionLog.START``,
#: ``SummaryWriter(purge_step=s)``): its step, and per metric how many of the
#: file's points of that metric were written before it (a metric not named
#: had none).  Every earlier point at a step >= s is discarded, in this file and
#: in the run's earlier files.
Purge = tuple[int, dict[str, int]]


@dataclass(frozen=True)
class SkippedLine:
    """A line (or record) of a log that gdei left out, and why."""

    line: int | None
    reason: str
    offset: int | None = None


@dataclass
class RawLog:
    """The points one reader found in one file.

    ``frame`` has columns ``metric`` (str values or a categorical), ``step``
    (int64), ``value`` and ``wall_time`` (float64); within each metric, rows are
    in the order they were written (rows of different metrics may be grouped).
    ``subruns`` holds the runs of a file that has several side by side (each
    a RawLog of its own; ``frame`` is then empty).
    """

    path: Path
    format: str
    frame: pd.DataFrame
    wall_clock: WallClock = "absent"
    warnings: list[str] = field(default_factory=list)
    skipped_lines: list[SkippedLine] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    purges: list[Purge] = field(default_factory=list)
    subruns: dict[str, RawLog] | None = None


def raw_frame(metric: object, step: object, value: object, wall_time: object) -> pd.DataFrame:
    """A raw (file-order) frame with the canonical dtypes."""
    import numpy as np
    import pandas as pd

    from gdei_cli.schema import METRIC, STEP, VALUE, WALL_TIME

    return pd.DataFrame(
        {
            METRIC: metric,
            STEP: np.asarray(step, dtype=np.int64),
            VALUE: np.asarray(value, dtype=np.float64),
            WALL_TIME: np.asarray(wall_time, dtype=np.float64),
        },
        copy=False,  # no consolidation copy: the arrays become the columns
    )


def empty_log(path: Path, fmt: str) -> RawLog:
    return RawLog(path=path, format=fmt, frame=raw_frame([], [], [], []))
