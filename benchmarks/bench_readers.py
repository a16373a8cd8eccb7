"""Benchmark gdei's text readers and its engine against references in the same run.

``make bench`` runs it after the TensorBoard benchmark.  It writes (once,
cached in ``benchmarks/data/``) 1,000,000-point logs in each text layout and
times, interleaved round by round (median of ``--rounds``):

* a long CSV (``run,metric,step,value``; 200 runs, and 10,000 runs of 100
  points), a wide CSV (a column per metric) and JSON lines: gdei's reader
  (file to points) and ``gdei_cli.load`` (files to the canonical, sorted
  frame) against pyarrow's own C++ reader of the same file
  (``pyarrow.csv.read_csv`` / ``pyarrow.json.read_json``) and polars'
  (``polars.read_csv`` / ``polars.read_ndjson``, its defaults);
* 200 CSV files of 5,000 points, wide (``step,loss,val_loss``) and long
  (``metric,step,value``), and 200 JSON-lines files of 5,000 points: ``load``
  against pyarrow reading each and polars reading the folder in one call
  (``scan_csv`` / ``scan_ndjson`` of a glob, collected into one frame);
* the engine: ``gdei_cli.analyze`` over 10^7 points (1,000 runs x 10,000)
  against one vectorized numpy pass of the paper's index over the same values;
* (``bench_scale.py`` times ``gdei analyze`` over many small runs.)

Each ratio is gdei's time over the faster of pyarrow and polars, measured in
the same run (the machines are shared and noisy).  The references read in a
process of their own, started with the environment this benchmark started in
(``import gdei_cli`` sets an allocator option of Arrow's for its process), one
request at a time between gdei's rounds; each times itself.  polars runs as it reads
fastest, not as exactly as gdei reads: see benchmarks/README.md.  Peak memory
of ``load`` on each 1M-point file (and on a long CSV of one run,
``metric,step,value`` logged row by row) is measured in a fresh process
(``VmHWM`` growth over the imports) against the size of the frame it returns, and
the peak of the whole ``gdei analyze FILE --format json`` over the same command on a
10-point file.  Prints
Markdown tables for ``benchmarks/README.md``.

Usage: python benchmarks/bench_readers.py [--rounds N] [--engine-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: the environment this benchmark started in, before ``import gdei_cli`` set its allocator
#: option: the references run in a process of their own with it (see Reference)
START_ENV = dict(os.environ)

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "text"
POINTS = 1_000_000


def write_data() -> dict[str, Path]:
    import numpy as np
    import pandas as pd

    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = {
        "long CSV": DATA / "long.csv",
        "long CSV of 10,000 runs": DATA / "long_runs.csv",
        "wide CSV": DATA / "wide.csv",
        "JSON lines": DATA / "lines.jsonl",
        "JSON lines with NaN words": DATA / "lines_nan.jsonl",
        "200 CSV files": DATA / "many",
        "200 long CSV files": DATA / "many_long",
        "200 JSON-lines files": DATA / "many_jsonl",
        "long CSV of one run": DATA / "long_one_run.csv",
    }
    if not paths["long CSV"].exists():
        per_run = POINTS // 200
        step = np.tile(np.arange(per_run // 4).repeat(4), 200)
        tags = np.tile(np.array(["loss", "val_loss", "lr", "acc"], dtype=object), POINTS // 4)
        runs = np.repeat(np.array([f"run_{i:03d}" for i in range(200)], dtype=object), per_run)
        pd.DataFrame(
            {"run": runs, "metric": tags, "step": step, "value": rng.random(POINTS).round(6)}
        ).to_csv(paths["long CSV"], index=False)
    if not paths["long CSV of 10,000 runs"].exists():  # a sweep's export: many short runs
        per_run = POINTS // 10_000
        step = np.tile(np.arange(per_run // 2).repeat(2), 10_000)
        tags = np.tile(np.array(["loss", "val_loss"], dtype=object), POINTS // 2)
        runs = np.repeat(np.array([f"run_{i:05d}" for i in range(10_000)], dtype=object), per_run)
        pd.DataFrame(
            {"run": runs, "metric": tags, "step": step, "value": rng.random(POINTS).round(6)}
        ).to_csv(paths["long CSV of 10,000 runs"], index=False)
    if not paths["wide CSV"].exists():
        n = POINTS // 4
        pd.DataFrame(
            {
                "step": np.arange(n),
                **{m: rng.random(n).round(6) for m in ("loss", "val_loss", "lr", "acc")},
            }
        ).to_csv(paths["wide CSV"], index=False)
    if not paths["JSON lines"].exists():
        n = POINTS // 4
        vals = rng.random((n, 4)).round(6)
        with open(paths["JSON lines"], "w") as fh:
            for s in range(n):
                a, b, c, d = vals[s]
                fh.write(
                    json.dumps({"step": s, "loss": a, "val_loss": b, "lr": c, "acc": d}) + "\n"
                )
    nan_lines = paths["JSON lines with NaN words"]
    if not nan_lines.exists():  # a run that diverged: its last fifth's loss is NaN
        n = POINTS // 4
        vals = np.random.default_rng(7).random((n, 4)).round(6)
        vals[int(0.8 * n) :, 0] = np.nan
        with open(nan_lines, "w") as fh:
            for s, (a, b, c, d) in enumerate(vals.tolist()):
                rec = {"step": s, "loss": a, "val_loss": b, "lr": c, "acc": d}
                fh.write(json.dumps(rec) + "\n")  # (json writes the NaN word)
    nulled = _nulled(nan_lines)
    if not nulled.exists():  # what the references can read: the words written null
        nulled.write_bytes(nan_lines.read_bytes().replace(b"NaN", b"null"))
    _two_hundred_files(
        paths["200 CSV files"],
        lambda n: {"step": np.arange(n), "loss": rng.random(n).round(6),
                   "val_loss": rng.random(n).round(6)},
    )  # fmt: skip
    _two_hundred_files(
        paths["200 long CSV files"],
        lambda n: {"metric": np.tile(np.array(["loss", "val_loss"], dtype=object), n),
                   "step": np.arange(n).repeat(2), "value": rng.random(2 * n).round(6)},
    )  # fmt: skip
    if not paths["long CSV of one run"].exists():  # metric,step,value: one run, row by row
        n = POINTS // 4
        pd.DataFrame(
            {
                "metric": np.tile(np.array(["loss", "val_loss", "lr", "acc"], dtype=object), n),
                "step": np.arange(n).repeat(4),
                "value": np.random.default_rng(5).random(POINTS).round(6),
            }
        ).to_csv(paths["long CSV of one run"], index=False)
    many_jsonl = paths["200 JSON-lines files"]
    if not many_jsonl.exists():
        many_jsonl.mkdir()
        n = 5_000 // 2
        for i in range(200):
            vals = rng.random((n, 2)).round(6)
            (many_jsonl / f"run{i:03d}.jsonl").write_text(
                "".join(
                    json.dumps({"step": s, "loss": a, "val_loss": b}) + "\n"
                    for s, (a, b) in enumerate(vals.tolist())
                )
            )
    return paths


def _nulled(path: Path) -> Path:
    """The twin of JSON lines *path* with its NaN words written ``null``."""
    return path.with_name(path.stem + "_null" + path.suffix)


def _two_hundred_files(folder: Path, columns: Callable[[int], dict[str, object]]) -> None:
    """200 CSV files of 5,000 points in *folder* (written once): each file's
    columns are ``columns(2500)``."""
    import pandas as pd

    if folder.exists():
        return
    folder.mkdir()
    for i in range(200):
        pd.DataFrame(columns(5_000 // 2)).to_csv(folder / f"run{i:03d}.csv", index=False)


def median_times(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Each of *fns* timed *rounds* times, interleaved, and its median (a function that
    returns :class:`Took` gives its own time: a reference timed in its process)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():  # interleaved: noise hits every contender alike
            t = time.perf_counter()
            got = fn()
            took = time.perf_counter() - t
            times[name].append(got.seconds if isinstance(got, Took) else took)
    return {k: statistics.median(v) for k, v in times.items()}


class Took:
    """A time measured elsewhere (in :class:`Reference`'s process)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


#: the references' process: reads a request per line (what to read, tab, the path),
#: does it, and answers with the seconds it took
_REFERENCE = """
import sys, time
from pathlib import Path
import pyarrow.csv as pacsv
import pyarrow.json as pajson
try:
    import polars as pl
except ImportError:
    pl = None
READS = {
    "pyarrow csv": lambda p: pacsv.read_csv(p),
    "pyarrow json": lambda p: pajson.read_json(p),
    "pyarrow csv files": lambda p: [pacsv.read_csv(f) for f in sorted(p.glob("*.csv"))],
    "pyarrow json files": lambda p: [pajson.read_json(f) for f in sorted(p.glob("*.jsonl"))],
    "polars csv": lambda p: pl.read_csv(p),
    "polars json": lambda p: pl.read_ndjson(p),
    "polars json every line": lambda p: pl.read_ndjson(p, infer_schema_length=None),
    "polars csv glob": lambda p: pl.scan_csv(str(p / "*.csv")).collect(),
    "polars json glob": lambda p: pl.scan_ndjson(str(p / "*.jsonl")).collect(),
}
print("polars" if pl is not None else "-", flush=True)
for line in sys.stdin:
    what, path = line.rstrip("\\n").split("\\t")
    t = time.perf_counter()
    got = READS[what](Path(path))
    took = time.perf_counter() - t
    del got
    print(took, flush=True)
"""


class Reference:
    """pyarrow's and polars' reads, timed in a process of their own started with the
    benchmark's starting environment: ``import gdei_cli`` sets an allocator option of
    Arrow's for its own process, and in one process it would reach the references
    too (its former purge-delay option made pyarrow's reads there 40-60% slower)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _REFERENCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=START_ENV,
        )
        assert self.proc.stdout is not None
        self.has_polars = self.proc.stdout.readline().strip() == "polars"

    def read(self, what: str, path: Path) -> Callable[[], Took]:
        """A function that has the references' process do *what* to *path*."""

        def timed() -> Took:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(f"{what}\t{path}\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
            if not answer:
                raise SystemExit(f"the references' process failed on {what} of {path}")
            return Took(float(answer))

        return timed

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def _polars() -> Any:
    """polars, or ``None`` when it is not installed (``pip install -e '.[bench]'``)."""
    try:
        import polars
    except ImportError:
        return None
    return polars


def reader_rows(paths: dict[str, Path], rounds: int, ref: Reference) -> list[str]:
    """Rows of the readers' table: pyarrow's and polars' reads of each file (polars
    as it reads fastest: its defaults, one call over a folder's files) in *ref*'s
    process, gdei's read (file to points, one file) and load here, and gdei's
    ratios to the faster reference."""
    from gdei_cli import load
    from gdei_cli.readers import csv as gcsv
    from gdei_cli.readers import jsonl as gjsonl

    rows = []
    for label in ("long CSV", "long CSV of 10,000 runs", "wide CSV", "JSON lines"):
        path = paths[label]
        kind = "json" if label == "JSON lines" else "csv"
        fns: dict[str, Callable[[], object]] = {"pyarrow": ref.read(f"pyarrow {kind}", path)}
        if ref.has_polars:
            fns["polars"] = ref.read(f"polars {kind}", path)
        fns["read"] = lambda p=path, r=(gjsonl if kind == "json" else gcsv).read: r(p)
        fns["load"] = lambda p=path: load([p], jobs=1)
        rows.append(_reader_row(f"{label}, 1M points", median_times(fns, rounds)))
    # neither reference reads the NaN word (not JSON): they read its twin with the
    # words written null, and gdei the file itself
    path = paths["JSON lines with NaN words"]
    fns = {"pyarrow": ref.read("pyarrow json", _nulled(path))}
    if ref.has_polars:
        fns["polars"] = ref.read("polars json", _nulled(path))
    fns["read"] = lambda p=path: gjsonl.read(p)
    fns["load"] = lambda p=path: load([p], jobs=1)
    label = "JSON lines, its last fifth's loss NaN (references: the words written null)"
    rows.append(_reader_row(f"{label}, 1M points", median_times(fns, rounds)))
    folders = (
        ("200 CSV files", "200 wide CSV files", "csv"),
        ("200 long CSV files", None, "csv"),
        ("200 JSON-lines files", None, "json"),
    )
    for label, name, kind in folders:
        folder = paths[label]
        fns = {"pyarrow": ref.read(f"pyarrow {kind} files", folder)}
        if ref.has_polars:
            fns["polars"] = ref.read(f"polars {kind} glob", folder)
        fns["load"] = lambda f=folder: load([f], jobs=1)
        rows.append(_reader_row(f"{name or label}, 1M points", median_times(fns, rounds)))
    return rows


def _reader_row(label: str, t: dict[str, float]) -> str:
    best = min(t["pyarrow"], t.get("polars", float("inf")))
    polars = f"{t['polars']:.3f}" if "polars" in t else "-"
    read = f"{t['read']:.3f} | {t['read'] / best:.1f}x" if "read" in t else "- | -"
    return (
        f"| {label} | {t['pyarrow']:.3f} | {polars} | {read} | {t['load']:.3f} | "
        f"{t['load'] / best:.1f}x |"
    )


def polars_rows(paths: dict[str, Path], ref: Reference) -> list[str]:
    """What polars' fast reads give up, checked on small files here: each case, what
    polars (as the table runs it) and gdei read, and polars' time when it reads
    every line's keys of the 1M-point JSON lines (as gdei must)."""
    import tempfile

    from gdei_cli import load

    pl = _polars()
    if pl is None:
        return []
    lines = [json.dumps({"step": i, "loss": 1.0 / (i + 1)}) for i in range(200)]
    late = "\n".join([*lines, json.dumps({"step": 200, "loss": 0.1, "val_loss": 2.0})]) + "\n"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)

        def gdei_metrics(path: Path) -> str:
            ds = load([path], jobs=1)
            return ", ".join(sorted(map(str, ds.frame["metric"].unique())))

        def polars_of(read: Callable[[], Any]) -> str:
            try:
                cols = read().columns
            except Exception as e:  # polars refuses the file
                return f"error ({type(e).__name__})"
            return ", ".join(sorted(c for c in cols if c != "step"))

        (d / "late.jsonl").write_text(late)
        rows.append(
            "| `val_loss` first logged at line 201 of a JSON-lines file | "
            f"{polars_of(lambda: pl.read_ndjson(d / 'late.jsonl'))} | "
            f"{gdei_metrics(d / 'late.jsonl')} |"
        )
        (d / "two").mkdir()
        (d / "two" / "a.jsonl").write_text(json.dumps({"step": 0, "loss": 1.0}) + "\n")
        (d / "two" / "b.jsonl").write_text(
            json.dumps({"step": 1, "loss": 0.5, "val_loss": 2.0}) + "\n"
        )
        glob = str(d / "two" / "*.jsonl")
        rows.append(
            "| `val_loss` only in the second of two JSON-lines files, read in one call "
            "(`infer_schema_length=None`) | "
            f"{polars_of(lambda: pl.scan_ndjson(glob, infer_schema_length=None).collect())} | "
            f"{gdei_metrics(d / 'two')} (two runs) |"
        )
        blank = ["step,loss,val_loss"] + [
            f"{i},{1.0 / (i + 1)},{'' if i < 150 else 0.5}" for i in range(200)
        ]
        (d / "blank.csv").write_text("\n".join(blank) + "\n")
        got = pl.read_csv(d / "blank.csv").schema
        rows.append(
            "| `val_loss` blank on a CSV's first 150 rows (a validation logged later) | "
            + ", ".join(f"{k} ({v})" for k, v in got.items() if k != "step")
            + f" | {gdei_metrics(d / 'blank.csv')} (numbers) |"
        )
        (d / "nan.jsonl").write_text('{"step": 0, "loss": 1.0}\n{"step": 1, "loss": NaN}\n')
        rows.append(
            "| a `NaN` token (what `json.dumps` writes for a NaN loss) | "
            f"{polars_of(lambda: pl.read_ndjson(d / 'nan.jsonl'))} | "
            f"{gdei_metrics(d / 'nan.jsonl')} |"
        )
    path = paths["JSON lines"]
    t = median_times(
        {
            "default": ref.read("polars json", path),
            "every line": ref.read("polars json every line", path),
        },
        3,
    )
    rows.append(
        "| time to read the 1M-point JSON lines: its defaults / every line's keys | "
        f"{t['default']:.3f} s / {t['every line']:.3f} s | - |"
    )
    return rows


def engine_row(runs: int, rounds: int) -> str:
    import numpy as np

    from gdei_cli import engine, schema

    n = 10_000
    rng = np.random.default_rng(1)
    t = np.arange(n)
    vals = (1 + 9 * np.exp(-t / 2000.0))[None, :] * (1 + 0.05 * rng.standard_normal((runs, n)))
    code = np.repeat(np.arange(runs), n)
    frame = schema.make_frame(
        run=np.array([f"r{i:04d}" for i in range(runs)], dtype=object)[code],
        metric=np.full(runs * n, "loss", dtype=object),
        step=np.tile(t, runs),
        value=vals.ravel(),
        wall_time=np.full(runs * n, np.nan),
    )

    def numpy_pass() -> object:
        v = vals
        l0 = v[:, :1]
        d = np.abs(np.diff(v, axis=1, prepend=np.nan))
        return 100 - np.minimum(100, np.maximum(1, 100 * ((l0 - v) / l0) / (1 + np.log1p(d * d))))

    tm = median_times({"ref": numpy_pass, "gdei": lambda: engine.analyze(frame)}, rounds)
    return (
        f"| `analyze()`, {runs * n:,} points ({runs:,} runs) | numpy {tm['ref']:.3f} | - | - | "
        f"- | {tm['gdei']:.3f} | {tm['gdei'] / tm['ref']:.1f}x |"
    )


_MEMORY = """
import json, resource, sys
import gdei_cli, pandas, pyarrow, numpy
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1]) / 1024
base = hwm()
ds = gdei_cli.load([sys.argv[1]], jobs=1)
print(json.dumps({"growth": hwm() - base, "frame": ds.frame.memory_usage(deep=True).sum() / 2**20}))
"""


def memory_rows(paths: dict[str, Path], frames: dict[str, float] | None = None) -> list[str]:
    """Peak RSS of ``load`` over its imports, per file; each frame's size (MB) goes
    into *frames*."""
    rows = []
    for label in (
        "long CSV",
        "long CSV of one run",
        "long CSV of 10,000 runs",
        "wide CSV",
        "JSON lines",
        "JSON lines with NaN words",
        "200 CSV files",
        "200 long CSV files",
        "200 JSON-lines files",
    ):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY, str(paths[label])],
            capture_output=True,
            text=True,
            check=True,
        )
        got = json.loads(out.stdout)
        if frames is not None:
            frames[label] = got["frame"]
        rows.append(
            f"| {label} | {got['frame']:.1f} | {got['growth']:.1f} | "
            f"{got['growth'] / got['frame']:.1f} |"
        )
    return rows


#: the command, its wall time and the peak RSS of its largest process (MB)
_WHOLE = """
import resource, subprocess, sys, time
t = time.perf_counter()
out = subprocess.run(sys.argv[1:], check=True, capture_output=True)
took = time.perf_counter() - t
sys.stdout.buffer.write(out.stdout)
sys.stderr.write(f"{took} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}")
"""


def timed_command(args: list[str]) -> tuple[dict, float, float]:
    """``gdei *args*`` (printing JSON) run as a command: what it printed, its wall time
    and the peak RSS of its largest process (MB)."""
    gdei = Path(sys.executable).with_name("gdei")
    done = subprocess.run(
        [sys.executable, "-c", _WHOLE, str(gdei), *args], capture_output=True, check=True
    )
    took, peak = (float(x) for x in done.stderr.decode().split()[-2:])
    return json.loads(done.stdout), took, peak


def command_rows(paths: dict[str, Path], frames: dict[str, float]) -> list[str]:
    """Peak RSS of the whole ``gdei analyze FILE --format json`` on each 1M-point file
    (read, judge, print), over the same command on a 10-point file (its imports and
    start-up), against the frame the file loads into."""

    def peak(path: Path) -> float:
        return timed_command(["analyze", str(path), "--format", "json"])[2]

    tiny = DATA / "ten_points.csv"
    if not tiny.exists():
        tiny.write_text("step,loss\n" + "".join(f"{t},{1 / (t + 1):.6f}\n" for t in range(10)))
    floor = min(peak(tiny) for _ in range(3))
    rows = [f"| a 10-point CSV (the floor) | - | {floor:.1f} | - | - |"]
    for label in ("long CSV", "long CSV of one run", "long CSV of 10,000 runs", "wide CSV",
                  "JSON lines", "JSON lines with NaN words"):  # fmt: skip
        got = peak(paths[label])
        rows.append(
            f"| {label} | {frames[label]:.1f} | {got:.1f} | {got - floor:.1f} | "
            f"{(got - floor) / frames[label]:.1f} |"
        )
    return rows


def runs_folder(runs: int, points: int = 1000) -> Path:
    """A folder of *runs* CSV runs of *points* points (``r00000/metrics.csv``...),
    written once; the first runs of a larger folder are the runs of a smaller one."""
    import numpy as np

    folder = DATA / (f"runs{runs}" if points == 1000 else f"runs{runs}x{points}")
    if not folder.exists():
        folder.mkdir(parents=True)
        rng = np.random.default_rng(2)
        t = np.arange(points)
        for i in range(runs):
            scale = (100 + i % 300) * points / 1000
            v = (1 + 9 * np.exp(-t / scale)) * (1 + 0.02 * rng.standard_normal(points))
            (folder / f"r{i:05d}").mkdir()
            body = "\n".join(f"{a},{b:.6f}" for a, b in zip(t, v, strict=True))
            (folder / f"r{i:05d}" / "metrics.csv").write_text("step,loss\n" + body + "\n")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--engine-runs", type=int, default=1000)
    args = ap.parse_args()
    paths = write_data()
    print(
        "| work | pyarrow s | polars s | gdei read s | read / best | "
        "gdei load s (or analyze) | load / best |"
    )
    print("|---|---|---|---|---|---|---|")
    ref = Reference()
    for row in reader_rows(paths, args.rounds, ref):
        print(row, flush=True)
    print(engine_row(args.engine_runs, max(3, args.rounds // 2)), flush=True)
    print()
    print("| file | frame MB | peak RSS growth MB | growth / frame |")
    print("|---|---|---|---|")
    frames: dict[str, float] = {}
    for row in memory_rows(paths, frames):
        print(row, flush=True)
    print()
    print("| `gdei analyze FILE --format json` | frame MB | peak RSS MB | over the floor MB | "
          "over the floor / frame |")  # fmt: skip
    print("|---|---|---|---|---|")
    for row in command_rows(paths, frames):
        print(row, flush=True)
    caveats = polars_rows(paths, ref)
    ref.close()
    if caveats:
        print()
        print("| what polars gives up | polars reads | gdei reads |")
        print("|---|---|---|")
        for row in caveats:
            print(row, flush=True)


if __name__ == "__main__":
    main()
