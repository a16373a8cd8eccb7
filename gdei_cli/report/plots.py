"""Pictures of each run: a text chart for the terminal, PNG/SVG files, one HTML report.

Each picture shows the run's objective (raw values faint, smoothed solid), the
GDEI index of its training loss on a second scale (0-100), the stop as a
vertical line, and the steps after it (the waste) shaded.  The text chart
needs nothing; the files need matplotlib (the ``plot`` extra: ``pip install
'gdei-cli[plot]'``), imported only here and only when asked for.  The HTML
report is one self-contained page (charts inlined as SVG, no script, no
network) with the summary table and every run's chart.  Rendering only: files
are written by :mod:`gdei_cli.report.files`.
"""

from __future__ import annotations

import html
import io
import math
import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from gdei_cli.errors import UsageError
from gdei_cli.safe_text import printable

if TYPE_CHECKING:
    import pandas as pd

    from gdei_cli.engine import Analysis

_OBJECTIVE_ROLES: Final = ("objective", "loss+objective")
_LOSS_ROLES: Final = ("loss", "loss+objective")


@dataclass
class RunPicture:
    """What a picture of one run shows."""

    run: str
    objective: str
    verdict: str
    reason: str
    step: np.ndarray  # objective steps
    raw: np.ndarray  # objective values
    smooth: np.ndarray  # objective, smoothed
    index_step: np.ndarray  # loss steps
    index: np.ndarray  # the GDEI index of the loss
    stop: float | None
    best: float | None
    last: float | None
    waste_pct: float | None
    saved: str


def pictures(analysis: Analysis) -> list[RunPicture]:
    """One :class:`RunPicture` per analysed run (runs with no metric left out)."""
    from gdei_cli.report.documents import fmt_duration, summary_records

    pts = analysis.points
    role = pts["role"].astype(str).to_numpy()
    run_codes = pts["run"].cat.codes.to_numpy()
    names = list(pts["run"].cat.categories)
    order = np.argsort(run_codes, kind="stable")
    bounds = np.searchsorted(run_codes[order], np.arange(len(names) + 1))
    rows_of = {n: order[bounds[i] : bounds[i + 1]] for i, n in enumerate(names)}
    out = []
    for rec in summary_records(analysis.summary):
        rows = rows_of.get(rec["run"])
        if rows is None or rows.size == 0:
            continue
        obj = rows[np.isin(role[rows], _OBJECTIVE_ROLES)]
        loss = rows[np.isin(role[rows], _LOSS_ROLES)]
        cost = rec.get("cost_saved")
        saved = f"${cost:,.2f}" if cost is not None else fmt_duration(rec["wall_saved_s"])
        out.append(
            RunPicture(
                run=str(rec["run"]),
                objective=str(rec["objective"] or ""),
                verdict=str(rec["verdict"]),
                reason=str(rec["reason"] or ""),
                step=pts["step"].to_numpy()[obj].astype(np.float64),
                raw=pts["value"].to_numpy()[obj],
                smooth=pts["smoothed"].to_numpy()[obj],
                index_step=pts["step"].to_numpy()[loss].astype(np.float64),
                index=pts["index"].to_numpy()[loss],
                stop=_num(rec["stop_step"]),
                best=_num(rec["best_step"]),
                last=_num(rec["last_step"]),
                waste_pct=_num(rec["waste_pct"]),
                saved=saved,
            )
        )
    return out


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


def _title(p: RunPicture) -> str:
    head = f"{p.run}: {p.verdict}"
    if p.stop is not None and p.last is not None and p.waste_pct:
        saved = "" if p.saved in ("—", "") else f", saved {p.saved}"
        head += (
            f", stop at {p.stop:,.0f} of {p.last:,.0f} "
            f"({p.waste_pct:.1f}% of the steps wasted{saved})"
        )
    return head


# --------------------------------------------------------------------------- text


def text_chart(p: RunPicture, width: int = 80, height: int = 10, plain: bool = False) -> list[str]:
    """A chart of one run in lines of at most *width* characters.

    ``*`` is the smoothed objective (left scale), ``.`` the index (0-100, right),
    ``|`` the stop; with *plain*, ASCII only.
    """
    width = max(width, 30)
    label_w = 10
    cols = width - label_w - 6
    finite = np.isfinite(p.smooth)
    lines = textwrap.wrap(printable(_title(p)), width=width) or [""]
    if cols < 10 or not finite.any():
        return lines + ["  (nothing to draw)"]
    lo_s = float(np.nanmin(np.r_[p.step, p.index_step]))
    hi_s = float(np.nanmax(np.r_[p.step, p.index_step]))
    span = hi_s - lo_s or 1.0

    def col_of(steps: np.ndarray) -> np.ndarray:
        return np.clip(((steps - lo_s) / span * (cols - 1)).round().astype(np.int64), 0, cols - 1)

    grid = [[" "] * cols for _ in range(height)]
    vmin = float(np.nanmin(p.smooth[finite]))
    vmax = float(np.nanmax(p.smooth[finite]))
    vspan = vmax - vmin or 1.0
    if p.stop is not None:
        c = int(col_of(np.array([p.stop]))[0])
        for r in range(height):
            grid[r][c] = "|" if plain else "│"
    ok_i = np.isfinite(p.index)
    if ok_i.any():
        ci = col_of(p.index_step[ok_i])
        ri = np.clip(((100.0 - p.index[ok_i]) / 100.0 * (height - 1)).round(), 0, height - 1)
        for c, r in zip(ci.tolist(), ri.astype(np.int64).tolist(), strict=True):
            if grid[r][c] == " ":
                grid[r][c] = "." if plain else "·"
    co = col_of(p.step[finite])
    ro = ((vmax - p.smooth[finite]) / vspan * (height - 1)).round().astype(np.int64)
    for c, r in zip(co.tolist(), ro.tolist(), strict=True):
        grid[r][c] = "*" if plain else "•"
    axis_v, axis_h, corner = ("|", "-", "+") if plain else ("┤", "─", "└")
    for r in range(height):
        level = vmax - vspan * r / (height - 1)
        left = f"{level:>{label_w - 1}.4g} " if r in (0, height - 1) else " " * label_w
        right = f" {100 - 100 * r / (height - 1):.0f}" if r in (0, height - 1) else ""
        lines.append(left + axis_v + "".join(grid[r]) + right)
    lines.append(" " * label_w + corner + axis_h * cols)
    ticks = f"{lo_s:,.0f}"
    end = f"{hi_s:,.0f}"
    lines.append(" " * (label_w + 1) + ticks + " " * max(1, cols - len(ticks) - len(end)) + end)
    mark = "*" if plain else "•"
    dot = "." if plain else "·"
    bar = "|" if plain else "│"
    parts = [f"{mark} {printable(p.objective)} (smoothed)", f"{dot} index (0-100, right)"]
    if p.stop is not None:
        parts.append(f"{bar} stop {p.stop:,.0f}")
    legend = "   ".join(part.replace(" ", "\u00a0") for part in parts)  # wrap between parts
    wrapped = textwrap.wrap(
        legend, width=width, initial_indent=" " * label_w, subsequent_indent=" " * label_w
    )
    lines += [line.replace("\u00a0", " ") for line in wrapped]
    return [line[:width] for line in lines]


# --------------------------------------------------------------------------- files


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "pictures need matplotlib: pip install 'gdei-cli[plot]' (or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def figure(p: RunPicture) -> Any:
    """A matplotlib figure of one run (the caller saves and closes it)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    ax.plot(p.step, p.raw, color="#1f77b4", alpha=0.25, linewidth=0.8, label=f"{p.objective} (raw)")
    ax.plot(p.step, p.smooth, color="#1f77b4", linewidth=1.8, label=f"{p.objective} (smoothed)")
    ax.set_xlabel("step")
    ax.set_ylabel(p.objective)
    shown = p.smooth[np.isfinite(p.smooth)]
    early = np.isfinite(p.smooth) & (p.step <= (p.best if p.best is not None else -np.inf))
    if p.verdict == "diverged" and early.any():
        # drawn on the scale of the run up to its best: the blow-up would flatten it
        lo, hi = float(p.smooth[early].min()), float(p.smooth[early].max())
        pad = 0.15 * (hi - lo or abs(hi) or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    elif shown.size and shown.min() > 0 and shown.max() / shown.min() > 100:
        ax.set_yscale("log")  # over two decades: a linear scale hides the end of the run
    if p.stop is not None and p.last is not None and p.last > p.stop:
        ax.axvspan(p.stop, p.last, color="#d62728", alpha=0.08, label="after the stop (wasted)")
    if p.stop is not None:
        ax.axvline(p.stop, color="#d62728", linewidth=1.4, label=f"stop at {p.stop:,.0f}")
    ax2 = ax.twinx()
    ax2.plot(p.index_step, p.index, color="#7f7f7f", linewidth=1.0, label="GDEI index")
    ax2.set_ylim(0, 100)
    ax2.set_ylabel("GDEI index (lower is better)")
    lines = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=8)
    ax.set_title(_title(p), fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def render_file(p: RunPicture, kind: str) -> bytes:
    """One run's chart as PNG or SVG bytes."""
    if kind not in ("png", "svg"):
        raise UsageError(f"unknown picture format {kind!r}: use png or svg")
    import warnings

    plt = _pyplot()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a picture never prints to the terminal
        fig = figure(p)
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format=kind, metadata={"Date": None} if kind == "svg" else None)
        finally:
            plt.close(fig)
    return buf.getvalue()


def html_report(analysis: Analysis, summary: pd.DataFrame | None = None) -> str:
    """One self-contained HTML page: the summary table and every run's chart (inline SVG)."""
    from gdei_cli.engine import totals
    from gdei_cli.report.documents import number_cells, summary_records

    s = analysis.summary if summary is None else summary
    pics = {p.run: p for p in pictures(analysis)}
    has_cost = bool(s["cost_saved"].notna().any())
    t = totals(s)
    rows = []
    charts = []
    for i, rec in enumerate(summary_records(s)):
        stop, best, last, waste, saved, forgone = number_cells(rec, has_cost)
        name = html.escape(printable(rec["run"]))
        anchor = f"run-{i}"
        css = html.escape(str(rec["verdict"]).replace(" ", "-"))
        rows.append(
            f'<tr><td><a href="#{anchor}">{name}</a></td><td class="v {css}">'
            f"{html.escape(rec['verdict'])}</td><td>{stop}</td><td>{best}</td><td>{last}</td>"
            f"<td>{waste}</td><td>{html.escape(saved)}</td><td>{forgone}</td>"
            f"<td>{html.escape(printable(rec['reason'] or ''))}</td></tr>"
        )
        pic = pics.get(rec["run"])
        if pic is not None:
            svg = render_file(pic, "svg").decode("utf-8")
            svg = svg[svg.index("<svg") :]  # drop the XML prologue: inline in HTML
            svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
            charts.append(f'<section id="{anchor}" class="chart"><h2>{name}</h2>{svg}</section>')
    waste = f" ({t['waste_pct']:.1f}% of all steps)" if t["waste_pct"] is not None else ""
    return _PAGE.format(
        total=f"{t['analysed']} of {t['runs']} run(s) analysed; {t['steps_saved']:,} steps "
        f"wasted{waste}.",
        rows="\n".join(rows),
        charts="\n".join(charts),
    )


_PAGE: Final = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gdei: where each run should have stopped</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: right; }}
th:first-child, td:first-child, td:last-child {{ text-align: left; }}
td.v {{ text-align: left; font-weight: 600; }}
.wasteful, .over-fitting {{ color: #b22; }} .efficient {{ color: #282; }}
.still-improving {{ color: #06c; }} .diverged {{ color: #a2a; }}
.chart svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>Where each run should have stopped</h1>
<p>{total}</p>
<table><thead><tr><th>run</th><th>verdict</th><th>stop</th><th>best</th><th>of</th>
<th>waste</th><th>saved</th><th>forgone</th><th>why</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{charts}
<p><small>Made by gdei. Blue: the objective (faint raw, solid smoothed); grey: the GDEI index
of the training loss (right scale); red line: the stop; shaded: the steps after it.</small></p>
</body></html>
"""
