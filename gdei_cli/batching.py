"""Cutting a folder's runs into batches, and what every batch is judged with.

A batch is a few hundred runs (or a few tens of megabytes of logs) that are
read, assembled and judged together by :func:`gdei_cli.pipeline.run_batch`,
in this process, a worker process or a Dask task: :class:`Job` and
:class:`Batch` are plain picklable records.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gdei_cli.readers.registry import ReadOptions, Source, get

if TYPE_CHECKING:
    import pandas as pd

    from gdei_cli.config import Config, Costs

#: a batch holds at most this many runs ...
BATCH_RUNS: Final = 256
#: ... and at most this many bytes of logs (a larger run is a batch of its own)
BATCH_BYTES: Final = 64 * 1024 * 1024
#: spread over several processes, batches shrink to give each about four, down to this
MIN_SPREAD_RUNS: Final = 32
#: a process pool pays from this many runs ...
POOL_MIN_RUNS: Final = 400
#: ... or this many bytes of logs
POOL_MIN_BYTES: Final = 32 * 1024 * 1024


@dataclass(frozen=True)
class Job:
    """How every batch is read and judged (sent as is to worker processes and Dask tasks)."""

    options: ReadOptions = field(default_factory=ReadOptions)
    metric: str | None = None
    objective: str | None = None
    config: Config | None = None
    costs: Costs | None = None
    keep_points: bool = False
    #: called with each batch's per-point frame and the batch's number, where the
    #: batch is judged (a picklable callable: it may run in a worker); the points
    #: are then not returned
    points_sink: Callable[[pd.DataFrame, int], None] | None = None


@dataclass(frozen=True)
class Batch:
    """Runs to read and judge together, with their bytes (and, for URLs, what to copy)."""

    sources: tuple[Source, ...]
    size: int
    staging: Staging | None = None
    index: int = 0  # its place among the batches (names its Parquet part)


@dataclass(frozen=True)
class Staging:
    """What a batch of runs read from URLs copies first: for each file (logs and side
    files alike), its path on the filesystem *fs*, its path under the batch's own
    folder, and the URL that names it."""

    fs: Any
    files: tuple[tuple[str, str, str], ...]


def cut(
    sources: list[Source],
    size_of: Callable[[Path], int],
    *,
    batch_runs: int = BATCH_RUNS,
    batch_bytes: int = BATCH_BYTES,
    spread: int = 1,
    spread_if_worth: bool = False,
) -> Iterator[tuple[list[Source], int]]:
    """Consecutive batches of at most *batch_runs* runs and *batch_bytes* bytes; runs a
    format's ``join`` hook may merge (a run folder and its sub-folders) never part.
    With *spread* processes to keep busy, a batch is small enough that each gets
    about four (but not below :data:`MIN_SPREAD_RUNS` runs); with *spread_if_worth*,
    only when the work is :func:`worth_a_pool` (the local engine starts one only then)."""
    families = _families(sources)
    sizes = [sum(size_of(p) for s in family for p in s.paths) for family in families]
    if spread > 1 and (not spread_if_worth or worth_a_pool(len(sources), sum(sizes))):
        share = -(-len(sources) // (4 * spread))
        batch_runs = min(batch_runs, max(MIN_SPREAD_RUNS, share))
    here: list[Source] = []
    here_bytes = 0
    for family, size in zip(families, sizes, strict=True):
        if here and (len(here) + len(family) > batch_runs or here_bytes + size > batch_bytes):
            yield here, here_bytes
            here, here_bytes = [], 0
        here.extend(family)
        here_bytes += size
    if here:
        yield here, here_bytes


def worth_a_pool(runs: int, size: int) -> bool:
    """Whether judging this much is worth starting processes for (measured on 2 cores:
    200 runs of 1,000 points are faster in one process, 800 in two)."""
    return runs >= POOL_MIN_RUNS or size >= POOL_MIN_BYTES


def _families(sources: list[Source]) -> list[list[Source]]:
    """Sources in order, those a ``join`` hook may merge grouped under their top folder."""
    joinable = {
        os.path.realpath(s.where): i
        for i, s in enumerate(sources)
        if "+" not in s.format and get(s.format).join is not None
    }
    head = list(range(len(sources)))
    for folder, i in joinable.items():
        for parent in Path(folder).parents:
            j = joinable.get(str(parent))
            if j is not None:
                head[i] = j  # an ancestor run: provisional, resolved below
    families: dict[int, list[Source]] = {}
    for i, s in enumerate(sources):
        top = i
        while head[top] != top:
            top = head[top]
        families.setdefault(top, []).append(s)
    return list(families.values())


def local_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
