"""Readers: one module per log format, each returning a :class:`RawLog`.

:func:`detect_format` is the one place that guesses a file's format (by name,
header or content); an explicit ``--input-format`` overrides it.
"""

from __future__ import annotations

import csv as _csv
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Final

from gdei_cli.readers._io import logical_suffix
from gdei_cli.readers.base import RawLog, SkippedLine

__all__ = ["FORMATS", "RawLog", "SkippedLine", "detect_format", "reader_for"]

#: every format name ``--input-format`` accepts, and what it reads
FORMATS: Final = {
    "csv": "generic CSV (wide or long)",
    "jsonl": "generic JSON lines",
    "tensorboard": "TensorBoard event files",
    "lightning": "PyTorch Lightning CSVLogger metrics.csv",
    "keras": "Keras CSVLogger",
    "hf_trainer": "Hugging Face Trainer trainer_state.json",
    "mlflow": "MLflow file store run",
    "wandb_export": "W&B chart CSV export",
    "detectron2": "Detectron2 metrics.json",
    "mmdet": "MMDetection *.log.json",
    "ultralytics": "Ultralytics results.csv",
    "tb_csv": "TensorBoard 'download CSV'",
    "deit": "DeiT/MAE log.txt (JSON lines)",
    "textlog": "plain-text key:value training log",
}

_SNIFF_BYTES: Final = 64 * 1024


def is_event_file(path: Path) -> bool:
    return "tfevents" in path.name


def detect_format(path: Path) -> tuple[str | None, str]:
    """Guess *path*'s format from its name, header and first bytes.

    Returns ``(format, reason)``; format is ``None`` when it is not a log gdei
    reads, and *reason* says why.
    """
    name = path.name.lower()
    if is_event_file(path):
        return "tensorboard", "TensorBoard event file"
    if any(p.name == "metrics" and (p.parent / "meta.yaml").is_file() for p in path.parents):
        return "mlflow", "MLflow metric history"
    if name == "trainer_state.json":
        return "hf_trainer", "Hugging Face trainer state"
    suffix = logical_suffix(path)
    head = (
        _head(path)
        if suffix in (".csv", ".tsv", ".json", ".txt", ".log", ".jsonl", ".ndjson")
        else None
    )
    if suffix in (".csv", ".tsv"):
        return _csv_dialect(name, head or b"", suffix), "CSV"
    if suffix in (".jsonl", ".ndjson", ".json", ".txt", ".log"):
        text = (head or b"").decode("utf-8", errors="replace")
        first = _first_record(text)
        if first is not None:
            return _json_dialect(name, first, suffix), "JSON lines"
        if suffix in (".txt", ".log"):
            header = _csv_header(head or b"")
            if header and header[0].strip() == "epoch" and len(header) > 1:
                return "keras", "Keras CSVLogger"
            from gdei_cli.readers.textlog import looks_like_textlog

            if looks_like_textlog(text):
                return "textlog", "key:value text log"
            return None, "text without step/value lines"
        if suffix == ".json":
            return None, "a JSON document, not JSON lines"
        return "jsonl", "JSON lines"
    return None, "not a recognised log format"


def _csv_header(head: bytes) -> list[str]:
    line = head.decode("utf-8", errors="replace").split("\n", 1)[0].strip("\r\ufeff")
    try:
        return next(_csv.reader([line]))
    except (StopIteration, _csv.Error):
        return []


def _csv_dialect(name: str, head: bytes, suffix: str) -> str:
    header = _csv_header(head)
    stripped = [h.strip() for h in header]
    from gdei_cli.readers.wandb_export import is_chart_export

    if stripped == ["Wall time", "Step", "Value"]:
        return "tb_csv"
    if is_chart_export(header):
        return "wandb_export"
    if (
        name.startswith("results.")
        and "epoch" in stripped
        and any(h.startswith("train/") for h in stripped)
    ):
        return "ultralytics"
    if name.startswith("metrics.") and {"step", "epoch"} <= set(stripped):
        return "lightning"
    if stripped[:1] == ["epoch"] and len(stripped) > 1:
        return "keras"
    return "csv"


def _first_record(text: str) -> dict[str, object] | None:
    from gdei_cli.readers.jsonl import is_json_lines

    if not is_json_lines(text.encode("utf-8")):
        return None
    first = text.lstrip().split("\n", 1)[0]
    try:
        obj = json.loads(first, parse_constant=float)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else None


def _json_dialect(name: str, first: dict[str, object], suffix: str) -> str:
    if name.endswith(".log.json") or "env_info" in first or ("mode" in first and "iter" in first):
        return "mmdet"
    if name.startswith("metrics.json") and "iteration" in first:
        return "detectron2"
    if suffix in (".txt", ".log") and "epoch" in first:
        return "deit"
    return "jsonl"


def _head(path: Path) -> bytes | None:
    import gzip

    try:
        with path.open("rb") as fh:
            start = fh.read(2)
        opener = gzip.open if start == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            data: bytes = fh.read(_SNIFF_BYTES)
            return data
    except (OSError, EOFError):
        return None


#: format -> (module, function) of its reader, imported on first use
_READERS: Final = {
    "csv": ("gdei_cli.readers.csv", "read"),
    "jsonl": ("gdei_cli.readers.jsonl", "read"),
    "tensorboard": ("gdei_cli.readers.tensorboard", "read"),
    "hf_trainer": ("gdei_cli.readers.hf_trainer", "read"),
    "mlflow": ("gdei_cli.readers.mlflow", "read"),
    "wandb_export": ("gdei_cli.readers.wandb_export", "read"),
    "mmdet": ("gdei_cli.readers.mmdet", "read"),
    "textlog": ("gdei_cli.readers.textlog", "read"),
    "lightning": ("gdei_cli.readers.simple_dialects", "lightning"),
    "keras": ("gdei_cli.readers.simple_dialects", "keras"),
    "ultralytics": ("gdei_cli.readers.simple_dialects", "ultralytics"),
    "tb_csv": ("gdei_cli.readers.simple_dialects", "tb_csv"),
    "detectron2": ("gdei_cli.readers.simple_dialects", "detectron2"),
    "deit": ("gdei_cli.readers.simple_dialects", "deit"),
}


def reader_for(fmt: str, line_pattern: str | None = None) -> Callable[[Path], RawLog]:
    """The read function of format *fmt* (imported lazily)."""
    import importlib

    module, name = _READERS[fmt]
    read: Callable[..., RawLog] = getattr(importlib.import_module(module), name)
    if fmt == "textlog":
        return functools.partial(read, line_pattern=line_pattern)
    return read
