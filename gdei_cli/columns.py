"""Column names of gdei's frames and exports, in one light module (no imports).

The canonical frame's columns, the per-point export and the per-run summary
table.  Discovery reads this too: a CSV whose header is one of gdei's own
exports is not a log (so an export written into a run folder never comes back
as a phantom run).
"""

from __future__ import annotations

from typing import Final

RUN: Final = "run"
METRIC: Final = "metric"
STEP: Final = "step"
VALUE: Final = "value"
WALL_TIME: Final = "wall_time"

#: the canonical frame
COLUMNS: Final = (RUN, METRIC, STEP, VALUE, WALL_TIME)

SMOOTHED: Final = "smoothed"
INDEX: Final = "index"
ROLE: Final = "role"
#: the per-point frame that ``gdei export --points`` writes
POINT_COLUMNS: Final = (*COLUMNS, SMOOTHED, INDEX, ROLE)

#: summary columns, in report order (also the JSON keys of a run)
SUMMARY_COLUMNS: Final = (
    "run",
    "metric",
    "objective",
    "mode",
    "points",
    "first_step",
    "last_step",
    "stop_step",
    "best_step",
    "live_stop_step",
    "steps_saved",
    "waste_pct",
    "wall_saved_s",
    "gpu_hours_saved",
    "cost_saved",
    "objective_at_stop",
    "objective_best",
    "objective_final",
    "forgone_pct",
    "loss_at_stop",
    "final_loss",
    "verdict",
    "reason",
    "cut_short",
    "diverged_step",
    "framework",
    "framework_best_step",
    "framework_stop_step",
    "framework_agrees",
    "nonfinite_points",
    "smoothing",
    "note",
)


def export_kind(header: list[str]) -> str | None:
    """``"summary"`` or ``"points"`` when *header* is a gdei export's, else ``None``."""
    names = tuple(h.strip().strip('"') for h in header)
    if names == SUMMARY_COLUMNS:
        return "summary"
    if names == POINT_COLUMNS:
        return "points"
    return None
