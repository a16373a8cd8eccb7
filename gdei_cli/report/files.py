"""Every file gdei writes: exports, charts, the HTML report.

Every file is written atomically: to a temporary file beside the target, then
renamed over it, so a failure never leaves a half-written output; no export
may land on an input log.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import pandas as pd

from gdei_cli.engine import POINT_COLUMNS, SUMMARY_COLUMNS, Analysis
from gdei_cli.errors import UsageError
from gdei_cli.loader import Dataset
from gdei_cli.report.documents import (
    _clean,
    analysis_document,
    markdown_cell,
    safe_cell,
    write_json,
)

if TYPE_CHECKING:
    pass

SUMMARY_EXPORT_SUFFIXES: Final = (".csv", ".parquet", ".json", ".md")
POINTS_EXPORT_SUFFIXES: Final = (".csv", ".parquet")


def _file_stem(run: str, taken: set[str]) -> str:
    """A file name for a run: its path with ``/`` as ``__``, only safe characters."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._=+-]+", "_", run.replace("/", "__")).strip("._") or "run"
    stem = stem[:150]
    base, n = stem, 2
    while stem in taken:
        stem, n = f"{base}-{n}", n + 1
    taken.add(stem)
    return stem


def write_plots(
    analysis: Analysis, folder: Path, kinds: Iterable[str], dataset: Dataset | None = None
) -> list[Path]:
    """A PNG and/or SVG per run in *folder* (created), each written atomically."""
    from gdei_cli.report.plots import pictures, render_file

    kinds = list(kinds)
    folder = output_folder(Path(folder))
    written = []
    taken: set[str] = set()
    for pic in pictures(analysis):
        stem = _file_stem(pic.run, taken)
        for kind in kinds:
            data = render_file(pic, kind)
            target = folder / f"{stem}.{kind}"
            with atomic_path(target, _inputs(dataset)) as tmp:
                tmp.write_bytes(data)
            written.append(target)
    return written


def write_html_report(analysis: Analysis, output: Path, dataset: Dataset | None = None) -> None:
    """``gdei report``: one self-contained HTML page, written atomically."""
    from gdei_cli.report.plots import html_report

    if Path(output).suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"the report is HTML: name it .html, not {output}")
    page = html_report(analysis)
    with atomic_path(Path(output), _inputs(dataset)) as tmp:
        tmp.write_text(page, encoding="utf-8")


# --------------------------------------------------------------------------- files


class _Interrupted(BaseException):
    """SIGTERM/SIGHUP while an export is written: unwind, remove the temporary file."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an exception while the block runs (main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise _Interrupted(signum)

    wanted = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    old = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _file_mode(target: Path) -> int:
    """The mode an export gets: the existing file's, else what the umask allows."""
    try:
        return os.stat(target).st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def check_target(target: Path, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse to write an export onto a log, a folder, a read-only file, or nowhere."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"output folder is not writable: {folder}")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    import stat as st_mod

    if st_mod.S_ISDIR(st.st_mode):
        raise UsageError(f"{target} is a folder, not a file to write")
    if not st_mod.S_ISREG(st.st_mode):
        raise UsageError(f"{target} is not a regular file")
    for path in inputs:
        try:
            other = os.stat(path)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            raise UsageError(f"{target} is one of the logs being read; choose another output")
    if not os.access(target, os.W_OK):
        raise UsageError(f"{target} is read-only; gdei does not replace it")


@contextmanager
def atomic_path(target: Path, inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """A temporary path beside *target*; renamed over it only on success.

    The temporary file is removed on any failure, on Ctrl-C and on
    SIGTERM/SIGHUP; the result gets the file mode the umask allows (or the
    replaced file's), not ``mkstemp``'s 0600.
    """
    target = Path(target)
    check_target(target, inputs)
    folder = target.parent if str(target.parent) else Path(".")
    mode = _file_mode(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _signals_unwind():
            yield tmp_path
            os.chmod(tmp_path, mode)
            os.replace(tmp_path, target)
    except _Interrupted as exc:
        raise SystemExit(128 + exc.signum) from None
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def output_folder(folder: Path) -> Path:
    """*folder*, made if missing, for files gdei writes in it (charts, Parquet parts)."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {folder}: {exc.strerror or exc}") from None
    return folder


def _write_parquet(frame: pd.DataFrame, path: Path | BinaryIO) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns with formula-leading cells quoted (numbers are left as numbers)."""
    out = frame.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            text = out[col].astype(object)
            out[col] = text.map(lambda v: safe_cell(v) if isinstance(v, str) else v)
    return out


def _markdown(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        v = _clean(v)
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.6g}"
        return markdown_cell(str(v))

    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def _inputs(dataset: Dataset | None) -> list[str]:
    if dataset is None:
        return []
    return [src for info in dataset.runs.values() for src in info.sources]


def export_summary(analysis: Analysis, dataset: Dataset, output: Path) -> None:
    """Write the per-run summary table (csv, parquet, json or md), atomically."""
    frame = analysis.summary[list(SUMMARY_COLUMNS)].copy()
    writers: dict[str, Callable[[Path], object]] = {
        ".csv": lambda p: _csv_safe(frame).to_csv(p, index=False),
        ".parquet": lambda p: _write_parquet(frame, p),
        ".json": lambda p: _write_json_file(p, analysis_document(analysis, dataset)),
        ".md": lambda p: p.write_text(_markdown(frame)),
    }
    _write(output, writers, SUMMARY_EXPORT_SUFFIXES, _inputs(dataset))


def _write_json_file(path: Path, doc: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as out:
        write_json(doc, out)


def export_points(analysis: Analysis, output: Path, dataset: Dataset | None = None) -> None:
    """Write the per-point frame (run, metric, step, value, wall_time, smoothed, index, role)."""
    frame = analysis.points[list(POINT_COLUMNS)]
    writers: dict[str, Callable[[Path], object]] = {
        ".csv": lambda p: _csv_safe(frame).to_csv(p, index=False),
        ".parquet": lambda p: _write_parquet(frame, p),
    }
    _write(output, writers, POINTS_EXPORT_SUFFIXES, _inputs(dataset))


def points_parts(folder: str) -> PointsParts:
    """Where ``export --points`` writes one Parquet part per batch: a folder (made if
    missing) or a URL (``s3://bucket/points/``; written through fsspec, from wherever
    the batch is judged: this process, a worker process, a Dask worker)."""
    from gdei_cli import remote

    if remote.any_url([folder]):
        remote.filesystem(folder)  # an unknown protocol or a missing backend: said now
        return PointsParts(folder.rstrip("/"))
    local = output_folder(Path(str(remote.local_paths([folder])[0])))
    stale = sorted(local.glob("part-*.parquet"))
    if stale:
        raise UsageError(
            f"{local} already holds Parquet parts ({stale[0].name}...); choose an empty folder"
        )
    return PointsParts(str(local))


@dataclass(frozen=True)
class PointsParts:
    """Writes a batch's points as ``part-NNNNN.parquet`` (NNNNN: the batch's number) in
    ``folder``: atomically on a local disk, in one upload on object storage."""

    folder: str

    def __call__(self, frame: pd.DataFrame, index: int) -> None:
        from gdei_cli import remote

        name = f"part-{index:05d}.parquet"
        points = frame[list(POINT_COLUMNS)]
        if remote.is_url(self.folder):
            fs, path = remote.filesystem(f"{self.folder}/{name}")
            with fs.open(path, "wb") as out:
                _write_parquet(points, out)
            return
        with atomic_path(Path(self.folder) / name) as tmp:
            _write_parquet(points, tmp)


def _write(
    output: Path,
    writers: dict[str, Callable[[Path], object]],
    allowed: tuple[str, ...],
    inputs: Iterable[str | Path] = (),
) -> None:
    suffix = Path(output).suffix.lower()
    if suffix not in writers:
        raise UsageError(
            f"cannot tell the export format of {output}: use one of {', '.join(allowed)}"
        )
    with atomic_path(Path(output), inputs) as tmp:
        writers[suffix](tmp)
