"""The command line's options, declared once and shared by the commands, and
their conversion into the library's arguments (with errors that name the flag).

Only :mod:`gdei_cli.cli` imports this module.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gdei_cli.config import Config, Mode, Rule
from gdei_cli.readers import registry
from gdei_cli.safe_text import printable

if TYPE_CHECKING:
    from gdei_cli.config import Costs

#: every default below comes from here, so the CLI and the library agree
DEFAULTS = Config()


class EngineName(StrEnum):
    local = "local"
    dask = "dask"


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    github = "github"


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"gdei: error: {printable(message)}", err=True)
    raise typer.Exit(code)


# Options shared by the commands -------------------------------------------------
def _load_settings(ctx: typer.Context, value: Path | None) -> None:
    """Load [tool.gdei] (or --config FILE) as this command's defaults (eager: before
    the other options, which the command line then overrides)."""
    from gdei_cli import settings
    from gdei_cli.errors import GdeiError

    try:
        got = settings.load(value)
    except GdeiError as exc:
        fail(str(exc))
    ctx.meta["gdei_settings"] = got
    names = {p.name for p in ctx.command.params if p.name}
    ctx.default_map = {**(ctx.default_map or {}), **settings.for_command(got, names)}


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Settings file (TOML with [tool.gdei], or top-level keys). Default: [tool.gdei] "
        "in the nearest pyproject.toml. The command line overrides it; see gdei config.",
        is_eager=True,
        callback=_load_settings,
        expose_value=False,
        show_default=False,
    ),
]
Paths = Annotated[
    list[Path],
    typer.Argument(
        help="Log files or run folders (walked recursively).", show_default=False, metavar="PATH"
    ),
]
Inputs = Annotated[
    list[str],
    typer.Argument(
        help=(
            "Log files or run folders (walked recursively), or URLs of them "
            "(s3://, gs://, az://, hf://, memory://... through fsspec)."
        ),
        show_default=False,
        metavar="PATH",
    ),
]
Width = Annotated[
    int | None,
    typer.Option(
        "--width",
        min=20,
        max=1000,
        help="Columns for the table (default: the terminal's, or $COLUMNS, else 80).",
        show_default=False,
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Results only: no legend, notes or warnings (errors still go to stderr).",
    ),
]
InputFormat = Annotated[
    str | None,
    typer.Option("--input-format", help=registry.help_text()),
]
MergeFolders = Annotated[
    bool,
    typer.Option(
        "--merge-folders",
        help="Make every log in one folder one run (default: one run per log file, "
        "per TensorBoard folder, per MLflow run).",
    ),
]
LinePattern = Annotated[
    str | None,
    typer.Option(
        "--line-pattern",
        help="Regex for plain-text logs, with a named group 'step' and one per metric, "
        r"e.g. 'step (?P<step>\d+).*loss (?P<loss>\S+)'.",
    ),
]
MaxFileSize = Annotated[
    str,
    typer.Option(
        "--max-file-size",
        help="Skip (with a reason) any text log larger than this after decompression, e.g. "
        "512M, 4G; a line may be 1/256 of it, a .gz may expand at most 100x. TensorBoard "
        "event files are streamed and not limited.",
    ),
]
Metric = Annotated[
    str | None,
    typer.Option(
        "--metric",
        "-m",
        help="The training loss, whose index is computed (name or glob). "
        "Default: the run's training loss.",
    ),
]
Objective = Annotated[
    str | None,
    typer.Option(
        "--objective",
        help="The metric that says whether the model got better (name or glob). Default: the "
        "framework's own, else a validation loss, else a validation score, else the loss.",
    ),
]
ModeOpt = Annotated[
    Mode,
    typer.Option("--mode", help="Direction of the objective; auto knows acc/mAP/... from loss."),
]
RuleOpt = Annotated[
    Rule,
    typer.Option(
        "--rule",
        help="hindsight: the first step after which the objective never again improved by "
        "more than --tolerance; live: the index's plateau rule, as a live run could apply it.",
    ),
]
Tolerance = Annotated[
    float,
    typer.Option(
        help="Smallest objective change that counts as improvement, in index points "
        "(1 point = 1% of the series' starting value)."
    ),
]
Smoothing = Annotated[
    str,
    typer.Option(
        help="TensorBoard EMA weight in [0, 1) applied before the index; 'auto' spans 1% of each "
        "series' points; 0 reproduces the paper's formula exactly.",
    ),
]
Threshold = Annotated[
    float,
    typer.Option(help="Live rule: stop where the index improved by less than this many points..."),
]
Window = Annotated[
    str,
    typer.Option(help="...over this trailing window: steps, or a percentage of the run like 10%."),
]
Warmup = Annotated[
    str, typer.Option(help="Live rule: no stop before this many steps (or % of the run).")
]
SecondsPerStep = Annotated[
    float | None,
    typer.Option(min=0, help="Seconds per step, for runs whose log has no wall-clock times."),
]
Gpus = Annotated[float, typer.Option(min=0, help="GPUs the run used (for GPU-hours).")]
GpuHourCost = Annotated[
    float | None, typer.Option(min=0, help="Price of one GPU-hour (for money saved).")
]
Jobs = Annotated[
    int | None, typer.Option(min=1, help="Processes for reading many large files (default: cores).")
]


EngineOpt = Annotated[
    EngineName,
    typer.Option(
        "--engine",
        help=(
            "Where the runs are judged: local (this machine; batches over a process pool "
            "when large) or dask (tasks on a Dask cluster; pip install 'gdei-cli[dask]')."
        ),
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help=(
            "With --engine dask: the scheduler of an existing cluster "
            "(tcp://host:8786); default: a local cluster sized to this machine."
        ),
    ),
]


def config_from(
    smoothing: str,
    rule: Rule,
    tolerance: float,
    mode: Mode,
    threshold: float,
    window: str,
    warmup: str,
) -> Config:
    from gdei_cli.config import Span
    from gdei_cli.errors import UsageError

    if smoothing.strip().lower() == "auto":
        smooth: float | None = None
    else:
        try:
            smooth = float(smoothing)
        except ValueError:
            raise UsageError(
                f"--smoothing must be 'auto' or a number in [0, 1), got {smoothing!r}"
            ) from None
    try:
        return Config(
            smoothing=smooth,
            rule=rule,
            tolerance=tolerance,
            mode=mode,
            threshold=threshold,
            window=Span.parse(window, name="--window"),
            warmup=Span.parse(warmup, name="--warmup"),
        )
    except UsageError as exc:  # name the flag, not the field
        text = str(exc)
        for field in ("smoothing", "tolerance", "threshold"):
            if text.startswith(field):
                text = "--" + text
        raise UsageError(text) from None


Strict = Annotated[
    bool,
    typer.Option(
        "--strict", help="Exit 2 when any file could not be read (after reporting the rest)."
    ),
]


def costs_from(gpus: float, gpu_hour_cost: float | None, seconds_per_step: float | None) -> Costs:
    from gdei_cli.config import Costs

    return Costs(gpus=gpus, gpu_hour_cost=gpu_hour_cost, seconds_per_step=seconds_per_step)


def file_size_bytes(text: str) -> int:
    from gdei_cli.errors import UsageError
    from gdei_cli.readers._io import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise UsageError(f"--max-file-size: {exc}") from None


def waste_pct(text: str) -> float:
    from gdei_cli.errors import UsageError

    raw = text.strip().rstrip("%")
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"--max-waste must be a percentage like 25%, got {text!r}") from None
    if not 0 <= value <= 100:
        raise UsageError(f"--max-waste must be between 0% and 100%, got {text!r}")
    return value


class PictureKind(StrEnum):
    png = "png"
    svg = "svg"
    both = "both"


# Options of one command ---------------------------------------------------------
AnalyzeFormat = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        help="table (default), json, or github: the table plus GitHub Actions annotations, "
        "and a job summary appended to $GITHUB_STEP_SUMMARY when it is set.",
    ),
]
ExportTo = Annotated[
    Path | None,
    typer.Option(
        "--export",
        help="Also write the per-run summary to this file (.csv .parquet .json .md), "
        "so one run both gates and exports.",
        show_default=False,
    ),
]
MaxWaste = Annotated[
    str | None,
    typer.Option(help="Exit 1 when any run wastes more than this share of its steps, e.g. 25%."),
]
Plot = Annotated[
    bool,
    typer.Option(
        "--plot",
        help="After the table, draw each run in the terminal: the smoothed objective, "
        "the index and the stop (plain characters when not on a colour terminal).",
    ),
]
ExportOutput = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        help="Output file; its suffix picks the format: .csv .parquet .json .md "
        "(with --points: .csv .parquet, or a folder or URL ending in / for one Parquet "
        "part per batch, written where the batch is judged).",
        show_default=False,
    ),
]
Points = Annotated[
    bool,
    typer.Option("--points", help="Write every analysed point (smoothed value, index, role)."),
]
InspectFormat = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table (default) or json.")
]
PlotOutput = Annotated[
    Path,
    typer.Option("--output", "-o", help="Folder for the pictures (created).", show_default=False),
]
Kind = Annotated[PictureKind, typer.Option("--kind", help="png, svg or both.")]
ReportOutput = Annotated[
    Path,
    typer.Option("--output", "-o", help="The HTML file to write.", show_default=False),
]
ShowConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Settings file to show instead of [tool.gdei].", show_default=False
    ),
]
