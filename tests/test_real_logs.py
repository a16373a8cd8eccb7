"""Every genuine log under ../shared/real_logs/, read in place, with the facts
a careful reader of each file would state (see its SOURCES.md)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gdei_cli.cli import app

from .conftest import shared_logs


@pytest.fixture(scope="module")
def inspected():
    root = shared_logs()
    res = CliRunner().invoke(app, ["inspect", str(root), "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    runs = {r["run"]: r for r in doc["runs"]}
    return runs, doc


def metric(runs, run_prefix, name):
    (run,) = [r for k, r in runs.items() if k.startswith(run_prefix)]
    (m,) = [m for m in run["metrics"] if m["metric"] == name]
    return run, (m["points"], m["first_step"], m["last_step"], m["superseded"])


def test_every_file_is_read(inspected):
    runs, doc = inspected
    assert len(runs) == 20
    # the only file passed over is the sources list itself
    assert [s["path"].rsplit("/", 1)[-1] for s in doc["skipped"]] == ["SOURCES.md"]


@pytest.mark.parametrize(
    ("run", "fmt", "name", "facts"),
    [
        # 1. Lightning TensorBoardLogger: 157 train points every 50 steps; epoch has 30 repeats
        ("tensorboard/CooperBigFoot", "tensorboard", "train_loss", (157, 49, 7849, 0)),
        ("tensorboard/CooperBigFoot", "tensorboard", "val_loss", (30, 262, 7889, 0)),
        ("tensorboard/CooperBigFoot", "tensorboard", "epoch", (187, 49, 7889, 30)),
        # 2./3. TF2 Object Detection: tensor scalars only; eval has one point per tag
        ("tensorboard/huzaifasharafat__TFODCourse__tfod-ssd-train", "tensorboard", "Loss/total_loss", (20, 100, 2000, 0)),
        ("tensorboard/huzaifasharafat__TFODCourse__tfod-ssd-eval", "tensorboard", "DetectionBoxes_Precision/mAP", (1, 50000, 50000, 0)),
        # 4. ultralytics TB: per-batch losses at the epoch step: 1350 repeats per train tag
        ("tensorboard/Abonia1", "tensorboard", "train/box_loss", (25, 1, 25, 1350)),
        ("tensorboard/Abonia1", "tensorboard", "metrics/mAP50-95(B)", (25, 1, 25, 2)),
        # 5. RETFound: two step axes in one file
        ("tensorboard/s20488", "tensorboard", "loss", (2800, 0, 49982, 0)),
        ("tensorboard/s20488", "tensorboard", "perf/val_loss", (50, 0, 49, 0)),
        # 6. Keras TensorBoard callback: 10 epochs of epoch_loss beside a big graph
        ("tensorboard/10-Academy", "tensorboard", "epoch_loss", (10, 0, 9, 0)),
        # 7./8. Lightning CSVLogger: sparse rows
        ("lightning_csv/CooperBigFoot", "lightning", "train_loss", (266, 49, 13299, 0)),
        ("lightning_csv/CooperBigFoot", "lightning", "val_loss", (50, 265, 13299, 0)),
        ("lightning_csv/CooperBigFoot", "lightning", "lr-Adam", (50, 0, 13034, 0)),
        ("lightning_csv/0Xero7", "lightning", "train_loss_step", (2814, 49, 140699, 0)),
        ("lightning_csv/0Xero7", "lightning", "val_loss", (10, 14073, 140739, 0)),
        # 9. HF Trainer: 200 train entries, 5 evals, the summary entry is not a point
        ("hf_trainer_state/", "hf_trainer", "loss", (200, 25, 5000, 0)),
        ("hf_trainer_state/", "hf_trainer", "eval_loss", (5, 1000, 5000, 0)),
        ("hf_trainer_state/", "hf_trainer", "eval_wer", (5, 1000, 5000, 0)),
        # 10. Detectron2: 200 records every 20 iterations
        ("detectron2_json/", "detectron2", "total_loss", (200, 19, 3999, 0)),
        # 11./12. MMDetection: iter restarts per epoch -> global steps; 12 val lines
        ("mmdet_json/zhaoyang97__mmdetection__faster-rcnn-swx", "mmdet", "loss", (7200, 50, 360000, 0)),
        ("mmdet_json/zhaoyang97__mmdetection__faster-rcnn-swx", "mmdet", "bbox_mAP", (12, 30000, 360000, 0)),
        ("mmdet_json/zhaoyang97__mmdetection__atss-swx-nan", "mmdet", "loss", (7200, 50, 360000, 0)),
        # 13./14. Ultralytics results.csv: 0-based (old) and 1-based (new) epochs
        ("yolo_csv/Abonia1", "ultralytics", "train/box_loss", (25, 0, 24, 0)),
        ("yolo_csv/3bdul1ah", "ultralytics", "metrics/mAP50-95(B)", (134, 1, 134, 0)),
        # 15. Keras CSVLogger (training.log)
        ("keras_csv/", "keras", "val_loss", (24, 0, 23, 0)),
        # 16. W&B chart export: three runs side by side, __MIN/__MAX dropped
        ("wandb_export/LauraWenderoth__Bachelorarbeit_Kidney_Stain_Transfer__cyclegan-ssim/wandb_export_2022-08-25T22_43_23.724+02_00.csv/cycle_val_975", "wandb_export", "test SSMI_B mean", (200, 105, 21199, 0)),
        # 17. MLflow file store
        ("mlflow/", "mlflow", "loss", (10, 0, 9, 0)),
        # 18. llm.c text log: train loss every step, val every 250
        ("llmc_text/", "textlog", "trl", (19552, 0, 19551, 0)),
        ("llmc_text/", "textlog", "tel", (80, 0, 19552, 0)),
        ("llmc_text/", "textlog", "eval", (79, 250, 19552, 0)),
    ],
)
def test_facts(inspected, run, fmt, name, facts):
    runs, _ = inspected
    info, got = metric(runs, run, name)
    assert info["format"] == fmt
    assert got == facts


def test_run_layout_and_attributes(inspected):
    runs, _ = inspected
    wandb = [r for r in runs if r.startswith("wandb_export/")]
    assert [r.rsplit("/", 1)[-1] for r in wandb] == ["cycle_val_0", "cycle_val_65", "cycle_val_975"]
    for r in wandb:
        assert [m["metric"] for m in runs[r]["metrics"]] == ["test SSMI_B mean"]
    (ml,) = [r for k, r in runs.items() if k.startswith("mlflow/")]
    assert ml["attrs"]["status"] == "FINISHED"
    assert ml["attrs"]["experiment"] == "Speech model simple rnn"
    assert ml["attrs"]["param.epochs"] == "10"
    assert ml["wall_time"] == "logged"
    (hf,) = [r for k, r in runs.items() if k.startswith("hf_trainer_state/")]
    assert hf["wall_time"] == "derived"
    assert hf["attrs"]["best_model_checkpoint"].endswith("checkpoint-3000")
    assert float(hf["attrs"]["best_metric"]) == pytest.approx(0.7432, abs=1e-4)
    (camels,) = [r for k, r in runs.items() if k.startswith("tensorboard/CooperBigFoot")]
    # Lightning's hparams plugin events become run attributes
    assert camels["attrs"]["hparam.hidden_size"] == "64"
    assert camels["attrs"]["hparam.learning_rate"] == "2e-05"
    (mm,) = [r for k, r in runs.items() if "faster-rcnn" in k]
    assert mm["attrs"]["iters_per_epoch"] == "30000"
    assert "bbox_mAP_copypaste" not in {m["metric"] for m in mm["metrics"]}


def test_analyze_reports_every_run():
    root = shared_logs()
    res = CliRunner().invoke(app, ["analyze", str(root), "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    by = {r["run"]: r for r in doc["runs"]}
    assert len(by) == 20
    (atss,) = [r for k, r in by.items() if "atss" in k]
    assert atss["verdict"] == "diverged" and atss["diverged_step"] == 150  # epoch 1, iter 150
    (eval_run,) = [r for k, r in by.items() if k.endswith("tfod-ssd-eval")]
    assert eval_run["verdict"] == "index undefined"
    # ultralytics writes no total loss: its components' sum is the loss, fitness the objective
    for k, r in by.items():
        if k.startswith("yolo_csv/"):
            assert r["metric"] == "sum of train/*_loss" and r["objective"] == "fitness"
    assert all(r["verdict"] != "no metric" for r in by.values())
    (whisper,) = [r for k, r in by.items() if "whisper" in k]
    assert whisper["objective"] == "eval_wer" and whisper["stop_step"] == 3000
    (retfound,) = [r for k, r in by.items() if "RETFound" in k]
    assert retfound["objective"] == "perf/val_loss" and "coarser step axis" in retfound["note"]


def test_metric_glob_picks_per_run():
    root = shared_logs() / "yolo_csv"
    res = CliRunner().invoke(app, ["analyze", str(root), "--metric", "val/box*", "--format", "json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert {r["metric"] for r in doc["runs"]} == {"val/box_loss"}
