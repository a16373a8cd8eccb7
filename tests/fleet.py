"""A generated fleet of small runs, as files: for the batched pipeline, URL and Dask tests.

Every run is one folder; the kinds rotate so that a fleet holds every shape
of run the judging cares about, in several formats: converging early, still
improving, over-fitting (validation loss turning up), a run without a
training loss (a learning rate only), a file that cannot be read, an
Ultralytics folder with its ``args.yaml`` side file (which plans more epochs
than were run), and a file holding several runs in a ``run`` column.  Deterministic: the same *n* gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

KINDS = 8


def files(n: int, points: int = 60) -> Iterator[tuple[str, bytes]]:
    """``(relative path, bytes)`` of a fleet of *n* runs."""
    rng = np.random.default_rng(7)
    t = np.arange(points)
    for i in range(n):
        kind = i % KINDS
        folder = f"team{i % 3}/run{i:05d}"
        noise = 1 + 0.01 * rng.standard_normal(points)
        scale = 1 + (i % 17) / 4
        early = (1 + 9 * np.exp(-t / (3 + i % 5))) * noise * scale
        slow = (1 + 9 * np.exp(-t / (40 + i % 50))) * noise * scale
        if kind == 0:
            yield f"{folder}/metrics.csv", _csv(("step", "loss"), t, early)
        elif kind == 1:
            yield f"{folder}/log.jsonl", _jsonl(t, slow, "loss")
        elif kind == 2:
            val = early + 0.002 * np.maximum(t - points / 3, 0) ** 2
            yield f"{folder}/history.csv", _csv(("step", "loss", "val_loss"), t, early, val)
        elif kind == 3:
            yield f"{folder}/metrics.csv", _csv(("step", "lr"), t, 0.1 / (t + 1))
        elif kind == 4:
            yield f"{folder}/broken.jsonl", b'{"step": 1, "loss": 2.0}\n{"step": 2, "loss": \n[\n'
        elif kind == 5:  # Ultralytics: args.yaml plans 200 epochs, the run has 60
            m50 = 0.7 * (1 - np.exp(-t / 8)) * noise
            cols = ("epoch", "train/box_loss", "train/cls_loss", "metrics/mAP50(B)",
                    "metrics/mAP50-95(B)")  # fmt: skip
            yield f"{folder}/results.csv", _csv(cols, t + 1, early, early / 2, m50, m50 / 2)
            yield f"{folder}/args.yaml", b"epochs: 200\npatience: 100\n"
        elif kind == 6:
            rows = ["run,step,loss"] + [
                f"{name},{a},{b * k:.6f}"
                for k, name in ((1.0, "a"), (2.0, "b"))
                for a, b in zip(t, slow, strict=True)
            ]
            yield f"{folder}/sweep.csv", ("\n".join(rows) + "\n").encode()
        else:
            yield f"{folder}/train_log.csv.gz", _gz(_csv(("step", "loss"), t, slow))


def _csv(names: tuple[str, ...], step: np.ndarray, *cols: np.ndarray) -> bytes:
    rows = [",".join(names)]
    for j, s in enumerate(step):
        rows.append(",".join([str(int(s)), *(f"{c[j]:.6f}" for c in cols)]))
    return ("\n".join(rows) + "\n").encode()


def _jsonl(step: np.ndarray, value: np.ndarray, name: str) -> bytes:
    return "".join(
        json.dumps({"step": int(s), name: round(float(v), 6)}) + "\n"
        for s, v in zip(step, value, strict=True)
    ).encode()


def _gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)
