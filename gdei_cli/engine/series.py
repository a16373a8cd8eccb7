"""From the canonical frame to the per-run series the rule reads.

:func:`plan` decides, per run, which metric is the training loss and which is
the objective (names only, see :mod:`gdei_cli.engine.select`);
:func:`extract` gathers their points with one O(n) table look-up over the
frame (it is sorted by run, metric, step, so every selected series comes out
sorted by run, then step); :func:`prepare` smooths and normalises them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from gdei_cli import schema
from gdei_cli.config import Mode
from gdei_cli.engine import select
from gdei_cli.engine.index import smooth_finite, smoothing_weights
from gdei_cli.engine.rule import Series
from gdei_cli.engine.segments import Segments, group_medians, range_medians, spans
from gdei_cli.errors import MetricNotFoundError


@dataclass
class Plan:
    """Per analysed run (index = new run code): what it is judged on."""

    runs: list[str]  # analysed runs, in frame order
    picks: list[select.Pick]
    lr: list[str | None]
    missing: dict[str, list[str]] = field(default_factory=dict)  # run -> its metrics
    why: dict[str, str] = field(default_factory=dict)  # run -> why it has no loss, if unusual


@dataclass
class Frame:
    """The frame's columns as arrays, with (run, metric) pair codes.

    The codes keep the categoricals' own (small, >= 0) integer dtypes: widen
    them before arithmetic that may not fit (:meth:`_keys`)."""

    run_code: np.ndarray
    metric_code: np.ndarray
    run_names: list[str]
    metric_names: list[str]
    step: np.ndarray
    value: np.ndarray
    wall: np.ndarray
    #: each run's code by name (see :meth:`run_codes`): built once, and shared by the
    #: frames of a batch of runs, which list every run's name
    run_index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Frame:
        run = frame[schema.RUN].cat
        metric = frame[schema.METRIC].cat
        return cls(
            run_code=run.codes.to_numpy(),
            metric_code=metric.codes.to_numpy(),
            run_names=[str(c) for c in run.categories],
            metric_names=[str(c) for c in metric.categories],
            step=frame[schema.STEP].to_numpy(),
            value=frame[schema.VALUE].to_numpy(dtype=np.float64),
            wall=frame[schema.WALL_TIME].to_numpy(dtype=np.float64),
        )

    def run_codes(self) -> dict[str, int]:
        """Each run's code (its place in ``run_names``) by name, made on first use."""
        if len(self.run_index) != len(self.run_names):
            self.run_index.clear()
            self.run_index.update((name, i) for i, name in enumerate(self.run_names))
        return self.run_index

    @property
    def width(self) -> int:
        return max(len(self.metric_names), 1)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The (run, metric) pairs present, as codes, in frame order (O(n), no sort).

        Also remembers where each pair's rows lie, for :meth:`values_of`.
        """
        n = self.run_code.size
        if n == 0:
            self._blocks: dict[int, tuple[int, int]] = {}
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        # a pair starts where its run or its metric changes (the small codes compared)
        change = self.run_code[1:] != self.run_code[:-1]
        change |= self.metric_code[1:] != self.metric_code[:-1]
        starts = np.r_[0, np.flatnonzero(change) + 1]
        ends = np.r_[starts[1:], n]
        k = self._keys(starts)
        self._blocks = dict(
            zip(k.tolist(), zip(starts.tolist(), ends.tolist(), strict=True), strict=True)
        )
        return k // self.width, k % self.width

    def _keys(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``run * width + metric`` of *rows*, in int64."""
        run = self.run_code[rows].astype(np.int64)
        run *= self.width
        run += self.metric_code[rows]
        return np.asarray(run, dtype=np.int64)

    def rows_of(self, wanted: dict[int, int]) -> np.ndarray | slice:
        """Rows of the (run code -> metric code) pairs, in frame order (rows that lie
        one after another, such as one run's series: a slice, so that the columns
        are taken as views, not copied)."""
        key = self._keys()
        size = len(self.run_names) * self.width
        want = np.array([r * self.width + m for r, m in wanted.items()], dtype=np.int64)
        if size <= 50_000_000:
            table = np.zeros(size, dtype=bool)
            table[want] = True
            mask = table[key]
        else:
            mask = np.isin(key, want)
        if mask.all():
            return slice(None)
        rows = np.flatnonzero(mask)
        if rows.size and int(rows[-1]) - int(rows[0]) + 1 == rows.size:
            return slice(int(rows[0]), int(rows[-1]) + 1)
        return rows

    def block(self, run: int, metric: str) -> slice:
        """The rows of one (run, metric) pair (after :meth:`pairs`)."""
        ((start, end),) = self._bounds([run], metric)
        return slice(start, end)

    def blocks(self, runs: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Where the rows of each of *runs* (codes) for *metric* start, and how many
        there are (0 for a run without it): :meth:`block` of many runs."""
        bounds = self._bounds(runs.tolist(), metric)
        starts = np.array([a for a, _ in bounds], dtype=np.int64)
        return starts, np.array([b for _, b in bounds], dtype=np.int64) - starts

    def _bounds(self, runs: list[int], metric: str) -> list[tuple[int, int]]:
        if not hasattr(self, "_blocks"):
            self.pairs()
        m = self.metric_names.index(metric)
        return [self._blocks.get(r * self.width + m, (0, 0)) for r in runs]

    def values_of(self, run: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.block(run, metric)
        return self.step[rows], self.value[rows]


def plan(
    f: Frame,
    *,
    metric: str | None,
    objective: str | None,
    mode: Mode,
    attrs: Mapping[str, Mapping[str, str]],
    require_metric: bool = True,
) -> Plan:
    """What each run is judged on; with *require_metric*, no run with a loss is an error
    (without it, the caller decides, as the batched pipeline does over all its batches)."""
    run_codes, metric_codes = f.pairs()
    per_run: dict[int, list[str]] = {}
    for r, m in zip(run_codes.tolist(), metric_codes.tolist(), strict=True):
        per_run.setdefault(r, []).append(f.metric_names[m])
    out = Plan(runs=[], picks=[], lr=[])
    # runs of a folder mostly log the same metrics: pick once per set of names
    picked: dict[tuple[tuple[str, ...], str | None], select.Pick | None] = {}
    for r, names in per_run.items():
        run = f.run_names[r]
        fw = _hf_objective(f, r, names, attrs.get(run, {}))
        key = (tuple(names), fw)
        if key not in picked:  # (a name clash raises here, naming the first such run)
            picked[key] = select.pick(
                run, names, metric=metric, objective=objective, mode=mode, framework_objective=fw
            )
        got = picked[key]
        if got is None:
            out.missing[run] = sorted(names)
            continue
        if isinstance(got.loss, select.Derived) and not _share_a_step(f, r, got.loss):
            out.missing[run] = sorted(names)
            out.why[run] = f"the parts of {got.loss.name} were never logged at the same step"
            continue
        if isinstance(got.objective, select.Derived) and not _share_a_step(f, r, got.objective):
            note = f"the parts of {got.objective.name} never share a step: judged on the loss"
            got = replace(got, objective=got.loss, objective_source="training loss", note=note)
        out.runs.append(run)
        out.picks.append(got)
        out.lr.append(next((n for n in select.LR_NAMES if n in names), None))
    if not out.runs and require_metric:
        raise no_metric_error(metric, out.missing)
    return out


def no_metric_error(metric: str | None, missing: Mapping[str, list[str]]) -> MetricNotFoundError:
    """The error for inputs where no run has the training loss (or *metric*)."""
    what = f"metric {metric!r}" if metric else "training-loss metric"
    ordered = sorted(missing.items())
    listing = "; ".join(f"{r}: {select.name_list(m)}" for r, m in ordered[:5])
    if len(ordered) > 5:
        listing += f"; and {len(ordered) - 5:,} more run(s)"
    return MetricNotFoundError(
        f"no {what} in any run (metrics found: {listing or 'none'})",
        hint="pass --metric NAME",
    )


def _share_a_step(f: Frame, run: int, d: select.Derived) -> bool:
    """Whether every part of *d* was logged at one step at least once."""
    common: np.ndarray | None = None
    for name, _ in d.parts:
        steps = f.step[f.block(run, name)]
        common = steps if common is None else np.intersect1d(common, steps)
        if common.size == 0:
            return False
    return common is not None


def _hf_objective(f: Frame, run: int, names: list[str], attrs: Mapping[str, str]) -> str | None:
    if "best_metric" not in attrs:
        return None
    step = (
        attrs.get("best_global_step") or attrs.get("best_model_checkpoint", "").rsplit("-", 1)[-1]
    )
    try:
        at = int(float(step))
    except ValueError:
        return None
    values_at: dict[str, float] = {}
    for name in names:
        if name.startswith("eval_"):
            steps, vals = f.values_of(run, name)
            hit = np.flatnonzero(steps == at)
            if hit.size:
                values_at[name] = float(vals[hit[-1]])
    return select.hf_objective(attrs, values_at)


@dataclass
class Raw:
    """One role's points for every analysed run (codes = analysed run index)."""

    code: np.ndarray
    step: np.ndarray
    value: np.ndarray
    wall: np.ndarray
    names: list[str]  # per analysed run: the series' name
    #: the steps as the frame's integers, where each is what ``floor(step)`` gives back
    whole_step: np.ndarray | None = None


def extract(f: Frame, p: Plan, role: str) -> Raw:
    """The points of each run's loss, objective or LR series, sorted by run then step."""
    index = f.run_codes()
    wanted: dict[int, int] = {}
    new_code = np.full(len(f.run_names), -1, dtype=np.int64)
    derived: list[tuple[int, select.Derived]] = []
    names: list[str] = []
    mcode = {name: i for i, name in enumerate(f.metric_names)}
    for i, run in enumerate(p.runs):
        what = _picked(p, i, role)
        names.append(_name(what))
        r = index[run]
        new_code[r] = i
        if isinstance(what, select.Derived):
            derived.append((i, what))
        elif what is not None:
            wanted[r] = mcode[what]
    rows = f.rows_of(wanted) if wanted else np.zeros(0, dtype=np.int64)
    code = _recoded(new_code, f.run_code[rows])
    step = f.step[rows].astype(np.float64)
    value = f.value[rows]
    wall = f.wall[rows]
    if derived:
        by_what: dict[select.Derived, list[int]] = {}
        for i, d in derived:
            by_what.setdefault(d, []).append(i)
        parts = [
            derive(f, np.array([index[p.runs[i]] for i in idx]), np.array(idx), d)
            for d, idx in by_what.items()
        ]
        code = np.concatenate([code, *(x[0] for x in parts)])
        step = np.concatenate([step, *(x[1] for x in parts)])
        value = np.concatenate([value, *(x[2] for x in parts)])
        wall = np.concatenate([wall, *(x[3] for x in parts)])
        order = np.argsort(code, kind="stable")  # derived runs join their place
        code, step, value, wall = code[order], step[order], value[order], wall[order]
        return Raw(code, step, value, wall, names)
    whole = f.step[rows]
    exact = whole.dtype == np.int64 and (
        whole.size == 0 or (-(2**53) <= int(whole.min()) and int(whole.max()) <= 2**53)
    )
    return Raw(code, step, value, wall, names, whole if exact else None)


def role_names(p: Plan, role: str) -> list[str]:
    """Each planned run's name of its *role* series (as :func:`extract` gives them)."""
    return [_name(_picked(p, i, role)) for i in range(len(p.runs))]


def rows_bound(f: Frame, p: Plan, role: str) -> int:
    """At least as many rows as the planned runs' *role* series have: the frame's rows
    of every metric they are made of (the per-point columns are sized by it once, and
    only the rows written are ever touched)."""
    names: set[str] = set()
    for i in range(len(p.runs)):
        what = _picked(p, i, role)
        if isinstance(what, select.Derived):
            names.update(n for n, _ in what.parts)
        elif what is not None:
            names.add(what)
    # (a count per name in the codes' own dtype: bincount would widen them to 8 bytes)
    codes = [i for i, m in enumerate(f.metric_names) if m in names]
    return sum(int(np.count_nonzero(f.metric_code == c)) for c in codes)


def _picked(p: Plan, i: int, role: str) -> str | select.Derived | None:
    return {"loss": p.picks[i].loss, "objective": p.picks[i].objective, "lr": p.lr[i]}[role]


def _name(what: str | select.Derived | None) -> str:
    return what.name if isinstance(what, select.Derived) else (what or "")


def _recoded(new_code: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``new_code[codes]`` for run-sorted *codes*; a shift where the new codes of the
    runs they span count up by one (every run of a batch analysed)."""
    if codes.size == 0:
        return np.asarray(new_code[codes], dtype=np.int64)
    lo, hi = int(codes[0]), int(codes[-1])
    span = new_code[lo : hi + 1]
    if span[0] >= 0 and np.array_equal(span, span[0] + np.arange(span.size)):
        return np.asarray(codes - (lo - span[0]), dtype=np.int64)
    return np.asarray(new_code[codes], dtype=np.int64)


def derive(
    f: Frame, runs: np.ndarray, codes: np.ndarray, d: select.Derived
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The series *d* of the frame's *runs* (run codes), each under its code in
    *codes*: (code, step, value, wall time) by run, then step.

    A step is kept where every part was logged (each part's point counted: a part
    logged twice at a step is two); its value is the sum of weight x value over the
    parts, in their order, as pandas sums (Kahan's compensated sum, NaN skipped), and
    its wall time the latest logged.  One pass over all the runs' points, ordered by
    run then step (a stable sort: parts keep their order within a step), and a step
    of the sum per part, not a frame and a group-by per run.
    """
    rows_of, run_of, n_rows = [], [], []
    for name, _ in d.parts:
        starts, lengths = f.blocks(runs, name)
        rows_of.append(spans(starts, lengths)[0])
        run_of.append(np.repeat(np.arange(runs.size), lengths))
        n_rows.append(int(lengths.sum()))
    rows = np.concatenate(rows_of)
    run = np.concatenate(run_of)
    weight = np.repeat(np.array([w for _, w in d.parts], dtype=np.float64), n_rows)
    step = f.step[rows]
    order = np.lexsort((step, run))  # by run, then step; stable: parts in order
    run, step, rows, weight = run[order], step[order], rows[order], weight[order]
    wall = f.wall[rows]
    new = np.ones(run.size, dtype=bool)
    new[1:] = (run[1:] != run[:-1]) | (step[1:] != step[:-1])
    first = np.flatnonzero(new)
    size = np.diff(np.append(first, run.size))
    total = np.zeros(first.size)
    carry = np.zeros(first.size)
    latest = np.full(first.size, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        value = f.value[rows] * weight
        for j in range(int(size.max()) if size.size else 0):  # each step's j-th point
            live = np.flatnonzero(size > j)
            v, w = value[first[live] + j], wall[first[live] + j]
            logged = ~np.isnan(v)
            at, v = live[logged], v[logged]
            y = v - carry[at]
            t = total[at] + y
            c = (t - total[at]) - y
            carry[at] = np.where(c != c, 0.0, c)  # (an infinity: no carry, as in pandas)
            total[at] = t
            later = ~np.isnan(w) & (np.isnan(latest[live]) | (w > latest[live]))
            latest[live[later]] = w[later]
    keep = size == len(d.parts)
    return (
        codes[run[first[keep]]].astype(np.int64),
        step[first[keep]].astype(np.float64),
        total[keep],
        latest[keep],
    )


def prepare(
    raw: Raw,
    n_runs: int,
    modes: np.ndarray | None,
    smoothing: float | None,
) -> tuple[Series, np.ndarray, np.ndarray]:
    """Smooth and normalise: (series, per-run smoothing weight, per-run ceiling B).

    *modes* (per run, True where maximised) turns a score into ``B - value``.
    ``norm`` is in index points: 100 * smoothed / the series' starting level,
    which is its first value, or the median of its first 1% of points (at
    least 3) when that is higher, so that one lucky first minibatch does not
    set the scale.
    """
    segs = Segments.of(raw.code, n_runs)
    ceil = np.full(n_runs, np.nan)
    y = raw.value
    if modes is not None and modes.any():
        y = raw.value.copy()
        starts, ends = segs.per_run(segs.starts, 0), segs.per_run(segs.ends, 0)
        for i in np.flatnonzero(modes):
            sl = slice(int(starts[i]), int(ends[i]))
            ceil[i] = select.ceiling(raw.value[sl])
            y[sl] = ceil[i] - raw.value[sl]
    finite = np.isfinite(y)
    counts = segs.count(finite)
    weight = smoothing_weights(segs.per_run(counts, 0), smoothing)
    sm = smooth_finite(y, segs, weight)
    scale = start_level(y, segs, counts)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        norm = 100.0 * sm / segs.rows(scale)
    return Series(segs, raw.step, raw.value, y, sm, norm, raw.wall, weight), weight, ceil


def as_logged(raw: Raw, n_runs: int) -> Series:
    """A series to read as logged only (the learning rate: its steps and values):
    nothing smoothed or normalised, so ``y``, ``smoothed`` and ``norm`` are empty
    (what :func:`prepare` computes would be held through a batch for nothing)."""
    none = np.zeros(0)
    segs = Segments.of(raw.code, n_runs)
    return Series(segs, raw.step, raw.value, none, none, none, raw.wall, np.zeros(n_runs))


def start_level(y: np.ndarray, segs: Segments, counts: np.ndarray) -> np.ndarray:
    """Per segment: max(|first finite value|, median of the first 1% (>= 3) finite values)."""
    n_seg = segs.starts.size
    if n_seg == 0:
        return np.zeros(0)
    finite = np.isfinite(y)
    k = np.maximum(3, np.ceil(0.01 * counts)).astype(np.int64)
    med = np.full(n_seg, np.nan)
    if finite.all():  # the first k rows of each segment: gathered, no pass over the rest
        first = np.abs(y[segs.starts])
        k = np.minimum(k, segs.lengths)
        rows, bases = spans(segs.starts, k)
        med = range_medians(np.abs(y[rows]), bases, k)
    else:
        first = np.abs(segs.at(y, segs.first_true(finite)))
        early = finite & (segs.rank(finite, counts) < segs.rows(k))
        if early.any():
            seg, meds = group_medians(np.abs(y[early]), segs.seg[early])
            med[seg] = meds
    level = np.fmax(first, med)
    if (level > 0).all():
        return np.asarray(level, dtype=np.float64)
    top = segs.max(np.abs(np.where(finite, y, np.nan)))
    return np.asarray(np.where(level > 0, level, np.where(top > 0, top, 1.0)), dtype=np.float64)
