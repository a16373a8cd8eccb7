"""Benchmark gdei's TensorBoard reader against tbparse (``make bench``).

Generates (once, cached in ``benchmarks/data/``) event files written by
tensorboardX:

* ``one_run``: one run of 1,000,000 scalar points (4 tags x 250,000 steps);
* ``many_runs``: 200 runs x 15,000 points (3 tags x 5,000 steps);
* ``rates_one_tag`` and ``rates_val``: one run of 1,000,000 steps of one tag,
  and the same with a val tag every 1,000 steps (the goal: within 1.5x).

For each it measures, in this process, the best of three reads by gdei
(``gdei_cli.load``: files to the canonical frame) and one read by tbparse
(``SummaryReader(...).scalars``), and, each in a fresh process, gdei's peak
memory (ru_maxrss growth over the imports) against the resulting frame's own
size, and the whole command ``gdei inspect`` end to end; then gdei's load of
the two tag-rate files, interleaved (medians of 7).  Prints Markdown tables
for ``benchmarks/README.md``.

Usage: python benchmarks/bench_tensorboard.py [--skip-tbparse] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def write_run(folder: Path, tags: list[str], steps: int, seed: int) -> None:
    import numpy as np
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    w = SummaryWriter(str(folder), max_queue=100_000, flush_secs=3600)
    base = rng.random(len(tags)) + 1.0
    noise = rng.normal(0.0, 0.01, size=(steps, len(tags)))
    for s in range(steps):
        for j, tag in enumerate(tags):
            w.add_scalar(tag, float(base[j] / (1 + s * 1e-3) + noise[s, j]), s)
    w.close()


#: steps of the two files of the tag-rate check
RATE_STEPS = 1_000_000


def write_rates(folder: Path, val_every: int | None) -> None:
    """One run of 1,000,000 steps of ``train/loss`` and, with *val_every*, a
    ``val/loss`` every *val_every* steps (logged after that step's train loss)."""
    import numpy as np
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    w = SummaryWriter(str(folder), max_queue=100_000, flush_secs=3600)
    loss = 2.0 / (1 + np.arange(RATE_STEPS) * 1e-4) + rng.normal(0.0, 0.01, RATE_STEPS)
    for s, v in enumerate(loss.tolist()):
        w.add_scalar("train/loss", v, s)
        if val_every and s % val_every == val_every - 1:
            w.add_scalar("val/loss", v * 1.1, s)
    w.close()


def ensure_rates() -> dict[str, Path]:
    """The tag-rate check's files: one tag alone, and with a val tag every 1,000 steps."""
    sets = {
        "one tag": DATA / "rates_one_tag",
        "with a val tag every 1,000 steps": DATA / "rates_val",
    }
    for (name, folder), every in zip(sets.items(), (None, 1000), strict=True):
        if not any(folder.glob("events.out.tfevents.*")):
            print(f"writing {folder.name} ({name}) with tensorboardX ...", file=sys.stderr)
            write_rates(folder, every)
    return sets


def rate_rows(sets: dict[str, Path], rounds: int = 7) -> list[str]:
    """gdei's load of each file, interleaved round by round (medians), against the
    one-tag file's: a tag logged at another rate breaks the record-length cycle the
    framing predicts."""
    from bench_readers import median_times

    from gdei_cli import load

    points: dict[str, int] = {}

    def load_counting(name: str, folder: Path) -> None:
        points[name] = len(load([folder], jobs=1).frame)

    t = median_times(
        {name: lambda n=name, f=folder: load_counting(n, f) for name, folder in sets.items()},
        rounds,
    )
    base = t["one tag"]
    return [f"| {n} | {points[n]:,} | {t[n]:.3f} | {t[n] / base:.2f}x |" for n in sets]


def ensure_data(n_runs: int) -> dict[str, Path]:
    one = DATA / "one_run"
    if not any(one.glob("events.out.tfevents.*")):
        print("writing one_run (1,000,000 points) with tensorboardX ...", file=sys.stderr)
        write_run(one, ["train/loss", "train/lr", "train/grad_norm", "train/acc"], 250_000, 1)
    many = DATA / f"many_runs_{n_runs}"
    if len(list(many.glob("run*/events.out.tfevents.*"))) < n_runs:
        print(
            f"writing many_runs ({n_runs} x 15,000 points) with tensorboardX ...", file=sys.stderr
        )
        for i in range(n_runs):
            write_run(many / f"run{i:03d}", ["loss", "lr", "accuracy"], 5_000, 100 + i)
    return {"one_run": one, f"many_runs_{n_runs}": many}


def time_gdei(folder: Path) -> tuple[float, int]:
    from gdei_cli import load

    best = float("inf")
    n = 0
    for _ in range(3):
        t0 = time.perf_counter()
        ds = load([folder])
        best = min(best, time.perf_counter() - t0)
        n = len(ds.frame)
        del ds
    return best, n


def time_tbparse(folder: Path) -> tuple[float, int]:
    from tbparse import SummaryReader

    t0 = time.perf_counter()
    df = SummaryReader(str(folder)).scalars
    return time.perf_counter() - t0, len(df)


MEMORY_PROBE = r"""
import json, sys, gc, tracemalloc
from gdei_cli import load
import gdei_cli.readers.tensorboard, pandas, numpy, google_crc32c, google.protobuf  # imports first
from gdei_cli.readers.tensorboard.proto import event_class

def hwm_kb():
    # peak resident set of this process image (VmHWM); ru_maxrss would carry
    # the parent's peak across exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")

event_class()
gc.collect()
trace = sys.argv[2] == "trace"
base = hwm_kb()
if trace:
    tracemalloc.start()
ds = load([sys.argv[1]], jobs=1)
traced = tracemalloc.get_traced_memory()[1] if trace else 0
peak = hwm_kb()
frame = int(ds.frame.memory_usage(deep=True, index=False).sum())
doc = {"rss_kb": peak - base, "traced": traced, "frame": frame, "points": len(ds.frame)}
print(json.dumps(doc))
"""


def memory(folder: Path) -> dict[str, float]:
    """Peak memory of ``load`` in fresh processes, in MB.

    ``rss``: growth of the peak resident set over the imports, the memory a
    user sees (it includes the pages of the mapped file being decoded);
    ``traced``: peak of allocations seen by tracemalloc (numpy's buffers
    included), counted when allocated, not when touched.
    """

    def probe(mode: str) -> dict[str, int]:
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(folder), mode],
            capture_output=True,
            text=True,
            check=True,
        )
        doc: dict[str, int] = json.loads(out.stdout)
        return doc

    plain, traced = probe("rss"), probe("trace")
    mb = 2**20
    return {
        "rss_mb": plain["rss_kb"] / 1024,
        "traced_mb": traced["traced"] / mb,
        "frame_mb": plain["frame"] / mb,
        "points": plain["points"],
    }


def prefixes(folder: Path, fractions: tuple[float, ...]) -> list[Path]:
    """Copies of a one-file run cut after a share of its records (valid files)."""
    import struct

    (src,) = folder.glob("events.out.tfevents.*")
    data = src.read_bytes()
    ends, pos = [], 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 16 + n
        ends.append(pos)
    out = []
    for frac in fractions:
        sub = DATA / f"{folder.name}_{int(frac * 100)}pct"
        sub.mkdir(exist_ok=True)
        target = sub / src.name
        if not target.exists():
            target.write_bytes(data[: ends[int(len(ends) * frac) - 1]])
        out.append(sub)
    return out


def whole_process(folder: Path) -> tuple[float, float]:
    gdei = Path(sys.executable).with_name("gdei")
    t0 = time.perf_counter()
    subprocess.run(
        [str(gdei), "inspect", str(folder), "--format", "json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import pandas, pyarrow, gdei_cli.loader, gdei_cli.report"],
        check=True,
    )
    startup = time.perf_counter() - t0
    return full, startup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-tbparse", action="store_true")
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    sets = ensure_data(args.runs)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}\n"
    )
    print(
        "| data | points | files MB | gdei s | gdei points/s | tbparse s | tbparse points/s "
        "| speed-up | `gdei inspect` whole process s (of which start-up) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, folder in sets.items():
        size = sum(p.stat().st_size for p in folder.rglob("events.out.tfevents.*"))
        g_time, n = time_gdei(folder)
        if args.skip_tbparse:
            t_time, t_n = float("nan"), n
        else:
            t_time, t_n = time_tbparse(folder)
        assert n == t_n, f"{name}: gdei read {n} points, tbparse {t_n}"
        full, startup = whole_process(folder)
        print(
            f"| {name} | {n:,} | {size / 2**20:.1f} | {g_time:.3f} | {n / g_time / 1e6:.2f} M "
            f"| {t_time:.1f} | {n / t_time / 1e3:.1f} k | {t_time / g_time:.0f}x "
            f"| {full:.2f} ({startup:.2f}) |",
            flush=True,
        )
    print()
    print(
        "| data | points | frame MB | peak RSS growth MB | RSS / frame "
        "| peak allocated MB | allocated / frame |"
    )
    print("|---|---|---|---|---|---|---|")
    mem_sets = [*prefixes(sets["one_run"], (0.25, 0.5)), *sets.values()]
    rows = []
    for folder in mem_sets:
        m = memory(folder)
        rows.append(m)
        print(
            f"| {folder.name} | {m['points']:,} | {m['frame_mb']:.1f} | {m['rss_mb']:.1f} "
            f"| {m['rss_mb'] / m['frame_mb']:.2f} | {m['traced_mb']:.1f} "
            f"| {m['traced_mb'] / m['frame_mb']:.2f} |",
            flush=True,
        )
    # peak = a * frame + c over the one-run sizes: the slope a is what scales
    import numpy as np

    frames = np.array([r["frame_mb"] for r in rows[:3]])
    traced = np.array([r["traced_mb"] for r in rows[:3]])
    rss = np.array([r["rss_mb"] for r in rows[:3]])
    a, c = np.polyfit(frames, traced, 1)
    ar, cr = np.polyfit(frames, rss, 1)
    print(
        f"\nOne run at 25/50/100%: peak RSS growth = {ar:.2f} x frame + {cr:.1f} MB; "
        f"peak allocated = {a:.2f} x frame + {c:.1f} MB"
    )
    print()
    print("| one run, tags logged at two rates | points | gdei load s | over one tag |")
    print("|---|---|---|---|")
    for row in rate_rows(ensure_rates()):
        print(row, flush=True)


if __name__ == "__main__":
    main()
