"""The per-run summary table and each run's one-sentence reason."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from gdei_cli.config import Config, Costs, Rule, Verdict
from gdei_cli.engine.evidence import Evidence
from gdei_cli.engine.rule import Judgement, Series
from gdei_cli.engine.segments import Segments

STEP_COLUMNS: Final = (
    "first_step",
    "last_step",
    "stop_step",
    "best_step",
    "live_stop_step",
    "steps_saved",
    "diverged_step",
    "framework_best_step",
    "framework_stop_step",
)


def fmt(v: float) -> str:
    """A value for a sentence: 4 significant digits."""
    if not math.isfinite(v):
        return str(v)
    return f"{v:.4g}"


def pct(a: float, b: float) -> str:
    """How much *b* differs from *a*, as a percentage of |a| (plain words past 10x)."""
    if not (math.isfinite(a) and math.isfinite(b)) or a == 0:
        return "?"
    r = abs(b - a) / abs(a) * 100.0
    return f"{r / 100:.0f}x" if r >= 1000 else f"{r:.2g}%" if r < 10 else f"{r:.0f}%"


@dataclass
class RunFacts:
    """What the reason of one run is built from (plain Python values)."""

    loss: str
    objective: str
    maximise: bool
    verdict: str
    stop: float
    best_step: float
    last: float
    first: float
    best: float
    at_stop: float
    final: float
    before_end: float  # best objective before the end window
    waste: float
    diverged_step: float
    collapsed: bool
    loss_min: float
    loss_start: float
    loss_end: float
    cut_reason: str
    tolerance: float
    forgone: float
    improving: bool
    steady: bool
    new_bests: int
    end_evals: int
    end_window: float
    rule: Rule
    live: float


def at(step: float) -> str:
    """A step for a sentence (``?`` when unknown)."""
    return f"{int(step):,}" if math.isfinite(step) else "?"


def steps_word(n: float) -> str:
    return f"{int(n):,} step{'s' if int(n) != 1 else ''}"


def reason(f: RunFacts) -> str:
    """One plain sentence, with the numbers, saying why the verdict."""
    o = f.objective
    if f.verdict == Verdict.INDEX_UNDEFINED:
        return (
            f"{f.loss}: fewer than 2 finite points, or a first value <= 0: the index is undefined"
        )
    if f.verdict == Verdict.DIVERGED:
        if f.collapsed:
            text = (
                f"{f.loss} fell to {fmt(f.loss_min)}, then climbed back to {fmt(f.loss_end)} "
                f"(it started at {fmt(f.loss_start)}) from step {at(f.diverged_step)} "
                "and stayed there: a collapse"
            )
        else:
            text = f"{f.loss} became NaN/inf at step {at(f.diverged_step)} and stayed so"
        if math.isfinite(f.stop):
            text += f"; stop at step {at(f.stop)}, before the divergence"
        return text
    moved = "fell" if f.maximise else "rose"
    gained = "rose" if f.maximise else "fell"
    if f.verdict == Verdict.OVER_FITTING:
        return (
            f"{o} best {fmt(f.best)} at step {at(f.best_step)}, then {moved} "
            f"{pct(f.best, f.final)} over {steps_word(f.last - f.best_step)} "
            f"(to {fmt(f.final)}) while {f.loss} kept falling"
        )
    if f.rule is Rule.LIVE:
        if not math.isfinite(f.live):
            text = f"the index of {f.loss} never plateaued (live rule)"
        else:
            text = (
                f"the index of {f.loss} plateaued at step {at(f.stop)} (live rule); "
                f"{f.waste:.0f}% of the run came after"
            )
        return text + (f"; {f.cut_reason}" if f.cut_reason else "")
    if f.verdict == Verdict.STILL_IMPROVING:
        if f.steady:
            text = (
                f"{o} set a new best at {f.new_bests} of its {f.end_evals} evaluations in the "
                f"last {f.end_window:g}% of the run (best {fmt(f.best)} at step "
                f"{at(f.best_step)})"
            )
        elif f.improving:
            text = (
                f"{o} {gained} {pct(f.before_end, f.best)} in the last {f.end_window:g}% of the "
                f"run (best {fmt(f.best)} at step {at(f.best_step)})"
            )
        else:
            return (
                f"{o} reached {fmt(f.best)} by step {at(f.best_step)}, but {f.cut_reason}: "
                "the run was cut short, so its flat stretch is not convergence"
            )
        return text + (f"; {f.cut_reason}" if f.cut_reason else "")
    text = (
        f"{o} was within {f.tolerance:g} index points of its best at step {at(f.stop)} "
        f"({fmt(f.at_stop)}; best {fmt(f.best)} at step {at(f.best_step)})"
    )
    share = "" if not math.isfinite(f.forgone) else f"{f.forgone:.2g}%"
    if share:
        text += f": the last {f.waste:.0f}% of the run bought {share} of its total improvement"
    else:
        text += f"; {f.waste:.0f}% of the run came after"
    return text


def framework_columns(
    ev: Evidence, stop: float, best_step: float, last: float, length: float
) -> tuple[str | None, float, float, bool | None, str]:
    """(framework, its best step, its stop step, does gdei agree, sentence)."""
    if ev.framework is None:
        return None, math.nan, math.nan, None, ""
    fb = ev.best_step if ev.best_step is not None else math.nan
    if not ev.early_stopped:
        return ev.framework, fb, math.nan, None, ""
    ref = fb if math.isfinite(fb) else best_step
    agrees = bool(math.isfinite(stop) and math.isfinite(ref) and abs(stop - ref) <= 0.1 * length)
    if agrees:
        verdict = "; gdei agrees"
    elif math.isfinite(stop):
        verdict = f"; gdei disagrees: stop at step {int(stop):,}"
    else:
        verdict = "; gdei finds no earlier stop"
    said = (
        f"{ev.framework} stopped the run itself"
        + (f" at step {int(last):,}" if math.isfinite(last) else "")
        + (f" (its best at step {int(ref):,})" if math.isfinite(ref) else "")
        + verdict
    )
    return ev.framework, fb, last, agrees, said


def assemble(
    runs: Sequence[str],
    loss_names: Sequence[str],
    obj_names: Sequence[str],
    maximise: np.ndarray,
    loss: Series,
    obj: Series,
    obj_ceiling: np.ndarray,
    j: Judgement,
    evidence: Sequence[Evidence],
    cut_reasons: Sequence[str],
    notes: Sequence[str],
    weights: np.ndarray,
    config: Config,
    costs: Costs,
) -> pd.DataFrame:
    ls, os_ = loss.segs, obj.segs
    n = len(runs)
    points = ls.per_run(ls.lengths, 0)
    n_finite = j.n_finite

    def orig(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Smoothed objective at *rows*, back in the metric's own units."""
        y = os_.at(a, rows)
        return np.where(maximise, obj_ceiling - y, y)

    # a run still improving has no stop before its end: its objective "at the stop" is its last
    go_on = np.asarray(j.verdict == Verdict.STILL_IMPROVING, dtype=bool)
    at_stop_row = np.where(go_on, j.final_row, np.where(j.hind_row >= 0, j.hind_row, -1))
    o_best = orig(obj.smoothed, j.best_row)
    o_stop = orig(obj.smoothed, at_stop_row)
    o_final = orig(obj.smoothed, j.final_row)
    first_valid = os_.per_run(os_.first_true(np.isfinite(obj.norm)), -1).astype(np.int64)
    n_first = os_.at(obj.norm, first_valid)
    n_best = os_.at(obj.norm, j.best_row)
    n_stop = os_.at(obj.norm, at_stop_row)
    with np.errstate(divide="ignore", invalid="ignore"):
        forgone = np.where(n_first > n_best, 100.0 * (n_stop - n_best) / (n_first - n_best), np.nan)
    # a run with no stop before its end forgoes nothing; the live rule has no such notion
    forgone = np.where(go_on, np.nan, forgone)
    if config.rule is Rule.LIVE:
        forgone = np.full(n, np.nan)
    # the best objective before the end window, for "improved X% near the end"
    end_from = j.last_step - config.end_window / 100.0 * (j.last_step - j.first_step)
    before = np.isfinite(obj.norm) & (obj.step < os_.of_run(end_from))
    bb_norm = np.where(before, obj.norm, np.inf)
    bb_row = os_.per_run(os_.first_true(before & (bb_norm <= os_.rows(os_.min(bb_norm)))), -1)
    o_before = orig(obj.smoothed, bb_row.astype(np.int64))

    steps_saved = j.last_step - j.stop_step
    wall_stop = ls.at(loss.wall, j.stop_row)
    wall_last = ls.per_run(_finite_max(ls, loss.wall))
    wall_saved = np.where(
        np.isfinite(wall_last - wall_stop), np.maximum(wall_last - wall_stop, 0), np.nan
    )
    if costs.seconds_per_step is not None:
        wall_saved = np.where(
            np.isnan(wall_saved), steps_saved * costs.seconds_per_step, wall_saved
        )
    gpu_hours = wall_saved / 3600.0 * costs.gpus
    cost = (
        gpu_hours * costs.gpu_hour_cost if costs.gpu_hour_cost is not None else np.full(n, np.nan)
    )
    loss_min = ls.per_run(ls.min(loss.smoothed))
    loss_start = ls.at(
        loss.smoothed, ls.per_run(ls.first_true(np.isfinite(loss.smoothed)), -1).astype(np.int64)
    )
    loss_end = ls.at(
        loss.smoothed, ls.per_run(ls.last_true(np.isfinite(loss.smoothed)), -1).astype(np.int64)
    )
    loss_at_stop = ls.at(loss.smoothed, j.stop_row)
    final_loss = np.where(j.nonfinite_tail, np.nan, loss_end)

    reasons, fw, fw_best, fw_stop, fw_agree, out_notes = [], [], [], [], [], []
    length = j.last_step - j.first_step
    for i in range(n):
        facts = RunFacts(
            loss=loss_names[i], objective=obj_names[i], maximise=bool(maximise[i]),
            verdict=str(j.verdict[i]), stop=float(j.stop_step[i]), best_step=float(j.best_step[i]),
            last=float(j.last_step[i]), first=float(j.first_step[i]), best=float(o_best[i]),
            at_stop=float(o_stop[i]), final=float(o_final[i]), before_end=float(o_before[i]),
            waste=float(j.waste_pct[i]), diverged_step=float(j.diverged_step[i]),
            collapsed=bool(j.collapsed[i]), loss_min=float(loss_min[i]),
            loss_start=float(loss_start[i]), loss_end=float(loss_end[i]),
            cut_reason=cut_reasons[i] if j.cut_short[i] else "", tolerance=config.tolerance,
            forgone=float(forgone[i]), improving=bool(j.improving[i]), steady=bool(j.steady[i]),
            new_bests=int(j.new_bests[i]), end_evals=int(j.end_evals[i]),
            end_window=config.end_window, rule=config.rule, live=float(j.live_stop_step[i]),
        )  # fmt: skip
        text = reason(facts)
        name, b, s, agrees, said = framework_columns(
            evidence[i],
            float(j.stop_step[i]),
            float(j.best_step[i]),
            float(j.last_step[i]),
            float(length[i]),
        )
        reasons.append(text + (f"; {said}" if said else ""))
        fw.append(name)
        fw_best.append(b)
        fw_stop.append(s)
        fw_agree.append(agrees)
        extra = [notes[i]] if notes[i] else []
        if j.mapped[i]:
            extra.append(
                f"{obj_names[i]} is logged on a coarser step axis; mapped onto {loss_names[i]}'s"
            )
        bad = int(points[i] - n_finite[i])
        if bad and not j.nonfinite_tail[i]:
            extra.append(f"{bad} non-finite point(s) left out")
        out_notes.append("; ".join(extra))
    cols: dict[str, object] = {
        "run": list(runs),
        "metric": list(loss_names),
        "objective": list(obj_names),
        "mode": np.where(maximise, "max", "min"),
        "points": points,
        "first_step": j.first_step,
        "last_step": j.last_step,
        "stop_step": j.stop_step,
        "best_step": j.best_step,
        "live_stop_step": j.live_stop_step,
        "steps_saved": steps_saved,
        "waste_pct": j.waste_pct,
        "wall_saved_s": wall_saved,
        "gpu_hours_saved": gpu_hours,
        "cost_saved": cost,
        "objective_at_stop": o_stop,
        "objective_best": o_best,
        "objective_final": o_final,
        "forgone_pct": forgone,
        "loss_at_stop": loss_at_stop,
        "final_loss": final_loss,
        "verdict": [str(v) for v in j.verdict],
        "reason": reasons,
        "cut_short": j.cut_short.astype(bool),
        "diverged_step": j.diverged_step,
        "framework": pd.array(fw, dtype="object"),
        "framework_best_step": np.asarray(fw_best, dtype=np.float64),
        "framework_stop_step": np.asarray(fw_stop, dtype=np.float64),
        "framework_agrees": pd.array(fw_agree, dtype="boolean"),
        "nonfinite_points": points - n_finite,
        "smoothing": weights,
        "note": out_notes,
    }
    for col in STEP_COLUMNS:
        cols[col] = _int64_or_na(np.asarray(cols[col], dtype=np.float64))
    return pd.DataFrame(cols)


def _finite_max(segs: Segments, a: np.ndarray) -> np.ndarray:
    """Per segment: the largest finite value of *a* (NaN where none)."""
    top = segs.max(a)  # NaN-skipping: only an infinity can spoil it
    if np.isinf(top).any():
        top = segs.max(np.where(np.isfinite(a), a, np.nan))
    return top


def _int64_or_na(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Whole steps as a nullable Int64 array (NA where not finite), built at once:
    pandas' own ``astype("Int64")`` took milliseconds a column on a few rows."""
    ok = np.isfinite(values)
    whole = np.floor(np.where(ok, values, 0.0)).astype(np.int64)
    return pd.arrays.IntegerArray(whole, ~ok)
