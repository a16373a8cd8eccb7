"""The ``gdei`` command line: parse options, call the library, map errors to exit codes.

Exit codes: 0 fine; 1 a run wastes more than ``--max-waste``; 2 usage error
or unreadable/invalid input (one line on stderr, no traceback); 3 an internal
error (a bug: one line, ``GDEI_DEBUG=1`` for the traceback); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import typer

from gdei_cli import __version__
from gdei_cli.config import Config, Mode, Rule
from gdei_cli.readers import registry
from gdei_cli.safe_text import printable

if TYPE_CHECKING:
    from collections.abc import Callable

    from gdei_cli.config import Costs
    from gdei_cli.engine import Analysis
    from gdei_cli.loader import Dataset

#: every default below comes from here, so the CLI and the library agree
DEFAULTS = Config()

EXIT_CODES: Final = (
    "Exit codes: 0 fine; 1 a run wastes more than --max-waste; 2 usage error, no run "
    "could be read, or (with --strict) a file could not be read; 3 internal error (a bug: "
    "GDEI_DEBUG=1 shows the traceback); 130 interrupted."
)

app = typer.Typer(
    name="gdei",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no boxes, no <type> noise
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
    help=(
        "Find where finished training runs should have stopped, using the Gradient "
        "Descent Efficiency Index, and what stopping there would have saved."
    ),
)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    github = "github"


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"gdei: error: {printable(message)}", err=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gdei {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Find where finished training runs should have stopped."""


# Options shared by the commands -------------------------------------------------
def _settings(ctx: typer.Context, value: Path | None) -> None:
    """Load [tool.gdei] (or --config FILE) as this command's defaults (eager: before
    the other options, which the command line then overrides)."""
    from gdei_cli import settings
    from gdei_cli.errors import GdeiError

    try:
        got = settings.load(value)
    except GdeiError as exc:
        _fail(str(exc))
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
        callback=_settings,
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


def _run_library(fn: object) -> None:
    """Call *fn*, turning gdei's own errors into one line and exit code 2."""
    from gdei_cli.errors import GdeiError

    try:
        fn()  # type: ignore[operator]
    except GdeiError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except MemoryError:
        _fail("out of memory")
    except BrokenPipeError:
        sys.stderr.close()
        raise typer.Exit(0) from None


def _config(
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


def _analyse(
    paths: list[Path],
    input_format: str | None,
    metric: str | None,
    objective: str | None,
    config: Config,
    costs: Costs,
    jobs: int | None,
    merge_folders: bool,
    line_pattern: str | None,
    max_file_size: str,
    quiet: bool = False,
) -> tuple[Dataset, Analysis]:
    from gdei_cli import report
    from gdei_cli.engine import analyze as run_engine
    from gdei_cli.loader import load

    with report.progress_bar(_show_progress(quiet)) as progress:
        dataset = load(
            paths,
            fmt=input_format,
            jobs=jobs,
            merge_folders=merge_folders,
            line_pattern=line_pattern,
            max_bytes=_parse_size(max_file_size),
            progress=progress,
        )
    if not dataset.runs:
        from gdei_cli.errors import InputError

        bad = [s for s in dataset.skipped_files if s.problem]
        if len(paths) == 1 and not Path(paths[0]).is_dir() and len(dataset.skipped_files) == 1:
            only = dataset.skipped_files[0]  # the one file named: its own error
            raise InputError(only.reason, path=only.path, line=only.line)
        why = f"{len(bad)} could not be read" if bad else "none is a log gdei reads"
        raise InputError(
            "no training logs found in " + ", ".join(str(p) for p in paths),
            hint=f"{len(dataset.skipped_files)} file(s) skipped, {why}; see gdei inspect",
        )
    analysis = run_engine(
        dataset.frame,
        metric=metric,
        objective=objective,
        config=config,
        costs=costs,
        attrs={name: info.attrs for name, info in dataset.runs.items()},
        formats={name: info.format for name, info in dataset.runs.items()},
    )
    return dataset, analysis


Strict = Annotated[
    bool,
    typer.Option(
        "--strict", help="Exit 2 when any file could not be read (after reporting the rest)."
    ),
]


def _to_stdout(emit: Callable[[], None]) -> None:
    """Print the results; a reader that closed the pipe (``| head``) is not an error:
    the rest is discarded and the command still exits with its own code."""
    try:
        emit()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _warn_skipped(dataset: Dataset, strict: bool, quiet: bool = False) -> None:
    """Say once, on stderr, which files could not be read; with --strict, fail."""
    from gdei_cli import report

    bad = report.problems(dataset)
    for s in [] if quiet else bad:
        typer.echo(
            f"gdei: warning: skipped {printable(s.where())}: {printable(s.reason)}", err=True
        )
    if strict and bad:
        _fail(f"{len(bad)} file(s) could not be read (--strict)")


def _warn_missing(analysis: Analysis) -> None:
    from gdei_cli.engine import NO_METRIC

    s = analysis.summary
    for rec in s.loc[s["verdict"] == NO_METRIC, ["run", "note"]].itertuples(index=False):
        typer.echo(
            f"gdei: warning: {printable(rec.run)}: no such metric ({printable(rec.note)})",
            err=True,
        )


def _costs(gpus: float, gpu_hour_cost: float | None, seconds_per_step: float | None) -> Costs:
    from gdei_cli.config import Costs

    return Costs(gpus=gpus, gpu_hour_cost=gpu_hour_cost, seconds_per_step=seconds_per_step)


@app.command()
def analyze(
    paths: Paths,
    _config_file: ConfigOpt = None,
    metric: Metric = None,
    objective: Objective = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            help="table (default), json, or github: the table plus GitHub Actions annotations, "
            "and a job summary appended to $GITHUB_STEP_SUMMARY when it is set.",
        ),
    ] = OutputFormat.table,
    export_to: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Also write the per-run summary to this file (.csv .parquet .json .md), "
            "so one run both gates and exports.",
            show_default=False,
        ),
    ] = None,
    mode: ModeOpt = DEFAULTS.mode,
    rule: RuleOpt = DEFAULTS.rule,
    tolerance: Tolerance = DEFAULTS.tolerance,
    smoothing: Smoothing = "auto",
    threshold: Threshold = DEFAULTS.threshold,
    window: Window = str(DEFAULTS.window),
    warmup: Warmup = str(DEFAULTS.warmup),
    seconds_per_step: SecondsPerStep = None,
    gpus: Gpus = 1.0,
    gpu_hour_cost: GpuHourCost = None,
    max_waste: Annotated[
        str | None,
        typer.Option(
            help="Exit 1 when any run wastes more than this share of its steps, e.g. 25%."
        ),
    ] = None,
    input_format: InputFormat = None,
    merge_folders: MergeFolders = False,
    line_pattern: LinePattern = None,
    jobs: Jobs = None,
    strict: Strict = False,
    max_file_size: MaxFileSize = "2G",
    width: Width = None,
    quiet: Quiet = False,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot",
            help="After the table, draw each run in the terminal: the smoothed objective, "
            "the index and the stop (plain characters when not on a colour terminal).",
        ),
    ] = False,
) -> None:
    """Say where each run should have stopped, why, and what that would have saved.

    Examples: gdei analyze runs/ · gdei analyze runs/ --format json ·
    gdei analyze runs/ --max-waste 25% (a CI gate)
    """

    def work() -> None:
        from gdei_cli import report
        from gdei_cli.engine import over_limit

        limit = _parse_pct(max_waste) if max_waste is not None else None
        config = _config(smoothing, rule, tolerance, mode, threshold, window, warmup)
        costs = _costs(gpus, gpu_hour_cost, seconds_per_step)
        dataset, analysis = _analyse(
            paths, input_format, metric, objective, config, costs, jobs, merge_folders,
            line_pattern, max_file_size, quiet,
        )  # fmt: skip
        over = over_limit(analysis.summary, limit) if limit is not None else []
        if not quiet:
            _warn_missing(analysis)
        if export_to is not None:
            report.export_summary(analysis, dataset, export_to)
        if output_format is OutputFormat.json:
            doc = report.analysis_document(analysis, dataset)
            _to_stdout(lambda: typer.echo(report.dumps(doc)))
        else:
            console = report.make_console(width=width)
            _to_stdout(lambda: report.render_analysis(analysis, dataset, console, quiet=quiet))
            if plot:
                _to_stdout(lambda: report.render_charts(analysis, console))
        if output_format is OutputFormat.github:
            notes = report.github_annotations(analysis, dataset, over)
            _to_stdout(lambda: typer.echo("\n".join(notes)))
            summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary_file:
                report.append_step_summary(
                    Path(summary_file), report.step_summary(analysis, dataset)
                )
        if export_to is not None and not quiet:
            typer.echo(f"wrote {printable(export_to)}", err=True)
        _warn_skipped(dataset, strict, quiet)
        if over:
            typer.echo(
                f"gdei: {len(over)} run(s) waste more than {limit:g}% of their steps: "
                + ", ".join(printable(r) for r in over),
                err=True,
            )
            raise typer.Exit(1)

    _run_library(work)


def _show_progress(quiet: bool) -> bool:
    """A progress bar only for a person watching: stderr a terminal, not --quiet."""
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


def _parse_size(text: str) -> int:
    from gdei_cli.errors import UsageError
    from gdei_cli.readers._io import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise UsageError(f"--max-file-size: {exc}") from None


def _parse_pct(text: str) -> float:
    from gdei_cli.errors import UsageError

    raw = text.strip().rstrip("%")
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"--max-waste must be a percentage like 25%, got {text!r}") from None
    if not 0 <= value <= 100:
        raise UsageError(f"--max-waste must be between 0% and 100%, got {text!r}")
    return value


@app.command()
def export(
    paths: Paths,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Output file; its suffix picks the format: .csv .parquet .json .md "
            "(with --points: .csv .parquet).",
            show_default=False,
        ),
    ],
    _config_file: ConfigOpt = None,
    points: Annotated[
        bool,
        typer.Option("--points", help="Write every analysed point (smoothed value, index, role)."),
    ] = False,
    metric: Metric = None,
    objective: Objective = None,
    mode: ModeOpt = DEFAULTS.mode,
    rule: RuleOpt = DEFAULTS.rule,
    tolerance: Tolerance = DEFAULTS.tolerance,
    smoothing: Smoothing = "auto",
    threshold: Threshold = DEFAULTS.threshold,
    window: Window = str(DEFAULTS.window),
    warmup: Warmup = str(DEFAULTS.warmup),
    seconds_per_step: SecondsPerStep = None,
    gpus: Gpus = 1.0,
    gpu_hour_cost: GpuHourCost = None,
    input_format: InputFormat = None,
    merge_folders: MergeFolders = False,
    line_pattern: LinePattern = None,
    jobs: Jobs = None,
    strict: Strict = False,
    max_file_size: MaxFileSize = "2G",
    quiet: Quiet = False,
) -> None:
    """Write the per-run summary table (or, with --points, every point) to a file.

    Examples: gdei export runs/ -o summary.csv · gdei export runs/ --points -o points.parquet
    """

    def work() -> None:
        from gdei_cli import report

        config = _config(smoothing, rule, tolerance, mode, threshold, window, warmup)
        costs = _costs(gpus, gpu_hour_cost, seconds_per_step)
        dataset, analysis = _analyse(
            paths, input_format, metric, objective, config, costs, jobs, merge_folders,
            line_pattern, max_file_size, quiet,
        )  # fmt: skip
        if not quiet:
            _warn_missing(analysis)
        if points:
            report.export_points(analysis, output, dataset)
        else:
            report.export_summary(analysis, dataset, output)
        if not quiet:
            typer.echo(f"wrote {printable(output)}", err=True)
        _warn_skipped(dataset, strict, quiet)

    _run_library(work)


@app.command()
def inspect(
    paths: Paths,
    _config_file: ConfigOpt = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table (default) or json.")
    ] = OutputFormat.table,
    input_format: InputFormat = None,
    merge_folders: MergeFolders = False,
    line_pattern: LinePattern = None,
    jobs: Jobs = None,
    strict: Strict = False,
    max_file_size: MaxFileSize = "2G",
    width: Width = None,
    quiet: Quiet = False,
) -> None:
    """Show what gdei sees in each run: format, sources, metrics, restarts, skipped lines.

    Examples: gdei inspect runs/ · gdei inspect runs/ --format json
    """

    def work() -> None:
        from gdei_cli import report
        from gdei_cli.errors import InputError
        from gdei_cli.loader import load

        with report.progress_bar(_show_progress(quiet)) as progress:
            dataset = load(
                paths,
                fmt=input_format,
                jobs=jobs,
                merge_folders=merge_folders,
                line_pattern=line_pattern,
                max_bytes=_parse_size(max_file_size),
                progress=progress,
            )
        if not dataset.runs and not dataset.skipped_files:
            raise InputError("no files found in " + ", ".join(printable(p) for p in paths))
        if output_format is OutputFormat.json:
            _to_stdout(lambda: typer.echo(report.dumps(report.inspect_document(dataset))))
        else:
            console = report.make_console(width=width)
            _to_stdout(lambda: report.render_inspect(dataset, console))
        _warn_skipped(dataset, strict, quiet)

    _run_library(work)


class PictureKind(StrEnum):
    png = "png"
    svg = "svg"
    both = "both"


@app.command()
def plot(
    paths: Paths,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for the pictures (created).", show_default=False
        ),
    ],
    _config_file: ConfigOpt = None,
    kind: Annotated[
        PictureKind, typer.Option("--kind", help="png, svg or both.")
    ] = PictureKind.both,
    metric: Metric = None,
    objective: Objective = None,
    mode: ModeOpt = DEFAULTS.mode,
    tolerance: Tolerance = DEFAULTS.tolerance,
    input_format: InputFormat = None,
    jobs: Jobs = None,
    max_file_size: MaxFileSize = "2G",
    quiet: Quiet = False,
) -> None:
    """Write a chart of each run (PNG and/or SVG): objective raw and smoothed, the index,
    the stop, the wasted steps shaded. Needs matplotlib (pip install 'gdei-cli[plot]').

    Example: gdei plot runs/ -o charts/
    """

    def work() -> None:
        from gdei_cli import report

        dataset, analysis = _picture_analysis(
            paths, metric, objective, mode, tolerance, input_format, jobs, max_file_size, quiet
        )
        kinds = ["png", "svg"] if kind is PictureKind.both else [kind.value]
        written = report.write_plots(analysis, output, kinds, dataset)
        if not quiet:
            typer.echo(f"wrote {len(written)} file(s) in {printable(output)}", err=True)
        _warn_skipped(dataset, False, quiet)

    _run_library(work)


@app.command("report")
def html_report(
    paths: Paths,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The HTML file to write.", show_default=False),
    ],
    _config_file: ConfigOpt = None,
    metric: Metric = None,
    objective: Objective = None,
    mode: ModeOpt = DEFAULTS.mode,
    tolerance: Tolerance = DEFAULTS.tolerance,
    input_format: InputFormat = None,
    jobs: Jobs = None,
    max_file_size: MaxFileSize = "2G",
    quiet: Quiet = False,
) -> None:
    """Write one self-contained HTML page: the summary table and every run's chart
    (no network needed to view it). Needs matplotlib (pip install 'gdei-cli[plot]').

    Example: gdei report runs/ -o report.html
    """

    def work() -> None:
        from gdei_cli import report

        dataset, analysis = _picture_analysis(
            paths, metric, objective, mode, tolerance, input_format, jobs, max_file_size, quiet
        )
        report.write_html_report(analysis, output, dataset)
        if not quiet:
            typer.echo(f"wrote {printable(output)}", err=True)
        _warn_skipped(dataset, False, quiet)

    _run_library(work)


def _picture_analysis(
    paths: list[Path],
    metric: str | None,
    objective: str | None,
    mode: Mode,
    tolerance: float,
    input_format: str | None,
    jobs: int | None,
    max_file_size: str,
    quiet: bool,
) -> tuple[Dataset, Analysis]:
    config = _config(
        "auto", DEFAULTS.rule, tolerance, mode, DEFAULTS.threshold,
        str(DEFAULTS.window), str(DEFAULTS.warmup),
    )  # fmt: skip
    return _analyse(
        paths, input_format, metric, objective, config, _costs(1.0, None, None), jobs, False,
        None, max_file_size, quiet,
    )  # fmt: skip


@app.command("config")
def show_config(
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Settings file to show instead of [tool.gdei].", show_default=False
        ),
    ] = None,
) -> None:
    """Print the effective settings of analyze/export and where each comes from."""

    def work() -> None:
        import typer.main

        from gdei_cli import settings

        got = settings.load(config_file)
        where = f"{got.source}" if got.source is not None else None
        if where is None:
            typer.echo("settings: no pyproject.toml found from here upward; gdei's defaults")
        elif not got.values:
            typer.echo(f"settings: {where} (no [tool.gdei] settings); gdei's defaults")
        else:
            typer.echo(f"settings: {where}")
        group = typer.main.get_command(app)
        params: dict[str, Any] = {}
        for name in ("analyze", "export"):
            command = getattr(group, "commands", {})[name]
            for param in command.params:
                if param.name and param.name in settings.KEYS.values():
                    params.setdefault(param.name, param)
        by_param = {v: k for k, v in settings.KEYS.items()}
        for name, param in params.items():
            key = by_param[name].replace("_", "-")
            if name in got.values:
                value, source = got.values[name], str(got.source)
            else:
                value, source = param.default, "default"
            shown = "-" if value is None else str(getattr(value, "value", value))
            typer.echo(f"{key:<16} {printable(shown):<12} {printable(source)}")

    _run_library(work)


def main() -> None:
    """Console-script entry point: every error is one line on stderr, with its exit code."""
    try:
        code = app(standalone_mode=False)
    except SystemExit:
        raise
    except typer.Abort:
        raise SystemExit(130) from None
    except Exception as exc:
        usage = getattr(exc, "format_message", None)
        exit_code = getattr(exc, "exit_code", None)
        if callable(usage) and isinstance(exit_code, int):
            # the command line itself: a missing argument, an unknown option, a bad value
            ctx = getattr(exc, "ctx", None)
            where = getattr(ctx, "command_path", "gdei")
            if type(exc).__name__ == "NoArgsIsHelpError":
                typer.echo(usage(), err=True)
            else:
                typer.echo(f"gdei: error: {printable(usage())} (see '{where} --help')", err=True)
            raise SystemExit(exit_code) from None
        if os.environ.get("GDEI_DEBUG"):
            raise
        typer.echo(  # a bug: say so in one line rather than a traceback
            f"gdei: internal error: {type(exc).__name__}: {printable(exc)} "
            "(set GDEI_DEBUG=1 for the traceback)",
            err=True,
        )
        raise SystemExit(3) from None
    raise SystemExit(code if isinstance(code, int) else 0)
