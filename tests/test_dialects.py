"""Framework dialects on small files written here, and their detection."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gdei_cli import load
from gdei_cli.cli import app
from gdei_cli.readers import detect_format


def pts(ds, metric, run=None):
    f = ds.frame
    sel = f.metric == metric
    if run is not None:
        sel &= f.run == run
    return f.loc[sel, ["step", "value"]].to_numpy().tolist()


def test_lightning_metrics_csv(write, tmp_path):
    p = write(
        "lightning_logs/version_3/metrics.csv",
        "epoch,lr-Adam,step,train_loss_step,val_loss\n,0.001,0,,\n0,,49,2.0,\n0,,99,1.5,\n0,,99,,1.7\n1,,149,1.2,\n",
    )
    write("lightning_logs/version_3/hparams.yaml", "lr: 0.001\nbatch_size: 32\n")
    assert detect_format(p)[0] == "lightning"
    ds = load([tmp_path / "lightning_logs"])
    assert list(ds.runs) == ["version_3"]
    info = ds.runs["version_3"]
    assert info.format == "lightning" and info.attrs["hparam.batch_size"] == "32"
    assert pts(ds, "train_loss_step") == [[49, 2.0], [99, 1.5], [149, 1.2]]
    assert pts(ds, "lr-Adam") == [[0, 0.001]]


def test_keras_csvlogger_resumed_run(write, tmp_path):
    # epochs 0-3, then resumed from epoch 2 (CSVLogger(append=True))
    p = write(
        "training.log",
        "epoch,accuracy,loss,val_loss\n0,0.5,1.0,NA\n1,0.6,0.8,0.9\n2,0.7,0.7,0.8\n3,0.7,0.69,0.79\n2,0.71,0.68,0.75\n3,0.72,0.6,0.7\n",
    )
    assert detect_format(p)[0] == "keras"
    ds = load([p])
    assert pts(ds, "loss") == [[0, 1.0], [1, 0.8], [2, 0.68], [3, 0.6]]
    assert pts(ds, "val_loss") == [[1, 0.9], [2, 0.75], [3, 0.7]]
    assert ds.runs[next(iter(ds.runs))].superseded == {"accuracy": 2, "loss": 2, "val_loss": 2}


def test_hf_trainer_state(write, tmp_path):
    state = {
        "best_metric": 0.5,
        "best_model_checkpoint": "out/checkpoint-20",
        "global_step": 40,
        "log_history": [
            {"epoch": 0.5, "learning_rate": 1e-4, "loss": 2.0, "grad_norm": 3.0, "step": 10},
            {"epoch": 1.0, "learning_rate": 1e-4, "loss": 1.5, "grad_norm": 2.0, "step": 20},
            {"epoch": 1.0, "eval_loss": 1.6, "eval_runtime": 3.0, "step": 20},
            {"epoch": 2.0, "learning_rate": 5e-5, "loss": 1.4, "grad_norm": 1.0, "step": 40},
            {"epoch": 2.0, "step": 40, "train_loss": 1.6, "train_runtime": 400.0, "total_flos": 1.0},
        ],
        "stateful_callbacks": {
            "EarlyStoppingCallback": {"args": {"early_stopping_patience": 3}, "attributes": {"early_stopping_patience_counter": 1}}
        },
    }
    p = write("out/trainer_state.json", json.dumps(state, indent=2))
    assert detect_format(p)[0] == "hf_trainer"
    ds = load([p])
    (run,) = ds.runs
    info = ds.runs[run]
    assert run == "out" and info.wall_clock == "derived"
    assert pts(ds, "loss") == [[10, 2.0], [20, 1.5], [40, 1.4]]
    assert pts(ds, "eval_loss") == [[20, 1.6]]
    assert "train_runtime" not in set(ds.frame.metric.astype(str))  # the summary is no point
    wall = ds.frame.loc[ds.frame.metric == "loss", "wall_time"].tolist()
    assert wall == [100.0, 200.0, 400.0]  # step / 40 * 400 s
    assert info.attrs["best_model_checkpoint"] == "out/checkpoint-20"
    assert "early_stopping_patience" in info.attrs["early_stopping"]


def test_mlflow_file_store(write, tmp_path):
    run = "mlruns/7/abc123"
    write("mlruns/7/meta.yaml", "experiment_id: '7'\nname: my-exp\n")
    write(f"{run}/meta.yaml", "run_id: abc123\nstatus: 3\nstart_time: 1700000000000\n")
    write(f"{run}/tags/mlflow.runName", "bright-owl")
    write(f"{run}/params/lr", "0.01")
    write(f"{run}/metrics/loss", "1700000001000 2.5 0\n1700000002000 2.0 1\n1700000003000 1.8 2\n")
    write(f"{run}/metrics/val/loss", "1700000002500 2.2 1\n")
    ds = load([tmp_path / "mlruns"])
    assert list(ds.runs) == ["7/abc123"]
    info = ds.runs["7/abc123"]
    assert info.format == "mlflow" and info.wall_clock == "logged"
    assert info.attrs["run_name"] == "bright-owl" and info.attrs["experiment"] == "my-exp"
    assert info.attrs["status"] == "FINISHED" and info.attrs["param.lr"] == "0.01"
    assert pts(ds, "loss") == [[0, 2.5], [1, 2.0], [2, 1.8]]
    assert pts(ds, "val/loss") == [[1, 2.2]]
    assert ds.frame.loc[ds.frame.metric == "loss", "wall_time"].tolist()[0] == 1700000001.0


def test_wandb_chart_export_splits_runs(write, tmp_path):
    p = write(
        "export.csv",
        '"Step","a - loss","a - loss__MIN","a - loss__MAX","b - loss","b - loss__MIN","b - loss__MAX"\n'
        '"1","3","3","3","4","4","4"\n"2","2","2","2","","",""\n"3","1.5","1.5","1.5","2","2","2"\n',
    )
    assert detect_format(p)[0] == "wandb_export"
    ds = load([p])
    assert list(ds.runs) == ["export.csv/a", "export.csv/b"]
    assert pts(ds, "loss", "export.csv/a") == [[1, 3.0], [2, 2.0], [3, 1.5]]
    assert pts(ds, "loss", "export.csv/b") == [[1, 4.0], [3, 2.0]]


def test_wandb_history_jsonl(write, tmp_path):
    write(
        "wandb-history.jsonl",
        '{"_step": 0, "_runtime": 1.5, "_timestamp": 1700000000.5, "loss": 2}\n'
        '{"_step": 1, "_runtime": 2.5, "_timestamp": 1700000001.5, "loss": 1}\n',
    )
    ds = load([tmp_path])
    (run,) = ds.runs
    assert ds.runs[run].wall_clock == "logged"
    assert ds.frame.loc[ds.frame.metric == "loss", "wall_time"].tolist() == [1700000000.5, 1700000001.5]


def test_detectron2_relaunch_repeats_iterations(write, tmp_path):
    lines = [{"iteration": i, "total_loss": 2.0 - i / 100, "lr": 0.01, "time": 0.3} for i in (19, 39, 59)]
    lines += [{"iteration": i, "total_loss": 1.0 - i / 1000, "lr": 0.01, "time": 0.3} for i in (39, 59, 79)]
    p = write("output/metrics.json", "".join(json.dumps(x) + "\n" for x in lines))
    assert detect_format(p)[0] == "detectron2"
    ds = load([p])
    assert [s for s, _ in pts(ds, "total_loss")] == [19, 39, 59, 79]
    assert pts(ds, "total_loss")[1] == [39, 1.0 - 39 / 1000]
    assert ds.runs["output"].superseded["total_loss"] == 2


def test_mmdet_global_steps_and_config_line(write, tmp_path):
    lines = [{"env_info": "x", "config": "y", "seed": 0, "exp_name": "cfg.py"}]
    for ep in (1, 2):
        for it in (50, 100):
            lines.append({"mode": "train", "epoch": ep, "iter": it, "lr": 0.02, "loss": 1.0 / (ep * it), "time": 0.4})
        lines.append({"mode": "val", "epoch": ep, "iter": 500, "lr": 0.02, "bbox_mAP": 0.1 * ep, "bbox_mAP_copypaste": "0.1 0.2"})
    text = "".join(json.dumps(x) + "\n" for x in lines).replace('"loss": 0.005', '"loss": NaN')
    p = write("work_dirs/x/20210101_000000.log.json", text)
    assert detect_format(p)[0] == "mmdet"
    ds = load([p])
    (run,) = ds.runs
    assert [s for s, _ in pts(ds, "loss")] == [50, 100, 150, 200]
    assert pts(ds, "bbox_mAP") == [[100, 0.1], [200, 0.2]]
    assert ds.runs[run].attrs["exp_name"] == "cfg.py"
    assert "seed" not in set(ds.frame.metric.astype(str))


def test_ultralytics_padded_results(write, tmp_path):
    p = write(
        "runs/detect/train/results.csv",
        "                  epoch,      train/box_loss,      train/cls_loss,  metrics/mAP50(B)\n"
        "                      1,              1.2345,               2.345,           0.1\n"
        "                      2,              1.1000,               2.000,           0.2\n",
    )
    write("runs/detect/train/args.yaml", "epochs: 200\npatience: 3\nmodel: yolov8n.pt\n")
    assert detect_format(p)[0] == "ultralytics"
    ds = load([p])
    assert pts(ds, "train/box_loss") == [[1, 1.2345], [2, 1.1]]
    assert ds.runs["train"].attrs["patience"] == "3"
    # no total loss is written: the loss is the sum of its components; the run was
    # planned for 200 epochs and its patience never ran out: cut short
    res = CliRunner().invoke(app, ["analyze", str(p), "--format", "json"])
    assert res.exit_code == 0, res.output
    (r,) = json.loads(res.stdout)["runs"]
    assert r["metric"] == "sum of train/*_loss" and r["objective"] == "metrics/mAP50(B)"
    assert r["cut_short"] and r["verdict"] == "still improving"
    assert "planned epochs 200" in r["reason"]
    res = CliRunner().invoke(app, ["analyze", str(p), "--metric", "train/box_loss"])
    assert res.exit_code == 0


def test_tensorboard_download_csv(write, tmp_path):
    p = write("run-exp1-tag-train_loss.csv", "Wall time,Step,Value\n1700000000.5,0,2.0\n1700000001.5,10,1.0\n")
    assert detect_format(p)[0] == "tb_csv"
    ds = load([p])
    assert pts(ds, "train_loss") == [[0, 2.0], [10, 1.0]]
    assert ds.frame.wall_time.tolist() == [1700000000.5, 1700000001.5]


def test_deit_log_txt(write, tmp_path):
    p = write("output_dir/log.txt", '{"train_lr": 0.001, "train_loss": 6.9, "test_loss": 6.8, "epoch": 0}\n{"train_lr": 0.001, "train_loss": 5.9, "test_loss": 5.8, "epoch": 1}\n')
    assert detect_format(p)[0] == "deit"
    ds = load([p])
    assert pts(ds, "train_loss") == [[0, 6.9], [1, 5.9]]


@pytest.mark.parametrize(
    "text",
    [
        "s:0 trl:11.0 lr:0.0001 norm:1.5\ns:0 tel:11.1\ns:1 trl:10.5 lr:0.0002 norm:1.4\n",
        "step 0 | loss 11.0 | lr 1e-4\nstep 1 | loss 10.5 | lr 2e-4\n",
        "iter=0 loss=11.0 lr=0.0001\nsome banner line\niter=1 loss=10.5 lr=0.0002\n",
    ],
)
def test_text_logs(write, tmp_path, text):
    p = write("main.log", text)
    assert detect_format(p)[0] == "textlog"
    ds = load([p])
    name = "trl" if text.startswith("s:") else "loss"
    assert pts(ds, name) == [[0, 11.0], [1, 10.5]]


def test_line_pattern(write, tmp_path):
    p = write("train.out.log", "Epoch 1 done, avg loss=0.9 (acc 0.5)\nnoise\nEpoch 2 done, avg loss=0.7 (acc 0.6)\n")
    res = CliRunner().invoke(
        app,
        ["inspect", str(p), "--format", "json", "--input-format", "textlog", "--line-pattern",
         r"Epoch (?P<step>\d+) done, avg loss=(?P<loss>[\d.]+) \(acc (?P<acc>[\d.]+)\)"],
    )
    assert res.exit_code == 0, res.output
    (run,) = json.loads(res.stdout)["runs"]
    assert {m["metric"]: m["points"] for m in run["metrics"]} == {"acc": 2, "loss": 2}
    bad = CliRunner().invoke(app, ["inspect", str(p), "--input-format", "textlog", "--line-pattern", "(?P<x>a)"])
    assert bad.exit_code == 2 and "step" in bad.stderr


def test_merge_folders(write, tmp_path):
    write("exp/results.csv", "epoch,train/box_loss\n0,1\n1,0.5\n")
    write("exp/metrics.jsonl", '{"step": 0, "loss": 2}\n{"step": 1, "loss": 1}\n')
    ds = load([tmp_path / "exp"])
    assert sorted(ds.runs) == ["metrics.jsonl", "results.csv"]
    merged = load([tmp_path / "exp"], merge_folders=True)
    assert list(merged.runs) == ["exp"]
    assert {"loss", "train/box_loss"} <= set(merged.frame.metric.astype(str))


def test_input_format_overrides_detection(write, tmp_path):
    p = write("odd_name.dat", "step,loss\n0,1\n1,0.5\n")
    assert detect_format(p)[0] is None
    ds = load([p], fmt="csv")
    assert pts(ds, "loss") == [[0, 1.0], [1, 0.5]]


# --------------------------------------------------------------------------- real writers
# tests/data/writers/ was written by the frameworks themselves (make_framework_logs.py)

from .conftest import DATA  # noqa: E402


@pytest.fixture(scope="module")
def writers():
    res = CliRunner().invoke(app, ["inspect", str(DATA / "writers"), "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["skipped"] == []
    return {r["run"]: r for r in doc["runs"]}


def facts(run):
    return {m["metric"]: (m["points"], m["first_step"], m["last_step"], m["superseded"]) for m in run["metrics"]}


def test_lightning_csvlogger_written_by_lightning(writers):
    run = writers["lightning/lightning_logs/version_0"]
    assert run["format"] == "lightning" and run["attrs"]["hparam.lr"] == "0.05"
    f = facts(run)
    assert f["train_loss_step"] == (16, 3, 63, 0)  # every 4 steps, 4 epochs of 16 batches
    assert f["val_loss"] == (4, 15, 63, 0)
    assert f["lr-SGD"][0] == 4


def test_keras_csvlogger_written_by_keras(writers):
    run = writers["keras"]
    assert run["format"] == "keras"
    assert facts(run)["val_loss"] == (6, 0, 5, 2)  # resumed at epoch 2: two epochs written twice


def test_hf_trainer_state_written_by_transformers(writers):
    run = writers["hf"]
    assert run["format"] == "hf_trainer" and run["wall_time"] == "derived"
    f = facts(run)
    assert f["loss"] == (10, 4, 40, 0)
    assert f["eval_loss"] == (5, 8, 40, 0)
    assert "early_stopping_patience" in run["attrs"]["early_stopping"]
    assert "train_runtime" not in f


def test_mlflow_file_store_written_by_mlflow(writers):
    (name,) = [k for k in writers if k.startswith("mlflow/")]
    run = writers[name]
    assert run["attrs"]["run_name"] == "tiny-run" and run["attrs"]["experiment"] == "tiny"
    assert facts(run) == {"loss": (20, 0, 19, 0), "val/loss": (4, 0, 15, 0)}


def test_every_format_is_registered_once_with_its_module():
    from gdei_cli.readers import registry

    found = registry.formats()
    assert len({f.name for f in found}) == len(found) >= 14
    for f in found:
        assert f.description and "\n" not in f.description
        assert f.read.__module__.startswith("gdei_cli.readers.")


def test_readme_format_table_is_the_registry():
    from gdei_cli.readers import registry

    from .conftest import REPO

    readme = (REPO / "README.md").read_text()
    assert registry.markdown_table() in readme, (
        "README's format table is stale: run `python -m tests.docs_gen`"
    )


def test_input_format_help_lists_every_format():
    from gdei_cli.readers import registry

    res = CliRunner().invoke(app, ["analyze", "--help"], env={"COLUMNS": "400"})
    for name in registry.names():
        assert name in res.output


def test_sb3_progress_csv_written_by_stable_baselines3(writers):
    run = writers["sb3/log"]
    assert run["format"] == "sb3"
    f = facts(run)
    # the step is the environment's timestep count, not the row; eval rows every 512 steps
    assert f["rollout/ep_rew_mean"][1:3] == (256, 4096)
    assert f["eval/mean_reward"] == (8, 512, 4096, 0)
    res = CliRunner().invoke(app, ["analyze", str(DATA / "writers" / "sb3"), "--format", "json"])
    (r,) = json.loads(res.stdout)["runs"]
    assert (r["metric"], r["objective"], r["mode"]) == ("train/loss", "eval/mean_reward", "max")


def test_sb3_is_recognised_by_its_header_only_under_its_name(write):
    header = "time/fps,time/total_timesteps,train/loss\n1,128,0.5\n"
    assert detect_format(write("log/progress.csv", header))[0] == "sb3"
    assert detect_format(write("other.csv", header))[0] == "csv"


# --------------------------------------------------------------------------- MMDetection: pyarrow


def _mmdet_read_both(path, monkeypatch):
    """mmdet.read of *path* as it reads it, and with pyarrow's frame refused (the
    Python parser): each a log, or the error's text."""
    from gdei_cli.errors import InputError
    from gdei_cli.readers import _json, mmdet

    def read():
        try:
            log = mmdet.read(path)
        except InputError as exc:
            return str(exc)
        frame = log.frame.assign(metric=log.frame["metric"].astype(str))
        frame = frame.sort_values(["metric", "step", "value"], kind="stable")
        return frame.reset_index(drop=True), log.attrs, log.warnings, log.skipped_lines

    got = read()
    with monkeypatch.context() as m:
        m.setattr(_json, "fast_frame", lambda data: None)
        slow = read()
    return got, slow


def _same(got, slow):
    import pandas as pd

    if isinstance(got, str) or isinstance(slow, str):
        assert got == slow
        return
    pd.testing.assert_frame_equal(got[0], slow[0], check_dtype=True)
    assert got[1:] == slow[1:]


@pytest.mark.parametrize("run", ["faster-rcnn-swx", "atss-swx-nan"])
def test_mmdet_real_logs_go_through_pyarrow_as_the_python_parser_reads_them(
    run, monkeypatch
):
    """Both genuine MMDetection logs (one with a NaN word on nearly every line) are
    taken by pyarrow, and read exactly as the Python parser reads them."""
    from gdei_cli.readers._json import fast_frame

    from .conftest import shared_logs

    (path,) = (shared_logs() / "mmdet_json" / f"zhaoyang97__mmdetection__{run}").glob("*.json")
    assert fast_frame(path.read_bytes()) is not None
    _same(*_mmdet_read_both(path, monkeypatch))


_MM_VALUE = st.one_of(
    st.floats(width=64),
    st.integers(-5, 10**6),
    st.none(),
    st.sampled_from(["0.1 0.2", "0.5", "NaN", "x"]),
)
_MM_LINE = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["train", "val", "train", "test"]),
        "epoch": st.one_of(st.integers(1, 3), st.sampled_from([1.0, 1.5, "2"])),
        "iter": st.integers(0, 60),
        "lr": _MM_VALUE,
        "loss": _MM_VALUE,
        "bbox_mAP": _MM_VALUE,
        "time": st.floats(0.1, 0.5),
        "seed": st.integers(0, 3),
    },
)
_MM_META = st.fixed_dictionaries(
    {"env_info": st.sampled_from(["sys.platform: linux\nCUDA: NaN", "x"])},
    optional={
        "config": st.sampled_from(["total_epochs = 12", "runner = dict(max_epochs=3)", ""]),
        "seed": st.one_of(st.integers(0, 9), st.none()),
        "exp_name": st.sampled_from(["cfg.py", "a b.py"]),
    },
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    meta=st.one_of(st.none(), _MM_META),
    lines=st.lists(_MM_LINE, min_size=1, max_size=10),
)
def test_mmdet_through_pyarrow_reads_as_the_python_parser(tmp_path, monkeypatch, meta, lines):
    """Environment records, modes, epochs and iterations of any kind, NaN and
    infinity words, text, null and missing keys: MMDetection logs read through
    pyarrow's frame give the log (or the error) the Python parser's frame gives."""
    records = ([meta] if meta is not None else []) + lines
    path = tmp_path / "x.log.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    _same(*_mmdet_read_both(path, monkeypatch))
