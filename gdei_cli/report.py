"""Everything gdei shows or writes: rich tables, JSON documents, exported files.

The only module that imports rich (lazily, so ``gdei --help`` stays fast) and
the only one that writes files.  Every file is written atomically: to a
temporary file beside the target, then renamed over it, so a failure never
leaves a half-written output.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import textwrap
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from gdei_cli import __version__, schema
from gdei_cli.engine import POINT_COLUMNS, SUMMARY_COLUMNS, Analysis, totals
from gdei_cli.errors import UsageError
from gdei_cli.loader import Dataset
from gdei_cli.safe_text import printable

if TYPE_CHECKING:
    from rich.console import Console

    from gdei_cli.assembly import Progress

#: version of the JSON documents ``--format json`` prints; bumped on any
#: incompatible change (removed or renamed key, changed meaning).  2: the
#: objective, the hindsight rule, reasons and framework evidence
SCHEMA_VERSION: Final = 2

SUMMARY_EXPORT_SUFFIXES: Final = (".csv", ".parquet", ".json", ".md")
POINTS_EXPORT_SUFFIXES: Final = (".csv", ".parquet")


# --------------------------------------------------------------------------- plain values


def _clean(value: Any) -> Any:
    """A JSON-ready value: NaN/inf/NA become null, numpy scalars plain Python."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def summary_records(summary: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(summary.columns)
    return [
        {c: _clean(v) for c, v in zip(cols, row, strict=True)}
        for row in summary.itertuples(index=False, name=None)
    ]


def analysis_document(analysis: Analysis, dataset: Dataset) -> dict[str, Any]:
    """The ``gdei analyze --format json`` document (schema version 2).

    Keys: ``schema_version``, ``tool``, ``version``, ``config``, ``runs`` (one
    object per run with the summary columns), ``totals``, ``skipped`` (files
    passed over, with reasons) and ``warnings``.
    """
    cfg = analysis.config
    runs = summary_records(analysis.summary)
    for rec in runs:
        info = dataset.runs.get(rec["run"])
        rec["wall_clock"] = info.wall_clock if info else None
        rec["superseded_points"] = (
            info.superseded.get(rec["metric"], 0) if info and rec["metric"] else 0
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "gdei",
        "version": __version__,
        "config": {
            "rule": str(cfg.rule),
            "tolerance": cfg.tolerance,
            "end_window_pct": cfg.end_window,
            "efficient_waste_pct": cfg.efficient_waste,
            "mode": str(cfg.mode),
            "smoothing": "auto" if cfg.smoothing is None else cfg.smoothing,
            "window": str(cfg.window),
            "warmup": str(cfg.warmup),
            "threshold": cfg.threshold,
            "gpus": analysis.costs.gpus,
            "gpu_hour_cost": analysis.costs.gpu_hour_cost,
            "seconds_per_step": analysis.costs.seconds_per_step,
        },
        "runs": runs,
        "totals": {k: _clean(v) for k, v in totals(analysis.summary).items()},
        "skipped": skipped_records(dataset),
        "warnings": [w for info in dataset.runs.values() for w in info.warnings],
    }


def inspect_document(dataset: Dataset) -> dict[str, Any]:
    """The ``gdei inspect --format json`` document (same schema version)."""
    frame = dataset.frame
    stats = (
        frame.groupby([schema.RUN, schema.METRIC], observed=True)[schema.STEP]
        .agg(points="size", first_step="min", last_step="max")
        .reset_index()
    )
    by_run: dict[str, list[dict[str, Any]]] = {}
    for run, metric, points, first, last in zip(
        stats[schema.RUN].astype(str),
        stats[schema.METRIC].astype(str),
        stats["points"].to_numpy(dtype=np.int64),
        stats["first_step"].to_numpy(dtype=np.int64),
        stats["last_step"].to_numpy(dtype=np.int64),
        strict=True,
    ):
        by_run.setdefault(run, []).append(
            {
                "metric": metric,
                "points": int(points),
                "first_step": int(first),
                "last_step": int(last),
            }
        )
    runs = []
    for name, info in dataset.runs.items():
        metrics = by_run.get(name, [])
        for m in metrics:
            m["superseded"] = info.superseded.get(m["metric"], 0)
        runs.append(
            {
                "run": name,
                "format": info.format,
                "sources": info.sources,
                "wall_time": info.wall_clock,
                "attrs": info.attrs,
                "metrics": metrics,
                "skipped_lines": [
                    {"line": s.line, "offset": s.offset, "reason": s.reason}
                    for s in info.skipped_lines
                ],
                "warnings": info.warnings,
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "gdei",
        "version": __version__,
        "runs": runs,
        "skipped": skipped_records(dataset),
    }


def skipped_records(dataset: Dataset) -> list[dict[str, Any]]:
    """Files passed over: path, reason, and whether it is a problem (not just not a log)."""
    return [
        {"path": s.path, "line": s.line, "reason": s.reason, "problem": s.problem}
        for s in dataset.skipped_files
    ]


def problems(dataset: Dataset) -> list[Any]:
    """The skipped files that should have been readable."""
    return [s for s in dataset.skipped_files if s.problem]


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, allow_nan=False)


# --------------------------------------------------------------------------- rich


def make_console(
    file: IO[str] | None = None, *, stderr: bool = False, width: int | None = None
) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 here; the CLI ends quietly with the result's own code
            raise BrokenPipeError

    return _Console(file=file, stderr=stderr, highlight=False, soft_wrap=False, width=width)


def _fmt_int(v: Any) -> str:
    return (
        "—"
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
        else f"{int(v):,}"
    )


def _fmt_pct(v: Any, signed: bool = False) -> str:
    if v is None or v is pd.NA or not math.isfinite(float(v)):
        return "—"
    return f"{float(v):+.1f}%" if signed else f"{float(v):.1f}%"


def fmt_duration(seconds: Any) -> str:
    if seconds is None or seconds is pd.NA or not math.isfinite(float(seconds)):
        return "—"
    s = float(seconds)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s / 60:.0f}m"
    if s < 86400:
        return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"
    return f"{s / 86400:.1f}d"


_VERDICT_STYLE: Final = {
    "wasteful": "bold red",
    "over-fitting": "bold red",
    "efficient": "green",
    "still improving": "cyan",
    "diverged": "bold magenta",
    "index undefined": "yellow",
    "no metric": "yellow",
}


#: the numbers line of a run: (header, width, record key or formatter)
_NUMBER_COLUMNS: Final = (
    ("stop", 9),
    ("best", 9),
    ("of", 9),
    ("waste", 6),
    ("saved", 7),
    ("forgone", 7),
)


def number_cells(rec: dict[str, Any], has_cost: bool) -> list[str]:
    saved = fmt_duration(rec["wall_saved_s"])
    if has_cost and rec["cost_saved"] is not None:
        saved = f"${rec['cost_saved']:,.2f}"
    return [
        _fmt_int(rec["stop_step"]),
        _fmt_int(rec["best_step"]),
        _fmt_int(rec["last_step"]),
        _fmt_pct(rec["waste_pct"]),
        saved,
        _fmt_pct(rec["forgone_pct"]),
    ]


#: narrower than this, a run's numbers are labelled and wrapped instead of columns
WIDE: Final = 72
_VERDICT_WIDTH: Final = 16


def render_analysis(
    analysis: Analysis, dataset: Dataset, console: Console, *, quiet: bool = False
) -> None:
    """The default ``gdei analyze`` output, readable at any width.

    Each run is a block: its full name on a line of its own (never broken by
    gdei, so it can be copied whole), then its verdict and numbers, then why
    (wrapped).  At 72 columns and more the numbers sit in columns under one
    header; narrower, each number is labelled and the line wraps.  The verdict
    is never truncated.  Then totals, the legend and the notes (not with
    *quiet*).
    """
    from rich.text import Text

    s = analysis.summary
    has_cost = bool(s["cost_saved"].notna().any())
    wide = console.width >= WIDE
    console.print(Text("Where each run should have stopped", style="bold"))
    if wide:
        head = "  " + f"{'verdict':<{_VERDICT_WIDTH}}"
        head += " ".join(f"{title:>{width}}" for title, width in _NUMBER_COLUMNS)
        console.print(Text(head), style="dim", overflow="ellipsis", no_wrap=True)
    console.print(Text("─" * max(20, min(console.width, 78))), style="dim")
    for rec in summary_records(s):
        name = Text(printable(rec["run"]), style="bold")
        name.append(f"  · {printable(rec['objective'] or '—')}", style="dim")
        console.print(name, soft_wrap=True)
        verdict = rec["verdict"]
        style = _VERDICT_STYLE.get(verdict, "")
        cells = number_cells(rec, has_cost)
        if wide:
            line = Text("  ")
            line.append(f"{verdict:<{_VERDICT_WIDTH}}", style=style)
            line.append(
                " ".join(
                    f"{cell:>{width}}"
                    for (_, width), cell in zip(_NUMBER_COLUMNS, cells, strict=True)
                )
            )
            console.print(line, no_wrap=True, overflow="ignore")
        else:
            console.print(Text("  ").append(verdict, style=style), soft_wrap=True)
            labelled = "   ".join(  # a no-break space keeps each label with its number
                f"{title}\u00a0{cell}"
                for (title, _), cell in zip(_NUMBER_COLUMNS, cells, strict=True)
            )
            for part in textwrap.wrap(labelled, width=max(20, console.width - 4)):
                console.print(Text("    " + part.replace("\u00a0", " ")), no_wrap=True)
        reason = rec["reason"] or ""
        if rec["cut_short"] and verdict == "still improving":
            reason = "(cut short) " + reason
        if rec.get("note"):
            reason += f" ({rec['note']})"
        for part in textwrap.wrap(printable(reason), width=max(20, console.width - 4)):
            console.print(Text("    " + part, style="dim"), overflow="fold")
    console.print()
    t = totals(s)
    line_text = (
        f"Total: {t['analysed']} of {t['runs']} run(s) analysed; {t['steps_saved']:,} steps wasted"
    )
    if t["waste_pct"] is not None:
        line_text += f" ({t['waste_pct']:.1f}% of all steps)"
    if t["wall_saved_s"] is not None:
        line_text += f", {fmt_duration(t['wall_saved_s'])} wall-clock"
    if t["gpu_hours_saved"] is not None:
        line_text += f", {t['gpu_hours_saved']:,.1f} GPU-hours"
    if t["cost_saved"] is not None:
        line_text += f", ${t['cost_saved']:,.2f}"
    bad = problems(dataset)
    if bad:
        where = "run without --quiet to list them" if quiet else "listed below"
        line_text += f"; {len(bad)} file(s) could not be read ({where})"
    console.print(line_text + ".")
    cfg = analysis.config
    rule = (
        f"the first step within {cfg.tolerance:g} index points of the objective's best"
        if str(cfg.rule) == "hindsight"
        else f"live rule: index gain < {cfg.threshold:g} over {cfg.window} of the run"
    )
    if quiet:
        return
    console.print(
        f"stop: where training should have stopped ({rule}); best: the objective's best step; "
        "saved: wall-clock (or money, with --gpu-hour-cost) after the stop; forgone: share of "
        "the run's total improvement given up by stopping there.",
        style="dim",
    )
    for note in _notes(analysis, dataset):
        console.print(Text("• " + printable(note)), soft_wrap=True)


def _notes(analysis: Analysis, dataset: Dataset) -> list[str]:
    out: list[str] = []
    for rec in summary_records(analysis.summary):
        run = rec["run"]
        info = dataset.runs.get(run)
        if info is not None:
            sup = info.superseded.get(rec["metric"] or "", 0)
            if sup:
                out.append(f"{run}: {sup} point(s) superseded by a restart from a checkpoint")
            if info.skipped_lines:
                out.append(f"{run}: {len(info.skipped_lines)} line(s) skipped (see gdei inspect)")
    bad = problems(dataset)
    for s in bad[:20]:
        out.append(f"skipped {s.where()}: {s.reason}")
    if len(bad) > 20:
        out.append(f"... and {len(bad) - 20} more file(s) that could not be read")
    others = len(dataset.skipped_files) - len(bad)
    if others:
        out.append(f"{others} file(s) not recognised as logs were skipped")
    return out


#: metrics listed per run by ``gdei inspect`` in a terminal (JSON lists all)
INSPECT_MAX_METRICS: Final = 200


def render_inspect(dataset: Dataset, console: Console) -> None:
    """``gdei inspect``: each run's sources, attributes, metrics, skipped lines, warnings."""
    from rich.table import Table
    from rich.text import Text

    def say(text: str, style: str = "") -> None:
        console.print(Text(printable(text), style=style), soft_wrap=True)

    doc = inspect_document(dataset)
    for run in doc["runs"]:
        head = Text(printable(run["run"]), style="bold")
        head.append(f"  ({run['format']}, wall-clock: {run['wall_time']})")
        console.print(head, soft_wrap=True)
        for src in run["sources"]:
            say(f"  source: {src}")
        for k, v in run["attrs"].items():
            say(f"  {k}: {v}")
        table = Table(box=None, pad_edge=False, padding=(0, 1))
        table.add_column("  metric", overflow="fold")
        table.add_column("points", justify="right")
        table.add_column("steps", justify="right")
        table.add_column("superseded", justify="right")
        metrics = run["metrics"]
        for m in metrics[:INSPECT_MAX_METRICS]:
            table.add_row(
                Text("  " + printable(m["metric"])),
                f"{m['points']:,}",
                f"{m['first_step']:,}..{m['last_step']:,}",
                f"{m['superseded']:,}",
            )
        console.print(table)
        if len(metrics) > INSPECT_MAX_METRICS:
            say(
                f"  ... and {len(metrics) - INSPECT_MAX_METRICS:,} more metrics "
                "(gdei inspect --format json lists them all)",
                "dim",
            )
        for sk in run["skipped_lines"]:
            where = f"line {sk['line']}" if sk["line"] is not None else f"byte {sk['offset']}"
            say(f"  skipped {where}: {sk['reason']}")
        for w in run["warnings"]:
            say(f"  warning: {w}")
    if doc["skipped"]:
        say(f"Skipped {len(doc['skipped'])} file(s):")
        for s in doc["skipped"]:
            where = s["path"] + (f":{s['line']}" if s["line"] is not None else "")
            say(f"  {where}: {s['reason']}")


# --------------------------------------------------------------------------- progress

#: reading less than this shows no progress bar (it would only flicker)
PROGRESS_MIN_BYTES: Final = 32 << 20


@contextmanager
def progress_bar(enabled: bool, console: Console | None = None) -> Iterator[Progress | None]:
    """A progress callback for :func:`gdei_cli.load` drawing a bar on stderr, or
    ``None`` when *enabled* is false; the bar appears only for reads of 32 MB or
    more and is removed when done."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("reading logs"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console or make_console(stderr=True),
        transient=True,
    )
    task: list[Any] = []

    def update(done: int, total: int | None) -> None:
        if total is not None:
            if total >= PROGRESS_MIN_BYTES:
                task.append(bar.add_task("read", total=total))
                bar.start()
        elif task:
            bar.advance(task[0], done)

    try:
        yield update
    finally:
        bar.stop()


# --------------------------------------------------------------------------- pictures


def render_charts(analysis: Analysis, console: Console) -> None:
    """``analyze --plot``: a text chart per run (plain ASCII when not on a colour terminal)."""
    from rich.text import Text

    from gdei_cli.plots import pictures, text_chart

    plain = not console.is_terminal or console.no_color
    for pic in pictures(analysis):
        console.print()
        for line in text_chart(pic, width=console.width, plain=plain):
            console.print(Text(line), no_wrap=True, overflow="ignore")


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
    from gdei_cli.plots import pictures, render_file

    kinds = list(kinds)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {folder}: {exc.strerror or exc}") from None
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
    from gdei_cli.plots import html_report

    if Path(output).suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"the report is HTML: name it .html, not {output}")
    page = html_report(analysis)
    with atomic_path(Path(output), _inputs(dataset)) as tmp:
        tmp.write_text(page, encoding="utf-8")


# --------------------------------------------------------------------------- GitHub Actions

#: GitHub refuses a job summary over 1 MiB; gdei stays well under it
STEP_SUMMARY_LIMIT: Final = 1000 * 1024
#: verdicts that deserve an annotation of their own
_NOTABLE: Final = ("wasteful", "over-fitting", "diverged")


def _gh_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    """A workflow command's property value (``file=``, ``title=``), escaped."""
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def _gh_command(kind: str, message: str, **props: str | int | None) -> str:
    fields = ",".join(f"{k}={_gh_property(str(v))}" for k, v in props.items() if v is not None)
    return f"::{kind}{' ' + fields if fields else ''}::{_gh_data(message)}"


def _relative(path: str) -> str:
    """A path as GitHub links it: relative to the working directory (the checkout)."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def github_annotations(analysis: Analysis, dataset: Dataset, over: Iterable[str] = ()) -> list[str]:
    """GitHub Actions workflow commands: an ``::error`` per run over ``--max-waste``, a
    ``::warning`` per wasteful, over-fitting or diverged run and per unreadable file,
    and a ``::notice`` with the totals."""
    failing = set(over)
    lines = []
    for rec in summary_records(analysis.summary):
        run, verdict = rec["run"], rec["verdict"]
        if run not in failing and verdict not in _NOTABLE:
            continue
        info = dataset.runs.get(run)
        source = _relative(info.sources[0]) if info and info.sources else None
        waste = _fmt_pct(rec["waste_pct"])
        title = f"gdei: {verdict}, {waste} of the steps wasted"
        message = f"{run}: {rec['reason']}"
        lines.append(
            _gh_command("error" if run in failing else "warning", message, file=source, title=title)
        )
    for s in problems(dataset):
        lines.append(
            _gh_command("warning", f"gdei could not read it: {s.reason}", file=_relative(s.path),
                        line=s.line, title="gdei: file skipped")
        )  # fmt: skip
    t = totals(analysis.summary)
    total = f"{t['analysed']} of {t['runs']} run(s) analysed; {t['steps_saved']:,} steps wasted"
    if t["waste_pct"] is not None:
        total += f" ({t['waste_pct']:.1f}% of all steps)"
    lines.append(_gh_command("notice", total, title="gdei"))
    return lines


def step_summary(analysis: Analysis, dataset: Dataset, limit: int = STEP_SUMMARY_LIMIT) -> str:
    """The job summary in Markdown: totals, then one row per run (cut to stay under *limit*)."""
    t = totals(analysis.summary)
    head = [
        "## gdei: where each run should have stopped",
        "",
        f"{t['analysed']} of {t['runs']} run(s) analysed; {t['steps_saved']:,} steps wasted"
        + (f" ({t['waste_pct']:.1f}% of all steps)" if t["waste_pct"] is not None else "")
        + (f"; {len(problems(dataset))} file(s) could not be read" if problems(dataset) else "")
        + ".",
        "",
        "| run | verdict | stop | best | of | waste | saved |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]

    def cell(text: Any) -> str:
        return " ".join(safe_cell(str(text)).replace("\\", "\\\\").replace("|", "\\|").split())

    has_cost = bool(analysis.summary["cost_saved"].notna().any())
    body = []
    for rec in summary_records(analysis.summary):
        stop, best, last, waste, saved, _ = number_cells(rec, has_cost)
        body.append(
            f"| {cell(rec['run'])} | {cell(rec['verdict'])} | {stop} | {best} | {last} | "
            f"{waste} | {saved} |"
        )
    text = "\n".join(head) + "\n"
    size = len(text.encode())
    for i, row in enumerate(body):
        row_size = len(row.encode()) + 1
        if size + row_size + 200 > limit:
            text += f"\n{len(body) - i:,} more run(s) left out to stay under GitHub's size limit.\n"
            break
        text += row + "\n"
        size += row_size
    return text


def append_step_summary(path: Path, text: str) -> None:
    """Append *text* to ``$GITHUB_STEP_SUMMARY`` (the runner's file; appended, as GitHub asks)."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write the job summary {path}: {exc.strerror or exc}") from None


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


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


#: first characters that make a spreadsheet read a cell as a formula
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A text cell a spreadsheet will not run: formula-leading text gets a leading quote."""
    return "'" + text if text.startswith(_FORMULA_START) else text


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
        text = safe_cell(str(v)).replace("\\", "\\\\").replace("|", "\\|")
        return " ".join(text.splitlines())

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
        ".json": lambda p: p.write_text(dumps(analysis_document(analysis, dataset)) + "\n"),
        ".md": lambda p: p.write_text(_markdown(frame)),
    }
    _write(output, writers, SUMMARY_EXPORT_SUFFIXES, _inputs(dataset))


def export_points(analysis: Analysis, output: Path, dataset: Dataset | None = None) -> None:
    """Write the per-point frame (run, metric, step, value, wall_time, smoothed, index, role)."""
    frame = analysis.points[list(POINT_COLUMNS)]
    writers: dict[str, Callable[[Path], object]] = {
        ".csv": lambda p: _csv_safe(frame).to_csv(p, index=False),
        ".parquet": lambda p: _write_parquet(frame, p),
    }
    _write(output, writers, POINTS_EXPORT_SUFFIXES, _inputs(dataset))


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
