"""The index, smoothing, the stop and the verdicts, on small hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdei_cli import engine, schema
from gdei_cli.engine import Config, Costs, Rule, Span
from gdei_cli.errors import MetricNotFoundError, SchemaError, UsageError

from .conftest import SAMPLES


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


def frame_of_runs(*parts):
    """Stack several frame_of() frames into one canonical frame."""
    f = pd.concat(parts, ignore_index=True)
    return schema.make_frame(
        run=f["run"].astype(str),
        metric=f["metric"].astype(str),
        step=f["step"],
        value=f["value"],
        wall_time=f["wall_time"],
    )


def one(frame, **kw):
    """The summary row of a one-run analysis."""
    return engine.analyze(frame, **kw).summary.iloc[0]


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


def test_hindsight_stop_on_a_plateau():
    # fast decay to a floor by step ~20 of 100, then flat
    t = np.arange(101)
    s = one(frame_of(1.0 + 9.0 * np.exp(-t / 4.0), steps=t), config=EXACT)
    # first step within 0.5 points (0.05 here) of the best (1.0): 1 + 9 e^(-t/4) <= 1.05
    assert s.stop_step == math.ceil(4 * math.log(9 / 0.05 - 1e-12))
    assert s.verdict == "wasteful"
    assert s.steps_saved == 100 - s.stop_step
    assert s.waste_pct == pytest.approx(100 * s.steps_saved / 100)
    assert 0 <= s.forgone_pct < 1
    assert "bought" in s.reason and f"step {s.stop_step}" in s.reason


def test_still_improving_run_is_not_stopped():
    t = np.arange(101)
    s = one(frame_of(10.0 - 0.08 * t, steps=t), config=EXACT)
    assert s.verdict == "still improving"
    assert s.stop_step == 100
    assert s.steps_saved == 0
    assert "new best" in s.reason or "fell" in s.reason


def test_tolerance_moves_the_stop():
    t = np.arange(201)
    loss = np.round(1.0 + 9.0 * np.exp(-t / 15.0), 4)  # as a log writes it
    loose = one(frame_of(loss, steps=t), config=Config(smoothing=0.0, tolerance=5.0))
    strict = one(frame_of(loss, steps=t), config=Config(smoothing=0.0, tolerance=0.1))
    assert loose.stop_step < strict.stop_step


def shapes():
    """(name, frame builder(scale)) pairs covering each kind of verdict."""
    rng = np.random.default_rng(0)
    t = np.arange(300)
    noise = rng.normal(size=t.size)
    plateau = 1.0 + 4.0 * np.exp(-t / 20.0) + 0.05 * noise
    val = 1.2 + 3.0 * np.exp(-t[::10] / 20.0) + 0.002 * (t[::10] - 100).clip(0)
    improving = 5.0 - 0.01 * t + 0.01 * noise

    def two(train, val_steps, val_vals, scale):
        return frame_of_runs(
            frame_of(train * scale, steps=t),
            frame_of(val_vals * scale, steps=val_steps, metric="val_loss"),
        )

    return [
        ("plateau", lambda k: frame_of(plateau * k, steps=t)),
        ("improving", lambda k: frame_of(improving * k, steps=t)),
        ("overfit", lambda k: two(plateau * 0.5 + 1 - t / 600, t[::10], val, k)),
    ]


@pytest.mark.parametrize(("name", "build"), shapes())
@pytest.mark.parametrize("scale", [1000.0, 0.001])
def test_rescaling_the_losses_changes_neither_stop_nor_verdict(name, build, scale):
    base = one(build(1.0))
    scaled = one(build(scale))
    assert scaled.stop_step == base.stop_step, name
    assert scaled.verdict == base.verdict, name
    assert scaled.forgone_pct == pytest.approx(base.forgone_pct, rel=1e-9, nan_ok=True)


@settings(max_examples=60, deadline=None)
@given(
    vals=st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=3, max_size=60),
    exponent=st.integers(min_value=-6, max_value=6),
)
def test_rescaling_by_any_power_of_ten_keeps_the_verdict(vals, exponent):
    k = 10.0**exponent
    a = one(frame_of(vals))
    b = one(frame_of([v * k for v in vals]))
    assert (a.stop_step, a.verdict) == (b.stop_step, b.verdict)


def test_plateau_then_lr_drop_is_not_stopped_on_the_plateau():
    # validation flat (and noisy) for 40 epochs, then an LR drop buys a second descent
    rng = np.random.default_rng(1)
    epochs = np.arange(80)
    val = np.where(epochs < 40, 2.0, 1.5 + 0.5 * np.exp(-(epochs - 40) / 3.0))
    val = val + 0.01 * rng.normal(size=epochs.size)
    val[:5] = [4.0, 3.0, 2.5, 2.2, 2.05]
    s = one(frame_of(val, steps=epochs, metric="val_loss"), config=EXACT)
    assert s.stop_step > 40
    assert s.verdict == "wasteful"
    live = one(frame_of(val, steps=epochs, metric="val_loss"), config=Config(rule=Rule.LIVE))
    assert live.stop_step < 40  # the live plateau rule would have stopped on the plateau


def test_over_fitting():
    epochs = np.arange(50)
    train = 2.0 * np.exp(-epochs / 10.0) + 0.05
    val = 1.0 + 0.002 * (epochs - 12) ** 2  # best at epoch 12, then worse and worse
    s = one(
        frame_of_runs(
            frame_of(train, steps=epochs), frame_of(val, steps=epochs, metric="val_loss")
        ),
        config=EXACT,
    )
    assert s.objective == "val_loss" and s.metric == "loss"
    assert s.verdict == "over-fitting"
    assert s.best_step == 12
    assert s.stop_step <= 12
    assert "val_loss best" in s.reason and "kept falling" in s.reason


def test_collapse_without_nan_is_divergence():
    steps = np.arange(400)
    loss = np.where(
        steps < 200, 0.1 + 2.2 * np.exp(-steps / 20.0), math.log(10) - 0.01 * np.cos(steps)
    )
    s = one(frame_of(loss, steps=steps), config=EXACT)
    assert s.verdict == "diverged"
    assert 190 <= s.diverged_step <= 230
    assert s.stop_step < 200
    assert "collapse" in s.reason


def test_divergence_to_nan():
    vals = [10, 8, 6, 5, 50, math.inf, math.nan, math.nan, math.nan, math.nan]
    s = one(frame_of(vals), config=EXACT)
    assert s.verdict == "diverged"
    assert s.diverged_step == 5
    assert s.stop_step <= 4
    assert s.steps_saved == 9 - s.stop_step
    assert pd.isna(s.final_loss)
    assert "NaN/inf at step 5" in s.reason


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


def test_one_isolated_nan_in_a_converged_run_is_not_divergence():
    t = np.arange(200)
    loss = 1.0 + 4.0 * np.exp(-t / 10.0)
    loss[120] = math.nan
    s = one(frame_of(loss, steps=t), config=EXACT)
    assert s.verdict == "wasteful"
    assert pd.isna(s.diverged_step)


def test_max_mode_judges_a_score_by_its_best_not_its_worst():
    epochs = np.arange(60)
    acc = np.round(0.9 - 0.8 * np.exp(-epochs / 6.0), 4)  # a plateau by ~epoch 25
    s = one(frame_of(acc, steps=epochs, metric="val_accuracy"), config=EXACT)
    assert s["mode"] == "max"
    assert s.verdict == "wasteful"
    assert 15 <= s.stop_step <= 40
    assert s.objective_best == pytest.approx(acc.max())
    # an unknown name: its direction comes from --mode (or from how it moved)
    forced = one(frame_of(acc, steps=epochs, metric="sharpness"), config=Config(mode="max"))
    assert forced.stop_step == s.stop_step
    assert one(frame_of(acc, steps=epochs, metric="sharpness"))["mode"] == "max"


def test_mode_min_overrides_the_name():
    epochs = np.arange(60)
    vals = np.round(0.1 + 0.8 * np.exp(-epochs / 6.0), 4)
    s = one(frame_of(vals, steps=epochs, metric="val_accuracy"), config=Config(mode="min"))
    assert s["mode"] == "min"
    assert s.verdict == "wasteful"


def test_ambiguous_glob_is_an_error_listing_the_matches():
    f = frame_of_runs(
        frame_of([3.0, 2.0, 1.0]),
        frame_of([0.1, 0.5, 0.9], metric="val_acc"),
        frame_of([0.9, 0.5, 0.1], metric="val_loss"),
    )
    with pytest.raises(UsageError, match="matches 2 metrics.*val_acc, val_loss"):
        engine.analyze(f, objective="val*")
    assert one(f, objective="val_l*").objective == "val_loss"


def hf_attrs(**kw):
    base = {"best_metric": "0.5", "best_global_step": "30", "max_steps": "400"}
    return {"r": {**base, **kw}}, {"r": "hf_trainer"}


def test_hf_early_stopping_agreement():
    steps = np.arange(0, 51, 2)
    val = 0.5 + 0.002 * (steps - 30) ** 2 / 10  # best 0.5 at step 30
    f = frame_of_runs(
        frame_of(2.0 - steps / 100, steps=steps), frame_of(val, steps=steps, metric="eval_loss")
    )
    state = '{"args": {"early_stopping_patience": 10}, "attributes": {"early_stopping_patience_counter": 10}}'
    attrs, formats = hf_attrs(early_stopping=state, should_training_stop="True")
    s = one(f, attrs=attrs, formats=formats)
    assert s.framework == "Hugging Face Trainer"
    assert s.framework_best_step == 30 and s.framework_stop_step == 50
    assert bool(s.framework_agrees) is True
    assert "gdei agrees" in s.reason
    assert not s.cut_short  # the framework stopped it: not cut short
    # a gdei stop far from the framework's best is a disagreement, said so
    state_far = dict(attrs)
    state_far["r"] = {**attrs["r"], "best_global_step": "4", "best_metric": str(val[2])}
    s2 = one(f, attrs=state_far, formats=formats)
    assert bool(s2.framework_agrees) is False and "disagrees" in s2.reason


def test_hf_objective_is_the_trainers_metric_for_best_model():
    steps = np.arange(0, 101, 10)
    f = frame_of_runs(
        frame_of(2.0 - steps / 100, steps=steps),
        frame_of(0.3 + steps / 1000, steps=steps, metric="eval_loss"),  # rises throughout
        frame_of(0.9 - steps / 500 + (steps / 100) ** 2 / 4, steps=steps, metric="eval_wer"),
    )
    best = 0.9 - 60 / 500 + 0.6**2 / 4
    attrs = {"r": {"best_metric": repr(best), "best_global_step": "60", "max_steps": "100"}}
    s = one(f, attrs=attrs, formats={"r": "hf_trainer"})
    assert s.objective == "eval_wer"


def test_a_run_cut_short_is_never_called_converged():
    steps = np.arange(0, 151)
    loss = 1.0 + 4.0 * np.exp(-steps / 10.0)  # flat from ~step 60
    frame = frame_of(loss, steps=steps)
    plain = one(frame, config=EXACT)
    assert plain.verdict == "wasteful" and not plain.cut_short
    attrs, formats = hf_attrs(max_steps="1000")
    cut = one(frame, config=EXACT, attrs=attrs, formats=formats)
    assert cut.cut_short
    assert cut.verdict == "still improving"
    assert "planned max_steps 1000" in cut.reason
    # a learning-rate schedule visibly mid-way is evidence too
    lr = 0.1 * 0.5 * (1 + np.cos(np.pi * steps / 600))  # a cosine over 600 steps, cut at 150
    with_lr = frame_of_runs(frame, frame_of(lr, steps=steps, metric="lr"))
    s = one(with_lr, config=EXACT)
    assert s.cut_short and s.verdict == "still improving"
    assert "learning-rate schedule was unfinished" in s.reason
    done = 0.1 * 0.5 * (1 + np.cos(np.pi * steps / 150))  # the same cosine, finished
    assert not one(frame_of_runs(frame, frame_of(done, steps=steps, metric="lr"))).cut_short


def test_mlflow_failed_status_is_cut_short():
    t = np.arange(30)
    frame = frame_of(1.0 + 4.0 * np.exp(-t / 3.0), steps=t)
    s = one(frame, attrs={"r": {"status": "KILLED"}}, formats={"r": "mlflow"})
    assert s.cut_short and "MLflow status KILLED" in s.reason


def test_live_rule_is_the_replayable_plateau_rule():
    t = np.arange(201)
    loss = 1.0 + 9.0 * np.exp(-t / 30.0)
    loose = one(frame_of(loss, steps=t), config=Config(smoothing=0.0, rule="live", threshold=5.0))
    strict = one(frame_of(loss, steps=t), config=Config(smoothing=0.0, rule="live", threshold=0.1))
    assert loose.stop_step < strict.stop_step
    assert loose.live_stop_step == loose.stop_step
    # the live stop is reported beside the hindsight one
    hind = one(frame_of(loss, steps=t), config=EXACT)
    assert not pd.isna(hind.live_stop_step)


def test_live_rule_warmup_delays_the_stop():
    t = np.arange(101)
    loss = np.r_[np.full(30, 5.0), 5.0 - 0.05 * np.arange(71)]  # flat, then falls
    live = Config(smoothing=0.0, rule="live")
    early = one(frame_of(loss, steps=t), config=live)
    late = one(frame_of(loss, steps=t), config=Config(smoothing=0.0, rule="live", warmup=Span(40, True)))
    assert early.stop_step <= 30
    assert late.verdict == "still improving"


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
    s = one(
        frame_of(loss, steps=t, wall=wall),
        config=Config(smoothing=0.0),
        costs=Costs(gpus=4, gpu_hour_cost=2.0),
    )
    assert s.wall_saved_s == pytest.approx(2.0 * s.steps_saved)
    assert s.gpu_hours_saved == pytest.approx(s.wall_saved_s / 3600 * 4)
    assert s.cost_saved == pytest.approx(s.gpu_hours_saved * 2.0)


def test_seconds_per_step_fills_in_when_no_clock():
    t = np.arange(101)
    loss = 1.0 + 9.0 * np.exp(-t / 3.0)
    s = one(frame_of(loss, steps=t), config=Config(smoothing=0.0), costs=Costs(seconds_per_step=0.5))
    assert s.wall_saved_s == pytest.approx(0.5 * s.steps_saved)
    assert pd.isna(one(frame_of(loss, steps=t), config=Config(smoothing=0.0)).wall_saved_s)


def test_default_metric_objective_and_glob_and_missing():
    f = schema.make_frame(
        run=["r"] * 4,
        metric=["val_loss", "val_loss", "train/loss", "train/loss"],
        step=[0, 1, 0, 1],
        value=[1, 2, 3, 4],
        wall_time=[math.nan] * 4,
    )
    s = one(f)
    assert (s.metric, s.objective) == ("train/loss", "val_loss")
    assert one(f, metric="val_*").metric == "val_loss"
    with pytest.raises(MetricNotFoundError, match="train/loss, val_loss"):
        engine.analyze(f, metric="accuracy")


def test_run_without_a_loss_is_reported_when_others_have_one():
    f = frame_of_runs(
        frame_of([3.0, 2.0, 1.0], run="a"),
        frame_of([0.1, 0.2, 0.3], run="b", metric="lr"),
        frame_of([5.0, 4.0, 6.0], run="b", metric="grad_norm"),
    )
    s = engine.analyze(f).summary
    assert list(s.run) == ["a", "b"]
    assert s.verdict[1] == engine.NO_METRIC
    assert "grad_norm" in s.note[1]


def test_a_run_with_a_single_metric_is_judged_on_it():
    s = one(frame_of([0.1, 0.5, 0.6, 0.6, 0.6, 0.6], metric="test SSMI_B mean"))
    assert s.metric == s.objective == "test SSMI_B mean"
    assert s["mode"] == "max"


def test_plain_dataframe_as_tbparse_returns_it():
    plain = pd.DataFrame({"step": [0, 1, 2, 3], "tag": ["loss"] * 4, "value": [4.0, 2, 1.5, 1.4]})
    s = one(plain)
    assert s.run == "run" and s.metric == "loss"
    with pytest.raises(SchemaError, match="needs columns"):
        engine.analyze(pd.DataFrame({"x": [1]}))
    with pytest.raises(SchemaError):
        engine.analyze(pd.DataFrame({"step": ["a"], "metric": ["loss"], "value": [1.0]}))


@pytest.mark.parametrize("bad", ["-1", "abc", "150%", "", "0", "0%"])
def test_span_rejects_bad_values(bad):
    with pytest.raises(UsageError):
        Span.parse(bad, name="--window")


@pytest.mark.parametrize(
    "kw",
    [{"smoothing": 1.0}, {"tolerance": -1.0}, {"threshold": math.nan}, {"end_window": 0.0}],
)
def test_config_rejects_bad_values(kw):
    with pytest.raises(UsageError):
        Config(**kw)


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e6, max_value=1e6),
)


@settings(max_examples=150, deadline=None)
@given(
    series=st.lists(st.lists(values, min_size=1, max_size=40), min_size=1, max_size=4),
    smoothing=st.one_of(st.none(), st.floats(min_value=0.0, max_value=0.99)),
    tolerance=st.floats(min_value=0, max_value=50),
    rule=st.sampled_from(["hindsight", "live"]),
    window=st.sampled_from(["1", "5", "10%", "50%"]),
)
def test_engine_never_raises_and_is_well_formed(series, smoothing, tolerance, rule, window):
    runs, metrics, steps, vals = [], [], [], []
    for i, s in enumerate(series):
        runs += [f"run{i}"] * len(s)
        metrics += ["loss"] * len(s)
        steps += list(range(0, 3 * len(s), 3))
        vals += s
    f = schema.make_frame(
        run=runs, metric=metrics, step=steps, value=vals, wall_time=[math.nan] * len(vals)
    )
    cfg = Config(
        smoothing=smoothing, tolerance=tolerance, rule=rule, window=Span.parse(window, name="w")
    )
    a = engine.analyze(f, config=cfg)
    s = a.summary
    assert len(s) == len(series)
    assert set(s.verdict) <= {v.value for v in engine.Verdict}
    assert s.reason.map(lambda r: isinstance(r, str) and len(r) > 0).all()
    idx = a.points["index"].to_numpy()
    fin = idx[np.isfinite(idx)]
    assert np.all((fin >= 0) & (fin <= 99))
    ok = s.stop_step.notna()
    assert (s.stop_step[ok] >= s.first_step[ok]).all()
    assert (s.stop_step[ok] <= s.last_step[ok]).all()
    w = s.waste_pct[ok].astype(float)
    assert ((w >= 0) & (w <= 100)).all()


def test_loss_components_that_never_share_a_step_are_no_metric_not_a_crash():
    analyze = engine.analyze

    rows = [("yolo", "train/box_loss", s, 1.0 / (s + 1)) for s in range(0, 20, 2)]
    rows += [("yolo", "train/cls_loss", s, 1.0 / (s + 1)) for s in range(1, 20, 2)]
    bad = pd.DataFrame(rows, columns=["run", "metric", "step", "value"])
    with pytest.raises(MetricNotFoundError):
        analyze(bad)
    good = pd.DataFrame(
        [("ok", "loss", s, 1.0 / (s + 1)) for s in range(50)], columns=["run", "metric", "step", "value"]
    )
    summary = analyze(pd.concat([bad, good])).summary.set_index("run")
    assert summary.loc["yolo", "verdict"] == "no metric"
    assert "never logged at the same step" in summary.loc["yolo", "reason"]
    assert summary.loc["ok", "verdict"] != "no metric"


# --------------------------------------------------------------------------- batches


def _same_analysis(frame, **kw):
    whole = engine.analyze(frame, batch_points=10**12, **kw)
    for batch in (1, 7, 500):
        part = engine.analyze(frame, batch_points=batch, **kw)
        pd.testing.assert_frame_equal(whole.summary, part.summary)
        pd.testing.assert_frame_equal(whole.points, part.points)
    return whole


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(2, 60),  # points
            st.floats(0.5, 50.0),  # starting loss
            st.floats(0.0, 0.2),  # decay per step
            st.booleans(),  # with a val_loss
        ),
        min_size=1,
        max_size=6,
    )
)
def test_batches_of_runs_give_the_same_analysis(runs):
    """The engine judges runs in batches to bound its memory; any batch size gives
    the same summary and points as one batch."""
    cols: dict[str, list] = {"run": [], "metric": [], "step": [], "value": []}
    for i, (n, start, decay, val) in enumerate(runs):
        for metric in ("loss", "val_loss") if val else ("loss",):
            for t in range(n):
                wobble = 0.01 * math.sin(3 * t + i) * start
                v = start * math.exp(-decay * t) + wobble + (0.3 if metric == "val_loss" else 0)
                cols["run"].append(f"r{i}")
                cols["metric"].append(metric)
                cols["step"].append(t)
                cols["value"].append(v)
    frame = schema.make_frame(**cols, wall_time=np.full(len(cols["step"]), np.nan))
    _same_analysis(frame)


def test_batches_on_the_samples_and_without_points():
    from gdei_cli import load

    ds = load([SAMPLES])
    kw = {
        "attrs": {n: i.attrs for n, i in ds.runs.items()},
        "formats": {n: i.format for n, i in ds.runs.items()},
    }
    whole = _same_analysis(ds.frame, **kw)
    lean = engine.analyze(ds.frame, keep_points=False, **kw)
    pd.testing.assert_frame_equal(whole.summary, lean.summary)
    assert len(lean.points) == 0
    assert list(lean.points.columns) == list(whole.points.columns)
    def kinds(frame):
        return ["category" if isinstance(d, pd.CategoricalDtype) else str(d) for d in frame.dtypes]

    assert kinds(lean.points) == kinds(whole.points)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sets(st.sampled_from("abcdefg"), min_size=1),  # the part's run names
            st.sets(st.sampled_from(["loss", "acc", "val_loss"]), min_size=1),  # metrics
            st.lists(st.integers(0, 10**6), min_size=0, max_size=12),  # rows (code seeds)
        ),
        min_size=2,
        max_size=5,
    )
)
def test_stacked_points_keep_every_row_name(
    parts: list[tuple[set[str], set[str], list[int]]],
) -> None:
    """Batches' point frames stacked: each row keeps its run and metric name, whether
    a part's categories are a stretch of the union (shifted codes) or not."""
    frames, want_run, want_metric = [], [], []
    for runs, metrics, seeds in parts:
        run_names, metric_names = sorted(runs), sorted(metrics)
        rc = np.array([s % len(run_names) for s in seeds], dtype=np.int64)
        mc = np.array([s % len(metric_names) for s in seeds], dtype=np.int64)
        n = rc.size
        frames.append(
            engine.points.point_frame(
                schema.categorical(rc, run_names),
                schema.categorical(mc, metric_names),
                np.arange(n, dtype=np.int64),
                (np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)),
                np.zeros(n, dtype=np.int64),
            )
        )
        want_run += [run_names[c] for c in rc]
        want_metric += [metric_names[c] for c in mc]
    got = engine.points.stack(frames)
    assert [str(x) for x in got[schema.RUN]] == want_run
    assert [str(x) for x in got[schema.METRIC]] == want_metric


def test_a_run_without_a_loss_between_two_with_one_leaves_their_judgement_alone():
    """Runs are coded per batch: a run with no training loss among them (not analysed)
    must not shift its neighbours' points onto each other."""

    def run(name: str, metric: str, scale: float) -> pd.DataFrame:
        steps = np.arange(0, 400, 4)
        return pd.DataFrame(
            {"run": name, "metric": metric, "step": steps, "value": scale / (1 + 0.05 * steps)}
        )

    a, c = run("a", "loss", 3.0), run("c", "loss", 9.0)
    both = engine.analyze(pd.concat([a, run("b", "lr", 1.0), c]))
    assert both.summary.set_index("run").loc["b", "verdict"] == "no metric"
    for alone in (engine.analyze(a), engine.analyze(c)):
        name = alone.summary["run"].iloc[0]
        got = both.summary.set_index("run").loc[[name]].reset_index()
        pd.testing.assert_frame_equal(got, alone.summary, check_dtype=False)
        pts = both.points[both.points["run"] == name]
        assert pts["value"].tolist() == alone.points["value"].tolist()
        assert np.array_equal(pts["index"], alone.points["index"], equal_nan=True)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=5, unique=True),  # runs
            st.lists(st.integers(0, 10**6), max_size=12),  # rows (code seeds)
            st.integers(0, 10**6),  # metric and role seed
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(0, 30),  # capacity: growing past it keeps every row
    st.booleans(),  # steps and values as views of one input buffer
)
def test_point_columns_equal_the_batches_frames_stacked(batches, capacity, views) -> None:
    """Points written batch by batch into PointColumns give the frame that stacking
    each batch's own frame gives: rows, names, roles and values, in order."""
    from gdei_cli.engine.points import ROLES, PointColumns, point_frame, stack

    metrics = ["acc", "loss", "val_loss"]
    total = sum(len(rows) for _, rows, _ in batches)
    source = np.arange(total, dtype=np.float64) * 0.5
    sink = PointColumns(capacity, sorted({r for runs, _, _ in batches for r in runs}), metrics)
    frames, at = [], 0
    for runs, seeds, seed in batches:
        codes = np.array([x % len(runs) for x in seeds], dtype=np.int64)
        names = [metrics[(seed + i) % (1 + seed % 3)] for i in range(len(runs))]
        roles = np.array([(seed // 3 + i) % len(ROLES) for i in range(len(runs))], dtype=np.int8)
        k = codes.size
        value = source[at : at + k] if views else source[at : at + k].copy()
        step = np.arange(at, at + k, dtype=np.int64)
        smoothed, index = value * 2, value * 3
        sink.add(runs, codes, names, roles, (step, value, value + 1), (smoothed, index))
        frames.append(
            point_frame(
                schema.categorical(codes, runs),
                schema.categorical(np.array([sorted(set(names)).index(n) for n in names])[codes]
                                   if k else codes, sorted(set(names))),
                step, (value, value + 1, smoothed, index), roles[codes] if k else codes,
            )  # fmt: skip
        )
        at += k
    got, want = sink.frame(), stack(frames)
    assert len(got) == total
    assert list(got.columns) == list(want.columns)
    for col in got.columns:
        assert [str(x) for x in got[col]] == [str(x) for x in want[col]], col
    assert [str(c) for c in got[schema.METRIC].cat.categories] == metrics
    if views and len(batches) > 1 and total:  # the input's stretches joined, not copied
        assert np.shares_memory(got[schema.VALUE].to_numpy(), source)


def test_point_columns_of_many_runs_with_mixed_names_and_roles():
    """More runs in a batch than an int8 counts (a run's metric code and role are
    int8): each row still gets its own run's name and role."""
    from gdei_cli.engine.points import ROLES, PointColumns

    runs = [f"r{i:03d}" for i in range(300)]
    names = ["loss" if i % 3 else "train_loss" for i in range(300)]
    roles = np.array([i % 2 for i in range(300)], dtype=np.int8)
    codes = np.repeat(np.arange(300), 2)
    sink = PointColumns(0, runs, ["loss", "train_loss"])
    floats = np.arange(600, dtype=np.float64)
    sink.add(runs, codes, names, roles, (codes.astype(np.int64), floats, floats), (floats, floats))
    got = sink.frame()
    assert [str(x) for x in got[schema.RUN]] == [runs[c] for c in codes]
    assert [str(x) for x in got[schema.METRIC]] == [names[c] for c in codes]
    assert [str(x) for x in got["role"]] == [ROLES[roles[c]] for c in codes]


def test_joined_view_only_joins_consecutive_stretches_of_one_buffer():
    """Batches' views of the input's columns are stacked without a copy only when they
    lie one after another in one buffer; anything else is concatenated."""
    base = np.arange(20.0)
    parts = [base[0:5], base[5:5], base[5:12], base[12:20]]
    joined = engine.points.joined_view(parts)
    assert joined is not None and np.shares_memory(joined, base)
    assert joined.tolist() == base.tolist() and not joined.flags.writeable
    assert engine.points.joined_view([base[0:5], base[6:12]]) is None  # a gap
    assert engine.points.joined_view([base[5:10], base[0:5]]) is None  # out of order
    assert engine.points.joined_view([base[0:10:2], base[10:20:2]]) is None  # strided
    other = np.arange(20.0)
    assert engine.points.joined_view([base[0:5], other[5:10]]) is None  # two buffers
    assert engine.points.joined_view([np.arange(3.0), np.arange(3.0)]) is None  # owners, not views


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=40),
    st.dictionaries(st.integers(0, 3), st.integers(0, 2), min_size=1),
)
def test_rows_of_picks_each_pairs_rows_and_views_one_stretch(pairs, wanted) -> None:
    """The rows of the wanted (run, metric) pairs, in frame order; when they lie one
    after another (one run's series) the columns are taken as views, not copies."""
    from gdei_cli.engine.series import Frame

    pairs = sorted(pairs)  # a canonical frame: runs, then metrics, contiguous
    frame = schema.make_frame(
        run=np.array([f"r{r}" for r, _ in pairs], dtype=object),
        metric=np.array([f"m{m}" for _, m in pairs], dtype=object),
        step=np.arange(len(pairs)),
        value=np.arange(len(pairs), dtype=np.float64),
        wall_time=np.full(len(pairs), np.nan),
    )
    f = Frame.of(frame)
    run_at = {n: i for i, n in enumerate(f.run_names)}
    metric_at = {n: i for i, n in enumerate(f.metric_names)}
    want = {
        run_at[f"r{r}"]: metric_at[f"m{m}"]
        for r, m in wanted.items()
        if f"r{r}" in run_at and f"m{m}" in metric_at
    }
    if not want:
        return
    rows = f.rows_of(want)
    expected = [
        i for i, (r, m) in enumerate(pairs) if want.get(run_at[f"r{r}"]) == metric_at.get(f"m{m}")
    ]
    assert f.value[rows].tolist() == [float(i) for i in expected]
    if expected and expected == list(range(expected[0], expected[-1] + 1)):
        assert isinstance(rows, slice)
        assert np.shares_memory(f.value[rows], f.value)


@pytest.mark.parametrize("sub", ["detectron2_json", "mmdet_json", "yolo_csv", "keras_csv"])
def test_the_points_columns_are_sized_for_every_point(sub):
    """Each kind's columns are sized once, at least as large as the points it takes
    (a derived loss, such as Detectron2's total, counted by its parts' rows)."""
    from gdei_cli import load
    from gdei_cli.engine.series import Frame, plan, rows_bound

    from .conftest import shared_logs

    ds = load([shared_logs() / sub])
    attrs = {n: i.attrs for n, i in ds.runs.items()}
    result = engine.analyze(ds.frame, attrs=attrs)
    f = Frame.of(schema.as_canonical(ds.frame))
    p = plan(f, metric=None, objective=None, mode=Config().mode, attrs=attrs, require_metric=False)
    role = result.points["role"].astype(str)
    assert rows_bound(f, p, "loss") >= int(role.isin(["loss", "loss+objective"]).sum())
    assert rows_bound(f, p, "objective") >= int((role == "objective").sum())


def _derive_per_run(f, r: int, code: int, d) -> tuple[np.ndarray, ...]:
    """A derived series of one run as gdei computed it before it did every run in one
    pass: a frame per part, concatenated, grouped by step with pandas (which sums a
    group in order, compensated or not by its version and the data)."""
    pieces = []
    for name, weight in d.parts:
        rows = f.block(r, name)
        pieces.append(
            pd.DataFrame(
                {"step": f.step[rows], "v": f.value[rows] * weight, "wall": f.wall[rows], "k": name}
            )
        )
    both = pd.concat(pieces, ignore_index=True)
    g = both.groupby("step", sort=True).agg(v=("v", "sum"), wall=("wall", "max"), k=("k", "size"))
    g = g[g["k"] == len(d.parts)]
    return (
        np.full(len(g), code, dtype=np.int64),
        g.index.to_numpy(dtype=np.float64),
        g["v"].to_numpy(dtype=np.float64),
        g["wall"].to_numpy(dtype=np.float64),
    )


def _derive_by_hand(f, r: int, code: int, d) -> tuple[np.ndarray, ...]:
    """The same, one point at a time in plain Python, as ``derive`` defines it: the
    parts' points at each step, in part order; Kahan's sum of the values, NaN skipped;
    the first largest wall time, NaN skipped."""
    at: dict[int, list[tuple[float, float]]] = {}
    for name, weight in d.parts:
        rows = f.block(r, name)
        for s, v, w in zip(f.step[rows].tolist(), (f.value[rows] * weight).tolist(),
                           f.wall[rows].tolist(), strict=True):  # fmt: skip
            at.setdefault(s, []).append((v, w))
    out = []
    for s in sorted(at):
        if len(at[s]) != len(d.parts):
            continue
        total = carry = 0.0
        for v, _ in at[s]:
            if v != v:
                continue
            y = v - carry
            t = total + y
            c = (t - total) - y
            carry, total = (0.0 if c != c else c), t
        latest = math.nan
        for _, w in at[s]:
            if w == w and (latest != latest or w > latest):
                latest = w
        out.append((float(s), total, latest))
    cols = list(zip(*out, strict=True)) if out else [(), (), ()]
    return (np.full(len(out), code, dtype=np.int64), *(np.array(c, dtype=np.float64) for c in cols))


def _bits(x: np.ndarray) -> list[int]:
    """Each float's bits (any NaN as one NaN; -0.0 and 0.0 told apart)."""
    return np.where(np.isnan(x), np.nan, x).view(np.int64).tolist()


_MODERATE = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.inf, -np.inf, 0.0, -0.0]))
# (overflow, and sums a compensated sum rounds differently: 1e16 + 1.0 + 1.0)
_EXTREME = st.one_of(_MODERATE, st.sampled_from([1e308, -1e308, 1e-320, 1e16, 1.0, 0.1, 0.2]))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data(), extreme=st.booleans())
def test_a_derived_series_of_every_run_at_once_is_each_runs_own(data, extreme):
    """A series summed from parts (Ultralytics' fitness, a loss summed from its parts)
    is computed for every run in one pass: bit for bit what its definition computes
    point by point, and what the group-by per run it replaced gave, up to the
    rounding of a sum (pandas sums compensated or not, by its version and the data)."""
    from gdei_cli.engine import select
    from gdei_cli.engine.series import Frame, derive

    metrics = ["a", "b", "c"]
    n_runs = data.draw(st.integers(1, 4))
    run_code, metric_code, steps, values, walls = [], [], [], [], []
    for r in range(n_runs):
        for m in range(len(metrics)):
            # sorted steps; a repeat now and then (a frame handed to analyze() as is)
            s = sorted(data.draw(st.lists(st.integers(0, 8), max_size=7)))
            n = len(s)
            run_code += [r] * n
            metric_code += [m] * n
            steps += s
            values += data.draw(st.lists(_EXTREME if extreme else _MODERATE, min_size=n,
                                         max_size=n))  # fmt: skip
            walls += data.draw(
                st.lists(st.one_of(st.just(np.nan), st.floats(0, 1e9)), min_size=n, max_size=n)
            )
    f = Frame(
        run_code=np.array(run_code, dtype=np.int8),
        metric_code=np.array(metric_code, dtype=np.int8),
        run_names=[f"r{i}" for i in range(n_runs)],
        metric_names=metrics,
        step=np.array(steps, dtype=np.int64),
        value=np.array(values, dtype=np.float64),
        wall=np.array(walls, dtype=np.float64),
    )
    names = data.draw(st.lists(st.sampled_from(metrics), min_size=1, max_size=3, unique=True))
    weights = data.draw(
        st.lists(st.sampled_from([1.0, 0.1, 0.9, -2.5, 3.0]), min_size=len(names),
                 max_size=len(names))
    )  # fmt: skip
    d = select.Derived("x", tuple(zip(names, weights, strict=True)))
    runs = data.draw(st.lists(st.integers(0, n_runs - 1), min_size=1, unique=True))
    codes = np.arange(len(runs)) * 3 + 1
    got = derive(f, np.array(runs), codes, d)
    with np.errstate(all="ignore"):  # (an overflow is part of the case)
        by_hand = [_derive_by_hand(f, r, int(c), d) for r, c in zip(runs, codes, strict=True)]
    assert got[0].tolist() == np.concatenate([w[0] for w in by_hand]).tolist()
    for k in (1, 2, 3):
        assert _bits(got[k]) == _bits(np.concatenate([w[k] for w in by_hand])), k
    if not extreme:  # (where a compensated and a plain sum agree to rounding)
        with np.errstate(all="ignore"):
            per_run = [_derive_per_run(f, r, int(c), d) for r, c in zip(runs, codes, strict=True)]
        want = [np.concatenate([w[k] for w in per_run]) for k in range(4)]
        assert got[0].tolist() == want[0].tolist()
        assert _bits(got[1]) == _bits(want[1])
        np.testing.assert_allclose(got[2], want[2], rtol=1e-12, atol=1e-6)
        assert _bits(got[3]) == _bits(want[3])


def test_a_derived_series_sums_its_parts_compensated():
    """1e16 + 1 + 1: a plain sum loses both ones (1e16 + 1 rounds back to 1e16), the
    compensated sum gdei (and pandas' group-by before it) takes keeps them."""
    from gdei_cli.engine import select
    from gdei_cli.engine.series import Frame, derive

    f = Frame(
        run_code=np.zeros(3, dtype=np.int8),
        metric_code=np.arange(3, dtype=np.int8),
        run_names=["r"],
        metric_names=["a", "b", "c"],
        step=np.zeros(3, dtype=np.int64),
        value=np.array([1e16, 1.0, 1.0]),
        wall=np.array([5.0, np.nan, 7.0]),
    )
    d = select.Derived("x", (("a", 1.0), ("b", 1.0), ("c", 1.0)))
    code, step, value, wall = derive(f, np.array([0]), np.array([4]), d)
    assert code.tolist() == [4] and step.tolist() == [0.0] and wall.tolist() == [7.0]
    assert value[0] == 1e16 + 2 and 1e16 + 1.0 + 1.0 == 1e16
