"""The engine's segment operations against plain per-run Python over the same rows.

Each fast path (edge probes, one kernel call over all runs, running minima
over a window only, the block-wise sortedness check of an input frame) must
give what the obvious loop gives, bit for bit.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdei_cli.engine import index as gindex
from gdei_cli.engine import rule
from gdei_cli.engine import segments as gsegments
from gdei_cli.engine.segments import Segments, group_medians, search_steps, spans
from gdei_cli.engine.series import start_level

#: runs as lists of rows: (mask bit, value); a run has at least one row
runs_st = st.lists(
    st.lists(
        st.tuples(
            st.booleans(),
            st.one_of(
                st.floats(min_value=-50, max_value=50, allow_nan=False),
                st.just(math.nan),
                st.just(math.inf),
            ),
        ),
        min_size=1,
        max_size=12,
    ),
    min_size=1,
    max_size=6,
)


def _segments(runs: list[list[tuple[bool, float]]]) -> tuple[Segments, np.ndarray, np.ndarray]:
    codes = np.concatenate([np.full(len(r), i) for i, r in enumerate(runs)])
    mask = np.array([m for r in runs for m, _ in r], dtype=bool)
    vals = np.array([v for r in runs for _, v in r], dtype=np.float64)
    return Segments.of(codes, len(runs)), mask, vals


@given(runs_st)
@settings(max_examples=200, deadline=None)
def test_first_and_last_true_are_the_per_run_loop(runs: list[list[tuple[bool, float]]]) -> None:
    segs, mask, _ = _segments(runs)
    first, last, base = [], [], 0
    for r in runs:
        hits = [base + i for i, (m, _) in enumerate(r) if m]
        first.append(hits[0] if hits else -1)
        last.append(hits[-1] if hits else -1)
        base += len(r)
    assert segs.first_true(mask).tolist() == first
    assert segs.last_true(mask).tolist() == last


def _ewm_by_hand(ys: list[float], w: float) -> list[float]:
    num = den = 0.0
    out = []
    for y in ys:
        num = w * num + y
        den = w * den + 1.0
        out.append(num / den)
    return out


@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(min_value=-1e3, max_value=1e3), min_size=1, max_size=15),
            st.sampled_from([0.0, 0.3, 0.6, 0.9, 0.99]),
        ),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=200, deadline=None)
def test_smoothing_is_pandas_grouped_ewm_bit_for_bit(
    runs: list[tuple[list[float], float]],
) -> None:
    vals = np.array([y for ys, _ in runs for y in ys], dtype=np.float64)
    groups = np.concatenate([np.full(len(ys), i) for i, (ys, _) in enumerate(runs)])
    weight = np.array([w for _, w in runs], dtype=np.float64)
    got = gindex.smooth(vals, groups, weight)
    public = gindex._smooth_grouped(vals.copy(), groups, weight)
    assert np.array_equal(got, public)  # the kernel is what pandas' API computes
    by_hand = [x for ys, w in runs for x in (_ewm_by_hand(ys, w) if w else ys)]
    assert got.tolist() == pytest.approx(by_hand, rel=1e-9, abs=1e-9)


def test_smoothing_uses_pandas_kernel_on_this_pandas() -> None:
    """The fast path is live on the pandas gdei is installed with (a pandas that moved
    its kernel would fall back to the public grouped ewm, and fail here to say so; the
    kernel's arguments are checked against the public path by the test above)."""
    assert gindex._ewm_kernel() is not None


def _index_by_hand(ys: list[float]) -> list[float]:
    out: list[float] = []
    l0 = prev = None
    for y in ys:
        if not math.isfinite(y):
            out.append(math.nan)
            continue
        if l0 is None:
            l0, prev = y, y
            out.append(math.nan)
            continue
        assert prev is not None
        if not l0 > 0:
            out.append(math.nan)
            prev = y
            continue
        d = abs(prev - y)
        raw = 100.0 * ((l0 - y) / l0) / (1.0 + math.log1p(d * d))
        out.append(100.0 - min(100.0, max(1.0, raw)))
        prev = y
    return out


@given(runs_st)
@settings(max_examples=200, deadline=None)
def test_index_is_the_papers_formula_per_run(runs: list[list[tuple[bool, float]]]) -> None:
    segs, _, vals = _segments(runs)
    want = [x for r in runs for x in _index_by_hand([v for _, v in r])]
    got = gindex.gdei(vals, segs)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)


@given(runs_st)
@settings(max_examples=200, deadline=None)
def test_new_bests_counts_rows_below_every_earlier_row(
    runs: list[list[tuple[bool, float]]],
) -> None:
    segs, _, vals = _segments(runs)
    v = np.where(np.isfinite(vals), vals, np.inf)
    # the end window: each run's rows from some row on (here its last half)
    rank = np.arange(v.size) - segs.rows(segs.starts)
    in_end = (rank >= segs.rows(segs.lengths) // 2) & np.isfinite(vals)
    want, base = [], 0
    for r in runs:
        n, seen, count = len(r), math.inf, 0
        for i in range(n):
            x = v[base + i]
            if in_end[base + i] and x < seen:
                count += 1
            seen = min(seen, x)
        want.append(count)
        base += n
    assert rule._new_bests(segs, v, in_end).tolist() == want


@given(
    st.lists(
        st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=9),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([gsegments._MEDIAN_LENGTHS, 0]),
)
@settings(max_examples=200, deadline=None)
def test_group_medians_are_pandas_group_medians(
    groups: list[list[float]], most_lengths: int
) -> None:
    """Ranges of one length sorted together (or, past the length limit, pandas'
    grouping): the keys and medians pandas' group median gives, equal as numbers
    (a median of -0.0 and 0.0 may take either sign of zero)."""
    keys = np.concatenate([np.full(len(g), 3 * i + 1) for i, g in enumerate(groups)])
    values = np.concatenate([np.asarray(g, dtype=np.float64) for g in groups])
    want = pd.Series(values).groupby(keys, sort=True).median()
    old = gsegments._MEDIAN_LENGTHS
    gsegments._MEDIAN_LENGTHS = most_lengths
    try:
        got_keys, got = group_medians(values, keys)
    finally:
        gsegments._MEDIAN_LENGTHS = old
    assert got_keys.tolist() == want.index.tolist()
    assert got.tolist() == want.to_numpy(dtype=np.float64).tolist()


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=30),  # rows
            st.sampled_from(["even", "fractional", "uneven", "last off"]),
            st.integers(min_value=1, max_value=7),  # stride
            st.integers(min_value=-5, max_value=100),  # first step
            st.one_of(
                st.floats(min_value=0, max_value=40),
                st.just(math.nan),
                st.just(math.inf),
                # a hair above a whole number: step - span rounds up to it
                st.integers(min_value=1, max_value=40).map(lambda k: math.nextafter(k, 50.0)),
            ),  # span
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(min_value=0, max_value=2**31),
    st.sampled_from([gsegments._SEARCH_ONE_BY_ONE, 0]),
)
@settings(max_examples=300, deadline=None)
def test_lookback_is_searchsorted_within_each_run(
    runs: list[tuple[int, str, int, int, float]], seed: int, one_by_one: int
) -> None:
    """The even-stride shortcut and the searches (run by run, or together) give, for
    every row, the row that ``searchsorted`` of ``floor(step - span)`` finds among
    its run's rows (any row before the run's start where there is none)."""
    rng = np.random.default_rng(seed)
    steps_of = []
    for length, kind, stride, first, _ in runs:
        st_ = first + stride * np.arange(length, dtype=np.float64)
        if kind == "fractional":
            st_ = first + stride / 3.0 * np.arange(length)
        elif kind == "uneven":
            st_ = np.sort(rng.choice(500, length, replace=False)).astype(np.float64)
        elif kind == "last off":
            st_[-1] += 1.0
        steps_of.append(st_)
    steps = np.concatenate(steps_of)
    segs = Segments.of(np.repeat(np.arange(len(runs)), [r[0] for r in runs]), len(runs))
    span = np.array([r[4] for r in runs])
    old = gsegments._SEARCH_ONE_BY_ONE
    gsegments._SEARCH_ONE_BY_ONE = one_by_one  # 0: uneven runs searched together
    try:
        got = segs.lookback(steps, span)
    finally:
        gsegments._SEARCH_ONE_BY_ONE = old
    for i, (s, e) in enumerate(zip(segs.starts.tolist(), segs.ends.tolist(), strict=True)):
        want = s - 1 + np.searchsorted(steps[s:e], np.floor(steps[s:e] - span[i]), side="right")
        found = want >= s
        assert (got[s:e][found] == want[found]).all()
        assert (got[s:e][~found] < s).all()


@given(
    st.lists(st.integers(min_value=1, max_value=80), min_size=1, max_size=5),
    st.integers(min_value=0, max_value=2**31),
    st.sampled_from(["left", "right"]),
)
@settings(max_examples=150, deadline=None)
def test_search_steps_within_each_run_is_searchsorted_on_its_rows(
    lengths: list[int], seed: int, side: str
) -> None:
    """A query per row searches through one composite (run, step) key, a query per
    run run by run: both agree with ``searchsorted`` over the run's own steps,
    placed at the run's rows."""
    rng = np.random.default_rng(seed)
    steps = np.concatenate([np.sort(rng.integers(0, 50, n)).astype(np.float64) for n in lengths])
    codes = np.concatenate([np.full(n, i) for i, n in enumerate(lengths)])
    segs = Segments.of(codes, len(lengths))
    q = np.floor(steps - rng.integers(0, 10, steps.size))
    want = np.concatenate(
        [
            s + np.searchsorted(steps[s:e], q[s:e], side=side)
            for s, e in zip(segs.starts, segs.ends, strict=True)
        ]
    )
    assert search_steps(codes, steps, codes, q, side).tolist() == want.tolist()
    # the few-queries path of the run-keyed search agrees with the composite one
    one_each = np.arange(len(lengths))
    per_run_q = np.array([float(rng.integers(0, 50)) for _ in lengths])
    expect = [
        s + int(np.searchsorted(steps[s:e], x, side=side))
        for s, e, x in zip(segs.starts, segs.ends, per_run_q, strict=True)
    ]
    assert search_steps(codes, steps, one_each, per_run_q, side).tolist() == expect


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["loss", "acc"]),
            st.integers(min_value=0, max_value=30),
        ),
        min_size=2,
        max_size=40,
        unique=True,
    ),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=1, max_value=8),
)
@settings(max_examples=150, deadline=None)
def test_a_frame_is_taken_as_sorted_exactly_when_it_is(
    rows: list[tuple[str, str, int]], block: int, probe: int
) -> None:
    """The sortedness check, a first few rows alone then block by block (probes of
    1-8 rows and blocks of 1-5 here, so that an unsorted pair can straddle the
    probe or two blocks), agrees with sorting the rows."""
    from gdei_cli import schema

    frame = schema.make_frame(
        run=np.array([r for r, _, _ in rows], dtype=object),
        metric=np.array([m for _, m, _ in rows], dtype=object),
        step=np.array([s for _, _, s in rows], dtype=np.int64),
        value=np.arange(len(rows), dtype=np.float64),
        wall_time=np.full(len(rows), np.nan),
    )
    # make_frame sorts; the same rows in the given order, with the same categories
    shuffled = frame.set_index([schema.RUN, schema.METRIC, schema.STEP], drop=False)
    given_order = shuffled.loc[rows].reset_index(drop=True)
    old = schema._CHECK_BLOCK, schema._PROBE
    schema._CHECK_BLOCK, schema._PROBE = block, probe
    try:
        assert schema._is_canonical(frame)
        assert schema._is_canonical(given_order) == (sorted(rows) == rows)
    finally:
        schema._CHECK_BLOCK, schema._PROBE = old


@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=6))
@settings(max_examples=150, deadline=None)
def test_collapse_blocks_laid_out_are_the_division_per_row(lengths: list[int]) -> None:
    """The all-finite layout of a run's 20 blocks is ``20 * rank // length`` per row."""
    codes = np.concatenate([np.full(n, i) for i, n in enumerate(lengths)])
    segs = Segments.of(codes, len(lengths))
    fin = np.ones(codes.size, dtype=bool)
    n_fin = segs.count(fin)
    fast = rule.blocks_of(segs, fin, n_fin, True)
    assert fast.tolist() == rule.blocks_of(segs, fin, n_fin, False).tolist()
    want = [min(20 * r // n, 19) for n in lengths for r in range(n)]
    assert fast.tolist() == want


@given(
    st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=6),
    st.sets(st.integers(min_value=0, max_value=9), max_size=4),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=150, deadline=None)
def test_collapse_block_medians_laid_out_are_the_group_medians_of_keyed_rows(
    lengths: list[int], absent: set[int], seed: int
) -> None:
    """The collapse's medians of each run's 20 blocks, laid out from the runs' lengths,
    are :func:`group_medians` of every row keyed ``20 * run + block`` (runs that
    are not in the batch among them, and runs shorter than 20 rows)."""
    ids = [i for i in range(len(lengths) + len(absent)) if i not in absent][: len(lengths)]
    codes = np.concatenate([np.full(n, i) for i, n in zip(ids, lengths, strict=True)])
    segs = Segments.of(codes, max(ids) + 1)
    values = np.random.default_rng(seed).normal(size=codes.size).round(1)  # ties too
    fin = np.ones(codes.size, dtype=bool)
    block = rule.blocks_of(segs, fin, segs.count(fin), True)
    want_keys, want = group_medians(values, segs.codes * 20 + block)
    keys, got = rule._block_medians(segs, values)
    assert keys.dtype == want_keys.dtype
    assert keys.tolist() == want_keys.tolist()
    np.testing.assert_array_equal(got, want)


def _start_level_by_hand(ys: list[float]) -> float:
    fin = [abs(y) for y in ys if math.isfinite(y)]
    if not fin:
        return 1.0
    k = max(3, math.ceil(0.01 * len(fin)))
    level = max(fin[0], statistics.median(fin[:k]))
    if level > 0:
        return level
    top = max(fin)
    return top if top > 0 else 1.0


@given(runs_st, st.booleans())
@settings(max_examples=200, deadline=None)
def test_start_level_is_the_per_run_loop(
    runs: list[list[tuple[bool, float]]], finite_only: bool
) -> None:
    """A series' starting level, on the gathered first rows (every value finite) and
    on the ranked finite rows (some not): what the plain loop over each run gives."""
    if finite_only:
        runs = [[(m, v if math.isfinite(v) else 1.5) for m, v in r] for r in runs]
    segs, _, vals = _segments(runs)
    counts = segs.count(np.isfinite(vals))
    got = start_level(vals, segs, counts)
    want = [_start_level_by_hand([v for _, v in r]) for r in runs]
    assert got.tolist() == want


@given(runs_st)
@settings(max_examples=200, deadline=None)
def test_last_three_valid_rows_are_the_per_run_loop(runs: list[list[tuple[bool, float]]]) -> None:
    """The end window's valid rows plus each run's last three valid rows: read off
    the run's end when its last rows are valid, ranked otherwise."""
    segs, valid, vals = _segments(runs)
    in_end = vals > 0
    want, base = [], 0
    for r in runs:
        rows = [base + i for i, (m, _) in enumerate(r) if m]
        last = set(rows[-3:])
        want += [
            bool(valid[base + i] and (in_end[base + i] or base + i in last)) for i in range(len(r))
        ]
        base += len(r)
    assert rule._last_three(segs, valid, in_end).tolist() == want


@given(runs_st)
@settings(max_examples=200, deadline=None)
def test_rank_among_a_runs_marked_rows_is_the_per_run_loop(
    runs: list[list[tuple[bool, float]]],
) -> None:
    """Each row's count of marked rows before it in its run (a marked row's rank),
    given the counts or not."""
    segs, mask, _ = _segments(runs)
    want = []
    for r in runs:
        seen = 0
        for m, _ in r:
            want.append(seen if m else seen - 1)
            seen += m
    assert segs.rank(mask).tolist() == want
    assert segs.rank(mask, segs.count(mask)).tolist() == want


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 6)), max_size=6))
def test_spans_are_the_ranges_one_after_another(ranges: list[tuple[int, int]]) -> None:
    starts = np.array([s for s, _ in ranges], dtype=np.int64)
    lengths = np.array([n for _, n in ranges], dtype=np.int64)
    rows, offsets = spans(starts, lengths)
    assert rows.tolist() == [s + i for s, n in ranges for i in range(n)]
    assert offsets.tolist() == [sum(n for _, n in ranges[:i]) for i in range(len(ranges))]
