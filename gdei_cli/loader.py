"""Find the logs under the inputs, read them, and assemble the canonical frame.

This is the one place that

* walks folders (recursively, in sorted order) and decides what is a run:
  one run per log file, and one per folder of TensorBoard event files;
* names runs: the log's path relative to the common root of the inputs, where a
  generically named file (``metrics.csv``, ``log.jsonl``...) is named by its
  folder;
* resolves restarts: when a metric's step goes back to *s*, the run restarted
  from a checkpoint, and that metric's earlier points at steps >= *s* are
  superseded (TensorBoard's rule); so is every point before a TensorBoard
  ``SessionLog.START`` at a step >= the purge step.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from gdei_cli import schema
from gdei_cli.errors import InputError
from gdei_cli.readers import FORMATS, detect_format, is_event_file, reader_for
from gdei_cli.readers.base import RawLog, SkippedLine, WallClock

#: file stems named by their folder instead (the folder is the run)
GENERIC_STEMS: Final = frozenset(
    {
        "metrics",
        "metric",
        "log",
        "logs",
        "history",
        "progress",
        "results",
        "scalars",
        "train",
        "training",
        "training_log",
        "train_log",
        "events",
        "main",
        "output",
        "trainer_state",
        "wandb-history",
        "stats",
    }
)


@dataclass(frozen=True)
class Source:
    """One run's files and their format, before reading."""

    run: str
    format: str
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class RunInfo:
    """What gdei knows about one run besides its points."""

    run: str
    format: str
    sources: list[str]
    wall_clock: WallClock
    superseded: dict[str, int] = field(default_factory=dict)
    skipped_lines: list[SkippedLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Dataset:
    """Every run read from the inputs: the canonical frame plus bookkeeping."""

    frame: pd.DataFrame
    runs: dict[str, RunInfo]
    skipped_files: list[SkippedFile] = field(default_factory=list)

    @property
    def run_names(self) -> list[str]:
        return list(self.runs)

    def metrics_of(self, run: str) -> list[str]:
        sub = self.frame.loc[self.frame[schema.RUN] == run, schema.METRIC]
        return sorted(str(m) for m in sub.unique())


def discover(
    paths: Sequence[str | Path], fmt: str | None = None
) -> tuple[list[Source], list[SkippedFile]]:
    """Turn input paths into runs to read, and files passed over while walking."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not paths:
        raise InputError("no input paths given")
    found: list[tuple[Path, str]] = []
    skipped: list[SkippedFile] = []
    resolved: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError("no such file or folder", path=path)
        resolved.append(path)
        if path.is_dir():
            for file in _walk(path):
                got, reason = (fmt, "") if fmt else detect_format(file)
                if got is None:
                    skipped.append(SkippedFile(str(file), reason))
                else:
                    found.append((file, got))
        else:
            got, reason = (fmt, "") if fmt else detect_format(path)
            if got is None:
                raise InputError(
                    f"cannot tell this file's format ({reason})",
                    path=path,
                    hint=f"pass --format with one of {', '.join(FORMATS)}",
                )
            found.append((path, got))
    root = _common_root(resolved)
    return _group(found, root), skipped


def _walk(folder: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _common_root(paths: list[Path]) -> Path:
    bases = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    return Path(os.path.commonpath([str(b) for b in bases]))


def _rel(path: Path, root: Path) -> str:
    rel = os.path.relpath(path.resolve(), root)
    return root.name if rel == "." else Path(rel).as_posix()


def _stem(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0]


def _group(found: list[tuple[Path, str]], root: Path) -> list[Source]:
    """One source per file, except TensorBoard event files: one per folder."""
    by_folder: dict[Path, list[Path]] = {}
    singles: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for path, fmt in found:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        if fmt == "tensorboard" and is_event_file(path):
            by_folder.setdefault(path.parent, []).append(path)
        else:
            singles.append((path, fmt))
    sources: list[Source] = []
    for folder, files in by_folder.items():
        sources.append(
            Source(_rel(folder, root), "tensorboard", tuple(sorted(files, key=lambda p: p.name)))
        )
    for path, fmt in singles:
        name = _rel(path.parent, root) if _stem(path) in GENERIC_STEMS else _rel(path, root)
        sources.append(Source(name, fmt, (path,)))
    # two sources with one name (say metrics.csv and log.jsonl in one folder):
    # name each by its file instead
    counts: dict[str, int] = {}
    for s in sources:
        counts[s.run] = counts.get(s.run, 0) + 1
    renamed = [
        Source(_rel(s.paths[0], root), s.format, s.paths)
        if counts[s.run] > 1 and len(s.paths) == 1
        else s
        for s in sources
    ]
    return sorted(renamed, key=lambda s: s.run)


def read_source(source: Source) -> list[RawLog]:
    reader = reader_for(source.format)
    return [reader(path) for path in source.paths]


def load(
    paths: Sequence[str | Path], *, fmt: str | None = None, jobs: int | None = None
) -> Dataset:
    """Read every run under *paths* into one canonical :class:`Dataset`."""
    sources, skipped = discover(paths, fmt)
    raws = _read_all(sources, jobs)
    frames: list[pd.DataFrame] = []
    runs: dict[str, RunInfo] = {}
    for source, logs in zip(sources, raws, strict=True):
        frame, info = assemble_run(source.run, source.format, logs)
        runs[source.run] = info
        frames.append(frame)
    if frames:
        frame = _concat(frames)
    else:
        frame = schema.empty_frame()
    return Dataset(frame=frame, runs=runs, skipped_files=skipped)


def _read_all(sources: list[Source], jobs: int | None) -> list[list[RawLog]]:
    """Read every source; several files use a process pool (order is kept)."""
    n_files = sum(len(s.paths) for s in sources)
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    big = sum(p.stat().st_size for s in sources for p in s.paths) > 32 * 1024 * 1024
    if workers <= 1 or n_files < 2 or not big:
        return [read_source(s) for s in sources]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(workers, n_files)) as pool:
        return list(pool.map(read_source, sources))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    from pandas.api.types import union_categoricals

    run = union_categoricals([f[schema.RUN].array for f in frames], sort_categories=True)
    metric = union_categoricals([f[schema.METRIC].array for f in frames], sort_categories=True)
    out = pd.DataFrame(
        {
            schema.RUN: run,
            schema.METRIC: metric,
            schema.STEP: np.concatenate([f[schema.STEP].to_numpy() for f in frames]),
            schema.VALUE: np.concatenate([f[schema.VALUE].to_numpy() for f in frames]),
            schema.WALL_TIME: np.concatenate([f[schema.WALL_TIME].to_numpy() for f in frames]),
        }
    )
    return out  # each run is sorted and runs come in sorted order


def assemble_run(run: str, fmt: str, logs: list[RawLog]) -> tuple[pd.DataFrame, RunInfo]:
    """Concatenate one run's raw logs (in file order), resolve restarts, sort."""
    parts = [log.frame for log in logs]
    offsets = np.cumsum([0] + [len(p) for p in parts])
    purge_pos = (
        np.concatenate(
            [
                np.asarray(log.purge_pos, dtype=np.int64) + off
                for log, off in zip(logs, offsets, strict=False)
            ]
        )
        if logs
        else np.zeros(0, dtype=np.int64)
    )
    purge_step = (
        np.concatenate([np.asarray(log.purge_step, dtype=np.int64) for log in logs])
        if logs
        else np.zeros(0, dtype=np.int64)
    )
    metric = pd.Categorical(
        np.concatenate([np.asarray(p[schema.METRIC], dtype=object) for p in parts])
        if parts
        else np.array([], dtype=object)
    )
    step = (
        np.concatenate([p[schema.STEP].to_numpy() for p in parts])
        if parts
        else np.zeros(0, np.int64)
    )
    value = np.concatenate([p[schema.VALUE].to_numpy() for p in parts]) if parts else np.zeros(0)
    wall = np.concatenate([p[schema.WALL_TIME].to_numpy() for p in parts]) if parts else np.zeros(0)
    codes = np.asarray(metric.codes, dtype=np.int64)

    keep = superseded_mask(codes, step, purge_pos, purge_step)
    n_super = np.bincount(codes[~keep], minlength=len(metric.categories))
    superseded = {str(metric.categories[i]): int(c) for i, c in enumerate(n_super) if c > 0}
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((step[idx], codes[idx]))]
    frame = pd.DataFrame(
        {
            schema.RUN: pd.Categorical.from_codes(
                np.zeros(order.size, dtype=np.int8), categories=pd.Index([run])
            ),
            schema.METRIC: pd.Categorical.from_codes(codes[order], categories=metric.categories),
            schema.STEP: step[order],
            schema.VALUE: value[order],
            schema.WALL_TIME: wall[order],
        }
    )
    kinds = [log.wall_clock for log in logs]
    order_of_preference: tuple[WallClock, ...] = ("logged", "relative", "derived")
    wall_clock: WallClock = next((k for k in order_of_preference if k in kinds), "absent")
    info = RunInfo(
        run=run,
        format=fmt,
        sources=[str(log.path) for log in logs],
        wall_clock=wall_clock,
        superseded=superseded,
        skipped_lines=[s for log in logs for s in log.skipped_lines],
        warnings=[f"{log.path}: {w}" for log in logs for w in log.warnings],
        attrs={k: v for log in logs for k, v in log.attrs.items()},
    )
    return frame, info


def superseded_mask(
    codes: np.ndarray,
    step: np.ndarray,
    purge_pos: np.ndarray | None = None,
    purge_step: np.ndarray | None = None,
) -> np.ndarray:
    """Which points (in file order) survive restarts; vectorized.

    A point survives iff every later point of the same metric has a larger
    step (a later point at a step <= its own means the run went back and wrote
    that stretch again), and no later purge has a step <= its own.
    """
    n = step.size
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    # minimum step among *later* points of the same metric
    order = np.lexsort((-np.arange(n), codes))  # by metric, then file order reversed
    s_rev = step[order]
    c_rev = codes[order]
    new_group = np.r_[True, c_rev[1:] != c_rev[:-1]]
    later_min = _segmented_exclusive_cummin(s_rev, new_group)
    keep[order] = s_rev < later_min
    if purge_pos is not None and purge_step is not None and purge_pos.size:
        marks = np.full(n + 1, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(marks, np.clip(purge_pos, 0, n), purge_step)
        after = np.minimum.accumulate(marks[::-1])[::-1]  # min over positions >= q
        keep &= step < after[1:]
    return keep


def _segmented_exclusive_cummin(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Running minimum of the values *before* each element, within segments."""
    big = np.iinfo(np.int64).max
    seg = np.cumsum(starts) - 1
    run_min = pd.Series(values).groupby(seg).cummin().to_numpy()
    prev = np.r_[big, run_min[:-1]]
    return np.where(starts, big, prev).astype(np.int64)
