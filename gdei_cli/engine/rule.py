"""Where each run should have stopped, and the verdict: vectorized over all runs.

Inputs are :class:`Series` (a run-sorted set of points with their smoothed
and normalised values); outputs are per-run arrays.  The rule, in order:

1. **diverged**: the training loss ends in NaN/inf, or it climbed back to
   about its starting level and stayed there (it gave back at least 3/4 of
   what it had removed, over the last 10% of the run: a collapse).
2. The **stop** (``hindsight``) is the first logged step where the objective
   came within ``tolerance`` index points of its best (before any
   divergence): after it, the objective never improved by more than the
   tolerance.  ``live`` replays the index's plateau rule instead.
3. **over-fitting**: the objective (distinct from the loss) ended more than
   the tolerance worse than its best, over the whole final window, while the
   training loss kept falling.
4. **still improving**: the stop lies in the final ``end_window`` of the run
   (the objective still gained more than the tolerance there), or the run
   was cut short (see :mod:`gdei_cli.engine.evidence`): a flat stretch of
   an unfinished run is not convergence.
5. **efficient** / **wasteful**: at most / more than ``efficient_waste`` % of
   the run came after the stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdei_cli.config import Config, Rule, Verdict
from gdei_cli.engine.index import gdei
from gdei_cli.engine.segments import Segments, group_medians, range_medians, search_steps, spans

#: a collapse: the loss had removed at least this many index points ...
COLLAPSE_MIN_GAIN = 20.0
#: ... and gave back at least this share of them, over the run's last tenth
COLLAPSE_GIVEN_BACK = 0.75
COLLAPSE_TAIL = 0.10
#: a mismatch of step axes (epochs vs steps) above this factor is mapped
AXIS_FACTOR = 5.0
#: over-fitting: the objective ends this many tolerances above its best
OVERFIT_MARGIN = 2.0
#: a steady trend must gain at least this share of the tolerance in all
STEADY_FLOOR = 0.01


@dataclass
class Series:
    """One series per run, rows sorted by run then step.

    ``y`` is the loss-like form (lower is better), ``smoothed`` its EMA,
    ``norm`` = 100 * smoothed / |first smoothed value| (index points).
    """

    segs: Segments
    step: np.ndarray  # float64 (objective steps may be mapped onto the loss axis)
    value: np.ndarray  # as logged
    y: np.ndarray
    smoothed: np.ndarray
    norm: np.ndarray
    wall: np.ndarray
    weight: np.ndarray  # per run: the EMA weight used

    def warm(self) -> np.ndarray:
        """Rows inside the smoother's warm-up (its first span of points, minus one)."""
        span = (1.0 + self.weight) / (1.0 - self.weight)  # w = 1 - 2 / (span + 1)
        segs = self.segs
        # never more than half of a series; a row is warm below its segment's start + that
        warm = np.minimum(np.floor(span)[segs.ids] - 1, segs.lengths // 2)
        return np.asarray(np.arange(self.step.size) < segs.rows(segs.starts + warm), dtype=bool)


@dataclass
class Judgement:
    """Per-run results (arrays indexed by run code)."""

    first_step: np.ndarray
    last_step: np.ndarray
    stop_row: np.ndarray  # row of the loss series, -1 where none
    stop_step: np.ndarray
    live_stop_step: np.ndarray
    best_row: np.ndarray  # row of the objective series
    best_step: np.ndarray
    hind_row: np.ndarray  # objective row of the stop
    final_row: np.ndarray  # objective row: last valid
    diverged_step: np.ndarray
    collapsed: np.ndarray
    nonfinite_tail: np.ndarray
    undefined: np.ndarray
    overfit: np.ndarray
    improving: np.ndarray
    steady: np.ndarray  # still improving by steady new bests
    new_bests: np.ndarray  # ... at this many of
    end_evals: np.ndarray  # ... the end window's evaluations
    cut_short: np.ndarray
    waste_pct: np.ndarray
    verdict: np.ndarray
    mapped: np.ndarray  # the objective's steps were mapped onto the loss's axis
    loss_falling: np.ndarray
    last_fin_row: np.ndarray
    n_finite: np.ndarray  # finite loss values


def map_axes(loss: Series, obj: Series, n: int) -> np.ndarray:
    """Map objective steps logged on a coarser axis (epochs) onto the loss's axis."""
    lf = loss.segs.per_run(loss.step[loss.segs.starts])
    ll = loss.segs.per_run(loss.step[loss.segs.ends - 1])
    of = obj.segs.per_run(obj.step[obj.segs.starts])
    ol = obj.segs.per_run(obj.step[obj.segs.ends - 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = (ll - lf) / (ol - of)
    mapped = np.isfinite(factor) & (factor > AXIS_FACTOR)
    rows = obj.segs.of_run(mapped)
    if rows.any():
        c = obj.segs.codes[rows]
        obj.step = obj.step.astype(np.float64)
        obj.step[rows] = lf[c] + (obj.step[rows] - of[c]) * factor[c]
    return np.asarray(mapped, dtype=bool)


def _collapse(loss: Series, length: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs whose loss climbed back near its start and stayed; and from which step.

    Judged on medians of blocks of 5% of each run's points, so that neither
    minibatch noise nor one lucky dip looks like learning or collapse: the
    run *learned* when its lowest block sits at least 20 points under its
    start, and *collapsed* when its last 10% (median) gave back at least 3/4
    of that.
    """
    segs = loss.segs
    n = segs.n_runs
    fin = np.isfinite(loss.norm)
    all_fin = bool(fin.all())
    n_fin = segs.count(fin)
    counts = segs.per_run(n_fin, 0)
    block: np.ndarray | None = None
    if all_fin:  # (each block's rows known from its run's length: no key per row)
        key, meds = _block_medians(segs, loss.norm)
    else:
        block = blocks_of(segs, fin, n_fin, all_fin)
        # one integer key per (run, block): blocks of a run are contiguous and ascending
        key, meds = group_medians(loss.norm[fin], (segs.codes * 20 + block)[fin])
    codes, blocks = key // 20, key % 20
    low = np.full(n, np.nan)
    if key.size:
        low_at = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        low[codes[low_at]] = np.fmin.reduceat(meds, low_at)
    gain = 100.0 - low
    tail = fin & (loss.step >= segs.of_run(last - COLLAPSE_TAIL * length))
    end = np.full(n, np.nan)
    if tail.any():
        tail_codes, tail_meds = group_medians(loss.norm[tail], segs.codes[tail])
        end[tail_codes] = tail_meds
    collapsed = (
        (counts >= 10) & (gain >= COLLAPSE_MIN_GAIN) & (end >= low + COLLAPSE_GIVEN_BACK * gain)
    )
    # it collapsed from the first block after the last one still below half-way back
    below = meds < (low + 0.5 * gain)[codes]
    last_below = np.full(n, -1)
    c_below, b_below = codes[below], blocks[below]
    if c_below.size:
        last_of_run = np.r_[c_below[1:] != c_below[:-1], True]  # blocks ascend within a run
        last_below[c_below[last_of_run]] = b_below[last_of_run]
    if not collapsed.any():
        return collapsed, np.full(n, np.nan)
    first_after = np.where(collapsed, last_below + 1, -1)
    if block is None:
        block = blocks_of(segs, fin, n_fin, all_fin)
    at = fin & (block == segs.of_run(first_after))
    row = segs.per_run(segs.first_true(at), -1).astype(np.int64)
    step = np.where(collapsed & (row >= 0), loss.step[np.maximum(row, 0)], np.nan)
    return collapsed, step


def _block_medians(segs: Segments, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`group_medians` of *values* (every one finite) keyed by ``20 * run + block``
    (:func:`blocks_of`): the blocks' rows laid out from each run's length."""
    bounds = _block_bounds(segs)
    lengths = np.diff(bounds).ravel()
    starts = (bounds[:, :20] + segs.starts[:, None]).ravel()
    keys = (segs.ids.astype(np.int64)[:, None] * 20 + np.arange(20)[None, :]).ravel()
    kept = lengths > 0  # (a run of fewer than 20 rows has empty blocks)
    return keys[kept], range_medians(values, starts[kept], lengths[kept])


def _block_bounds(segs: Segments) -> np.ndarray:
    """Per run, where each of its 20 blocks of all-finite rows begins, and its end
    (relative to the run's first row): block b of a run of L rows holds ranks
    ceil(b L / 20) up to ceil((b + 1) L / 20)."""
    return np.asarray((np.arange(21)[None, :] * segs.lengths[:, None] + 19) // 20)


def blocks_of(segs: Segments, fin: np.ndarray, n_fin: np.ndarray, all_fin: bool) -> np.ndarray:
    """Each row's block of 5% of its run's finite rows: ``20 * rank // count`` (a
    non-finite row gets the block of the finite row before it)."""
    if all_fin:  # laid out with one repeat, no division per row
        bounds = _block_bounds(segs)
        return np.repeat(np.tile(np.arange(20), segs.starts.size), np.diff(bounds).ravel())
    rank = segs.rank(fin, n_fin)
    return np.asarray(np.minimum((20 * rank) // np.maximum(segs.rows(n_fin), 1), 19))


def _live_stop(loss: Series, cfg: Config, first: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The replayable plateau rule: first step where the index gained < threshold over window."""
    segs = loss.segs
    idx = gdei(loss.norm, segs)  # the index of the normalised loss: free of units
    window = np.maximum(cfg.window.steps(length), 1.0)
    warmup = cfg.warmup.steps(length)
    if segs.starts.size == 0:
        return np.full(segs.n_runs, np.nan)
    # every row against the index one window back (NaN rows never fire)
    back = segs.lookback(loss.step, window[segs.ids])
    # the index is finite or NaN, and a NaN compares false (a row with no row a window
    # back reads row 0 here, and is not valid below)
    gained = np.take(idx, back, mode="clip")
    gained -= idx
    fires = gained < cfg.threshold
    del gained
    fires &= back >= segs.rows(segs.starts)
    fires &= loss.step >= segs.of_run(first + np.maximum(warmup, window))
    row = segs.per_run(segs.first_true(fires), -1).astype(np.int64)
    return np.where(row >= 0, loss.step[np.maximum(row, 0)], np.nan)


def lr_unfinished(lr: Series, last: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Runs whose learning rate was visibly mid-schedule at the end.

    Either still warming up (its last value is its peak, reached by rising
    over its last tenth), or in the middle of a smooth decay: one that moved at
    most points after the peak, never rose again, still stands above 10% of
    the peak, and had not flattened (its last tenth of points still removed at
    least 5% of the drop so far; a finished cosine removes about 2%).
    """
    segs = lr.segs
    n = segs.n_runs
    if lr.step.size == 0:
        return np.zeros(n, dtype=bool)
    v = lr.value
    peak = segs.per_run(segs.max(v))
    lastv = segs.per_run(v[segs.ends - 1])
    covers = segs.per_run(lr.step[segs.ends - 1]) >= (last - 0.1 * length)
    is_peak = v >= segs.of_run(peak) * (1 - 1e-9)
    peak_row = segs.per_run(segs.first_true(is_peak), -1).astype(np.int64)
    after = np.arange(v.size) > segs.of_run(peak_row)
    d = np.r_[0.0, np.diff(v)]
    d[segs.starts] = 0.0
    n_after = segs.per_run(segs.count(after), 0)
    changes = segs.per_run(segs.count(after & (np.abs(d) > 1e-12 * np.abs(v))), 0)
    rises = segs.per_run(segs.count(after & (d > 1e-9 * np.abs(v))), 0)
    n_pts = segs.per_run(segs.lengths, 0)
    start = segs.per_run(segs.starts, 0).astype(np.int64)
    ref = start + np.floor(0.9 * (n_pts - 1)).astype(np.int64)
    ref_v = np.where(n_pts >= 3, v[np.clip(ref, 0, v.size - 1)], np.nan)
    warming = (n_pts >= 3) & (lastv >= peak * (1 - 1e-9)) & (ref_v < lastv)
    with np.errstate(divide="ignore", invalid="ignore"):
        steep = (ref_v - lastv) >= 0.05 * (peak - lastv)
    decaying = (changes >= 4) & (changes >= 0.5 * n_after) & (rises == 0)
    unfinished = warming | (decaying & (lastv > 0.1 * peak) & steep)
    return np.asarray(covers & unfinished, dtype=bool)


def _steady(
    obj: Series, valid: np.ndarray, in_end: np.ndarray, best: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs whose objective kept setting new bests through the end window.

    At half or more of its evaluations there, with its last one within the
    tolerance of its best, and gaining at least ``STEADY_FLOOR`` x tolerance in
    all (a converged deterministic descent creeps by far less).
    """
    segs = obj.segs
    v = np.where(valid, obj.norm, np.inf)
    m = segs.per_run(segs.count(in_end), 0)
    m_new = segs.per_run(_new_bests(segs, v, in_end), 0)
    before = valid & ~in_end
    best_before = segs.per_run(segs.min(np.where(before, obj.norm, np.nan)))
    last_row = segs.per_run(segs.last_true(valid), -1).astype(np.int64)
    last_v = segs.at(obj.norm, last_row)
    gain = best_before - best
    steady = (m >= 3) & (m_new >= 0.5 * m) & (last_v <= best + tol) & (gain > STEADY_FLOOR * tol)
    return np.asarray(steady, dtype=bool), m_new, m


def _last_three(segs: Segments, valid: np.ndarray, in_end: np.ndarray) -> np.ndarray:
    """The valid rows of the end window, and each segment's last three valid rows."""
    out = in_end & valid
    back = segs.ends[:, None] - np.arange(1, 4)  # each segment's last three rows
    inside = back >= segs.starts[:, None]
    at = back[inside]
    if valid[at].all():  # the usual end: its last rows are its last valid rows
        out[at] = True
        return np.asarray(out, dtype=bool)
    n_valid = segs.count(valid)
    rank = segs.rank(valid, n_valid)
    return np.asarray(out | (valid & (rank >= segs.rows(n_valid) - 3)), dtype=bool)


def _new_bests(segs: Segments, v: np.ndarray, in_end: np.ndarray) -> np.ndarray:
    """Per segment: how many *in_end* rows set a new low of *v* (below every earlier
    row of the segment).  The *in_end* rows of a segment are the last of its
    rows from its first *in_end* row on, so the running minimum is taken only
    there, started from the minimum of the rows before."""
    from_row = segs.first_true(in_end)
    has = from_row >= 0
    out = np.zeros(segs.starts.size, dtype=np.int64)
    if not has.any():
        return out
    # the minimum of each segment's rows before its first in_end row (+inf if none):
    # one reduceat over (start, from) pairs, whose even slots are those prefixes
    start, cut = segs.starts[has], from_row[has]
    bounds = np.empty(2 * start.size, dtype=np.int64)
    bounds[0::2], bounds[1::2] = start, cut
    before = np.where(cut > start, np.fmin.reduceat(v, bounds)[0::2], np.inf)
    # the rows from there to the segment's end, as their own segments
    length = segs.ends[has] - cut
    rows, tail_starts = spans(cut, length)
    tail_segs = Segments(
        np.repeat(segs.ids[has], length), tail_starts, tail_starts + length, segs.ids[has],
        segs.n_runs,
    )  # fmt: skip
    vt = v[rows]
    prev = np.r_[np.inf, tail_segs.cummin(vt)[:-1]]
    prev[tail_starts] = np.inf
    prev = np.fmin(prev, tail_segs.rows(before))
    out[has] = tail_segs.count(in_end[rows] & (vt < prev))
    return out


def _take(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]`` as float, NaN where a row is -1 (a run with no such row)."""
    if values.size == 0:
        return np.full(rows.shape, np.nan)
    got = values[np.clip(rows, 0, values.size - 1)].astype(np.float64)
    return np.where(rows >= 0, got, np.nan)


def judge(
    loss: Series,
    obj: Series,
    obj_is_loss: np.ndarray,
    planned_cut: np.ndarray,
    lr_cut: np.ndarray,
    early_stopped: np.ndarray,
    cfg: Config,
    mapped: np.ndarray,
) -> Judgement:
    """Stops and verdicts for every run (arrays by run code)."""
    ls, os_ = loss.segs, obj.segs
    n = ls.n_runs
    l_first = ls.per_run(loss.step[ls.starts])
    l_last = ls.per_run(loss.step[ls.ends - 1])
    o_first = os_.per_run(obj.step[os_.starts])
    o_last = os_.per_run(obj.step[os_.ends - 1])
    first = np.fmin(l_first, o_first)
    last = np.fmax(l_last, o_last)
    length = last - first

    # 1. divergence -----------------------------------------------------------
    fin = np.isfinite(loss.value)
    last_fin = ls.per_run(ls.last_true(fin), -1).astype(np.int64)
    end_row = ls.per_run(ls.ends - 1, -1).astype(np.int64)
    n_finite = ls.per_run(ls.count(fin), 0)
    first_fin = ls.per_run(ls.first_true(fin), -1).astype(np.int64)
    l0 = ls.at(loss.y, first_fin)
    undefined = ~(l0 > 0) | (n_finite < 2)
    nonfinite_tail = (last_fin >= 0) & (last_fin < end_row)
    tail_step = np.where(
        nonfinite_tail, _take(loss.step, np.minimum(last_fin + 1, end_row)), np.nan
    )
    collapsed, collapse_step = _collapse(loss, length, last)
    collapsed &= ~undefined
    diverged_step = np.fmin(tail_step, collapse_step)
    diverged = (nonfinite_tail | collapsed) & ~undefined

    # 2. the hindsight stop on the objective ----------------------------------
    cut_at = np.where(np.isfinite(diverged_step), diverged_step, np.inf)
    valid = np.isfinite(obj.norm) & ~obj.warm()
    if np.isfinite(cut_at).any():  # steps are finite: below an infinite cut, every one
        valid &= obj.step < os_.of_run(cut_at)
    best = os_.per_run(os_.min(np.where(valid, obj.norm, np.nan)))
    tol = cfg.tolerance
    near = valid & (obj.norm <= os_.of_run(best + tol))
    hind_row = os_.per_run(os_.first_true(near), -1).astype(np.int64)
    # an objective with nothing left to judge leaves the run undefined
    undefined |= ~np.isfinite(best)
    diverged &= ~undefined
    best_row = os_.per_run(os_.first_true(valid & (obj.norm <= os_.of_run(best))), -1)
    best_row = best_row.astype(np.int64)
    final_row = os_.per_run(os_.last_true(valid), -1).astype(np.int64)
    hind_step = os_.at(obj.step, hind_row)
    best_step = os_.at(obj.step, best_row)

    # snap onto the loss's logged steps (the index's axis)
    codes = np.arange(n)
    has = np.isfinite(hind_step)
    q = np.ceil(np.where(has, hind_step, 0.0))
    pos = search_steps(ls.codes, loss.step, codes, q, side="left")
    start_row = ls.per_run(ls.starts, 0).astype(np.int64)
    pos = np.clip(pos, start_row, np.maximum(end_row, 0))
    stop_row = np.where(has, np.minimum(pos, np.where(last_fin >= 0, last_fin, pos)), -1)

    # the live rule, always computed (shown beside the hindsight stop)
    live_step = _live_stop(loss, cfg, first, length)
    live_step = np.where(diverged & (live_step > cut_at), np.nan, live_step)

    if cfg.rule is Rule.LIVE:
        fired = np.isfinite(live_step)
        q = np.where(fired, live_step, np.where(diverged, cut_at, l_last))
        q = np.where(np.isfinite(q), q, 0.0)
        pos = search_steps(ls.codes, loss.step, codes, np.ceil(q), side="left")
        pos = np.clip(pos, start_row, np.maximum(end_row, 0))
        stop_row = np.where(diverged & ~fired, last_fin, pos)
        has = ~undefined
    stop_row = np.where(undefined | (n_finite == 0), -1, stop_row)
    stop_step = ls.at(loss.step, stop_row)
    with np.errstate(divide="ignore", invalid="ignore"):
        waste = np.where(length > 0, 100.0 * (last - stop_step) / length, 0.0)
    waste = np.where(np.isfinite(stop_step), waste, np.nan)

    # 3. over-fitting -------------------------------------------------------------
    end_from = last - cfg.end_window / 100.0 * length
    in_end = valid & (obj.step >= os_.of_run(end_from))
    in_end[final_row[final_row >= 0]] = True  # each run's last valid evaluation
    end_best = os_.per_run(os_.min(np.where(in_end, obj.norm, np.nan)))
    stayed_worse = end_best > best + OVERFIT_MARGIN * tol
    l_at_stop = ls.at(loss.norm, stop_row)
    l_fin = np.isfinite(loss.norm)
    l_last_row = ls.per_run(ls.last_true(l_fin), -1).astype(np.int64)
    l_end = ls.at(loss.norm, l_last_row)
    loss_falling = l_end < l_at_stop - tol
    overfit = ~obj_is_loss & stayed_worse & loss_falling & ~diverged & ~undefined
    if cfg.rule is Rule.LIVE:
        overfit[:] = False

    # 4. still improving / cut short --------------------------------------------
    steady = np.zeros(n, dtype=bool)
    new_bests = end_evals = np.zeros(n, dtype=np.int64)
    if cfg.rule is Rule.LIVE:
        improving = ~np.isfinite(live_step) & ~diverged
    else:
        # the objective came within the tolerance of its best only in the end
        # window: it gained more than the tolerance there
        improving = has & (hind_step >= end_from)
        # a steady trend: new bests at most evaluations of the end window (at
        # least its last three evaluations), however small each step
        steady, new_bests, end_evals = _steady(
            obj, valid, _last_three(os_, valid, in_end), best, tol
        )
        improving |= steady
    cut_short = (planned_cut | lr_cut) & ~early_stopped

    verdict = np.where(waste <= cfg.efficient_waste, Verdict.EFFICIENT, Verdict.WASTEFUL)
    verdict = verdict.astype(object)
    verdict[improving | cut_short] = Verdict.STILL_IMPROVING
    verdict[overfit] = Verdict.OVER_FITTING
    verdict[diverged] = Verdict.DIVERGED
    verdict[undefined] = Verdict.INDEX_UNDEFINED
    # a run that should not have stopped yet has no stop before its end
    go_on = verdict == Verdict.STILL_IMPROVING
    stop_row = np.where(go_on, np.where(last_fin >= 0, last_fin, stop_row), stop_row)
    stop_step = ls.at(loss.step, stop_row)
    waste = np.where(
        go_on & np.isfinite(stop_step),
        100.0 * (last - stop_step) / np.where(length > 0, length, 1.0),
        waste,
    )
    return Judgement(
        first_step=first,
        last_step=last,
        stop_row=stop_row,
        stop_step=stop_step,
        live_stop_step=live_step,
        best_row=best_row,
        best_step=best_step,
        hind_row=hind_row,
        final_row=final_row,
        diverged_step=np.where(diverged, diverged_step, np.nan),
        collapsed=collapsed & ~nonfinite_tail,
        nonfinite_tail=nonfinite_tail,
        undefined=undefined,
        overfit=overfit,
        improving=improving,
        steady=steady & ~(has & (hind_step >= end_from)),
        new_bests=new_bests,
        end_evals=end_evals,
        cut_short=cut_short,
        waste_pct=waste,
        verdict=verdict,
        mapped=mapped,
        loss_falling=loss_falling,
        last_fin_row=last_fin,
        n_finite=n_finite,
    )
