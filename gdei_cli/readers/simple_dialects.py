"""Framework dialects that are the generic CSV/JSONL layout plus a little.

Each function reads one file with the generic reader and records what the
framework adds: its name (the detected dialect), attributes from files it
writes beside the log, and renames where the framework's layout needs them.

* Lightning ``CSVLogger`` ``metrics.csv``: sparse rows, ``step`` and ``epoch``
  columns; the run is the ``version_N`` folder; ``hparams.yaml`` beside it.
* Keras ``CSVLogger``: ``epoch`` (0-based) first, ``NA`` for missing values, a
  resumed run appends to the same file (epochs repeat: the restart rule keeps
  the new ones).
* Ultralytics ``results.csv``: space-padded headers and values, ``epoch``;
  ``args.yaml`` beside it (``epochs``, ``patience``).
* TensorBoard's "download CSV" (``Wall time,Step,Value``): one metric per file,
  named from the file (``run-<run>-tag-<tag>.csv`` gives ``<tag>``).
* Detectron2 ``metrics.json``: JSON lines keyed by ``iteration``, appended on
  relaunch (iterations repeat).
* DeiT/MAE ``log.txt``: JSON lines with an ``epoch`` key.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gdei_cli.readers import csv as csv_reader
from gdei_cli.readers import jsonl
from gdei_cli.readers.base import RawLog, raw_frame


def _yaml_attrs(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, str]:
    if not path.is_file():
        return {}
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(errors="replace"))
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(doc, dict):
        return {}
    items = doc.items() if keys is None else ((k, doc[k]) for k in keys if k in doc)
    return {str(k): str(v) for k, v in items if not isinstance(v, (dict, list))}


def lightning(path: Path) -> RawLog:
    log = csv_reader.read(path)
    log.format = "lightning"
    log.attrs.update(
        {f"hparam.{k}": v for k, v in _yaml_attrs(path.parent / "hparams.yaml").items()}
    )
    return log


def keras(path: Path) -> RawLog:
    log = csv_reader.read(path)
    log.format = "keras"
    return log


def ultralytics(path: Path) -> RawLog:
    log = csv_reader.read(path)
    log.format = "ultralytics"
    keys = ("model", "data", "epochs", "patience", "batch", "imgsz", "optimizer", "lr0")
    log.attrs.update(_yaml_attrs(path.parent / "args.yaml", keys))
    return log


_TB_DOWNLOAD = re.compile(r"^run[-_](?P<run>.*?)[-_]tag[-_](?P<tag>.+)$")


def tb_csv(path: Path) -> RawLog:
    log = csv_reader.read(path)
    log.format = "tb_csv"
    stem = path.name.split(".")[0]
    m = _TB_DOWNLOAD.match(stem)
    name = m.group("tag") if m else stem
    f = log.frame
    log.frame = raw_frame(
        np.full(len(f), name, dtype=object), f["step"], f["value"], f["wall_time"]
    )
    return log


def detectron2(path: Path) -> RawLog:
    log = jsonl.read(path)
    log.format = "detectron2"
    return log


def deit(path: Path) -> RawLog:
    log = jsonl.read(path)
    log.format = "deit"
    return log
