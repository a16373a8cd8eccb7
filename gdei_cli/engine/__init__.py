"""The engine: the index over whole runs, where each run should have stopped, and why.

Pure and vectorized: frames in, frames out; no file access, no printing.
The steps, one module each:

* :mod:`~gdei_cli.engine.select` and :mod:`~gdei_cli.engine.series`: which
  series of a run are its training loss and its objective, and their points;
* :mod:`~gdei_cli.engine.index`: smoothing and the paper's index;
* :mod:`~gdei_cli.engine.evidence`: what the framework recorded (plan, best,
  its own early stop);
* :mod:`~gdei_cli.engine.rule`: the stop and the verdict, for all runs at once;
* :mod:`~gdei_cli.engine.summary`: the per-run table and each run's reason;
* :mod:`~gdei_cli.engine.points`: the per-point frame, built batch by batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import pandas as pd

from gdei_cli import columns, schema
from gdei_cli.columns import SUMMARY_COLUMNS
from gdei_cli.config import Config, Costs, Mode, Rule, Span, Verdict
from gdei_cli.engine import evidence as ev
from gdei_cli.engine import select
from gdei_cli.engine.index import auto_smoothing, gdei
from gdei_cli.engine.points import ROLES, PointColumns, no_points, stack
from gdei_cli.engine.rule import Series, judge, lr_unfinished, map_axes
from gdei_cli.engine.select import DEFAULT_LOSS_NAMES
from gdei_cli.engine.series import (
    Frame,
    Plan,
    Raw,
    as_logged,
    extract,
    no_metric_error,
    plan,
    prepare,
    role_names,
    rows_bound,
)
from gdei_cli.engine.summary import STEP_COLUMNS, assemble

__all__ = [
    "DEFAULT_LOSS_NAMES",
    "NO_METRIC",
    "POINT_COLUMNS",
    "SUMMARY_COLUMNS",
    "Analysis",
    "Config",
    "Judged",
    "Costs",
    "Mode",
    "Rule",
    "Span",
    "Verdict",
    "analyze",
    "auto_smoothing",
    "combine",
    "judge_frame",
    "points_of",
    "over_limit",
    "totals",
]

NO_METRIC: Final = Verdict.NO_METRIC.value
#: columns of the per-point frame (``gdei export --points``)
POINT_COLUMNS: Final = columns.POINT_COLUMNS


#: points judged at a time by :func:`analyze` (a bound on its working memory)
BATCH_POINTS: Final = 1 << 19


@dataclass
class Analysis:
    """Per-point frame (``smoothed``, ``index``, ``role``) and per-run summary."""

    points: pd.DataFrame
    summary: pd.DataFrame
    config: Config
    costs: Costs


def analyze(
    frame: pd.DataFrame,
    *,
    metric: str | None = None,
    objective: str | None = None,
    config: Config | None = None,
    costs: Costs | None = None,
    attrs: Mapping[str, Mapping[str, str]] | None = None,
    formats: Mapping[str, str] | None = None,
    batch_points: int = BATCH_POINTS,
    keep_points: bool = True,
) -> Analysis:
    """Index every run of a canonical frame and judge where each should have stopped.

    *metric* / *objective* name (or glob) the training loss and the
    objective; *attrs* / *formats* are each run's attributes and format as
    the loader records them (the framework's evidence), by run name.  Runs
    are judged in batches of about *batch_points* points, which bounds the
    working memory; the result does not depend on it.  With *keep_points*
    false, ``points`` is left empty (the summary is the same): the per-point
    frame is as large as the input and only pictures and ``--points`` need it.
    """
    config = config or Config()
    costs = costs or Costs()
    part = judge_frame(
        frame, metric=metric, objective=objective, config=config, costs=costs, attrs=attrs,
        formats=formats, batch_points=batch_points, keep_points=keep_points,
    )  # fmt: skip
    return combine([part], config=config, costs=costs, metric=metric)


@dataclass
class Judged:
    """One frame's runs judged, before :func:`combine` makes them an :class:`Analysis`
    (the batched pipeline judges a folder's runs frame by frame)."""

    summaries: list[pd.DataFrame]
    loss_points: list[pd.DataFrame]
    objective_points: list[pd.DataFrame]
    missing: dict[str, list[str]]
    why: dict[str, str]


def judge_frame(
    frame: pd.DataFrame,
    *,
    metric: str | None = None,
    objective: str | None = None,
    config: Config | None = None,
    costs: Costs | None = None,
    attrs: Mapping[str, Mapping[str, str]] | None = None,
    formats: Mapping[str, str] | None = None,
    batch_points: int = BATCH_POINTS,
    keep_points: bool = True,
) -> Judged:
    """Judge every run of *frame* (as :func:`analyze`); a frame where no run has the
    training loss is not an error here: :func:`combine` decides over all frames."""
    config = config or Config()
    costs = costs or Costs()
    attrs = attrs or {}
    formats = formats or {}
    frame = schema.as_canonical(frame)
    f = Frame.of(frame)
    p = plan(
        f, metric=metric, objective=objective, mode=config.mode, attrs=attrs, require_metric=False
    )
    out = Judged([], [], [], dict(p.missing), dict(p.why))
    if not p.runs:
        return out
    sinks = None
    if keep_points:  # both kinds share the categories, as stacking them would make them
        metrics = role_names(p, "loss") + role_names(p, "objective")
        sinks = (
            PointColumns(rows_bound(f, p, "loss"), p.runs, metrics),
            PointColumns(rows_bound(f, p, "objective"), p.runs, metrics),
        )
    for sub_f, sub_p in _batches(f, p, batch_points):
        out.summaries.append(_judge(sub_f, sub_p, config, costs, attrs, formats, sinks))
    if sinks is not None:
        out.loss_points.append(sinks[0].frame())
        out.objective_points.append(sinks[1].frame())
    return out


def points_of(part: Judged) -> pd.DataFrame:
    """The per-point frame of one judged frame (loss points, then objective points)."""
    if not part.loss_points:
        return no_points()
    return stack(part.loss_points + part.objective_points)


def combine(
    parts: Sequence[Judged],
    *,
    config: Config | None = None,
    costs: Costs | None = None,
    metric: str | None = None,
) -> Analysis:
    """The :class:`Analysis` of frames judged apart: one summary row per run, in run
    name order (as one frame judged at once gives), and every point kept.  No run
    with a training loss in any part raises :class:`~gdei_cli.errors.MetricNotFoundError`."""
    config = config or Config()
    costs = costs or Costs()
    summaries = [s for part in parts for s in part.summaries]
    missing = {r: m for part in parts for r, m in part.missing.items()}
    if not summaries:
        raise no_metric_error(metric, missing)
    why = {r: w for part in parts for r, w in part.why.items()}
    summary = summaries[0] if len(summaries) == 1 else pd.concat(summaries, ignore_index=True)
    if len(parts) > 1:  # each part is in run order; together they may not be
        summary = summary.sort_values("run", kind="stable").reset_index(drop=True)
    if missing:
        extra = pd.DataFrame(
            {
                "run": list(missing),
                "points": [0] * len(missing),
                "verdict": [NO_METRIC] * len(missing),
                "reason": [
                    why.get(r) or f"no training loss among: {select.name_list(m)}"
                    for r, m in missing.items()
                ],
                "note": [f"metrics: {select.name_list(m)}" for m in missing.values()],
            }
        )
        summary = pd.concat([summary, extra], ignore_index=True)
        summary = summary.sort_values("run", kind="stable").reset_index(drop=True)
        for col in STEP_COLUMNS:
            summary[col] = summary[col].astype("Int64")
    summary["framework"] = summary["framework"].astype("str")  # None or a name: one dtype
    summary = summary[list(SUMMARY_COLUMNS)]
    loss_parts = [x for part in parts for x in part.loss_points]
    obj_parts = [x for part in parts for x in part.objective_points]
    points = stack(loss_parts + obj_parts) if loss_parts else no_points()
    return Analysis(points=points, summary=summary, config=config, costs=costs)


def _batches(f: Frame, p: Plan, batch_points: int) -> Iterator[tuple[Frame, Plan]]:
    """The planned runs in consecutive groups of about *batch_points* frame rows, each
    with its slice of the frame (runs are contiguous in a canonical frame): the
    per-run work's temporaries are a batch's size, not the whole frame's."""
    if not p.runs:
        yield f, p
        return
    code_of = f.run_codes()
    # in the codes' own dtype: a wider query would make numpy copy the whole column
    codes = np.array([code_of[r] for r in p.runs], dtype=f.run_code.dtype)
    lo = np.searchsorted(f.run_code, codes, side="left")
    hi = np.searchsorted(f.run_code, codes, side="right")
    start = 0
    while start < len(codes):
        end = start + 1
        while end < len(codes) and hi[end] - lo[start] <= batch_points:
            end += 1
        if start == 0 and end == len(codes):
            yield f, p
            return
        a, b = int(lo[start]), int(hi[end - 1])
        sub_f = Frame(
            run_code=f.run_code[a:b],
            metric_code=f.metric_code[a:b],
            run_names=f.run_names,
            metric_names=f.metric_names,
            step=f.step[a:b],
            value=f.value[a:b],
            wall=f.wall[a:b],
            run_index=code_of,
        )
        sub_p = Plan(runs=p.runs[start:end], picks=p.picks[start:end], lr=p.lr[start:end])
        yield sub_f, sub_p
        start = end


def _judge(
    f: Frame,
    p: Plan,
    config: Config,
    costs: Costs,
    attrs: Mapping[str, Mapping[str, str]],
    formats: Mapping[str, str],
    sinks: tuple[PointColumns, PointColumns] | None,
) -> pd.DataFrame:
    """Index and judge the planned runs: their summary rows; their loss and objective
    points go into *sinks* (when kept)."""
    n = len(p.runs)
    with np.errstate(all="ignore"):
        raw_loss = extract(f, p, "loss")
        raw_lr = extract(f, p, "lr")
        obj_is_loss = np.array([a.loss == a.objective for a in p.picks], dtype=bool)
        loss_max = _modes(raw_loss, p, n, objective_role=False)
        loss, weights, loss_ceiling = prepare(raw_loss, n, loss_max, config.smoothing)
        if obj_is_loss.all() and _same_modes(raw_loss, p, n, loss_max):
            # every objective is its run's loss, judged the same way: the same series
            raw_obj, obj_max, obj, ceiling = raw_loss, loss_max, replace(loss), loss_ceiling
        else:
            raw_obj = extract(f, p, "objective")
            obj_max = _modes(raw_obj, p, n, objective_role=True)
            obj, _, ceiling = prepare(raw_obj, n, obj_max, config.smoothing)
        mapped = map_axes(loss, obj, n)
        first = np.fmin(loss.segs.per_run(loss.step[loss.segs.starts]),
                        obj.segs.per_run(obj.step[obj.segs.starts]))  # fmt: skip
        last = np.fmax(loss.segs.per_run(loss.step[loss.segs.ends - 1]),
                       obj.segs.per_run(obj.step[obj.segs.ends - 1]))  # fmt: skip
        evidence = [
            ev.from_attrs(formats.get(r, ""), attrs.get(r, {}), float(first[i]), float(last[i]))
            for i, r in enumerate(p.runs)
        ]
        lr = as_logged(raw_lr, n)
        lr_cut = lr_unfinished(lr, last, last - first)
        planned_cut, cut_reasons = _plan_cuts(evidence, first, last, lr_cut, lr)
        del raw_lr, lr  # (read for the cuts only: not held through judging)
        best_step = _best_steps(obj)
        evidence = [
            replace(e, early_stopped=ev.patience_stopped(e, float(best_step[i]), float(last[i])))
            for i, e in enumerate(evidence)
        ]
        early = np.array([e.early_stopped for e in evidence], dtype=bool)
        j = judge(loss, obj, obj_is_loss, planned_cut, lr_cut, early, config, mapped)
        summary = assemble(
            p.runs, raw_loss.names, raw_obj.names, obj_max, loss, obj, ceiling, j, evidence,
            cut_reasons, [pk.note for pk in p.picks], weights, config, costs,
        )  # fmt: skip
    if sinks is not None:
        _add_points(
            sinks, p.runs, loss, obj, obj_is_loss, (raw_loss.names, raw_obj.names),
            raw_loss.whole_step,
        )  # fmt: skip
    return summary


def _modes(raw: Raw, p: Plan, n: int, *, objective_role: bool) -> np.ndarray:
    """Per run: True where the series is maximised (forced by ``--mode`` for the objective)."""
    out = np.zeros(n, dtype=bool)
    if raw.code.size == 0:
        return out
    starts = np.searchsorted(raw.code, np.arange(n), side="left")
    ends = np.searchsorted(raw.code, np.arange(n), side="right")
    for i, name in enumerate(raw.names):
        forced = p.picks[i].objective_mode if objective_role else None
        by_name = select.direction_by_name(name)
        if forced is None and by_name is not None:
            out[i] = by_name is Mode.MAX
        elif name == select.ULTRALYTICS_FITNESS:
            out[i] = True
        else:
            vals = raw.value[starts[i] : ends[i]]
            out[i] = select.resolve_mode(name, forced, vals) is Mode.MAX
    return out


def _same_modes(raw_loss: Raw, p: Plan, n: int, loss_max: np.ndarray) -> bool:
    """Whether each run's loss, taken as its objective, is judged in the same direction
    (a forced ``--mode`` or a score-like name may turn it)."""
    if all(pk.objective_mode is None for pk in p.picks):
        return True
    return bool(np.array_equal(_modes(raw_loss, p, n, objective_role=True), loss_max))


def _best_steps(obj: Series) -> np.ndarray:
    """Per run: the step of the objective's best (smoothed) value."""
    segs = obj.segs
    best = segs.min(obj.norm)
    row = segs.first_true(np.isfinite(obj.norm) & (obj.norm <= segs.rows(best)))
    return segs.per_run(segs.at(obj.step, row))


def _plan_cuts(
    evidence: list[ev.Evidence],
    first: np.ndarray,
    last: np.ndarray,
    lr_cut: np.ndarray,
    lr: Series,
) -> tuple[np.ndarray, list[str]]:
    """Runs that ended before their recorded plan, and each run's sentence about it."""
    n = len(evidence)
    cut = np.zeros(n, dtype=bool)
    said = [""] * n
    peak = lr.segs.per_run(lr.segs.max(lr.value))
    lastv = lr.segs.per_run(lr.value[lr.segs.ends - 1]) if lr.step.size else np.full(n, np.nan)
    for i, e in enumerate(evidence):
        planned = e.planned_last_step
        if planned is not None and planned - last[i] > 0.02 * max(planned - first[i], 1.0):
            cut[i] = True
            said[i] = f"it ended at step {int(last[i]):,} of a planned {e.plan}"
        elif e.ended_early_status:
            cut[i] = True
            said[i] = f"it ended with {e.ended_early_status}"
        elif lr_cut[i]:
            share = 100.0 * lastv[i] / peak[i] if peak[i] > 0 else float("nan")
            said[i] = (
                f"its learning-rate schedule was unfinished (lr {lastv[i]:.3g} at the end, "
                f"{share:.0f}% of its peak)"
            )
    return cut, said


def _add_points(
    sinks: tuple[PointColumns, PointColumns],
    runs: list[str],
    loss: Series,
    obj: Series,
    obj_is_loss: np.ndarray,
    names: tuple[list[str], list[str]],
    loss_steps: np.ndarray | None = None,
) -> None:
    """A batch's analysed points into *sinks*: the loss rows (with the paper's index),
    and the objective rows of runs whose objective is not their loss.  *names* are the
    runs' loss and objective names; *loss_steps* the loss's steps as integers already
    (else floored from floats)."""
    with np.errstate(all="ignore"):
        index = gdei(loss.smoothed, loss.segs)
    role = np.where(obj_is_loss, ROLES.index("loss+objective"), ROLES.index("loss"))
    sinks[0].add(
        runs, loss.segs.codes, names[0], role,
        (loss_steps if loss_steps is not None else np.floor(loss.step).astype(np.int64),
         loss.value, loss.wall),
        (loss.smoothed, index),
    )  # fmt: skip
    keep = ~obj_is_loss
    if not keep.any():
        return
    rows: np.ndarray | slice = slice(None) if keep.all() else keep[obj.segs.codes]
    smoothed = obj.smoothed[rows]
    sinks[1].add(
        runs, obj.segs.codes[rows], names[1], np.full(len(runs), ROLES.index("objective")),
        (np.floor(obj.step[rows]).astype(np.int64), obj.value[rows], obj.wall[rows]),
        (smoothed, np.full(smoothed.size, np.nan)),
    )  # fmt: skip


def over_limit(summary: pd.DataFrame, max_waste_pct: float) -> list[str]:
    """Runs that waste more than *max_waste_pct* % of their steps (the CI gate)."""
    waste = summary["waste_pct"].astype("float64")
    return [str(r) for r in summary.loc[waste > max_waste_pct, "run"]]


def totals(summary: pd.DataFrame) -> dict[str, float | int | None]:
    """The waste summed over all runs that have a stop."""
    ok = summary["stop_step"].notna()
    length = (summary["last_step"] - summary["first_step"])[ok].astype("float64")
    saved = summary["steps_saved"][ok].astype("float64")

    def total(col: str) -> float | None:
        vals = summary.loc[ok, col].astype("float64")
        return float(vals.sum()) if vals.notna().any() else None

    denom = float(length.sum())
    return {
        "runs": int(len(summary)),
        "analysed": int(ok.sum()),
        "steps_saved": int(saved.sum()),
        "waste_pct": float(100.0 * saved.sum() / denom) if denom > 0 else None,
        "wall_saved_s": total("wall_saved_s"),
        "gpu_hours_saved": total("gpu_hours_saved"),
        "cost_saved": total("cost_saved"),
    }
