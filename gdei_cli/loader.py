"""Loading run folders: discovery, then reading and assembly, for every format alike.

:func:`load` is the library's entry point: :mod:`gdei_cli.discovery` finds
the runs under the inputs, :mod:`gdei_cli.assembly` reads them, resolves
restarts and builds the canonical frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gdei_cli.assembly import (
    Dataset,
    RunInfo,
    assemble,
    join_runs,
    read_all,
    superseded_mask,
)
from gdei_cli.discovery import SkippedFile, discover
from gdei_cli.readers.registry import ReadOptions

__all__ = [
    "Dataset",
    "RunInfo",
    "SkippedFile",
    "discover",
    "load",
    "superseded_mask",
]


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
    options = ReadOptions(line_pattern=line_pattern)
    sources, skipped = discover(paths, fmt, merge_folders=merge_folders, options=options)
    runs = join_runs(read_all(sources, jobs, options))
    return assemble(runs, skipped)
