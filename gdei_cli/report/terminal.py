"""What gdei shows on a terminal: rich tables, notes, the progress bar, text charts.

The only module that imports rich (lazily, so ``gdei --help`` stays fast).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, Final

from gdei_cli.engine import Analysis, totals
from gdei_cli.loader import Dataset
from gdei_cli.report.documents import (
    NUMBER_COLUMNS,
    fmt_duration,
    inspect_document,
    number_cells,
    problems,
    summary_records,
)
from gdei_cli.safe_text import printable

if TYPE_CHECKING:
    from rich.console import Console

    from gdei_cli.assembly import Progress

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


#: narrower than this, a run's numbers are labelled and wrapped instead of columns
WIDE: Final = 72
_VERDICT_WIDTH: Final = 16
_VERDICT_STYLE: Final = {
    "wasteful": "bold red",
    "over-fitting": "bold red",
    "efficient": "green",
    "still improving": "cyan",
    "diverged": "bold magenta",
    "index undefined": "yellow",
    "no metric": "yellow",
}


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
        head += " ".join(f"{title:>{width}}" for title, width in NUMBER_COLUMNS)
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
                    for (_, width), cell in zip(NUMBER_COLUMNS, cells, strict=True)
                )
            )
            console.print(line, no_wrap=True, overflow="ignore")
        else:
            console.print(Text("  ").append(verdict, style=style), soft_wrap=True)
            labelled = "   ".join(  # a no-break space keeps each label with its number
                f"{title}\u00a0{cell}"
                for (title, _), cell in zip(NUMBER_COLUMNS, cells, strict=True)
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
def progress_bar(
    enabled: bool, console: Console | None = None, *, tasks: bool = False
) -> Iterator[Progress | None]:
    """A progress callback for :func:`gdei_cli.load` and the batched pipeline drawing a
    bar on stderr, or ``None`` when *enabled* is false; removed when done.  By bytes
    read (shown only for reads of 32 MB or more), or with *tasks* (``--engine dask``),
    by tasks done out of the total."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    columns = (
        (TextColumn("tasks done"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        if tasks
        else (TextColumn("reading logs"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    )
    bar = Bar(*columns, console=console or make_console(stderr=True), transient=True)
    task: list[Any] = []

    def update(done: int, total: int | None) -> None:
        if total is not None:
            if total >= (1 if tasks else PROGRESS_MIN_BYTES):
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

    from gdei_cli.report.plots import pictures, text_chart

    plain = not console.is_terminal or console.no_color
    for pic in pictures(analysis):
        console.print()
        for line in text_chart(pic, width=console.width, plain=plain):
            console.print(Text(line), no_wrap=True, overflow="ignore")
