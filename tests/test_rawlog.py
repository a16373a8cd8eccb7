"""A reader's points as plain columns (``Points``) or as a frame: one log, either form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdei_cli import schema
from gdei_cli.assembly import assemble_run
from gdei_cli.readers.base import Points, RawLog, raw_frame

points_st = st.integers(min_value=1, max_value=4).flatmap(
    lambda k: st.tuples(
        st.lists(st.text(min_size=1, max_size=6), min_size=k, max_size=k, unique=True),
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=k - 1),
                st.integers(min_value=0, max_value=50),
                st.floats(allow_nan=True, allow_infinity=True),
            ),
            max_size=30,
        ),
    )
)


def _points(names: list[str], rows: list[tuple[int, int, float]]) -> Points:
    return Points(
        np.array([m for m, _, _ in rows], dtype=np.int64),
        names,
        np.array([s for _, s, _ in rows], dtype=np.int64),
        np.array([v for _, _, v in rows], dtype=np.float64),
        np.arange(len(rows), dtype=np.float64),
    )


@given(points_st)
@settings(max_examples=100, deadline=None)
def test_points_and_frame_are_the_same_log(data: tuple[list[str], list[tuple[int, int, float]]]):
    """A log given as points and the same log given as a frame assemble alike."""
    names, rows = data
    p = _points(names, rows)
    as_points = RawLog(Path("a.csv"), "csv", points=p)
    as_frame = RawLog(Path("a.csv"), "csv", frame=p.to_frame())
    frame = as_points.frame  # built from the points
    assert frame[schema.METRIC].astype(str).tolist() == [names[m] for m, _, _ in rows]
    assert frame[schema.STEP].tolist() == [s for _, s, _ in rows]
    got = assemble_run("r", "csv", [as_frame])
    want = assemble_run("r", "csv", [RawLog(Path("a.csv"), "csv", points=p)])
    assert got[0] == want[0]  # metric names
    for a, b in zip(got[1:5], want[1:5], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_frame_changed_by_its_reader_is_what_assembly_reads() -> None:
    """A reader may take the frame a table reader returned and change it (a derived
    wall clock); the points assembly reads are then that frame's, never stale."""
    log = RawLog(Path("a.csv"), "csv", points=_points(["loss"], [(0, 0, 1.0), (0, 1, 0.5)]))
    log.frame[schema.WALL_TIME] = [10.0, 20.0]
    assert log.points.wall_time.tolist() == [10.0, 20.0]
    _, _, _, _, wall, _ = assemble_run("r", "csv", [log])
    assert wall.tolist() == [10.0, 20.0]


def test_a_log_has_a_frame_or_points_not_both() -> None:
    frame = raw_frame([], [], [], [])
    with pytest.raises(TypeError):
        RawLog(Path("a.csv"), "csv")
    with pytest.raises(TypeError):
        RawLog(Path("a.csv"), "csv", frame=frame, points=Points.of_frame(frame))


def test_names_are_valid_unicode_as_a_frames_categories_are() -> None:
    p = Points(np.zeros(1, dtype=np.int64), ["loss\ud800"], np.zeros(1, dtype=np.int64),
               np.ones(1), np.zeros(1))  # fmt: skip
    assert p.metric_names == [schema.clean_name("loss\ud800")]
    assert str(p.to_frame()[schema.METRIC].iloc[0]) == p.metric_names[0]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.integers(-3, 3)), max_size=40),
    big=st.booleans(),
)
def test_the_order_checks_agree_with_sorting(rows, big) -> None:
    """Assembly's order checks: rows strictly sorted by (metric code, step) are what
    sorting them leaves unchanged with no two equal; with codes already sorted, the
    quicker check (only where steps fall) gives the same answer.  Above the probe's
    64 rows too."""
    from gdei_cli.assembly import _rises_within, _strictly_sorted

    rows = rows * 3 if big else rows
    codes = np.array([c for c, _ in rows], dtype=np.int8)
    steps = np.array([s for _, s in rows], dtype=np.int64)
    want = sorted(set(rows)) == rows
    assert _strictly_sorted(codes, steps) == want
    order = np.argsort(codes, kind="stable")
    grouped = [rows[i] for i in order]
    assert _rises_within(codes[order], steps[order]) == (sorted(set(grouped)) == grouped)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n=st.integers(0, 50), data=st.data())
def test_take_of_a_log_without_clock_is_nan_in_no_memory(n, data) -> None:
    """A log without a clock carries its NaN wall times as a view of one NaN: taking
    rows (positions or a slice) of it gives as many NaN, still a view; any other
    array is taken as numpy takes it."""
    from gdei_cli.readers.base import no_clock, take

    rows = np.asarray(data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=60 if n else 0)))
    rows = rows.astype(np.int64)
    got = take(no_clock(n), rows)
    assert got.shape == (rows.size,) and np.isnan(got).all()
    assert n == 0 or got.strides == (0,)
    values = np.arange(n, dtype=np.float64)
    assert np.array_equal(take(values, rows), values[rows])
    part = slice(*sorted(data.draw(st.lists(st.integers(0, n), min_size=2, max_size=2))))
    got = take(no_clock(n), part)
    assert got.size == len(range(n)[part]) and np.isnan(got).all()
    assert got.size < 2 or got.strides == (0,)
    assert np.array_equal(take(values, part), values[part])


@pytest.mark.parametrize("runs", [1, 3])
def test_a_frame_of_logs_without_clock_owns_its_wall_times(tmp_path, runs) -> None:
    """The frame's wall-time column of logs with no clock is NaN, an array of its own
    (one value per row, not a view of one NaN), whether one run or several are
    stacked."""
    from gdei_cli import load

    for r in range(runs):
        (tmp_path / f"r{r}.csv").write_text(
            "step,loss\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(50))
        )
    wall = load([tmp_path], jobs=1).frame[schema.WALL_TIME].to_numpy()
    assert wall.size == 50 * runs and np.isnan(wall).all()
    assert wall.strides == (8,)  # (not a view of one NaN)


@pytest.mark.parametrize("k", [1, 126, 127, 128, 32766, 32767, 32768])
def test_the_frames_codes_are_in_the_type_pandas_keeps(k) -> None:
    """stack_runs writes a frame's codes in the integer type pandas would narrow them
    to, so pandas keeps them as they are."""
    import pandas as pd

    names = [str(i) for i in range(k)]
    wanted = pd.Categorical.from_codes(np.zeros(1, dtype=np.int64), categories=names).codes.dtype
    assert schema._codes_dtype(names) == wanted
