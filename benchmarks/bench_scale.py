"""Benchmark ``gdei analyze`` over many small runs: local engine and Dask, time and memory.

``make bench`` runs it last.  Over folders of 200, 2,000 and 10,000 CSV runs
of 1,000 points (written once by ``bench_readers.runs_folder``, cached in
``benchmarks/data/text/``), it runs ``gdei analyze FOLDER --format json`` as a
command and measures, in the same run:

* the reference: pyarrow's C++ CSV reader reading the same files one by one
  in this process (gdei's time is stated as a ratio to it);
* ``--engine local --jobs 1`` and ``--jobs 2`` (wall time, runs/s, peak RSS
  of the largest process);
* ``--engine dask`` against a ``LocalCluster`` of 2 single-threaded worker
  processes started beforehand (a fresh one per folder, so each worker's peak
  is this command's): wall time of the client, runs/s, peak RSS of the client
  and of each worker (``ru_maxrss`` asked of every worker).

The JSON each command prints is checked equal (runs and totals) to the local
one's.  Prints a Markdown table for ``benchmarks/README.md``.

Then the fixed cost per run: ``gdei_cli.pipeline.analyze_paths`` in this
process (one process, best of 3) over 2,000 runs of 10 points and 2,000 runs
of 1,000 points; the cost per point is the slope between the two, and the
fixed cost per run what is left at zero points (start-up excluded).  And the same
pipeline over 2,000 Ultralytics runs of 25 epochs, whose loss and objective are
sums of columns (derived series): their cost per run beside the CSV runs'.

Usage: python benchmarks/bench_scale.py [--sizes 200,2000,10000] [--no-dask]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_readers import DATA, runs_folder, timed_command


def _reference(folder: Path, name: str = "metrics.csv") -> float:
    import pyarrow.csv as pacsv

    files = sorted(folder.glob(f"*/{name}"))
    start = time.perf_counter()
    for f in files:
        pacsv.read_csv(f)
    return time.perf_counter() - start


def _worker_peak() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _same(a: dict, b: dict) -> None:
    if a["runs"] != b["runs"] or a["totals"] != b["totals"]:
        raise SystemExit("the engines disagree: not a benchmark of the same work")


def rows(sizes: list[int], dask: bool) -> list[str]:
    out = []
    for n in sizes:
        folder = runs_folder(n)
        ref = _reference(folder)
        base = ["analyze", str(folder), "--format", "json", "--quiet"]
        local, t1, p1 = timed_command([*base, "--jobs", "1"])
        out.append(_row(n, "local, 1 process", t1, ref, f"{p1:,.0f}", "-"))
        got, t2, p2 = timed_command([*base, "--jobs", "2"])
        _same(local, got)
        out.append(_row(n, "local, 2 processes", t2, ref, f"{p2:,.0f} (largest)", "-"))
        if dask:
            from dask.distributed import Client

            from gdei_cli.dask_engine import local_cluster

            with local_cluster(2) as cluster, Client(cluster) as client:
                got, t3, p3 = timed_command(
                    [*base, "--engine", "dask", "--scheduler", cluster.scheduler_address]
                )
                peaks = sorted(client.run(_worker_peak).values())
            _same(local, got)
            workers = " / ".join(f"{p:,.0f}" for p in peaks)
            out.append(_row(n, "dask LocalCluster, 2 workers", t3, ref, f"{p3:,.0f}", workers))
    return out


def fixed_cost(runs: int = 2000) -> list[str]:
    """Per-run time of the in-process pipeline at 10 and 1,000 points a run, and the
    intercept: what a run costs beyond its points."""
    from gdei_cli.pipeline import analyze_paths

    per_run: dict[int, float] = {}
    out = []
    for points in (10, 1000):
        folder = runs_folder(runs, points)
        analyze_paths([folder], jobs=1)  # warm: imports, the page cache
        best = min(_once(analyze_paths, folder) for _ in range(3))
        per_run[points] = best / runs
        ref = _reference(folder) / runs
        ms = per_run[points] * 1e3
        out.append(f"| {runs:,} x {points:,} | {ref * 1e3:.3f} | {best:.2f} | {ms:.3f} |")
    slope = (per_run[1000] - per_run[10]) / 990
    fixed = per_run[10] - 10 * slope
    out.append(f"| per point | - | - | {slope * 1e6:.3f} us |")
    out.append(f"| **fixed cost per run** (intercept) | - | - | **{fixed * 1e3:.3f}** |")
    folder = yolo_folder(runs)  # a dialect whose loss and objective are derived series
    analyze_paths([folder], jobs=1)
    best = min(_once(analyze_paths, folder) for _ in range(3))
    ref = _reference(folder, "results.csv") / runs
    out.append(
        f"| {runs:,} Ultralytics runs x {_YOLO_EPOCHS} epochs ({len(_YOLO_COLUMNS) - 1} columns) "
        f"| {ref * 1e3:.3f} | {best:.2f} | {best / runs * 1e3:.3f} |"
    )
    return out


#: an Ultralytics detection run's ``results.csv`` columns (YOLOv8), and its epochs
_YOLO_COLUMNS = (
    "epoch", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)",
    "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss",
    "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2",
)  # fmt: skip
_YOLO_EPOCHS = 25


def yolo_folder(runs: int) -> Path:
    """*runs* Ultralytics run folders (``yNNNNN/results.csv``), written once: the
    loss is the sum of three parts and the objective a weighted sum of two mAPs
    (derived series), the layout of the real logs in ``../shared``."""
    import numpy as np

    folder = DATA / f"yolo{runs}"
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    t = np.arange(1, _YOLO_EPOCHS + 1)
    for i in range(runs):
        decay = np.exp(-t / (4 + i % 7))
        cols = [t.astype(float)]
        cols += [1 + 2 * decay * (1 + 0.02 * rng.standard_normal(t.size)) for _ in range(3)]
        cols += [0.9 - 0.6 * decay for _ in range(4)]
        cols += [1.2 + decay for _ in range(3)]
        cols += [0.01 * decay for _ in range(3)]
        rows = "".join(
            ",".join(f"{c[k]:.5g}" for c in cols) + "\n" for k in range(t.size)
        )
        (folder / f"y{i:05d}").mkdir()
        (folder / f"y{i:05d}" / "results.csv").write_text(",".join(_YOLO_COLUMNS) + "\n" + rows)
    return folder


def _once(fn: Callable[..., object], folder: Path) -> float:
    start = time.perf_counter()
    fn([folder], jobs=1)
    return time.perf_counter() - start


def _row(n: int, how: str, took: float, ref: float, client: str, workers: str) -> str:
    return (
        f"| {n:,} | {how} | {ref:.2f} | {took:.2f} | {took / ref:.1f}x | {n / took:,.0f} | "
        f"{client} | {workers} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sizes", default="200,2000,10000")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    print(
        "| runs x 1,000 points | engine | pyarrow reads s | gdei analyze s | ratio | runs/s | "
        "client peak MB | worker peaks MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows(sizes, not args.no_dask):
        print(row, flush=True)
    print()
    print("| runs x points | pyarrow read ms / file | analyze_paths s | ms / run |")
    print("|---|---|---|---|")
    for row in fixed_cost():
        print(row, flush=True)


if __name__ == "__main__":
    main()
