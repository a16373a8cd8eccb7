"""Assembling many runs at once (the runs of a file split by its run column) gives
exactly what assembling each run alone gives."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from gdei_cli import assembly, schema
from gdei_cli.readers._table import split_runs
from gdei_cli.readers.base import Points, RawLog, no_clock
from gdei_cli.readers.registry import ReadRun, Source

NAMES = ["loss", "val_loss", "lr", "acc"]

#: one run's rows: (metric index into NAMES, step, value)
rows_st = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(-3, 40),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
    ),
    max_size=25,
)


def _log(path: str, points: Points, *, purges: bool = False) -> RawLog:
    log = RawLog(Path(path), "csv", points=points, warnings=[f"{path} said so"])
    if purges:
        log.purges = [(5, {NAMES[0]: 1})]
    return log


def _points(rows: list[tuple[int, int, float]], listed: list[str], clock: bool) -> Points:
    # codes index *listed*, a permutation of the names the rows use (and maybe more)
    code = np.array([listed.index(NAMES[m]) for m, _, _ in rows], dtype=np.int32)
    step = np.array([s for _, s, _ in rows], dtype=np.int64)
    value = np.array([v for _, _, v in rows], dtype=np.float64)
    wall = step * 2.0 + 1e9 if clock else no_clock(len(rows))
    return Points(code, listed, step, value, wall)


def _same(got: list[assembly.Assembled], want: list[assembly.Assembled]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.info == b.info
        ca, cb = a.columns, b.columns
        assert ca.run == cb.run
        assert list(ca.metric_names) == list(cb.metric_names)
        for x, y in (
            (ca.metric, cb.metric),
            (ca.step, cb.step),
            (ca.value, cb.value),
            (ca.wall_time, cb.wall_time),
        ):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)  # (NaN equals NaN here)


@settings(max_examples=150, deadline=None)
@given(
    runs=st.lists(
        st.tuples(rows_st, st.permutations(NAMES), st.booleans(), st.integers(0, 9), st.booleans()),
        min_size=0,
        max_size=6,
    )
)
def test_runs_assembled_together_are_each_run_assembled_alone(runs):
    """Runs of their own logs: listing their names in any order, all four or only
    those they use, with or without a clock; some read from two files or with a
    restart marker (assembled alone)."""
    read = []
    for i, (rows, order, clock, kind, every) in enumerate(runs):
        # the names it lists: all four, or only those its rows use (in any order)
        listed = [n for n in order if every or any(NAMES[m] == n for m, _, _ in rows)]
        points = _points(rows, listed, clock)
        logs = [_log(f"r{i}.csv", points, purges=kind == 0)]
        if kind == 1:  # a second file: this run is assembled alone
            logs.append(_log(f"r{i}b.csv", _points(rows[:3], NAMES, clock)))
        read.append(ReadRun(Source(f"r{i}", "csv", tuple(log.path for log in logs), None), logs))
    _same(assembly.assembled_runs(read), [assembly.assembled(r) for r in read])


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 4), rows_st.map(lambda r: r[:1])), max_size=60),
    clock=st.booleans(),
    spellings=st.booleans(),
)
def test_the_runs_of_a_split_file_assemble_as_each_alone(rows, clock, spellings):
    """A file's rows in any run order (restarts too), split as the table readers split
    a run column: assembled together from the file's arrays, each run as alone."""
    flat = [(r, *row[0]) for r, row in rows if row]
    run_names = ["b", "a", "c", " a", "d"] if spellings else ["b", "a", "c", "e", "d"]
    points = _points([(m, s, v) for _, m, s, v in flat], NAMES, clock)
    codes = np.array([r for r, *_ in flat], dtype=np.int64)
    parent = RawLog(Path("all.csv"), "csv", points=Points.empty())
    subruns = split_runs(points, codes, run_names, parent)
    read = [
        ReadRun(Source(f"all.csv/{name}", "csv", (Path("all.csv"),), None), [log])
        for name, log in subruns.items()
    ]
    _same(assembly.assembled_runs(read), [assembly.assembled(r) for r in read])


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 4), rows_st.map(lambda r: r[:1])), max_size=60),
    clock=st.booleans(),
    frozen=st.booleans(),
    block=st.sampled_from([1, 3, 8, 1 << 16]),
)
def test_a_consumed_split_file_sorted_in_place_assembles_as_each_alone(rows, clock, frozen, block):
    """Runs whose logs are not used after (``consume``: the file's arrays sorted in
    place) assemble as each run alone, sorted in blocks of whole runs of any size:
    a restart in any block is resolved on the sorted rows (each key's rows still in
    file order), and a read-only array (Arrow's, zero-copy) is sorted into a copy."""
    flat = [(r, *row[0]) for r, row in rows if row]

    def read() -> list[ReadRun]:
        points = _points([(m, s, v) for _, m, s, v in flat], NAMES, clock)
        if frozen:
            points.value.flags.writeable = False
        return _split_file_of("all.csv", points, np.array([r for r, *_ in flat], np.int64))

    with patch.object(assembly, "_ORDER_BLOCK", block):
        together = assembly.assembled_runs(read(), consume=True)
    _same(together, [assembly.assembled(r) for r in read()])


@settings(max_examples=150, deadline=None)
@given(rows=rows_st, clock=st.booleans(), frozen=st.booleans(), second=st.booleans())
def test_a_consumed_run_sorted_in_its_own_arrays_is_the_run_assembled_from_a_copy(
    rows, clock, frozen, second
):
    """One run's log (or two), consumed: its points sorted into its own arrays where
    they can be (not a read-only array, not a clock-less view) give what assembling
    a fresh copy gives, restarts and all."""

    def read() -> ReadRun:
        points = _points(rows, NAMES, clock)
        if frozen:
            points.step.flags.writeable = False
        logs = [_log("r.csv", points)]
        if second:
            logs.append(_log("r2.csv", _points(rows[:5], NAMES, clock)))
        return ReadRun(Source("r", "csv", tuple(log.path for log in logs), None), logs)

    _same([assembly.assembled(read(), consume=True)], [assembly.assembled(read())])


def test_a_consumed_run_of_interleaved_metrics_is_sorted_where_it_was_read():
    """A run's metrics logged row by row, consumed: the steps and values come back in
    the log's own arrays, sorted; not consumed, the log's arrays are left as read."""
    rows = [(m, s, float(10 * m + s)) for s in range(5) for m in range(3)]
    kept = _points(rows, NAMES, True)
    before = kept.step.copy()
    left = assembly.assembled(ReadRun(Source("r", "csv", (), None), [_log("r", kept)]))
    np.testing.assert_array_equal(kept.step, before)
    used = _points(rows, NAMES, True)
    taken = assembly.assembled(
        ReadRun(Source("r", "csv", (), None), [_log("r", used)]), consume=True
    )
    for got, own in ((taken.columns.step, used.step), (taken.columns.value, used.value)):
        assert np.shares_memory(got, own)
    assert np.shares_memory(taken.columns.wall_time, used.wall_time)
    _same([taken], [left])
    assert taken.columns.step.tolist() == list(range(5)) * 3


def test_a_restart_in_a_later_block_is_resolved_on_the_sorted_rows():
    """Sorted in place, block by block: a run whose metrics need sorting, then a run
    with a restart.  The restart rule then works on the sorted rows (a stable sort
    keeps each metric's rows in file order) and drops what each run alone drops."""
    rows = [(0, m, s, float(s + m)) for s in range(4) for m in range(2)]  # interleaved
    rows += [(1, 0, s, float(s)) for s in (0, 1, 2, 1, 2, 3)]  # back to step 1
    codes = np.array([r for r, *_ in rows], np.int64)

    def read() -> list[ReadRun]:
        return _split_file_of("f", _points([(m, s, v) for _, m, s, v in rows], NAMES, False), codes)

    with patch.object(assembly, "_ORDER_BLOCK", 1):
        together = assembly.assembled_runs(read(), consume=True)
    _same(together, [assembly.assembled(r) for r in read()])
    assert together[1].info.superseded == {"loss": 2}


def test_a_consumed_file_is_sorted_in_its_own_arrays_and_an_unconsumed_one_left_as_read():
    """With ``consume`` the runs are slices of the file's own arrays, sorted where they
    are (no second array of the points); without it the file's arrays are untouched."""
    # 3 runs of 2 metrics logged interleaved (row by row), as a long CSV is
    rows = [(r, m, s, float(10 * r + s)) for r in range(3) for s in range(4) for m in range(2)]
    codes = np.array([r for r, *_ in rows], np.int64)

    def points() -> Points:
        return _points([(m, s, v) for _, m, s, v in rows], NAMES, False)

    kept = points()
    before = kept.value.copy()
    left = assembly.assembled_runs(_split_file_of("f", kept, codes))
    np.testing.assert_array_equal(kept.value, before)
    assert not np.shares_memory(left[0].columns.value, kept.value)

    used = points()
    taken = assembly.assembled_runs(_split_file_of("f", used, codes), consume=True)
    assert np.shares_memory(taken[0].columns.value, used.value)
    assert np.shares_memory(taken[0].columns.step, used.step)
    _same(taken, left)
    assert taken[0].columns.value.tolist() == [0.0, 1.0, 2.0, 3.0] * 2


def _split_file_of(name: str, points: Points, codes: np.ndarray) -> list[ReadRun]:
    """The runs of file *name* of *points*, each point's run in *codes*, split as the
    table readers split a run column."""
    parent = RawLog(Path(name), "csv", points=Points.empty())
    subruns = split_runs(points, codes, ["b", "a", "c", "e", "d"], parent)
    return [
        ReadRun(Source(f"{name}/{sub}", "csv", (Path(name),), None), [log])
        for sub, log in subruns.items()
    ]


def _split_file(
    name: str, rows: list[tuple[int, tuple[int, int, float]]], clock: bool
) -> list[ReadRun]:
    """The runs of file *name* holding *rows* (run index, then a point), split as the
    table readers split a run column."""
    points = _points([point for _, point in rows], NAMES, clock)
    codes = np.array([r for r, _ in rows], dtype=np.int64)
    parent = RawLog(Path(name), "csv", points=Points.empty())
    subruns = split_runs(points, codes, ["b", "a", "c", "e", "d"], parent)
    return [
        ReadRun(Source(f"{name}/{sub}", "csv", (Path(name),), None), [log])
        for sub, log in subruns.items()
    ]


point_st = st.tuples(st.integers(0, 4), rows_st.filter(len).map(lambda r: r[0]))


@settings(max_examples=100, deadline=None)
@given(
    files=st.lists(st.tuples(st.lists(point_st, max_size=40), st.booleans()), max_size=3),
    alone=st.none() | rows_st,
    dropped=st.sets(st.integers(0, 12), max_size=3),
)
def test_runs_stacked_from_their_files_arrays_make_the_frame_copies_make(files, alone, dropped):
    """Stacking the runs of split files (each file's runs one block, in name order or
    not, some files' runs side by side with another's, maybe a run of its own) gives
    the frame that stacking each run's own copy gives (the run of its own is named
    to fall between two runs of the first file); also when some runs are not
    stacked (a whole is then not all the frame's)."""
    read = [
        run for i, (rows, clock) in enumerate(files) for run in _split_file(f"f{i}", rows, clock)
    ]
    if alone is not None:
        read.append(
            ReadRun(
                Source("f0/bb", "csv", (Path("x"),), None),
                [_log("x", _points(alone, NAMES, False))],
            )
        )
    together = assembly.assembled_runs(read)
    each = [assembly.assembled(r) for r in read]
    for a in each:
        assert a.columns.within is None
    got = schema.stack_runs([a.columns for i, a in enumerate(together) if i not in dropped])
    want = schema.stack_runs([a.columns for i, a in enumerate(each) if i not in dropped])
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    schema.check_frame(got)


def test_a_file_of_runs_in_name_order_is_the_frame_as_assembled():
    """One file's runs in name order: the frame takes the assembled arrays, no copy."""
    rows = [(r, (m, s, float(s))) for r in range(3) for s in range(5) for m in range(2)]
    points = _points([p for _, p in rows], NAMES, True)
    codes = np.array([r for r, _ in rows])
    parent = RawLog(Path("f"), "csv", points=Points.empty())
    subruns = split_runs(points, codes, ["a", "b", "c"], parent)
    read = [ReadRun(Source(f"f/{k}", "csv", (Path("f"),), None), [v]) for k, v in subruns.items()]
    together = assembly.assembled_runs(read)
    value = together[0].columns.within[0].value  # the whole the runs are rows of
    frame = schema.stack_runs([a.columns for a in together])
    assert np.shares_memory(frame[schema.VALUE].to_numpy(), value)
    assert frame[schema.RUN].astype(str).tolist() == ["f/a"] * 10 + ["f/b"] * 10 + ["f/c"] * 10


def test_a_split_file_is_assembled_from_its_own_arrays():
    """The runs of a split file are slices of the file's arrays, and are seen as such
    (no copy of the file's points to join them)."""
    n = 40
    points = Points(
        np.tile(np.arange(2, dtype=np.int32), n // 2),
        ["val_loss", "loss"],
        np.arange(n, dtype=np.int64) // 2,
        np.linspace(1, 0, n),
        no_clock(n),
    )
    codes = np.repeat(np.arange(4), n // 4)
    subruns = split_runs(
        points,
        codes,
        ["a", "b", "c", "d"],
        RawLog(Path("x"), "csv", frame=None, points=Points.empty()),
    )
    whole = assembly._side_by_side([log.points for log in subruns.values()])
    assert whole is not None
    assert np.shares_memory(whole.value, points.value)
    assert np.shares_memory(whole.step, points.step)


def _running_min_by_loop(values: np.ndarray, starts: np.ndarray) -> list[int]:
    out, low = [], 0
    for v, s in zip(values.tolist(), starts.tolist(), strict=True):
        low = v if s else min(low, v)
        out.append(low)
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(-(2**62), 2**62) | st.integers(-5, 5)),
        min_size=1,
        max_size=40,
    )
)
def test_the_running_minimum_per_group_is_a_loop_over_groups(rows):
    """Small values take the one-pass shift; values near int64's edge the loop."""
    values = np.array([v for _, v in rows], dtype=np.int64)
    starts = np.array([True] + [s for s, _ in rows[1:]])
    got = assembly._running_min_per_group(values, starts)
    assert got.tolist() == _running_min_by_loop(values, starts)


def test_a_file_whose_runs_are_longer_than_a_sort_block_loads(tmp_path):
    """A long CSV of two runs of more points each than the sort's block (metrics logged
    row by row, so the runs are sorted): each run is a block of its own.  (This
    raised an IndexError: a block boundary past the last run's start.)"""
    from gdei_cli import load

    steps = assembly._ORDER_BLOCK // 2 + 10  # two metrics: more points than a block
    step = np.repeat(np.arange(steps), 2)
    frame = pd.DataFrame(
        {
            "run": np.repeat(["a", "b"], 2 * steps),
            "metric": np.tile(["loss", "val_loss"], 2 * steps),
            "step": np.tile(step, 2),
            "value": np.tile(1.0 / (step + 1.0), 2),
        }
    )
    path = tmp_path / "sweep.csv"
    frame.to_csv(path, index=False)
    got = load([path], jobs=1).frame
    assert len(got) == 4 * steps
    first = got[(got[schema.RUN] == "sweep.csv/a") & (got[schema.METRIC] == "val_loss")]
    assert first[schema.STEP].tolist() == list(range(steps))
