"""The Gradient Descent Efficiency Index and the stopping rule: pure and vectorized.

Frames in, frames out: no file access and no printing.  Every function works
on all runs at once (grouped numpy/pandas operations); nothing loops over
points in Python.

The index (Dhingra, "Gradient Descent Efficiency Index", arXiv:2410.19448), for
one series of loss values ``L_0, L_1, ...`` at its logged points::

    P_k = (L_0 - L_k) / L_0
    D_k = |L_(k-1) - L_k|
    E_k = 100 - min(100, max(1, 100 * P_k / (1 + ln(1 + D_k**2))))   (k >= 1)

``E_0`` is undefined (NaN).  ``E`` falls as training removes loss: an index
that stops falling means the iterations stopped buying anything.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd

from gdei_cli import schema
from gdei_cli.errors import MetricNotFoundError, UsageError

#: training-loss names tried, in order, when no ``--metric`` is given
DEFAULT_LOSS_NAMES: Final = (
    "loss",
    "train/loss",
    "train_loss",
    "training_loss",
    "total_loss",
    "train/total_loss",
    "loss/train",
    "Loss/train",
    "train/loss_step",
    "train_loss_step",
    "Loss/total_loss",
    "train/loss_epoch",
    "train_loss_epoch",
    "epoch_loss",
    "trl",
)

Verdict = Literal["wasteful", "efficient", "still improving", "diverged", "index undefined"]
VERDICTS: Final = ("wasteful", "efficient", "still improving", "diverged", "index undefined")
NO_METRIC: Final = "no metric"

#: summary columns, in report order (also the JSON keys of a run)
SUMMARY_COLUMNS: Final = (
    "run",
    "metric",
    "points",
    "first_step",
    "last_step",
    "stop_step",
    "steps_saved",
    "waste_pct",
    "wall_saved_s",
    "gpu_hours_saved",
    "cost_saved",
    "loss_at_stop",
    "final_loss",
    "best_loss",
    "loss_cost_pct",
    "loss_vs_best_pct",
    "verdict",
    "diverged_step",
    "nonfinite_points",
    "smoothing",
    "note",
)


@dataclass(frozen=True)
class Span:
    """A length in steps, or as a percentage of each run's length."""

    amount: float
    percent: bool

    @classmethod
    def parse(cls, text: str | float | int, *, name: str) -> Span:
        raw = str(text).strip()
        try:
            if raw.endswith("%"):
                amount = float(raw[:-1])
                if not 0 <= amount <= 100:
                    raise ValueError
                return cls(amount, True)
            amount = float(raw)
            if amount < 0:
                raise ValueError
            return cls(amount, False)
        except ValueError:
            raise UsageError(
                f"{name} must be a number of steps or a percentage like 10%, got {raw!r}"
            ) from None

    def steps(self, run_length: np.ndarray) -> np.ndarray:
        if self.percent:
            return run_length * (self.amount / 100.0)
        return np.full(run_length.shape, self.amount, dtype=np.float64)

    def __str__(self) -> str:
        return f"{self.amount:g}%" if self.percent else f"{self.amount:g}"


@dataclass(frozen=True)
class Config:
    """How the index is computed and where a run should have stopped.

    ``smoothing=None`` ("auto") smooths each run with a debiased EMA whose
    span is 1% of the run's points (no smoothing below 200 points).
    """

    smoothing: float | None = None
    rule: Literal["plateau"] = "plateau"
    window: Span = Span(10.0, True)
    threshold: float = 1.0
    warmup: Span = Span(10.0, True)
    efficient_waste_pct: float = 10.0

    def __post_init__(self) -> None:
        if self.smoothing is not None and not 0 <= self.smoothing < 1:
            raise UsageError(f"--smoothing must be in [0, 1), got {self.smoothing}")
        if self.rule != "plateau":
            raise UsageError(f"unknown rule {self.rule!r}; the rule is 'plateau'")
        if not math.isfinite(self.threshold):
            raise UsageError("--threshold must be a finite number")


@dataclass(frozen=True)
class Costs:
    """What a step and a GPU-hour cost, for the savings columns."""

    gpus: float = 1.0
    gpu_hour_cost: float | None = None
    seconds_per_step: float | None = None


# --------------------------------------------------------------------------- metric


def choose_metric(names: list[str], pattern: str | None) -> str | None:
    """The metric of a run: *pattern* (a name or glob), else the first loss name."""
    if pattern is not None:
        if pattern in names:
            return pattern
        hits = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
        return hits[0] if hits else None
    present = set(names)
    return next((n for n in DEFAULT_LOSS_NAMES if n in present), None)


def select_series(
    frame: pd.DataFrame, pattern: str | None
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """One metric per run: the series to analyse, and the runs without one.

    Raises :class:`MetricNotFoundError` when no run has the metric.
    """
    pairs = frame[[schema.RUN, schema.METRIC]].drop_duplicates()
    per_run: dict[str, list[str]] = {}
    for run, metric in zip(
        pairs[schema.RUN].astype(str), pairs[schema.METRIC].astype(str), strict=True
    ):
        per_run.setdefault(run, []).append(metric)
    chosen: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    for run, names in per_run.items():
        got = choose_metric(names, pattern)
        if got is None:
            missing[run] = sorted(names)
        else:
            chosen[run] = got
    if not chosen:
        what = f"metric {pattern!r}" if pattern else "training-loss metric"
        listing = (
            "; ".join(f"{r}: {', '.join(m)}" for r, m in sorted(missing.items())) or "no metrics"
        )
        raise MetricNotFoundError(
            f"no {what} in any run (metrics found: {listing})",
            hint="pass --metric NAME",
        )
    run_cats = frame[schema.RUN].cat.categories
    metric_cats = frame[schema.METRIC].cat.categories
    run_code = {str(c): i for i, c in enumerate(run_cats)}
    metric_code = {str(c): i for i, c in enumerate(metric_cats)}
    width = len(metric_cats)
    wanted = np.array(
        [run_code[r] * width + metric_code[m] for r, m in chosen.items()], dtype=np.int64
    )
    keys = frame[schema.RUN].cat.codes.to_numpy().astype(np.int64) * width + frame[
        schema.METRIC
    ].cat.codes.to_numpy().astype(np.int64)
    series = frame.loc[np.isin(keys, wanted)].reset_index(drop=True)
    return series, missing


# --------------------------------------------------------------------------- index


def auto_smoothing(n_points: np.ndarray) -> np.ndarray:
    """The "auto" smoothing weight: an EMA spanning 1% of a run's points."""
    span = np.maximum(1.0, np.asarray(n_points, dtype=np.float64) / 100.0)
    return np.where(span <= 1.0, 0.0, 1.0 - 2.0 / (span + 1.0))


def smooth(values: np.ndarray, groups: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """TensorBoard's debiased EMA, per group: ``last = w*last + (1-w)*y``, ``/ (1 - w**n)``.

    That is exactly pandas' ``ewm(alpha=1-w, adjust=True)``.  *weight* gives
    each group's ``w`` (indexed by group code); groups with one weight are
    smoothed together.
    """
    out = np.asarray(values, dtype=np.float64).copy()
    if out.size == 0:
        return out
    w_point = weight[groups]
    for w in np.unique(weight):
        if w == 0.0:
            continue
        sel = w_point == w
        part = pd.Series(out[sel])
        g = groups[sel]
        sm = part.groupby(g, sort=False).ewm(alpha=1.0 - float(w), adjust=True).mean()
        out[sel] = sm.reset_index(level=0, drop=True).sort_index().to_numpy()
    return out


def gdei(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The index of every point, per group (rows of a group contiguous, in step order).

    Non-finite input values must already be removed.  Groups whose first value
    is <= 0 or non-finite get NaN everywhere.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n == 0:
        return v.copy()
    first = np.r_[True, groups[1:] != groups[:-1]]
    start_idx = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    l0 = v[start_idx]
    prev = np.r_[np.nan, v[:-1]]
    d = np.abs(prev - v)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p = (l0 - v) / l0
        raw = 100.0 * p / (1.0 + np.log1p(d * d))
        e = 100.0 - np.minimum(100.0, np.maximum(1.0, raw))
    e[first] = np.nan
    e[~(l0 > 0) | ~np.isfinite(l0)] = np.nan
    return np.asarray(e, dtype=np.float64)


@dataclass
class Analysis:
    """Per-point frame (with ``smoothed`` and ``index``) and per-run summary."""

    points: pd.DataFrame
    summary: pd.DataFrame
    config: Config
    costs: Costs


def compute_points(series: pd.DataFrame, smoothing: float | None) -> pd.DataFrame:
    """Add ``smoothed`` and ``index`` to a one-metric-per-run frame.

    Non-finite values are left out of both (NaN there).
    """
    pts = series.reset_index(drop=True)
    run_codes = pts[schema.RUN].cat.codes.to_numpy().astype(np.int64)
    value = pts[schema.VALUE].to_numpy()
    finite = np.isfinite(value)
    fin_idx = np.flatnonzero(finite)
    g = run_codes[fin_idx]
    n_cats = len(pts[schema.RUN].cat.categories)
    counts = np.bincount(g, minlength=n_cats)
    weight = auto_smoothing(counts) if smoothing is None else np.full(n_cats, float(smoothing))
    sm = smooth(value[fin_idx], g, weight)
    smoothed = np.full(value.size, np.nan)
    smoothed[fin_idx] = sm
    index = np.full(value.size, np.nan)
    index[fin_idx] = gdei(sm, g)
    out = pts.copy()
    out[schema.SMOOTHED] = smoothed
    out[schema.INDEX] = index
    out.attrs["smoothing"] = {
        str(c): float(weight[i]) for i, c in enumerate(pts[schema.RUN].cat.categories)
    }
    return out


# --------------------------------------------------------------------------- stop


def _at(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``arr[idx]`` with NaN where idx < 0."""
    out = np.full(idx.shape, np.nan)
    ok = idx >= 0
    out[ok] = arr[idx[ok]]
    return out


def find_stops(points: pd.DataFrame, config: Config, costs: Costs) -> pd.DataFrame:
    """Where each run should have stopped, what that saves, and a verdict."""
    runs = pd.Index(points[schema.RUN].cat.categories)
    present = np.bincount(points[schema.RUN].cat.codes.to_numpy(), minlength=len(runs)) > 0
    runs_present = runs[present]
    n_runs = len(runs)
    code = points[schema.RUN].cat.codes.to_numpy().astype(np.int64)
    step = points[schema.STEP].to_numpy()
    value = points[schema.VALUE].to_numpy()
    wall = points[schema.WALL_TIME].to_numpy()
    sm = points[schema.SMOOTHED].to_numpy()
    idx = points[schema.INDEX].to_numpy()
    n = step.size
    pos = np.arange(n)

    def per_run_min(a: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(n_runs, fill)
        np.minimum.at(out, code, a)
        return out

    def per_run_max(a: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(n_runs, fill)
        np.maximum.at(out, code, a)
        return out

    n_points = np.bincount(code, minlength=n_runs)
    first_pos = per_run_min(pos.astype(np.float64), np.inf)
    last_pos = per_run_max(pos.astype(np.float64), -np.inf)
    fp = np.where(present, first_pos, 0).astype(np.int64)
    lp = np.where(present, last_pos, 0).astype(np.int64)
    first_step = step[fp].astype(np.float64)
    last_step = step[lp].astype(np.float64)
    length = last_step - first_step

    finite = np.isfinite(value)
    last_fin_pos = per_run_max(np.where(finite, pos, -1).astype(np.float64), -1).astype(np.int64)
    n_finite = np.bincount(code[finite], minlength=n_runs)
    diverged = present & (last_fin_pos < lp)
    div_pos = np.where(diverged, last_fin_pos + 1, -1)
    diverged_step = _at(step.astype(np.float64), div_pos)
    trailing = pos > last_fin_pos[code]
    nonfinite_isolated = np.bincount(code[~finite & ~trailing], minlength=n_runs)

    first_fin_pos = per_run_min(np.where(finite, pos, n).astype(np.float64), n).astype(np.int64)
    l0 = _at(sm, np.where(first_fin_pos < n, first_fin_pos, -1))
    undefined = ~(l0 > 0) | (n_finite < 2)

    # plateau rule: index improvement over the trailing window
    window = np.maximum(config.window.steps(length), 1.0)
    warmup = config.warmup.steps(length)
    has_idx = np.isfinite(idx)
    cand = np.flatnonzero(has_idx)
    stop_pos = np.full(n_runs, -1, dtype=np.int64)
    if cand.size:
        c_code = code[cand]
        c_step = step[cand].astype(np.float64)
        target = c_step - window[c_code]
        left = pd.DataFrame({"r": c_code, "t": target, "p": cand}).sort_values(["t"], kind="stable")
        right = pd.DataFrame({"r": c_code, "t": c_step, "e": idx[cand]}).sort_values(
            ["t"], kind="stable"
        )
        merged = pd.merge_asof(left, right, on="t", by="r", direction="backward")
        merged = merged.sort_values("p", kind="stable")
        back = merged["e"].to_numpy()
        improvement = back - idx[cand]
        eligible = np.isfinite(back) & (
            c_step >= first_step[c_code] + np.maximum(warmup[c_code], window[c_code])
        )
        fires = eligible & (improvement < config.threshold)
        hit = cand[fires]
        if hit.size:
            first_hit = np.full(n_runs, n, dtype=np.int64)
            np.minimum.at(first_hit, code[hit], hit)
            stop_pos = np.where(first_hit < n, first_hit, -1)
    fired = stop_pos >= 0
    # a diverged run stops at its last finite point at the latest
    stop_pos = np.where(diverged & (~fired | (stop_pos > last_fin_pos)), last_fin_pos, stop_pos)
    stop_pos = np.where(undefined, -1, stop_pos)
    no_stop = ~undefined & (stop_pos < 0)
    stop_pos = np.where(no_stop, lp, stop_pos)
    stop_pos = np.where(present, stop_pos, -1)

    stop_step = _at(step.astype(np.float64), stop_pos)
    steps_saved = last_step - stop_step
    with np.errstate(divide="ignore", invalid="ignore"):
        waste_pct = np.where(length > 0, 100.0 * steps_saved / length, 0.0)
    waste_pct = np.where(np.isnan(stop_step), np.nan, waste_pct)

    # wall clock: the series' own times, else seconds per step
    wall_at_stop = _at(wall, stop_pos)
    wall_last = per_run_max(np.where(np.isfinite(wall), wall, -np.inf), -np.inf)
    wall_saved = wall_last - wall_at_stop
    wall_saved = np.where(np.isfinite(wall_saved), np.maximum(wall_saved, 0.0), np.nan)
    if costs.seconds_per_step is not None:
        wall_saved = np.where(
            np.isnan(wall_saved), steps_saved * costs.seconds_per_step, wall_saved
        )
    gpu_hours = wall_saved / 3600.0 * costs.gpus
    cost = (
        gpu_hours * costs.gpu_hour_cost
        if costs.gpu_hour_cost is not None
        else np.full(n_runs, np.nan)
    )

    loss_at_stop = _at(sm, stop_pos)
    # a diverged run has no final loss: it ended in NaN/inf
    final_loss = _at(sm, np.where((last_fin_pos >= 0) & ~diverged, last_fin_pos, -1))
    best_loss = per_run_min(np.where(np.isfinite(sm), sm, np.inf), np.inf)
    best_loss = np.where(np.isfinite(best_loss), best_loss, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss_cost = 100.0 * (loss_at_stop - final_loss) / np.abs(final_loss)
        loss_vs_best = 100.0 * (loss_at_stop - best_loss) / np.abs(best_loss)

    verdict = np.full(n_runs, "still improving", dtype=object)
    wasteful = fired & (waste_pct > config.efficient_waste_pct)
    verdict[fired & ~wasteful] = "efficient"
    verdict[wasteful] = "wasteful"
    verdict[diverged] = "diverged"
    verdict[undefined] = "index undefined"

    note = np.full(n_runs, "", dtype=object)
    note[undefined & (n_finite < 2)] = "fewer than 2 finite points"
    note[undefined & (n_finite >= 2) & ~(l0 > 0)] = "first loss <= 0: index undefined"
    for i in np.flatnonzero(diverged):
        note[i] = f"diverged at step {int(diverged_step[i])}"
    iso = nonfinite_isolated > 0
    note[iso] = [
        (f"{t}; " if t else "") + f"{k} non-finite point(s) left out"
        for t, k in zip(note[iso], nonfinite_isolated[iso], strict=True)
    ]

    smoothing_of = points.attrs.get("smoothing", {})
    metric_of = (
        points.groupby(schema.RUN, observed=True)[schema.METRIC].first().astype(str)
        if n
        else pd.Series(dtype=object)
    )
    summary = pd.DataFrame(
        {
            "run": runs.astype(str),
            "metric": [str(metric_of.get(r, "")) for r in runs],
            "points": n_points,
            "first_step": first_step,
            "last_step": last_step,
            "stop_step": stop_step,
            "steps_saved": steps_saved,
            "waste_pct": waste_pct,
            "wall_saved_s": wall_saved,
            "gpu_hours_saved": gpu_hours,
            "cost_saved": cost,
            "loss_at_stop": loss_at_stop,
            "final_loss": final_loss,
            "best_loss": best_loss,
            "loss_cost_pct": loss_cost,
            "loss_vs_best_pct": loss_vs_best,
            "verdict": verdict,
            "diverged_step": diverged_step,
            "nonfinite_points": (n_points - n_finite),
            "smoothing": [smoothing_of.get(str(r), np.nan) for r in runs],
            "note": note,
        }
    )
    summary = summary.loc[present].reset_index(drop=True)
    for col in ("first_step", "last_step", "stop_step", "steps_saved", "diverged_step"):
        summary[col] = summary[col].astype("Int64")
    assert list(summary["run"]) == [str(r) for r in runs_present]
    return summary


def analyze(
    frame: pd.DataFrame,
    *,
    metric: str | None = None,
    config: Config | None = None,
    costs: Costs | None = None,
) -> Analysis:
    """Index every run of a canonical frame and find where each should have stopped."""
    config = config or Config()
    costs = costs or Costs()
    series, missing = select_series(frame, metric)
    series = series.assign(**{schema.RUN: series[schema.RUN].cat.remove_unused_categories()})
    # extreme but legal inputs (1e-300, 1e300) overflow to inf here; those
    # results are handled as non-finite downstream, so the warnings are noise
    with np.errstate(all="ignore"):
        points = compute_points(series, config.smoothing)
        summary = find_stops(points, config, costs)
    if missing:
        extra = pd.DataFrame(
            {
                "run": list(missing),
                "metric": [None] * len(missing),
                "points": [0] * len(missing),
                "verdict": [NO_METRIC] * len(missing),
                "note": [f"metrics: {', '.join(m)}" for m in missing.values()],
            }
        )
        summary = pd.concat([summary, extra], ignore_index=True)
        summary = summary.sort_values("run", kind="stable").reset_index(drop=True)
    summary = summary[list(SUMMARY_COLUMNS)]
    return Analysis(points=points, summary=summary, config=config, costs=costs)


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
