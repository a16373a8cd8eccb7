"""What the property tests and the atheris fuzz targets share: one place per format.

``place(fmt, data, root)`` writes *data* where that format's files live (an
MLflow metric file inside a run folder, a ``trainer_state.json``...);
``read_one`` runs that format's reader on it; ``pipeline`` runs the whole of
gdei on it: load, analyze, render the table and the JSON document.  The
contract checked everywhere: any bytes give a result or gdei's own error
(:class:`~gdei_cli.errors.GdeiError`), never another exception.

``seeds(fmt)`` gives valid files to start from: small synthetic ones always,
plus the committed writer fixtures and ``../shared/real_logs`` when present.
"""

from __future__ import annotations

import io
from pathlib import Path

from .conftest import DATA, SHARED

#: where each format's file goes, relative to a fresh folder
PLACES: dict[str, str] = {
    "csv": "run.csv",
    "jsonl": "run.jsonl",
    "textlog": "train.log",
    "tensorboard": "run/events.out.tfevents.1700000000.host.1.0",
    "mlflow": "mlruns/1/abc123/metrics/loss",
    "hf_trainer": "ckpt/trainer_state.json",
    "mmdet": "work/20240101_000000.log.json",
    "detectron2": "output/metrics.json",
    "deit": "out/log.txt",
    "wandb_export": "wandb_export_2024-01-01.csv",
    "tb_csv": "run-train-tag-loss.csv",
    "lightning": "lightning_logs/version_0/metrics.csv",
    "keras": "training.log",
    "ultralytics": "train/results.csv",
    "sb3": "log/progress.csv",
}

_SYNTHETIC: dict[str, bytes] = {
    "csv": b"step,loss,val_loss\n0,2.0,2.1\n1,1.5,1.7\n2,1.2,1.5\n3,1.1,1.6\n",
    "jsonl": b'{"step": 0, "loss": 2.0}\n{"step": 1, "loss": 1.5, "eval": {"loss": 1.7}}\n'
    b'{"step": 2, "loss": NaN}\n',
    "textlog": b"s:0 trl:2.0 lr:0.001\ns:1 trl:1.5 lr:0.001\ns:1 tel:1.7\ns:2 trl:1.2\n",
    "mlflow": b"1700000000000 2.0 0\n1700000001000 1.5 1\n1700000002000 1.2 2\n",
    "hf_trainer": b'{"global_step": 3, "best_metric": 1.5, "log_history": [{"loss": 2.0, "step": 1},'
    b' {"eval_loss": 1.5, "step": 2}, {"loss": 1.2, "step": 3}, {"train_runtime": 9.0, "step": 3}]}',
    "mmdet": b'{"env_info": "x", "config": "total_epochs = 2", "seed": 0}\n'
    b'{"mode": "train", "epoch": 1, "iter": 50, "lr": 0.02, "loss": 1.2}\n'
    b'{"mode": "val", "epoch": 1, "iter": 10, "bbox_mAP": 0.3}\n'
    b'{"mode": "train", "epoch": 2, "iter": 50, "lr": 0.02, "loss": 0.9}\n',
    "detectron2": b'{"iteration": 19, "total_loss": 1.5, "lr": 0.001}\n'
    b'{"iteration": 39, "total_loss": 1.1, "lr": 0.001}\n',
    "deit": b'{"train_lr": 0.001, "train_loss": 2.0, "test_acc1": 10.0, "epoch": 0}\n'
    b'{"train_lr": 0.001, "train_loss": 1.5, "test_acc1": 20.0, "epoch": 1}\n',
    "wandb_export": b'"Step","r1 - loss","r1 - loss__MIN","r1 - loss__MAX"\n'
    b'"1","2.0","1.9","2.1"\n"2","1.5","1.4","1.6"\n',
    "tb_csv": b"Wall time,Step,Value\n1700000000.0,0,2.0\n1700000001.0,1,1.5\n",
    "lightning": b"epoch,step,train_loss,val_loss\n0,9,2.0,\n0,9,,2.1\n1,19,1.5,\n1,19,,1.7\n",
    "keras": b"epoch,loss,val_loss\n0,2.0,2.1\n1,1.5,1.7\n",
    "ultralytics": b"                  epoch,      train/box_loss,   metrics/mAP50(B)\n"
    b"                      1,             2.0,         0.1\n"
    b"                      2,             1.5,         0.2\n",
    "sb3": b"time/total_timesteps,rollout/ep_rew_mean,train/loss\n2048,10,1.0\n4096,20,0.8\n",
}

#: seed files committed or shared, per format (relative to DATA / SHARED)
_FILES: dict[str, list[Path]] = {
    "hf_trainer": [DATA / "writers/hf/trainer_state.json"],
    "lightning": [DATA / "writers/lightning/lightning_logs/version_0/metrics.csv"],
    "keras": [DATA / "writers/keras/training.log"],
    "sb3": [DATA / "writers/sb3/log/progress.csv"],
    "tensorboard": sorted((DATA / "eval" / "tbx").rglob("events.out.tfevents.*"))[:3],
}
_SHARED_DIRS: dict[str, str] = {
    "tensorboard": "tensorboard",
    "lightning": "lightning_csv",
    "hf_trainer": "hf_trainer_state",
    "detectron2": "detectron2_json",
    "mmdet": "mmdet_json",
    "ultralytics": "yolo_csv",
    "keras": "keras_csv",
    "wandb_export": "wandb_export",
    "textlog": "llmc_text",
}


def _tb_seed() -> bytes:
    from .messy import tb_events

    return tb_events(range(30))


def seeds(fmt: str, *, shared: bool = True, max_bytes: int = 1 << 20) -> list[bytes]:
    """Valid files of *fmt* to mutate (small ones first)."""
    out = [_tb_seed()] if fmt == "tensorboard" else [_SYNTHETIC[fmt]]
    paths = [p for p in _FILES.get(fmt, []) if p.is_file()]
    if shared and fmt in _SHARED_DIRS and (SHARED / _SHARED_DIRS[fmt]).is_dir():
        paths += sorted(p for p in (SHARED / _SHARED_DIRS[fmt]).rglob("*") if p.is_file())
    if shared and fmt == "mlflow" and (SHARED / "mlflow").is_dir():
        paths += sorted(p for p in (SHARED / "mlflow").rglob("metrics/*") if p.is_file())
    out += [p.read_bytes() for p in paths if p.stat().st_size <= max_bytes]
    return out


def place(fmt: str, data: bytes, root: Path) -> Path:
    """Write *data* as a file of *fmt* under *root*; return the file."""
    path = root / PLACES[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if fmt == "mlflow":
        run = path.parent.parent
        (run / "meta.yaml").write_text("run_name: fuzz\nstatus: 3\n")
        (run.parent / "meta.yaml").write_text("name: fuzz\n")
    return path


def read_one(fmt: str, path: Path) -> object:
    """The format's reader on *path* (the file, not the folder: no detection)."""
    from gdei_cli.readers.registry import ReadOptions, get

    return get(fmt).read(path, ReadOptions(max_bytes=64 << 20))


def pipeline(fmt: str, path: Path) -> None:
    """All of gdei on the folder holding *path*: detection, reading, engine, rendering."""
    from gdei_cli import report
    from gdei_cli.engine import analyze
    from gdei_cli.errors import GdeiError
    from gdei_cli.loader import load

    root = path.parent if fmt != "mlflow" else path.parents[3]
    dataset = load([root], jobs=1, max_bytes=64 << 20)
    console = report.make_console(io.StringIO())
    report.render_inspect(dataset, console)
    report.dumps(report.inspect_document(dataset))
    if not dataset.runs:
        return
    try:
        analysis = analyze(
            dataset.frame,
            attrs={n: i.attrs for n, i in dataset.runs.items()},
            formats={n: i.format for n, i in dataset.runs.items()},
        )
    except GdeiError:
        return
    report.render_analysis(analysis, dataset, console)
    report.dumps(report.analysis_document(analysis, dataset))
