"""Loading run folders: discovery, then reading and assembly, for every format alike.

:func:`load` is the library's entry point: :mod:`gdei_cli.discovery` finds
the runs under the inputs, :mod:`gdei_cli.assembly` reads them, resolves
restarts and builds the canonical frame.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from gdei_cli.assembly import (
    Dataset,
    Progress,
    RunInfo,
    assemble,
    assembled,
    join_runs,
    read_all,
    superseded_mask,
)
from gdei_cli.discovery import SkippedFile, discover
from gdei_cli.errors import InputError
from gdei_cli.readers._io import DEFAULT_MAX_BYTES
from gdei_cli.readers.registry import ReadOptions

__all__ = [
    "Dataset",
    "RunInfo",
    "SkippedFile",
    "discover",
    "load",
    "require_runs",
    "superseded_mask",
]


def load(
    paths: Sequence[str | Path],
    *,
    fmt: str | None = None,
    jobs: int | None = None,
    merge_folders: bool = False,
    line_pattern: str | None = None,
    strict: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
) -> Dataset:
    """Read every run under *paths* into one canonical :class:`Dataset`.

    *fmt* forces one input format for every file; *merge_folders* makes every
    log in one folder one run; *line_pattern* is a regex with named groups
    (``step`` and one per metric) for plain-text logs.  A file that cannot be
    read is listed in ``skipped_files`` and the rest is loaded; with *strict*,
    the first such file raises its :class:`~gdei_cli.errors.InputError`.
    A path ``-`` is standard input (with *fmt*), read as a run named ``stdin``.
    *max_bytes* is the most a file may hold after decompression (a line: a
    256th of it); a larger file is skipped with its reason.  *progress*, if
    given, is called with the total bytes to read, then with each run's bytes
    as it is read (:data:`gdei_cli.assembly.Progress`).
    """
    options = ReadOptions(line_pattern=line_pattern, max_bytes=max_bytes)
    if any(str(p) == "-" for p in paths):
        with stdin_staged(paths, fmt, max_bytes) as staged:
            return load(
                staged,
                fmt=fmt,
                jobs=jobs,
                merge_folders=merge_folders,
                line_pattern=line_pattern,
                strict=strict,
                max_bytes=max_bytes,
                progress=progress,
            )
    from gdei_cli import remote

    paths = remote.local_paths(paths)
    if remote.any_url(paths):
        return _load_urls(paths, fmt, jobs, merge_folders, strict, options, progress)
    sources, skipped = discover(paths, fmt, merge_folders=merge_folders, options=options)
    runs, done, unreadable = read_all(sources, jobs, options, progress)
    if strict:
        raise_first_problem(skipped + unreadable)
    joined = join_runs(runs)
    del runs  # assemble frees each run's raw points as it goes: hold no other reference
    return assemble(joined, skipped + unreadable, done)


def _load_urls(
    paths: Sequence[str | Path],
    fmt: str | None,
    jobs: int | None,
    merge_folders: bool,
    strict: bool,
    options: ReadOptions,
    progress: Progress | None,
) -> Dataset:
    """:func:`load` of URL inputs: batch by batch, each copied in, read, and deleted
    (see :mod:`gdei_cli.remote`); files are named by their URLs."""
    from gdei_cli import remote
    from gdei_cli.batching import BATCH_BYTES, BATCH_RUNS

    batches, skipped = remote.find_batches(
        paths, fmt=fmt, merge_folders=merge_folders, options=options,
        batch_runs=BATCH_RUNS, batch_bytes=BATCH_BYTES,
    )  # fmt: skip
    if progress is not None:
        progress(0, sum(b.size for b in batches))
    advance = advance_only(progress)
    settled = []
    for batch in batches:
        with remote.staged(batch, options.max_bytes) as (local, url_of):
            runs, done, unreadable = read_all(list(local.sources), jobs, options, advance)
            done.extend(assembled(run) for run in join_runs(runs))
            skipped.extend(remote.by_url([a.info for a in done], unreadable, url_of))
            settled.extend(done)
    if strict:
        raise_first_problem(skipped)
    return assemble([], skipped, settled)


def raise_first_problem(skipped: Sequence[SkippedFile]) -> None:
    """``--strict``: the first file that should have been readable and was not, as an error."""
    bad = next((s for s in skipped if s.problem), None)
    if bad is not None:
        raise InputError(bad.reason, path=bad.path, line=bad.line)


def advance_only(progress: Progress | None) -> Progress | None:
    """*progress* without the totals its callers announce (the total is said once)."""
    if progress is None:
        return None
    return lambda done, total: progress(done, None) if total is None else None


def require_runs(dataset: Dataset, paths: Sequence[str | Path]) -> None:
    """Raise gdei's input error when *dataset* holds no run: the one file named
    gets its own reason; a folder says how many files were skipped and why."""
    if dataset.runs:
        return
    skipped = dataset.skipped_files
    if len(paths) == 1 and not _is_folder(paths[0]) and len(skipped) == 1:
        only = skipped[0]
        raise InputError(only.reason, path=only.path, line=only.line)
    bad = [s for s in skipped if s.problem]
    why = f"{len(bad)} could not be read" if bad else "none is a log gdei reads"
    raise InputError(
        "no training logs found in " + ", ".join(str(p) for p in paths),
        hint=f"{len(skipped)} file(s) skipped, {why}; see gdei inspect",
    )


@contextlib.contextmanager
def stdin_staged(
    paths: Sequence[str | Path], fmt: str | None, max_bytes: int
) -> Iterator[list[str | Path]]:
    """*paths* with ``-`` replaced by a temporary copy of standard input (the readers
    take files), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="gdei-stdin-") as tmp:
        yield [_stdin_to(Path(tmp), fmt, max_bytes) if str(p) == "-" else p for p in paths]


def _is_folder(path: str | Path) -> bool:
    from gdei_cli import remote

    return remote.is_folder(str(path)) if remote.is_url(str(path)) else Path(path).is_dir()


def _stdin_to(folder: Path, fmt: str | None, max_bytes: int) -> Path:
    """Copy standard input (at most *max_bytes*) to ``folder/stdin``: the readers take files."""
    import sys

    from gdei_cli.errors import UsageError

    if fmt is None:
        raise UsageError("reading standard input ('-') needs --input-format NAME")
    path = folder / "stdin"
    got = 0
    with path.open("wb") as out:
        while chunk := sys.stdin.buffer.read(1 << 20):
            got += len(chunk)
            if got > max_bytes:
                raise InputError("standard input is larger than --max-file-size", path="-")
            out.write(chunk)
    return path
