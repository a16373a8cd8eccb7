"""What every reader returns: :class:`RawLog`, the points of one file in file order.

Readers do not name runs, sort, or resolve restarts: :mod:`gdei_cli.assembly`
does that once for all formats, so the rules are the same everywhere.  This
module imports no heavy library at import time (the registry loads it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
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


@dataclass(slots=True)
class Points:
    """One file's points as plain columns, in file order (what assembly reads).

    ``metric_codes`` index ``metric_names`` (names no point uses may be
    listed); ``step`` is int64, ``value`` and ``wall_time`` float64.  The
    table readers build these directly: a pandas frame per file costs more
    than reading a small file.
    """

    metric_codes: np.ndarray  # any integer dtype
    metric_names: list[str]
    step: np.ndarray
    value: np.ndarray
    wall_time: np.ndarray
    #: these points are rows ``start:start + len(self)`` of *whole* (one run of a file
    #: split into runs): assembly then works on the file's arrays, not on each run's
    within: tuple[Points, int] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.within is not None and self.metric_names is self.within[0].metric_names:
            return  # (the whole's names, made valid when it was made: shared, not copied)
        from gdei_cli.schema import clean_name

        # valid Unicode, as a frame's categories are (a "\ud800" JSON key)
        self.metric_names = [clean_name(str(n)) for n in self.metric_names]

    def __len__(self) -> int:
        return int(self.step.size)

    @classmethod
    def empty(cls) -> Points:
        """No points at all (a file with no metric column)."""
        import numpy as np

        none = np.zeros(0, dtype=np.int64)
        return cls(none, [], none, np.zeros(0), np.zeros(0))

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> Points:
        """The points of a raw frame (its metric column as codes: one pass over it)."""
        import numpy as np
        import pandas as pd

        from gdei_cli.schema import METRIC, STEP, VALUE, WALL_TIME

        metric = frame[METRIC]
        cat = metric.array
        if not isinstance(cat, pd.Categorical):
            cat = pd.Categorical(metric.to_numpy(dtype=object).astype(str))
        return cls(
            metric_codes=np.asarray(cat.codes),
            metric_names=[str(c) for c in cat.categories],
            step=frame[STEP].to_numpy(dtype=np.int64),
            value=frame[VALUE].to_numpy(dtype=np.float64),
            wall_time=frame[WALL_TIME].to_numpy(dtype=np.float64),
        )

    def to_frame(self) -> pd.DataFrame:
        """These points as a raw frame (the metric column a categorical)."""
        from gdei_cli.schema import categorical

        metric = categorical(self.metric_codes, self.metric_names)
        return raw_frame(metric, self.step, self.value, self.wall_time)


class RawLog:
    """The points one reader found in one file.

    ``frame`` has columns ``metric`` (str values or a categorical), ``step``
    (int64), ``value`` and ``wall_time`` (float64); within each metric, rows are
    in the order they were written (rows of different metrics may be grouped).
    A reader gives either that frame or the same points as :class:`Points`
    (``points=``); each is built from the other only when asked for, and
    only the form asked for last is kept.
    ``subruns`` holds the runs of a file that has several side by side (each
    a RawLog of its own; ``frame`` is then empty).
    """

    def __init__(
        self,
        path: Path,
        format: str,
        frame: pd.DataFrame | None = None,
        wall_clock: WallClock = "absent",
        warnings: list[str] | None = None,
        skipped_lines: list[SkippedLine] | None = None,
        attrs: dict[str, str] | None = None,
        purges: list[Purge] | None = None,
        subruns: dict[str, RawLog] | None = None,
        *,
        points: Points | None = None,
    ) -> None:
        if (frame is None) == (points is None):
            raise TypeError("RawLog takes a frame or points, exactly one")
        self.path = path
        self.format = format
        self._frame = frame
        self._points = points
        self.wall_clock: WallClock = wall_clock
        self.warnings = warnings if warnings is not None else []
        self.skipped_lines = skipped_lines if skipped_lines is not None else []
        self.attrs = attrs if attrs is not None else {}
        self.purges = purges if purges is not None else []
        self.subruns = subruns

    @property
    def frame(self) -> pd.DataFrame:
        # whichever form was asked for last is the one kept: a reader may change
        # the frame it was handed (a derived wall clock), and points would go stale
        if self._frame is None:
            assert self._points is not None
            self._frame, self._points = self._points.to_frame(), None
        return self._frame

    @frame.setter
    def frame(self, frame: pd.DataFrame) -> None:
        self._frame, self._points = frame, None

    @property
    def points(self) -> Points:
        if self._points is None:
            assert self._frame is not None
            self._points, self._frame = Points.of_frame(self._frame), None
        return self._points

    @points.setter
    def points(self, points: Points) -> None:
        self._frame, self._points = None, points

    @property
    def n_points(self) -> int:
        """The number of points (without building a frame)."""
        return len(self._points) if self._points is not None else len(self.frame)

    def __repr__(self) -> str:
        return f"RawLog({self.format}, {str(self.path)!r}, {self.n_points:,} point(s))"


def no_clock(n: int) -> np.ndarray:
    """The wall times of *n* points of a log without a clock: NaN each, as a read-only
    view of one NaN (no memory per point).  :func:`take` keeps it one; whatever
    stores the times (a frame) copies them."""
    return _nan_line()[:n]  # (a slice of one long view: 0.1 us, where a new view is 4)


@functools.cache
def _nan_line() -> np.ndarray:
    """One NaN seen 2**59 times: a read-only view with stride 0 (its slices are too)."""
    import numpy as np

    return np.broadcast_to(np.float64(np.nan), (1 << 59,))


def take(values: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
    """``values[rows]`` (*rows*: positions, or a slice), except that a
    :func:`no_clock` array stays a view of its one value (a slice of it is one)."""
    import numpy as np

    constant = values.ndim == 1 and values.size and values.strides == (0,)
    if constant and not isinstance(rows, slice):
        return np.broadcast_to(values[:1], (len(rows),))
    picked: np.ndarray = values[rows]
    return picked


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
            WALL_TIME: np.ascontiguousarray(wall_time, dtype=np.float64),  # (no view)
        },
        copy=False,  # no consolidation copy: the arrays become the columns
    )


def empty_log(path: Path, fmt: str) -> RawLog:
    return RawLog(path=path, format=fmt, frame=raw_frame([], [], [], []))
