"""GitHub Actions: workflow-command annotations and the job summary."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gdei_cli.engine import Analysis, totals
from gdei_cli.errors import UsageError
from gdei_cli.loader import Dataset
from gdei_cli.report.documents import (
    fmt_pct,
    markdown_cell,
    number_cells,
    problems,
    summary_records,
)

if TYPE_CHECKING:
    pass

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
        waste = fmt_pct(rec["waste_pct"])
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
        return " ".join(markdown_cell(str(text)).split())

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
