"""The index, smoothing and stopping rule, on tiny hand-checked inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdei_cli import engine, schema
from gdei_cli.engine import Config, Costs, Span
from gdei_cli.errors import MetricNotFoundError, UsageError


def frame_of(values, run="r", metric="loss", steps=None, wall=None):
    n = len(values)
    return schema.make_frame(
        run=[run] * n,
        metric=[metric] * n,
        step=range(n) if steps is None else steps,
        value=values,
        wall_time=[math.nan] * n if wall is None else wall,
    )


EXACT = Config(smoothing=0.0)


def test_worked_example_is_exact():
    a = engine.analyze(frame_of([10, 6, 4, 3.5, 3.4]), config=EXACT)
    idx = a.points["index"].to_numpy()
    expected = [
        100 - 40 / (1 + math.log(17)),
        100 - 60 / (1 + math.log(5)),
        100 - 65 / (1 + math.log(1.25)),
        100 - 66 / (1 + math.log(1.01)),
    ]
    assert math.isnan(idx[0])
    assert idx[1:] == pytest.approx(expected, abs=1e-9)


def test_index_is_clipped_between_0_and_99():
    # loss rising: P < 0 -> clipped at 1 -> index 99; full removal -> 100 - 100 = 0
    a = engine.analyze(frame_of([1.0, 2.0, 0.0]), config=EXACT)
    idx = a.points["index"].to_numpy()
    assert idx[1] == pytest.approx(99.0)
    # P = 1, D = 2 -> 100 / (1 + ln 5) < 100 -> not clipped
    assert idx[2] == pytest.approx(100 - 100 / (1 + math.log(5)))


def test_smoothing_matches_tensorboard_debiased_ema_by_hand():
    ys = [4.0, 2.0, 3.0, 1.0]
    w = 0.6
    last, out = 0.0, []
    for n, y in enumerate(ys, start=1):
        last = w * last + (1 - w) * y
        out.append(last / (1 - w**n))
    a = engine.analyze(frame_of(ys), config=Config(smoothing=w))
    assert a.points["smoothed"].tolist() == pytest.approx(out, abs=1e-12)
    # hand value of the second point: (0.6*0.4*4 + 0.4*2) / (1 - 0.36)
    assert a.points["smoothed"][1] == pytest.approx((0.96 + 0.8) / 0.64)


def test_smoothing_skips_non_finite_points_like_tensorboard():
    a = engine.analyze(frame_of([4.0, math.nan, 2.0]), config=Config(smoothing=0.5))
    sm = a.points["smoothed"].to_numpy()
    assert math.isnan(sm[1])
    assert sm[2] == pytest.approx((0.5 * 4 + 2) / 1.5)


def test_auto_smoothing_spans_one_percent_of_points():
    assert engine.auto_smoothing(np.array([10, 100, 199]))[0] == 0.0
    w = engine.auto_smoothing(np.array([10_000]))[0]
    assert w == pytest.approx(1 - 2 / 101)


def test_smoothing_per_run_is_independent():
    f = pd.concat([frame_of([5.0, 1.0, 1.0], run="a"), frame_of([100.0, 50.0], run="b")])
    f = schema.sort_frame(
        schema.make_frame(
            run=f["run"].astype(str),
            metric=f["metric"].astype(str),
            step=f["step"],
            value=f["value"],
            wall_time=f["wall_time"],
        )
    )
    a = engine.analyze(f, config=Config(smoothing=0.5))
    b_first = a.points.loc[a.points["run"] == "b", "smoothed"].iloc[0]
    assert b_first == 100.0  # not contaminated by run a


def test_plateau_rule_stops_where_index_stops_improving():
    # fast decay to a floor by step 20 of 100, then flat
    t = np.arange(101)
    loss = 1.0 + 9.0 * np.exp(-t / 4.0)
    a = engine.analyze(
        frame_of(loss, steps=t), config=Config(smoothing=0.0, window=Span(10, False))
    )
    s = a.summary.iloc[0]
    assert 15 <= s.stop_step <= 40
    assert s.verdict == "wasteful"
    assert s.steps_saved == 100 - s.stop_step
    assert s.waste_pct == pytest.approx(100 * s.steps_saved / 100)
    assert s.loss_cost_pct >= 0


def test_still_improving_run_is_not_stopped():
    t = np.arange(101)
    loss = 10.0 - 0.08 * t  # removes 0.8% of the initial loss per step
    a = engine.analyze(frame_of(loss, steps=t), config=EXACT)
    s = a.summary.iloc[0]
    assert s.verdict == "still improving"
    assert s.stop_step == 100
    assert s.steps_saved == 0


def test_threshold_and_window_change_the_stop():
    t = np.arange(201)
    loss = 1.0 + 9.0 * np.exp(-t / 30.0)
    loose = engine.analyze(frame_of(loss, steps=t), config=Config(smoothing=0.0, threshold=5.0))
    strict = engine.analyze(frame_of(loss, steps=t), config=Config(smoothing=0.0, threshold=0.1))
    assert loose.summary.stop_step[0] < strict.summary.stop_step[0]


def test_warmup_delays_the_stop():
    t = np.arange(101)
    loss = np.r_[np.full(30, 5.0), 5.0 - 0.05 * np.arange(71)]  # flat, then falls
    early = engine.analyze(frame_of(loss, steps=t), config=Config(smoothing=0.0))
    late = engine.analyze(
        frame_of(loss, steps=t), config=Config(smoothing=0.0, warmup=Span(40, True))
    )
    assert early.summary.stop_step[0] <= 30
    assert late.summary.verdict[0] == "still improving"


def test_divergence_to_nan_is_reported_and_counts_as_waste():
    vals = [10, 8, 6, 5, 50, math.inf, math.nan, math.nan, math.nan, math.nan]
    a = engine.analyze(frame_of(vals), config=EXACT)
    s = a.summary.iloc[0]
    assert s.verdict == "diverged"
    assert s.diverged_step == 5
    assert s.stop_step <= 4
    assert s.steps_saved == 9 - s.stop_step
    assert pd.isna(s.final_loss)
    assert "diverged at step 5" in s.note


def test_isolated_non_finite_points_are_left_out_and_counted():
    vals = [10, 8, math.nan, 6, math.inf, 5, 4.5]
    a = engine.analyze(frame_of(vals), config=EXACT)
    s = a.summary.iloc[0]
    assert s.verdict != "diverged"
    assert s.nonfinite_points == 2
    assert "2 non-finite point(s) left out" in s.note
    idx = a.points["index"].to_numpy()
    assert math.isnan(idx[2]) and math.isnan(idx[4])
    # point 3 is compared with point 1 (the previous finite one): D = 2
    assert idx[3] == pytest.approx(100 - 40 / (1 + math.log(5)))


@pytest.mark.parametrize("vals", [[0.0, 1.0, 2.0], [-1.0, -2.0], [math.nan, math.nan], [3.0]])
def test_undefined_index_is_a_verdict_not_a_crash(vals):
    a = engine.analyze(frame_of(vals), config=EXACT)
    s = a.summary.iloc[0]
    assert s.verdict in ("index undefined", "diverged")
    if s.verdict == "index undefined":
        assert pd.isna(s.stop_step)
        assert a.points["index"].isna().all()


def test_wall_clock_and_costs():
    t = np.arange(101)
    loss = 1.0 + 9.0 * np.exp(-t / 3.0)
    wall = 1.7e9 + 2.0 * t
    a = engine.analyze(
        frame_of(loss, steps=t, wall=wall),
        config=Config(smoothing=0.0),
        costs=Costs(gpus=4, gpu_hour_cost=2.0),
    )
    s = a.summary.iloc[0]
    assert s.wall_saved_s == pytest.approx(2.0 * s.steps_saved)
    assert s.gpu_hours_saved == pytest.approx(s.wall_saved_s / 3600 * 4)
    assert s.cost_saved == pytest.approx(s.gpu_hours_saved * 2.0)


def test_seconds_per_step_fills_in_when_no_clock():
    t = np.arange(101)
    loss = 1.0 + 9.0 * np.exp(-t / 3.0)
    a = engine.analyze(
        frame_of(loss, steps=t), config=Config(smoothing=0.0), costs=Costs(seconds_per_step=0.5)
    )
    s = a.summary.iloc[0]
    assert s.wall_saved_s == pytest.approx(0.5 * s.steps_saved)
    b = engine.analyze(frame_of(loss, steps=t), config=Config(smoothing=0.0))
    assert pd.isna(b.summary.wall_saved_s[0])


def test_default_metric_and_glob_and_missing():
    f = schema.make_frame(
        run=["r"] * 4,
        metric=["val_loss", "val_loss", "train/loss", "train/loss"],
        step=[0, 1, 0, 1],
        value=[1, 2, 3, 4],
        wall_time=[math.nan] * 4,
    )
    assert engine.analyze(f).summary.metric[0] == "train/loss"
    assert engine.analyze(f, metric="val_*").summary.metric[0] == "val_loss"
    with pytest.raises(MetricNotFoundError, match="train/loss, val_loss"):
        engine.analyze(f, metric="accuracy")


def test_run_without_the_metric_is_reported_when_others_have_it():
    a = frame_of([3.0, 2.0, 1.0], run="a")
    b = frame_of([3.0, 2.0, 1.0], run="b", metric="accuracy")
    f = schema.make_frame(
        run=list(a.run.astype(str)) + list(b.run.astype(str)),
        metric=list(a.metric.astype(str)) + list(b.metric.astype(str)),
        step=list(a.step) + list(b.step),
        value=list(a.value) + list(b.value),
        wall_time=[math.nan] * 6,
    )
    s = engine.analyze(f).summary
    assert list(s.run) == ["a", "b"]
    assert s.verdict[1] == engine.NO_METRIC
    assert "accuracy" in s.note[1]


@pytest.mark.parametrize("bad", ["-1", "abc", "150%", ""])
def test_span_rejects_bad_values(bad):
    with pytest.raises(UsageError):
        Span.parse(bad, name="--window")


def test_config_rejects_bad_smoothing():
    with pytest.raises(UsageError):
        Config(smoothing=1.0)


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e6, max_value=1e6),
)


@settings(max_examples=150, deadline=None)
@given(
    series=st.lists(st.lists(values, min_size=1, max_size=40), min_size=1, max_size=4),
    smoothing=st.one_of(st.none(), st.floats(min_value=0.0, max_value=0.99)),
    threshold=st.floats(min_value=-10, max_value=50),
    window=st.sampled_from(["1", "5", "10%", "50%", "0"]),
)
def test_engine_never_raises_and_is_well_formed(series, smoothing, threshold, window):
    runs, metrics, steps, vals = [], [], [], []
    for i, s in enumerate(series):
        runs += [f"run{i}"] * len(s)
        metrics += ["loss"] * len(s)
        steps += list(range(0, 3 * len(s), 3))
        vals += s
    f = schema.make_frame(
        run=runs, metric=metrics, step=steps, value=vals, wall_time=[math.nan] * len(vals)
    )
    cfg = Config(smoothing=smoothing, threshold=threshold, window=Span.parse(window, name="w"))
    a = engine.analyze(f, config=cfg)
    s = a.summary
    assert len(s) == len(series)
    assert set(s.verdict) <= set(engine.VERDICTS)
    idx = a.points["index"].to_numpy()
    fin = idx[np.isfinite(idx)]
    assert np.all((fin >= 0) & (fin <= 99))
    ok = s.stop_step.notna()
    assert (s.stop_step[ok] >= s.first_step[ok]).all()
    assert (s.stop_step[ok] <= s.last_step[ok]).all()
    w = s.waste_pct[ok].astype(float)
    assert ((w >= 0) & (w <= 100)).all()
