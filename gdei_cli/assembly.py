"""Reading runs and assembling them into the canonical frame (for every format alike).

This is the one place that

* reads a run's files (each by its format's reader; many large files with a
  process pool, order kept), assembles each run as soon as it is read unless
  its format's ``join`` hook may merge it with another, and applies the hooks;
* resolves restarts, with one rule for every format (as TensorBoard's
  rustboard does in ``reservoir.rs``): a logged point preempts every point of
  its metric logged *before* it at a step >= its own (the job went back to a
  checkpoint and wrote that stretch again), and an explicit restart marker
  (TensorBoard's ``SessionLog.START``) preempts every earlier point of every
  metric at a step >= its step, in its file and in the run's earlier files;
* builds each run's columns and stacks the runs through the canonical frame's
  one constructor (:func:`gdei_cli.schema.stack_runs`).

No format is named in this module.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gdei_cli import schema
from gdei_cli.discovery import SkippedFile
from gdei_cli.errors import GdeiError, UsageError
from gdei_cli.readers.base import Points, Purge, RawLog, SkippedLine, WallClock, no_clock, take
from gdei_cli.readers.registry import Format, ReadOptions, ReadRun, Source, detect, get

if TYPE_CHECKING:
    import pandas as pd

#: below this many bytes of logs, reading in one process beats starting a pool
POOL_MIN_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
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
class WorkerTally:
    """What one worker of a cluster did (``--engine dask``)."""

    tasks: int = 0
    runs: int = 0
    skipped: int = 0


@dataclass
class Dataset:
    """Every run read from the inputs: the canonical frame plus bookkeeping."""

    frame: pd.DataFrame
    runs: dict[str, RunInfo]
    skipped_files: list[SkippedFile] = field(default_factory=list)
    #: by worker address, when the runs were read on a cluster
    workers: dict[str, WorkerTally] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


def read_source(
    source: Source, options: ReadOptions | None = None
) -> tuple[list[RawLog], list[SkippedFile]]:
    """Read a source's files, each with its own format's reader, each on its own.

    A file that cannot be read is skipped with its reason; the rest of the run
    (and of the folder) is kept.  gdei's own errors give their message; any
    other exception is a gdei bug, said so, and still skips only that file.
    """
    options = options or ReadOptions()
    logs = []
    skipped = []
    for path in source.paths:
        try:
            if "+" in source.format:  # a merged folder: each file by its own format
                fmt, _ = detect(path, options)
                fmt = fmt or get("csv")
            else:
                fmt = get(source.format)
            logs.append(fmt.read(path, options))
        except UsageError:
            raise  # the user's options, not this file: stop
        except GdeiError as exc:
            reason = exc.message
            if exc.offset is not None and exc.line is None:
                reason += f" (byte {exc.offset})"
            if exc.hint:
                reason += f" ({exc.hint})"
            skipped.append(SkippedFile(str(path), reason, line=exc.line))
        except RecursionError:
            skipped.append(SkippedFile(str(path), "nested too deeply to read"))
        except MemoryError:
            skipped.append(SkippedFile(str(path), "out of memory while reading"))
        except Exception as exc:  # a bug in gdei: never let one file sink the folder
            name = type(exc).__name__
            skipped.append(SkippedFile(str(path), f"internal error ({name}: {exc}); please report"))
    return logs, skipped


def processes(jobs: int | None) -> int:
    """Processes to read (or judge) in: *jobs*, else one per core (at most 8)."""
    return jobs if jobs is not None else min(os.cpu_count() or 1, 8)


#: what reading one source gives: the run still to join, the runs assembled, the files skipped
Settled = tuple["ReadRun | None", list["Assembled"], list[SkippedFile]]


def read_all(
    sources: list[Source],
    jobs: int | None,
    options: ReadOptions | None = None,
    progress: Progress | None = None,
) -> tuple[list[ReadRun], list[Assembled], list[SkippedFile]]:
    """Read every source; many large files use a process pool (order is kept).

    A run that no format hook can join to another is assembled as soon as it
    is read (in the worker, with a pool), so its raw logs are freed at once
    and memory holds the runs' columns, not every file's raw points.  Returns
    the runs still to join, the runs assembled, and the files skipped.
    *progress* is told the total bytes once, then the bytes of each source as
    it is done (the library prints nothing itself).
    """
    n_files = sum(len(s.paths) for s in sources)
    sizes = [sum(_size(p) for p in s.paths) for s in sources]
    if progress is not None:
        progress(0, sum(sizes))
    workers = processes(jobs)
    runs: list[ReadRun] = []
    done: list[Assembled] = []
    skipped: list[SkippedFile] = []

    def take(results: Iterable[Settled]) -> None:
        for size, (pending, settled, bad) in zip(sizes, results, strict=True):
            skipped.extend(bad)
            done.extend(settled)
            if pending is not None:
                runs.append(pending)
            if progress is not None:
                progress(size, None)

    if workers <= 1 or n_files < 2 or sum(sizes) < POOL_MIN_BYTES:
        take(read_in_batches(sources, sizes, options))  # a pool costs more than it saves
    else:
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, len(sources) // (4 * workers))
        parts = [
            (sources[i : i + chunk], sizes[i : i + chunk]) for i in range(0, len(sources), chunk)
        ]
        read = functools.partial(_read_part, options=options)
        with ProcessPoolExecutor(max_workers=min(workers, n_files)) as pool:
            take(r for got in pool.map(read, parts) for r in got)
    return runs, done, skipped


#: files of at most this many bytes are read together by a format's ``read_many`` ...
BATCH_FILE_BYTES = 1 << 20
#: ... in batches of at most this many bytes (as fast as larger ones on 200 files of
#: 55 KB; a batch's parse is memory on top of the runs read so far: see benchmarks/)
BATCH_BYTES = 2 << 20


def read_in_batches(
    sources: list[Source], sizes: list[int], options: ReadOptions | None = None
) -> Iterator[Settled]:
    """:func:`read_and_settle` of each source, in order; consecutive small one-file
    sources of a format with ``read_many`` (see :class:`Format`) are read by one call.

    With two such batches or more, the next batch is read on a thread while this
    one's runs are assembled: Arrow parses without the interpreter's lock, and a
    batch of small CSV files alone keeps two cores a third idle (200 files of 5,000
    points: 1.1-1.3 cores busy; their load 12-14% faster, its peak 3-7 MB higher).
    Results do not depend on it: each batch is read and settled as before."""
    options = options or ReadOptions()
    steps = _batch_steps(sources, sizes)
    logs = _read_ahead([(fmt, sources[i:j]) for i, j, fmt in steps if fmt is not None], options)
    for i, j, fmt in steps:
        if fmt is None:
            yield read_and_settle(sources[i], options)
        else:
            yield from _settle_batch(sources[i:j], next(logs), options)


def _read_ahead(
    batches: list[tuple[Format, list[Source]]], options: ReadOptions
) -> Iterator[list[RawLog | None]]:
    """:func:`_read_many` of each batch, in order; with two or more, the next batch
    is read on a thread while the caller settles the one just given."""
    if len(batches) < 2:
        for fmt, batch in batches:
            yield _read_many(fmt, batch, options)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gdei-read") as ahead:
        queued = ahead.submit(_read_many, *batches[0], options)
        for nxt in range(1, len(batches) + 1):
            got = queued.result()
            if nxt < len(batches):
                queued = ahead.submit(_read_many, *batches[nxt], options)
            yield got


def _batch_steps(sources: list[Source], sizes: list[int]) -> list[tuple[int, int, Format | None]]:
    """The reads of :func:`read_in_batches`: ``(i, j, fmt)``, sources ``i:j`` read
    together by *fmt*'s ``read_many``, or (*fmt* ``None``) source ``i`` alone."""
    steps: list[tuple[int, int, Format | None]] = []
    i, n = 0, len(sources)
    while i < n:
        fmt = _batch_format(sources[i], sizes[i])
        j, total = i, 0
        while (
            j < n
            and fmt is not None
            and total + sizes[j] <= BATCH_BYTES
            and _batch_format(sources[j], sizes[j]) is fmt
        ):
            total += sizes[j]
            j += 1
        if fmt is None or fmt.read_many is None or j - i < 2:
            steps.append((i, i + 1, None))
            i += 1
        else:
            steps.append((i, j, fmt))
            i = j
    return steps


def _read_many(fmt: Format, sources: list[Source], options: ReadOptions) -> list[RawLog | None]:
    """*fmt*'s ``read_many`` of one-file *sources*; a bug in gdei (or no memory for
    the batch): ``None`` for each, read alone then."""
    assert fmt.read_many is not None
    try:
        return fmt.read_many([s.paths[0] for s in sources], options)
    except Exception:
        return [None] * len(sources)


def _settle_batch(
    sources: list[Source], logs: list[RawLog | None], options: ReadOptions
) -> Iterator[Settled]:
    """:func:`settle` of each of *sources* read into *logs* by one ``read_many`` (a file
    it left, ``None``, is read on its own), the runs of the files read assembled
    together (:func:`assembled_runs`: one pass over the batch, not one per file)."""
    settled: list[Settled | None] = []
    parts: list[list[ReadRun]] = []
    for source, log in zip(sources, logs, strict=True):
        if log is None:
            settled.append(read_and_settle(source, options))
            continue
        pending, split = _pending_or_split(source, [log])
        if pending is not None:
            settled.append((pending, [], []))  # left for the format's hook to join
        else:
            settled.append(None)  # its runs: assembled with the batch's below
            parts.append(split)
    done = iter(assembled_runs([r for split in parts for r in split], consume=True))
    per_source = iter(parts)
    for got in settled:
        yield got if got is not None else (None, [next(done) for _ in next(per_source)], [])


def _read_part(part: tuple[list[Source], list[int]], options: ReadOptions | None) -> list[Settled]:
    """:func:`read_in_batches` of a pool worker's share of the sources."""
    return list(read_in_batches(*part, options))


def _batch_format(source: Source, size: int) -> Format | None:
    """The format of *source* if it is one small file of a format with ``read_many``."""
    if len(source.paths) != 1 or size > BATCH_FILE_BYTES or "+" in source.format:
        return None
    fmt = get(source.format)
    return fmt if fmt.read_many is not None else None


@dataclass(slots=True)
class Assembled:
    """One run's columns and bookkeeping, ready to stack."""

    columns: schema.RunColumns
    info: RunInfo


def read_and_settle(source: Source, options: ReadOptions | None = None) -> Settled:
    """Read a source; assemble its runs now unless its format's hook may join them."""
    logs, skipped = read_source(source, options)
    return settle(source, logs, skipped)


def settle(source: Source, logs: list[RawLog], skipped: list[SkippedFile]) -> Settled:
    """:func:`read_and_settle` of a source whose files were read into *logs* (which are
    not used after: their points may be sorted in place, see :func:`assembled_runs`)."""
    if not logs:
        return None, [], skipped
    pending, split = _pending_or_split(source, logs)
    if pending is not None:
        return pending, [], skipped
    return None, assembled_runs(split, consume=True), skipped


def _pending_or_split(source: Source, logs: list[RawLog]) -> tuple[ReadRun | None, list[ReadRun]]:
    """The run *source*'s files were read into: left to its format's hook to join to
    others (first), or else the runs to assemble (the file's runs, or the run)."""
    kept = tuple(log.path for log in logs)
    run = ReadRun(Source(source.run, source.format, kept, source.where), logs)
    if "+" not in source.format and get(source.format).join is not None:
        return run, []
    return None, _split(run)


def assembled(run: ReadRun, *, consume: bool = False) -> Assembled:
    """One read run's columns and bookkeeping (restarts resolved, sorted); *consume*: as
    :func:`assemble_run`'s."""
    src = run.source
    names, code, step, value, wall, info = assemble_run(
        src.run, src.format, run.logs, consume=consume
    )
    return Assembled(schema.RunColumns(src.run, names, code, step, value, wall), info)


#: a progress callback: (bytes just done, total bytes or None when only advancing)
Progress = Callable[[int, int | None], None]


def _size(path: object) -> int:
    try:
        return os.stat(str(path)).st_size
    except OSError:
        return 0


def join_runs(runs: list[ReadRun]) -> list[ReadRun]:
    """Apply each format's ``join`` hook to its runs; split files holding several runs."""
    by_format: dict[str, list[ReadRun]] = {}
    for run in runs:
        by_format.setdefault(run.source.format, []).append(run)
    out: list[ReadRun] = []
    for name, members in by_format.items():
        hook = get(name).join if "+" not in name else None
        out.extend(hook(members) if hook is not None else members)
    return sorted((part for run in out for part in _split(run)), key=lambda r: r.source.run)


def _split(run: ReadRun) -> list[ReadRun]:
    """A run whose one file holds several runs (a W&B export, a ``run`` column): those runs."""
    if len(run.logs) == 1 and run.logs[0].subruns is not None:
        s = run.source
        return [
            ReadRun(Source(f"{s.run}/{sub}", s.format, s.paths, s.where), [log])
            for sub, log in run.logs[0].subruns.items()
        ]
    return [run]


# --------------------------------------------------------------------------- restarts


def superseded_mask(codes: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Which points survive restarts (rows in file order within each metric).

    A point survives iff every later point of the same metric has a larger
    step: a later point at a step <= its own means the run went back (resumed
    from a checkpoint) and wrote that stretch again.
    """
    n = step.size
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    # minimum step among *later* points of the same metric
    order = np.lexsort((-np.arange(n), codes))  # by metric, then file order reversed
    s_rev = step[order]
    c_rev = codes[order]
    starts = np.r_[True, c_rev[1:] != c_rev[:-1]]
    run_min = _running_min_per_group(s_rev, starts)
    big = np.iinfo(np.int64).max
    later_min = np.where(starts, big, np.r_[big, run_min[:-1]]).astype(np.int64)
    keep[order] = s_rev < later_min
    return keep


def _running_min_per_group(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The running minimum of int64 *values* within each group of consecutive rows
    (*starts*: where each group begins): one pass over all the groups, each shifted
    below the one before it so that none lowers the next one's minimum, when the
    shifted values fit; else group by group."""
    group = np.cumsum(starts) - 1
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if max(abs(low), abs(high)) + int(group[-1]) * span < 2**62:
        shift = group * span  # group g's values all lie below group g-1's
        shifted: np.ndarray = np.minimum.accumulate(values - shift) + shift
        return shifted
    out = np.empty_like(values)
    bounds = [*np.flatnonzero(starts).tolist(), values.size]
    for a, b in itertools.pairwise(bounds):
        np.minimum.accumulate(values[a:b], out=out[a:b])
    return out


def purged_mask(
    codes: np.ndarray, step: np.ndarray, names: list[str], purges: list[Purge]
) -> np.ndarray:
    """Which points survive explicit restart markers (positions are per metric, file order)."""
    keep = np.ones(step.size, dtype=bool)
    if not purges or step.size == 0:
        return keep
    # each point's position among its metric's points, in file order
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    first_of = np.zeros(len(names), dtype=np.int64)
    first_of[sorted_codes[starts]] = starts
    position = np.empty(step.size, dtype=np.int64)
    position[order] = np.arange(step.size) - first_of[sorted_codes]
    code_of = {n: i for i, n in enumerate(names)}
    for pstep, before in purges:
        limit = np.zeros(len(names), dtype=np.int64)
        for name, count in before.items():
            if name in code_of:
                limit[code_of[name]] = count
        keep &= ~((position < limit[codes]) & (step >= pstep))
    return keep


def assemble_run(
    run: str, fmt: str, logs: list[RawLog], *, consume: bool = False
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, RunInfo]:
    """Join one run's logs (in file order), resolve restarts, sort by metric then step.

    Returns the run's metric names (sorted), metric codes, steps, values,
    wall times, and its :class:`RunInfo`.  *consume*: the logs are not used after,
    so one log's points that need sorting are sorted into its own arrays (a
    1M-point run of interleaved metrics: 8 MB less at the load's peak).
    """
    points = [log.points for log in logs]
    names = sorted({m for p in points for m in p.metric_names})
    position = {m: i for i, m in enumerate(names)}
    parts_code, parts_step, parts_value, parts_wall = [], [], [], []
    purges: list[Purge] = []
    seen = np.zeros(len(names), dtype=np.int64)  # points per metric in earlier files
    counting = any(log.purges for log in logs[1:])  # only restart markers need them
    # codes in the smallest signed dtype that holds them (a byte a point for up to 128
    # metrics, not eight; signed, so the order check's differences of codes fit it)
    cdt = np.min_scalar_type(-max(len(names), 1))
    for log, p in zip(logs, points, strict=True):
        if not len(p):
            codes = np.zeros(0, cdt)
        elif p.metric_names == names[: len(p.metric_names)]:  # its names in sorted order
            codes = p.metric_codes.astype(cdt)
        else:
            lookup = np.array([position[c] for c in p.metric_names], dtype=cdt)
            codes = lookup[p.metric_codes]
        for pstep, before in log.purges:
            # the marker also preempts every point of the run's earlier files
            counts = {m: int(seen[i]) + before.get(m, 0) for m, i in position.items()}
            purges.append((pstep, counts))
        if counting and len(p):
            seen += np.bincount(codes, minlength=len(names))
        parts_code.append(codes)
        parts_step.append(np.asarray(p.step, dtype=np.int64))
        parts_value.append(np.asarray(p.value, dtype=np.float64))
        parts_wall.append(np.asarray(p.wall_time, dtype=np.float64))
    code = _cat(parts_code, cdt)
    step = _cat(parts_step, np.int64)
    value = _cat(parts_value, np.float64)
    wall = _cat(parts_wall, np.float64)
    keep = purged_mask(code, step, names, purges)
    order: np.ndarray | None = None
    # rows strictly in order stay so when some are dropped: checked once
    in_order = _strictly_sorted(code, step)
    grouped: tuple[np.ndarray, np.ndarray] | None = None
    if not in_order:
        # metrics interleaved row by row (the usual layout): grouped by metric in
        # file order, steps that only rise mean no restart, and that grouping is
        # already the sort the frame needs (the codes are in their smallest dtype:
        # numpy's stable sort of 8- and 16-bit integers is a radix sort)
        order = np.argsort(code, kind="stable")
        grouped = (code[order], step[order])
        if not _rises_within(*grouped):
            keep &= superseded_mask(code, step)
            order = grouped = None
    superseded = np.bincount(code[~keep], minlength=len(names))
    if not keep.all():
        idx = np.flatnonzero(keep)
        code, step, value, wall = code[idx], step[idx], value[idx], take(wall, idx)
        order = grouped = None
    if order is None and not in_order and not _strictly_sorted(code, step):
        order = np.lexsort((step, code))
    if grouped is not None and order is not None:
        # (codes and steps were taken: written back over the file's steps when they
        # are this call's to overwrite, before the values are taken)
        ours = consume or len(logs) > 1  # (several logs' arrays are joined copies)
        code, step = grouped[0], _put(step, grouped[1], ours)
        grouped = None
        value = _put(value, value[order], ours)
        wall = _put(wall, take(wall, order), ours)
    elif order is not None:
        code, step, value, wall = code[order], step[order], value[order], take(wall, order)
    dropped = {names[i]: int(c) for i, c in enumerate(superseded) if c > 0}
    return names, code, step, value, wall, _run_info(run, fmt, logs, dropped)


def _put(into: np.ndarray, got: np.ndarray, ours: bool) -> np.ndarray:
    """*got* (a gathered copy of *into*'s values), written over *into* when it may be
    (:func:`_overwritable`): one array of them held, not two; else *got*."""
    if not _overwritable(into, ours):
        return got
    into[...] = got
    return into


def _overwritable(arr: np.ndarray, ours: bool) -> bool:
    """Whether a sort may write into *arr*: *ours* (no caller uses it after), and a
    writeable array of one value per element (not Arrow's read-only memory, not a
    view of one value such as a :func:`no_clock`)."""
    return ours and arr.flags.writeable and arr.strides == (arr.itemsize,)


def _run_info(run: str, fmt: str, logs: list[RawLog], superseded: dict[str, int]) -> RunInfo:
    """The :class:`RunInfo` of a run read from *logs* (*superseded*: points dropped
    by restarts, per metric).  (Made once per run: plain loops, no generators.)"""
    kinds = {log.wall_clock for log in logs}
    clock: WallClock = "absent"
    for kind in _CLOCK_PREFERENCE:
        if kind in kinds:
            clock = kind
            break
    attrs: dict[str, str] = {}
    for log in logs:
        attrs.update(log.attrs)
    return RunInfo(
        run,
        fmt,
        [str(log.path) for log in logs],
        clock,
        superseded,
        [s for log in logs for s in log.skipped_lines],
        [f"{log.path}: {w}" for log in logs for w in log.warnings],
        attrs,
    )


#: a run's clock, of its files' (a clock any file logged beats one derived)
_CLOCK_PREFERENCE: tuple[WallClock, ...] = ("logged", "relative", "derived")


def assembled_runs(runs: list[ReadRun], *, consume: bool = False) -> list[Assembled]:
    """:func:`assembled` of each of *runs*, in order, with the same results.

    Runs read from one file each and without restart markers (the runs of a
    file split by its run column, the usual case) are assembled together:
    their points side by side, keyed by run then metric, go through the same
    steps as one run's do (:func:`assemble_run`) in whole-array passes, so
    there is no numpy call per run but the final slicing.  With *consume* (the
    runs' logs are not used after this call), a file's points that need sorting
    are sorted in place, so the load does not hold a sorted copy of them beside
    the file's (a 1M-point long CSV: 17 MB less at its peak).
    """
    together = [i for i, r in enumerate(runs) if len(r.logs) == 1 and not r.logs[0].purges]
    if len(together) < 2:
        return [assembled(r, consume=consume) for r in runs]
    out: list[Assembled | None] = [None] * len(runs)
    chosen = [runs[i] for i in together]
    for i, got in zip(together, _assembled_together(chosen, consume), strict=True):
        out[i] = got
    return [
        got if got is not None else assembled(run, consume=consume)
        for got, run in zip(out, runs, strict=True)
    ]


def _assembled_together(runs: list[ReadRun], consume: bool) -> list[Assembled]:
    """:func:`assembled_runs` of runs of one log each, none with restart markers."""
    points = [run.logs[0].points for run in runs]
    names = sorted({m for p in points for m in p.metric_names})
    position = {m: i for i, m in enumerate(names)}
    n_names = max(len(names), 1)
    cdt = np.min_scalar_type(-n_names)
    # each run's codes as codes into *names*: through one lookup when the runs list
    # the same names (a file's runs share its metric column), else run by run
    lookups: dict[tuple[str, ...], np.ndarray | None] = {}
    for p in points:
        listed = tuple(p.metric_names)
        if listed not in lookups:
            same = list(listed) == names[: len(listed)]
            lookups[listed] = None if same else np.array([position[m] for m in listed], cdt)
    whole = _side_by_side(points)
    if len(lookups) == 1:
        (lookup,) = lookups.values()
        parts = [whole.metric_codes] if whole is not None else [p.metric_codes for p in points]
        code = np.concatenate(parts) if len(parts) > 1 else parts[0]
        code = code.astype(cdt, copy=False) if lookup is None else np.take(lookup, code)
    else:
        code = np.concatenate(
            [
                p.metric_codes.astype(cdt) if (lk := lookups[tuple(p.metric_names)]) is None
                else np.take(lk, p.metric_codes)
                for p in points
            ]
        ).astype(cdt, copy=False)  # fmt: skip
    # arrays of this call's own may be sorted in place; the file's arrays only when
    # its log is not used after (*consume*)
    ours = whole is None or consume
    if whole is not None:  # the file's arrays: no copy
        step, value, wall = whole.step, whole.value, whole.wall_time
    else:
        step = np.concatenate([p.step for p in points])
        value = np.concatenate([p.value for p in points])
        constant = all(p.wall_time.strides == (0,) for p in points)
        clockless = constant and all(np.isnan(p.wall_time[:1]).all() for p in points)
        wall = no_clock(len(step)) if clockless else np.concatenate([p.wall_time for p in points])
    step = np.asarray(step, dtype=np.int64)
    value = np.asarray(value, dtype=np.float64)
    wall = np.asarray(wall, dtype=np.float64)
    sizes = np.array([len(p) for p in points], dtype=np.int64)
    listed_names = [tuple(p.metric_names) for p in points]
    del points, whole
    # the key of a point: its run, then its metric (runs are side by side, each in
    # file order: the key's groups are each run's metrics, in the order they were
    # written, as assemble_run's codes are)
    kdt = np.min_scalar_type(-(len(runs) * n_names))
    key = np.repeat(np.arange(len(runs), dtype=kdt) * kdt.type(n_names), sizes)
    key += code
    dropped = np.zeros(0, dtype=kdt)
    if not _strictly_sorted(key, step):
        starts = np.cumsum(sizes) - sizes
        code, step, value, wall, rises = _sorted_in_blocks(
            key, starts, code, step, value, wall, in_place=ours
        )
        if not rises:
            # a restart: the rows are by key now, each key's in file order, all the
            # restart rule looks at; the points it keeps rise within their key
            key.sort()  # (the rows' keys, in their new order)
            keep = superseded_mask(key, step)
            dropped = key[~keep]
            idx = np.flatnonzero(keep)
            code, step, value, wall = code[idx], step[idx], value[idx], take(wall, idx)
    del key
    # points dropped by restarts, per run and metric
    gone_keys, gone_counts = np.unique(dropped, return_counts=True)
    gone_runs, gone_codes = np.divmod(gone_keys, kdt.type(n_names))
    gone: dict[int, dict[str, int]] = {}
    for r, c, k in zip(gone_runs.tolist(), gone_codes.tolist(), gone_counts.tolist(), strict=True):
        gone.setdefault(r, {})[names[c]] = k
    kept = sizes - np.bincount(gone_runs, weights=gone_counts, minlength=len(runs)).astype(np.int64)
    bounds = np.r_[0, np.cumsum(kept)].tolist()
    # each run's own names (those its log lists, sorted) and its codes into them
    own: dict[tuple[str, ...], tuple[list[str], np.ndarray | None]] = {}
    stacked = schema.RunColumns("", names, code, step, value, wall)  # (see RunColumns.within)
    out = []
    for i, (run, listed) in enumerate(zip(runs, listed_names, strict=True)):
        if listed not in own:
            mine = sorted(set(listed))
            remap = None
            if mine != names:
                remap = np.zeros(n_names, dtype=np.min_scalar_type(-max(len(mine), 1)))
                remap[[position[m] for m in mine]] = np.arange(len(mine))
            own[listed] = (mine, remap)
        mine, remap = own[listed]
        a, b = bounds[i], bounds[i + 1]
        src = run.source
        if remap is None:  # rows a:b of the whole, under its names
            columns = schema.RunColumns(
                src.run, mine, code[a:b], step[a:b], value[a:b], wall[a:b], within=(stacked, a)
            )
        else:
            columns = schema.RunColumns(
                src.run, mine, remap[code[a:b]], step[a:b], value[a:b], wall[a:b]
            )
        out.append(Assembled(columns, _run_info(src.run, src.format, run.logs, gone.get(i, {}))))
    return out


#: points sorted at a time by :func:`_sorted_in_blocks` (whole runs, so more for a larger run)
_ORDER_BLOCK = 1 << 16


def _sorted_in_blocks(
    key: np.ndarray,
    starts: np.ndarray,
    code: np.ndarray,
    step: np.ndarray,
    value: np.ndarray,
    wall: np.ndarray,
    *,
    in_place: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """*code*, *step*, *value*, *wall* in the stable order of *key* (keys that rise from
    run to run; *starts*: where each run begins), and whether every step rises within
    its key (False: a restart, which the caller resolves on the sorted rows: a stable
    sort keeps each key's rows in file order, all the restart rule looks at).

    Sorted a block of whole runs at a time, each block's keys shifted to start at 0
    in their smallest dtype: they fit 8 or 16 bits, whose stable sort in numpy is a
    radix sort, and each block's gathers stay in the cache.  One sort of a whole
    file's keys took 3x as long (1M points of 200 runs: 19 ms against 6), and its
    order array was 8 bytes a point more at the load's peak.

    *in_place*: the arrays may be overwritten (each writeable one is: no second
    array of the points).
    """
    n = key.size
    clockless = wall.strides == (0,)  # (a no_clock view: any order of it is itself)
    # a cut at the first run to start at or after each multiple of the block (the end,
    # past the last run's start: a run longer than a block is one block of its own)
    first = np.searchsorted(starts, np.arange(0, n, _ORDER_BLOCK))
    cuts = np.unique(np.r_[starts[first[first < starts.size]], n])

    def target(arr: np.ndarray) -> np.ndarray:
        return arr if _overwritable(arr, in_place) else np.empty_like(arr)

    out = [target(code), target(step), target(value)]
    out_wall = wall if clockless else target(wall)
    rises = True
    for a, b in itertools.pairwise(cuts.tolist()):
        part = key[a:b]
        low, high = part.min(), part.max()
        narrow = (part - low).astype(np.min_scalar_type(-(int(high - low) + 1)))
        order = np.argsort(narrow, kind="stable")
        sorted_step = step[a:b][order]
        rises = rises and _rises_within(part[order], sorted_step)
        # (each block's gather is whole before it is written back: in place is safe)
        out[1][a:b] = sorted_step
        out[0][a:b] = code[a:b][order]
        out[2][a:b] = value[a:b][order]
        if not clockless:
            out_wall[a:b] = wall[a:b][order]
    return out[0], out[1], out[2], out_wall, rises


def _side_by_side(points: list[Points]) -> Points | None:
    """The points of which *points* are consecutive rows, one after another (the runs
    a file was split into: see ``Points.within``), as that slice of them; else ``None``."""
    first = points[0].within
    if first is None:
        return None
    whole, start = first
    at = start
    for p in points:
        if p.within is None or p.within[0] is not whole or p.within[1] != at:
            return None
        at += len(p)
    rows = slice(start, at)
    return Points(
        whole.metric_codes[rows],
        whole.metric_names,
        whole.step[rows],
        whole.value[rows],
        whole.wall_time[rows],
    )


def _cat(arrays: list[np.ndarray], dtype: type | np.dtype[Any]) -> np.ndarray:
    if len(arrays) == 1:
        return np.asarray(arrays[0], dtype=dtype)
    if not arrays:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(arrays).astype(dtype, copy=False)


def _rises_within(sorted_codes: np.ndarray, step: np.ndarray) -> bool:
    """:func:`_strictly_sorted` of rows whose codes are known to be sorted: every step
    that does not rise is where the code changes."""
    back = np.flatnonzero(step[1:] <= step[:-1])
    return bool((sorted_codes[back + 1] != sorted_codes[back]).all())


def _strictly_sorted(codes: np.ndarray, step: np.ndarray) -> bool:
    """Whether rows are sorted by metric code, steps strictly rising within a metric."""
    return schema.rows_in_order((codes, step), strict=True)


def assemble(
    runs: list[ReadRun], skipped: list[SkippedFile], done: list[Assembled] | None = None
) -> Dataset:
    """Every run's points through the restart rule into one canonical frame
    (*done*: runs already assembled as they were read)."""
    settled = done if done is not None else []
    for i, read_run in enumerate(runs):
        settled.append(assembled(read_run))
        runs[i] = ReadRun(read_run.source, [])  # let each run's raw points go once assembled
    settled.sort(key=lambda a: a.info.run)
    infos = {a.info.run: a.info for a in settled}
    parts = [a.columns for a in settled]
    settled.clear()  # stack_runs frees each run's columns as it copies them
    frame = schema.stack_runs(parts)
    return Dataset(frame=frame, runs=infos, skipped_files=skipped)
