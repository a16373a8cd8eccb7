"""Find the logs under the inputs, read them, and assemble the canonical frame.

This is the one place that

* walks folders (recursively, in sorted order) and decides what is a run:
  one run per log file, and one per folder of TensorBoard event files;
* names runs: the log's path relative to the common root of the inputs, where a
  generically named file (``metrics.csv``, ``log.jsonl``...) is named by its
  folder;
* resolves restarts: when a metric's step goes back to *s*, the run restarted
  from a checkpoint, and that metric's earlier points at steps >= *s* are
  superseded (TensorBoard's rule); so is every earlier point at a step >= the
  step of a TensorBoard ``SessionLog.START``.
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
from gdei_cli._memory import release
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


#: below this many bytes of logs, reading in one process beats starting a pool
POOL_MIN_BYTES = 32 * 1024 * 1024

#: files a framework writes beside its log, read as the run's attributes
SIDECARS: Final = frozenset({"hparams.yaml", "args.yaml"})


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


def discover(
    paths: Sequence[str | Path],
    fmt: str | None = None,
    *,
    merge_folders: bool = False,
    text_logs: bool = False,
) -> tuple[list[Source], list[SkippedFile]]:
    """Turn input paths into runs to read, and files passed over while walking.

    With *text_logs* (a ``--line-pattern`` was given), ``.log``/``.txt`` files
    that are not otherwise recognised are read as plain-text logs.
    """

    def guess(file: Path) -> tuple[str | None, str]:
        if fmt:
            return fmt, ""
        got, reason = detect_format(file)
        if got is None and text_logs and file.suffix.lower() in (".log", ".txt"):
            return "textlog", "text log (--line-pattern)"
        return got, reason

    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown input format {fmt!r}; choose one of {', '.join(FORMATS)}")
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
                got, reason = guess(file)
                if got is None:
                    skipped.append(SkippedFile(str(file), reason))
                else:
                    found.append((file, got))
        else:
            got, reason = guess(path)
            if got is None:
                raise InputError(
                    f"cannot tell this file's format ({reason})",
                    path=path,
                    hint=f"pass --input-format with one of {', '.join(FORMATS)}",
                )
            found.append((path, got))
    root = _common_root(resolved)
    return _group(found, root, merge_folders), skipped


def _walk(folder: Path) -> Iterable[Path]:
    """Files under *folder*, sorted; an MLflow run folder yields its metric files only."""
    from gdei_cli.readers.mlflow import is_run_folder

    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        here = Path(dirpath)
        if is_run_folder(here):
            dirnames.clear()
            yield from sorted(p for p in (here / "metrics").rglob("*") if p.is_file())
            continue
        for name in sorted(filenames):
            if name.startswith(".") or name in SIDECARS:
                continue
            if name == "meta.yaml" and any(is_run_folder(here / d) for d in dirnames):
                continue  # an MLflow experiment's metadata, read with its runs
            yield here / name


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
    return name.split(".", 1)[0]


def _group(found: list[tuple[Path, str]], root: Path, merge_folders: bool = False) -> list[Source]:
    """One source per file, except where a layout makes a folder the run.

    TensorBoard event files: one run per folder; MLflow: one run per run folder.
    With *merge_folders*, every log in one folder is one run.
    """
    by_folder: dict[tuple[Path, str], list[Path]] = {}
    singles: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for path, fmt in found:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        if fmt == "tensorboard" and is_event_file(path):
            by_folder.setdefault((path.parent, fmt), []).append(path)
        elif fmt == "mlflow":
            from gdei_cli.readers.mlflow import run_folder

            by_folder.setdefault((run_folder(path), fmt), []).append(path)
        else:
            singles.append((path, fmt))
    sources: list[Source] = []
    for (folder, fmt), files in by_folder.items():
        ordered = sorted(files, key=lambda p: p.name) if fmt == "tensorboard" else sorted(files)
        sources.append(Source(_rel(folder, root), fmt, tuple(ordered)))
    for path, fmt in singles:
        name = _rel(path.parent, root) if _stem(path) in GENERIC_STEMS else _rel(path, root)
        sources.append(Source(name, fmt, (path,)))
    if merge_folders:
        return _merge_by_folder(sources, root)
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


def _merge_by_folder(sources: list[Source], root: Path) -> list[Source]:
    folders: dict[Path, list[Source]] = {}
    for s in sources:
        folder = s.paths[0].parent
        if s.format == "mlflow":
            from gdei_cli.readers.mlflow import run_folder

            folder = run_folder(s.paths[0])
        folders.setdefault(folder.resolve(), []).append(s)
    merged = []
    for folder, group in folders.items():
        if len(group) == 1:
            merged.append(group[0])
            continue
        fmt = "+".join(sorted({s.format for s in group}))
        paths = tuple(p for s in group for p in s.paths)
        merged.append(Source(_rel(folder, root), fmt, paths))
    return sorted(merged, key=lambda s: s.run)


def read_source(source: Source, line_pattern: str | None = None) -> list[RawLog]:
    """Read a source's files, each with its own format's reader."""
    logs = []
    for path in source.paths:
        fmt = source.format
        if "+" in fmt:  # a merged folder: each file by its own format
            fmt = detect_format(path)[0] or "csv"
        logs.append(reader_for(fmt, line_pattern)(path))
    return logs


def load(
    paths: Sequence[str | Path],
    *,
    fmt: str | None = None,
    jobs: int | None = None,
    merge_folders: bool = False,
    line_pattern: str | None = None,
) -> Dataset:
    """Read every run under *paths* into one canonical :class:`Dataset`.

    *fmt* forces one input format for every file; *merge_folders* makes every
    log in one folder one run; *line_pattern* is a regex with named groups
    (``step`` and one per metric) for plain-text logs.
    """
    sources, skipped = discover(
        paths, fmt, merge_folders=merge_folders, text_logs=line_pattern is not None
    )
    raws: list[list[RawLog] | None] = list(_read_all(sources, jobs, line_pattern))
    sources, raws = _merge_add_scalars(sources, raws)
    sources, raws = _split_subruns(sources, raws)
    frames: list[pd.DataFrame] = []
    runs: dict[str, RunInfo] = {}
    for i, source in enumerate(sources):
        logs = raws[i]
        raws[i] = None  # let each run's raw points go once assembled
        assert logs is not None
        frame, info = assemble_run(source.run, source.format, logs)
        del logs
        runs[source.run] = info
        frames.append(frame)
    frame = _concat(frames) if frames else schema.empty_frame()
    return Dataset(frame=frame, runs=runs, skipped_files=skipped)


def _read_all(
    sources: list[Source], jobs: int | None, line_pattern: str | None = None
) -> list[list[RawLog]]:
    """Read every source; many large files use a process pool (order is kept)."""
    import functools

    read = functools.partial(read_source, line_pattern=line_pattern)
    n_files = sum(len(s.paths) for s in sources)
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    if workers <= 1 or n_files < 2:
        return [read(s) for s in sources]
    total = sum(p.stat().st_size for s in sources for p in s.paths)
    if total < POOL_MIN_BYTES:  # a pool costs more than it saves
        return [read(s) for s in sources]
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(sources) // (4 * workers))
    with ProcessPoolExecutor(max_workers=min(workers, n_files)) as pool:
        return list(pool.map(read, sources, chunksize=chunk))


def _split_subruns(
    sources: list[Source], raws: list[list[RawLog] | None]
) -> tuple[list[Source], list[list[RawLog] | None]]:
    """A file holding several runs (a W&B chart export) becomes one run each."""
    out_s: list[Source] = []
    out_r: list[list[RawLog] | None] = []
    for source, logs in zip(sources, raws, strict=True):
        if logs and len(logs) == 1 and "subrun" in logs[0].frame.columns:
            log = logs[0]
            frame = log.frame
            for sub, part in frame.groupby("subrun", sort=True):
                piece = RawLog(**{**log.__dict__, "frame": part.drop(columns="subrun")})
                out_s.append(Source(f"{source.run}/{sub}", source.format, source.paths))
                out_r.append([piece])
        else:
            out_s.append(source)
            out_r.append(logs)
    order = sorted(range(len(out_s)), key=lambda i: out_s[i].run)
    return [out_s[i] for i in order], [out_r[i] for i in order]


def _merge_add_scalars(
    sources: list[Source], raws: list[list[RawLog] | None]
) -> tuple[list[Source], list[list[RawLog] | None]]:
    """Fold ``add_scalars`` sub-runs into their parent run.

    ``writer.add_scalars("loss", {"train": a, "val": b})`` writes tag ``loss``
    into sub-folders ``loss/train`` (tensorboardX) or ``loss_train`` (torch) of
    the run folder; gdei reads them as metrics ``loss/train`` and ``loss/val``
    of the parent run.
    """
    folders = {
        s.paths[0].parent.resolve(): i for i, s in enumerate(sources) if s.format == "tensorboard"
    }
    merged: dict[int, int] = {}  # child source index -> parent source index
    for i, s in enumerate(sources):
        if s.format != "tensorboard":
            continue
        folder = s.paths[0].parent.resolve()
        parent = next((folders[p] for p in folder.parents if p in folders), None)
        logs = raws[i]
        if parent is None or logs is None:
            continue
        rel = folder.relative_to(sources[parent].paths[0].parent.resolve()).as_posix()
        renamed = [_add_scalars_names(log, rel) for log in logs]
        if all(r is not None for r in renamed):
            raws[i] = [r for r in renamed if r is not None]
            merged[i] = parent
    if not merged:
        return sources, raws
    for child, parent in merged.items():
        src = sources[parent]
        sources[parent] = Source(src.run, src.format, src.paths + sources[child].paths)
        parent_logs = raws[parent]
        child_logs = raws[child]
        assert parent_logs is not None and child_logs is not None
        parent_logs.extend(child_logs)
    keep = [i for i in range(len(sources)) if i not in merged]
    return [sources[i] for i in keep], [raws[i] for i in keep]


def _add_scalars_names(log: RawLog, rel: str) -> RawLog | None:
    """*log* with metric ``tag`` renamed ``tag/member``, if it is an add_scalars file."""
    metric = log.frame[schema.METRIC]
    cats = [str(c) for c in metric.cat.categories] if len(log.frame) else []
    new: list[str] = []
    for tag in cats:
        if rel.startswith(tag + "/") and len(rel) > len(tag) + 1:
            new.append(f"{tag}/{rel[len(tag) + 1 :]}")
        elif rel.startswith(tag.replace("/", "_") + "_") and "/" not in rel:
            new.append(f"{tag}/{rel[len(tag.replace('/', '_')) + 1 :]}")
        else:
            return None
    if not cats:
        return log
    frame = log.frame.copy(deep=False)
    frame[schema.METRIC] = metric.cat.rename_categories(new)
    out = RawLog(**{**log.__dict__, "frame": frame})
    out.superseded = {new[cats.index(k)]: v for k, v in log.superseded.items() if k in cats}
    return out


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack the runs' frames (each sorted; runs in sorted order), freeing each as it goes."""
    if len(frames) == 1:
        return frames.pop()
    # one sorted category list for all runs; each run's codes are remapped
    # through a small lookup table (no per-point string work)
    run_names = [str(f[schema.RUN].cat.categories[0]) if len(f) else "" for f in frames]
    metric_lists = [[str(c) for c in f[schema.METRIC].cat.categories] for f in frames]
    all_metrics = sorted(set().union(*metric_lists))
    position = {m: i for i, m in enumerate(all_metrics)}
    all_runs = sorted({r for r, f in zip(run_names, frames, strict=True) if len(f)})
    run_pos = {r: i for i, r in enumerate(all_runs)}
    total = sum(len(f) for f in frames)
    step = np.empty(total, dtype=np.int64)
    value = np.empty(total, dtype=np.float64)
    wall = np.empty(total, dtype=np.float64)
    mcode = np.empty(total, dtype=np.int32)
    rcode = np.empty(total, dtype=np.int32)
    at = copied = 0
    frames.reverse()
    run_names.reverse()
    metric_lists.reverse()
    while frames:
        f = frames.pop()
        run = run_names.pop()
        lookup = np.array([position[m] for m in metric_lists.pop()], dtype=np.int32)
        k = len(f)
        if k:
            step[at : at + k] = f[schema.STEP].to_numpy()
            value[at : at + k] = f[schema.VALUE].to_numpy()
            wall[at : at + k] = f[schema.WALL_TIME].to_numpy()
            mcode[at : at + k] = lookup[f[schema.METRIC].cat.codes.to_numpy()]
            rcode[at : at + k] = run_pos[run]
        at += k
        del f
        copied += k
        if copied > 1 << 18:  # every ~256k points: give the freed runs' pages back
            release()
            copied = 0
    release()
    return pd.DataFrame(
        {
            schema.RUN: schema.categorical(rcode, all_runs),
            schema.METRIC: schema.categorical(mcode, all_metrics),
            schema.STEP: step,
            schema.VALUE: value,
            schema.WALL_TIME: wall,
        },
        copy=False,
    )


def _metric_categorical(logs: list[RawLog]) -> pd.Categorical:
    from pandas.api.types import union_categoricals

    parts = []
    for log in logs:
        m = log.frame[schema.METRIC]
        cat = m.array if isinstance(m.dtype, pd.CategoricalDtype) else pd.Categorical(m)
        parts.append(schema.with_str_categories(cat))
    if not parts:
        return pd.Categorical([])
    if len(parts) == 1:
        return pd.Categorical(parts[0])
    return union_categoricals(parts)


def _cat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    if len(arrays) == 1:
        return np.asarray(arrays[0], dtype=dtype)
    if not arrays:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(arrays).astype(dtype, copy=False)


def assemble_run(run: str, fmt: str, logs: list[RawLog]) -> tuple[pd.DataFrame, RunInfo]:
    """Join one run's raw logs (in file order), resolve restarts, sort."""
    metric = _metric_categorical(logs)
    categories = metric.categories
    codes = np.asarray(metric.codes)
    step = _cat([log.frame[schema.STEP].to_numpy() for log in logs], np.int64)
    value = _cat([log.frame[schema.VALUE].to_numpy() for log in logs], np.float64)
    wall = _cat([log.frame[schema.WALL_TIME].to_numpy() for log in logs], np.float64)
    n_cat = len(categories)
    superseded = np.zeros(n_cat, dtype=np.int64)
    for log in logs:
        for name, k in log.superseded.items():
            superseded[categories.get_loc(name)] += k

    keep: np.ndarray | None = None
    # a purge (TensorBoard SessionLog.START) in file k discards the points of
    # files before k at steps >= its step
    sizes = [len(log.frame) for log in logs]
    ends = np.cumsum(sizes)
    for k, log in enumerate(logs):
        if log.purge_steps and k > 0:
            before = np.arange(step.size) < ends[k - 1]
            gone = before & (step >= min(log.purge_steps))
            keep = ~gone if keep is None else keep & ~gone
    if not _strictly_sorted(codes, step):
        mask = superseded_mask(codes, step)
        keep = mask if keep is None else keep & mask
    if keep is not None and not keep.all():
        superseded += np.bincount(codes[~keep], minlength=n_cat)
        idx = np.flatnonzero(keep)
        codes, step, value, wall = codes[idx], step[idx], value[idx], wall[idx]
    if not _strictly_sorted(codes, step):
        order = np.lexsort((step, codes))
        codes, step, value, wall = codes[order], step[order], value[order], wall[order]
    frame = pd.DataFrame(
        {
            schema.RUN: pd.Categorical.from_codes(
                np.zeros(step.size, dtype=np.int8), categories=schema.str_index([run])
            ),
            schema.METRIC: pd.Categorical.from_codes(codes, categories=categories),
            schema.STEP: step,
            schema.VALUE: value,
            schema.WALL_TIME: wall,
        },
        copy=False,
    )
    kinds = [log.wall_clock for log in logs]
    preference: tuple[WallClock, ...] = ("logged", "relative", "derived")
    wall_clock: WallClock = next((k for k in preference if k in kinds), "absent")
    info = RunInfo(
        run=run,
        format=fmt,
        sources=[str(log.path) for log in logs],
        wall_clock=wall_clock,
        superseded={str(categories[i]): int(c) for i, c in enumerate(superseded) if c > 0},
        skipped_lines=[s for log in logs for s in log.skipped_lines],
        warnings=[f"{log.path}: {w}" for log in logs for w in log.warnings],
        attrs={k: v for log in logs for k, v in log.attrs.items()},
    )
    return frame, info


def _strictly_sorted(codes: np.ndarray, step: np.ndarray, block: int = 1 << 16) -> bool:
    """Whether rows are sorted by metric code, steps strictly rising within a metric.

    Checked in blocks so the temporaries stay small on millions of points.
    """
    n = step.size
    for a in range(0, max(n - 1, 0), block):
        b = min(n, a + block + 1)
        dc = np.diff(codes[a:b].astype(np.int64))
        ds = np.diff(step[a:b])
        if not np.all((dc > 0) | ((dc == 0) & (ds > 0))):
            return False
    return True


def superseded_mask(codes: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Which points survive restarts (rows in file order within each metric).

    A point survives iff every later point of the same metric has a larger
    step: a later point at a step <= its own means the run went back (resumed
    from a checkpoint) and wrote that stretch again.  This is TensorBoard's
    rule (a record preempts earlier records at steps >= its own).
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
    return keep


def _segmented_exclusive_cummin(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Running minimum of the values *before* each element, within segments."""
    big = np.iinfo(np.int64).max
    seg = np.cumsum(starts) - 1
    run_min = pd.Series(values).groupby(seg).cummin().to_numpy()
    prev = np.r_[big, run_min[:-1]]
    return np.where(starts, big, prev).astype(np.int64)
