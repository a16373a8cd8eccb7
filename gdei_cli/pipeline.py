"""Analysing a whole folder (or a fleet) batch by batch: memory bounded by the batch.

:func:`analyze_paths` is what ``gdei analyze`` and ``gdei export`` call:
discovery once, then the runs in batches (a few hundred runs or a few tens of
megabytes of logs each), each batch read, assembled, indexed and judged on its
own (:func:`run_batch`), keeping only its summary rows, its runs' bookkeeping
and, when asked, its points.  The batches run one after another, over a
process pool when the input is large enough for one to pay, or as tasks on a
Dask cluster (:mod:`gdei_cli.dask_engine`); the answer is the same, row for
row, as loading everything and judging it at once (``load`` + ``analyze``).

Runs a format's ``join`` hook may merge (TensorBoard ``add_scalars``
sub-folders) stay in one batch.  Inputs given as URLs (``s3://``,
``memory://``...) are listed and sniffed through fsspec
(:mod:`gdei_cli.remote`); each batch copies its runs' files to a temporary
folder of its own, reads them with the same readers, and deletes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gdei_cli.assembly import (
    Progress,
    RunInfo,
    WorkerTally,
    assemble,
    join_runs,
    processes,
    read_all,
)
from gdei_cli.batching import (
    BATCH_BYTES,
    BATCH_RUNS,
    Batch,
    Job,
    cut,
    local_size,
    worth_a_pool,
)
from gdei_cli.discovery import SkippedFile
from gdei_cli.loader import advance_only, raise_first_problem
from gdei_cli.readers._io import DEFAULT_MAX_BYTES, release_arrow_memory
from gdei_cli.readers.registry import ReadOptions

if TYPE_CHECKING:
    import pandas as pd

    from gdei_cli.config import Config, Costs
    from gdei_cli.engine import Analysis, Judged
    from gdei_cli.loader import Dataset

Engine = Literal["local", "dask"]


@dataclass
class BatchResult:
    """A batch judged: its runs' verdicts, bookkeeping and unreadable files."""

    judged: Judged
    runs: dict[str, RunInfo]
    skipped: list[SkippedFile]
    worker: str = ""  # the cluster worker that judged it (--engine dask)


def analyze_paths(
    paths: Sequence[str | Path],
    *,
    fmt: str | None = None,
    jobs: int | None = None,
    merge_folders: bool = False,
    line_pattern: str | None = None,
    strict: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    metric: str | None = None,
    objective: str | None = None,
    config: Config | None = None,
    costs: Costs | None = None,
    keep_points: bool = False,
    points_sink: Callable[[pd.DataFrame, int], None] | None = None,
    progress: Progress | None = None,
    engine: Engine = "local",
    scheduler: object = None,
    batch_runs: int = BATCH_RUNS,
    batch_bytes: int = BATCH_BYTES,
) -> tuple[Dataset, Analysis]:
    """Find, read and judge every run under *paths* (local paths or URLs), batch by batch.

    Takes :func:`gdei_cli.load`'s reading options and
    :func:`gdei_cli.analyze`'s judging options, and returns what those two
    give, except that the dataset's ``frame`` is left empty: the points are
    not kept past their batch (only in ``Analysis.points``, with
    *keep_points*), or handed batch by batch to *points_sink* (a picklable
    callable taking a batch's per-point frame and its number, called where the
    batch is judged, e.g. :class:`gdei_cli.report.PointsParts`).  *engine*
    ``"dask"`` runs the batches on the Dask cluster at *scheduler*: an
    address, a connected ``distributed.Client`` (a managed cluster's), or
    ``None`` (a local cluster, started and stopped).  *progress* is told the
    bytes to read and each batch's bytes as it is done; with ``"dask"``, the
    tasks and each task as it finishes.
    """
    from gdei_cli import remote, schema
    from gdei_cli.engine import combine
    from gdei_cli.loader import Dataset, require_runs, stdin_staged

    paths = remote.local_paths(paths)
    if any(str(p) == "-" for p in paths):
        with stdin_staged(paths, fmt, max_bytes) as staged:
            return analyze_paths(
                staged, fmt=fmt, jobs=jobs, merge_folders=merge_folders,
                line_pattern=line_pattern, strict=strict, max_bytes=max_bytes, metric=metric,
                objective=objective, config=config, costs=costs, keep_points=keep_points,
                points_sink=points_sink, progress=progress, engine=engine, scheduler=scheduler,
                batch_runs=batch_runs, batch_bytes=batch_bytes,
            )  # fmt: skip
    options = ReadOptions(line_pattern, max_bytes)
    job = Job(options, metric, objective, config, costs, keep_points, points_sink)
    with contextlib.ExitStack() as stack:
        if engine == "dask":  # connect first: an unreachable cluster fails before listing
            from gdei_cli.dask_engine import session

            cluster = stack.enter_context(session(scheduler))
            spread = cluster.threads

            def run(batches: list[Batch]) -> Iterator[BatchResult]:
                return cluster.run(batches, job, progress)
        else:
            spread = processes(jobs)

            def run(batches: list[Batch]) -> Iterator[BatchResult]:
                return run_local(batches, job, jobs, progress)

        batches, skipped = find_batches(
            paths, fmt=fmt, merge_folders=merge_folders, options=job.options,
            batch_runs=batch_runs, batch_bytes=batch_bytes, spread=spread,
            spread_if_worth=engine != "dask",
        )  # fmt: skip
        if strict:
            raise_first_problem(skipped)
        if progress is not None:  # bytes to read; on a cluster, tasks to finish
            progress(0, len(batches) if engine == "dask" else sum(b.size for b in batches))
        parts: list[Judged] = []
        runs: dict[str, RunInfo] = {}
        workers: dict[str, WorkerTally] = {}
        for result in run(batches):
            if strict:
                raise_first_problem(result.skipped)
            parts.append(result.judged)
            runs.update(result.runs)
            skipped.extend(result.skipped)
            if result.worker:
                tally = workers.setdefault(result.worker, WorkerTally())
                tally.tasks += 1
                tally.runs += len(result.runs)
                tally.skipped += sum(s.problem for s in result.skipped)
    dataset = Dataset(
        schema.stack_runs([]), dict(sorted(runs.items())), skipped, dict(sorted(workers.items()))
    )
    require_runs(dataset, paths)
    return dataset, combine(parts, config=config, costs=costs, metric=metric)


def find_batches(
    paths: Sequence[str | Path],
    *,
    fmt: str | None = None,
    merge_folders: bool = False,
    options: ReadOptions | None = None,
    batch_runs: int = BATCH_RUNS,
    batch_bytes: int = BATCH_BYTES,
    spread: int = 1,
    spread_if_worth: bool = False,
) -> tuple[list[Batch], list[SkippedFile]]:
    """Discover the runs under *paths* and cut them into batches (URLs through fsspec;
    *spread*: the processes the batches may be shared among, see :func:`cut`)."""
    from gdei_cli import remote
    from gdei_cli.discovery import discover

    options = options or ReadOptions()
    paths = remote.local_paths(paths)
    if remote.any_url(paths):
        return remote.find_batches(
            paths, fmt=fmt, merge_folders=merge_folders, options=options,
            batch_runs=batch_runs, batch_bytes=batch_bytes, spread=spread,
            spread_if_worth=spread_if_worth,
        )  # fmt: skip
    sources, skipped = discover(paths, fmt, merge_folders=merge_folders, options=options)
    groups = cut(
        sources, local_size, batch_runs=batch_runs, batch_bytes=batch_bytes, spread=spread,
        spread_if_worth=spread_if_worth,
    )  # fmt: skip
    batches = [Batch(tuple(group), size, index=i) for i, (group, size) in enumerate(groups)]
    return batches, skipped


def run_local(
    batches: list[Batch], job: Job, jobs: int | None, progress: Progress | None
) -> Iterator[BatchResult]:
    """The batches in order: in this process, or over a process pool when there are
    several, several cores, and work enough to pay for it (one batch: its large files
    over the pool, as :func:`gdei_cli.load` reads them)."""
    advance = advance_only(progress)
    if len(batches) <= 1:
        yield from (run_batch(b, job, jobs=jobs, progress=advance) for b in batches)
        return
    workers = processes(jobs)
    runs = sum(len(b.sources) for b in batches)
    if workers <= 1 or not worth_a_pool(runs, sum(b.size for b in batches)):
        for batch in batches:
            yield run_batch(batch, job, jobs=1, progress=advance)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(workers, len(batches))) as pool:
        results = pool.map(_run_batch_alone, batches, [job] * len(batches))
        for batch, result in zip(batches, results, strict=True):
            if progress is not None:
                progress(batch.size, None)
            yield result


def _run_batch_alone(batch: Batch, job: Job) -> BatchResult:
    return run_batch(batch, job, jobs=1)


def run_batch(
    batch: Batch, job: Job, *, jobs: int | None = 1, progress: Progress | None = None
) -> BatchResult:
    """Read, assemble and judge one batch of runs (copying URL inputs in first)."""
    if batch.staging is not None:
        from gdei_cli import remote

        with remote.staged(batch, job.options.max_bytes) as (local, url_of):
            result = run_batch(local, job, jobs=jobs, progress=progress)
            result.skipped = remote.by_url(result.runs.values(), result.skipped, url_of)
            return result
    from gdei_cli.engine import Judged, judge_frame

    runs, done, unreadable = read_all(list(batch.sources), jobs, job.options, progress)
    joined = join_runs(runs)
    del runs  # assemble frees each run's raw points as it goes
    dataset = assemble(joined, unreadable, done)
    # what Arrow's pool still keeps of the batch's parse, handed back before the engine
    # allocates its own (numpy's allocator cannot reuse it)
    release_arrow_memory(batch.size)
    if not len(dataset.frame):
        return BatchResult(Judged([], [], [], {}, {}), dataset.runs, dataset.skipped_files)
    judged = judge_frame(
        dataset.frame,
        metric=job.metric,
        objective=job.objective,
        config=job.config,
        costs=job.costs,
        attrs={name: info.attrs for name, info in dataset.runs.items()},
        formats={name: info.format for name, info in dataset.runs.items()},
        keep_points=job.keep_points or job.points_sink is not None,
    )
    if job.points_sink is not None and judged.loss_points:
        from gdei_cli.engine import points_of

        job.points_sink(points_of(judged), batch.index)
        judged.loss_points, judged.objective_points = [], []
    return BatchResult(judged, dataset.runs, dataset.skipped_files)
