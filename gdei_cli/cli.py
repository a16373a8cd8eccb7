"""The ``gdei`` command line: parse options, call the library, map errors to exit codes.

Exit codes: 0 fine; 1 a run wastes more than ``--max-waste``; 2 usage error
or unreadable/invalid input (one line on stderr, no traceback); 3 an internal
error (a bug: one line, ``GDEI_DEBUG=1`` for the traceback); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from gdei_cli import __version__
from gdei_cli import cli_options as opt
from gdei_cli.config import Config, Mode
from gdei_cli.safe_text import printable

if TYPE_CHECKING:
    from collections.abc import Callable

    from gdei_cli.config import Costs
    from gdei_cli.engine import Analysis
    from gdei_cli.loader import Dataset
    from gdei_cli.report import PointsParts

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


def _run_library(fn: object) -> None:
    """Call *fn*, turning gdei's own errors into one line and exit code 2."""
    from gdei_cli.errors import GdeiError

    try:
        fn()  # type: ignore[operator]
    except GdeiError as exc:
        opt.fail(str(exc))
    except KeyboardInterrupt:
        opt.fail("interrupted", 130)
    except MemoryError:
        opt.fail("out of memory")
    except BrokenPipeError:
        sys.stderr.close()
        raise typer.Exit(0) from None


def _analyse(
    paths: list[str],
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
    keep_points: bool = True,
    engine: opt.EngineName = opt.EngineName.local,
    scheduler: str | None = None,
    points_sink: PointsParts | None = None,
) -> tuple[Dataset, Analysis]:
    from gdei_cli import report
    from gdei_cli.pipeline import analyze_paths

    if scheduler is not None and engine is not opt.EngineName.dask:
        opt.fail("--scheduler needs --engine dask")
    tasks = engine is opt.EngineName.dask
    with report.progress_bar(_show_progress(quiet), tasks=tasks) as progress:
        return analyze_paths(
            paths,
            fmt=input_format,
            jobs=jobs,
            merge_folders=merge_folders,
            line_pattern=line_pattern,
            max_bytes=opt.file_size_bytes(max_file_size),
            metric=metric,
            objective=objective,
            config=config,
            costs=costs,
            keep_points=keep_points,
            points_sink=points_sink,
            progress=progress,
            engine=engine.value,
            scheduler=scheduler,
        )


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
        opt.fail(f"{len(bad)} file(s) could not be read (--strict)")


def _say_workers(dataset: Dataset, quiet: bool) -> None:
    """With --engine dask: on stderr, what each worker did and how many files it skipped."""
    if quiet:
        return
    for address, t in dataset.workers.items():
        typer.echo(
            f"gdei: worker {printable(address)}: {t.tasks:,} task(s), {t.runs:,} run(s), "
            f"{t.skipped:,} unreadable file(s)",
            err=True,
        )


def _warn_missing(analysis: Analysis) -> None:
    from gdei_cli.engine import NO_METRIC

    s = analysis.summary
    for rec in s.loc[s["verdict"] == NO_METRIC, ["run", "note"]].itertuples(index=False):
        typer.echo(
            f"gdei: warning: {printable(rec.run)}: no such metric ({printable(rec.note)})",
            err=True,
        )


@app.command()
def analyze(
    paths: opt.Inputs,
    _config_file: opt.ConfigOpt = None,
    metric: opt.Metric = None,
    objective: opt.Objective = None,
    output_format: opt.AnalyzeFormat = opt.OutputFormat.table,
    export_to: opt.ExportTo = None,
    mode: opt.ModeOpt = opt.DEFAULTS.mode,
    rule: opt.RuleOpt = opt.DEFAULTS.rule,
    tolerance: opt.Tolerance = opt.DEFAULTS.tolerance,
    smoothing: opt.Smoothing = "auto",
    threshold: opt.Threshold = opt.DEFAULTS.threshold,
    window: opt.Window = str(opt.DEFAULTS.window),
    warmup: opt.Warmup = str(opt.DEFAULTS.warmup),
    seconds_per_step: opt.SecondsPerStep = None,
    gpus: opt.Gpus = 1.0,
    gpu_hour_cost: opt.GpuHourCost = None,
    max_waste: opt.MaxWaste = None,
    input_format: opt.InputFormat = None,
    merge_folders: opt.MergeFolders = False,
    line_pattern: opt.LinePattern = None,
    jobs: opt.Jobs = None,
    strict: opt.Strict = False,
    max_file_size: opt.MaxFileSize = "2G",
    width: opt.Width = None,
    quiet: opt.Quiet = False,
    plot: opt.Plot = False,
    engine: opt.EngineOpt = opt.EngineName.local,
    scheduler: opt.Scheduler = None,
) -> None:
    """Say where each run should have stopped, why, and what that would have saved.

    Examples: gdei analyze runs/ · gdei analyze runs/ --format json ·
    gdei analyze runs/ --max-waste 25% (a CI gate)
    """

    def work() -> None:
        from gdei_cli import report
        from gdei_cli.engine import over_limit

        limit = opt.waste_pct(max_waste) if max_waste is not None else None
        config = opt.config_from(smoothing, rule, tolerance, mode, threshold, window, warmup)
        costs = opt.costs_from(gpus, gpu_hour_cost, seconds_per_step)
        dataset, analysis = _analyse(
            paths, input_format, metric, objective, config, costs, jobs, merge_folders,
            line_pattern, max_file_size, quiet, keep_points=plot, engine=engine,
            scheduler=scheduler,
        )  # fmt: skip
        over = over_limit(analysis.summary, limit) if limit is not None else []
        if not quiet:
            _warn_missing(analysis)
        if export_to is not None:
            report.export_summary(analysis, dataset, export_to)
        if output_format is opt.OutputFormat.json:
            doc = report.analysis_document(analysis, dataset)
            _to_stdout(lambda: report.write_json(doc, sys.stdout))
        else:
            console = report.make_console(width=width)
            _to_stdout(lambda: report.render_analysis(analysis, dataset, console, quiet=quiet))
            if plot:
                _to_stdout(lambda: report.render_charts(analysis, console))
        if output_format is opt.OutputFormat.github:
            notes = report.github_annotations(analysis, dataset, over)
            _to_stdout(lambda: typer.echo("\n".join(notes)))
            summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary_file:
                report.append_step_summary(
                    Path(summary_file), report.step_summary(analysis, dataset)
                )
        if export_to is not None and not quiet:
            typer.echo(f"wrote {printable(export_to)}", err=True)
        _say_workers(dataset, quiet)
        _warn_skipped(dataset, strict, quiet)
        if over:
            typer.echo(
                f"gdei: {len(over)} run(s) waste more than {limit:g}% of their steps: "
                + ", ".join(printable(r) for r in over),
                err=True,
            )
            raise typer.Exit(1)

    _run_library(work)


def _is_remote(output: str) -> bool:
    from gdei_cli import remote

    return remote.any_url([output])


def _parts_folder(output: str) -> str | None:
    """``export --points -o`` a folder or URL ending in ``/`` (or an existing folder):
    one Parquet part per batch goes there; else ``None`` (one file)."""
    if output.endswith("/") or _is_remote(output) or Path(output).is_dir():
        return output
    return None


def _show_progress(quiet: bool) -> bool:
    """A progress bar only for a person watching: stderr a terminal, not --quiet."""
    return not quiet and sys.stderr.isatty() and not os.environ.get("CI")


@app.command()
def export(
    paths: opt.Inputs,
    output: opt.ExportOutput,
    _config_file: opt.ConfigOpt = None,
    points: opt.Points = False,
    metric: opt.Metric = None,
    objective: opt.Objective = None,
    mode: opt.ModeOpt = opt.DEFAULTS.mode,
    rule: opt.RuleOpt = opt.DEFAULTS.rule,
    tolerance: opt.Tolerance = opt.DEFAULTS.tolerance,
    smoothing: opt.Smoothing = "auto",
    threshold: opt.Threshold = opt.DEFAULTS.threshold,
    window: opt.Window = str(opt.DEFAULTS.window),
    warmup: opt.Warmup = str(opt.DEFAULTS.warmup),
    seconds_per_step: opt.SecondsPerStep = None,
    gpus: opt.Gpus = 1.0,
    gpu_hour_cost: opt.GpuHourCost = None,
    input_format: opt.InputFormat = None,
    merge_folders: opt.MergeFolders = False,
    line_pattern: opt.LinePattern = None,
    jobs: opt.Jobs = None,
    strict: opt.Strict = False,
    max_file_size: opt.MaxFileSize = "2G",
    quiet: opt.Quiet = False,
    engine: opt.EngineOpt = opt.EngineName.local,
    scheduler: opt.Scheduler = None,
) -> None:
    """Write the per-run summary table (or, with --points, every point) to a file.

    Examples: gdei export runs/ -o summary.csv · gdei export runs/ --points -o points.parquet
    """

    def work() -> None:
        from gdei_cli import report

        config = opt.config_from(smoothing, rule, tolerance, mode, threshold, window, warmup)
        costs = opt.costs_from(gpus, gpu_hour_cost, seconds_per_step)
        parts = _parts_folder(output) if points else None
        if parts is None and _is_remote(output):
            opt.fail("an export to a URL is --points into a folder URL ending in /")
        sink = report.points_parts(parts) if parts is not None else None
        dataset, analysis = _analyse(
            paths, input_format, metric, objective, config, costs, jobs, merge_folders,
            line_pattern, max_file_size, quiet, keep_points=points and sink is None,
            engine=engine, scheduler=scheduler, points_sink=sink,
        )  # fmt: skip
        if not quiet:
            _warn_missing(analysis)
        if points and sink is None:
            report.export_points(analysis, Path(output), dataset)
        elif not points:
            report.export_summary(analysis, dataset, Path(output))
        # else: each batch wrote its Parquet part where it was judged
        if not quiet:
            typer.echo(f"wrote {printable(output)}", err=True)
        _say_workers(dataset, quiet)
        _warn_skipped(dataset, strict, quiet)

    _run_library(work)


@app.command()
def inspect(
    paths: opt.Inputs,
    _config_file: opt.ConfigOpt = None,
    output_format: opt.InspectFormat = opt.OutputFormat.table,
    input_format: opt.InputFormat = None,
    merge_folders: opt.MergeFolders = False,
    line_pattern: opt.LinePattern = None,
    jobs: opt.Jobs = None,
    strict: opt.Strict = False,
    max_file_size: opt.MaxFileSize = "2G",
    width: opt.Width = None,
    quiet: opt.Quiet = False,
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
                max_bytes=opt.file_size_bytes(max_file_size),
                progress=progress,
            )
        if not dataset.runs and not dataset.skipped_files:
            raise InputError("no files found in " + ", ".join(printable(p) for p in paths))
        if output_format is opt.OutputFormat.json:
            _to_stdout(lambda: report.write_json(report.inspect_document(dataset), sys.stdout))
        else:
            console = report.make_console(width=width)
            _to_stdout(lambda: report.render_inspect(dataset, console))
        _warn_skipped(dataset, strict, quiet)

    _run_library(work)


@app.command()
def plot(
    paths: opt.Inputs,
    output: opt.PlotOutput,
    _config_file: opt.ConfigOpt = None,
    kind: opt.Kind = opt.PictureKind.both,
    metric: opt.Metric = None,
    objective: opt.Objective = None,
    mode: opt.ModeOpt = opt.DEFAULTS.mode,
    tolerance: opt.Tolerance = opt.DEFAULTS.tolerance,
    input_format: opt.InputFormat = None,
    jobs: opt.Jobs = None,
    max_file_size: opt.MaxFileSize = "2G",
    quiet: opt.Quiet = False,
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
        kinds = ["png", "svg"] if kind is opt.PictureKind.both else [kind.value]
        written = report.write_plots(analysis, output, kinds, dataset)
        if not quiet:
            typer.echo(f"wrote {len(written)} file(s) in {printable(output)}", err=True)
        _warn_skipped(dataset, False, quiet)

    _run_library(work)


@app.command("report")
def html_report(
    paths: opt.Inputs,
    output: opt.ReportOutput,
    _config_file: opt.ConfigOpt = None,
    metric: opt.Metric = None,
    objective: opt.Objective = None,
    mode: opt.ModeOpt = opt.DEFAULTS.mode,
    tolerance: opt.Tolerance = opt.DEFAULTS.tolerance,
    input_format: opt.InputFormat = None,
    jobs: opt.Jobs = None,
    max_file_size: opt.MaxFileSize = "2G",
    quiet: opt.Quiet = False,
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
    paths: list[str],
    metric: str | None,
    objective: str | None,
    mode: Mode,
    tolerance: float,
    input_format: str | None,
    jobs: int | None,
    max_file_size: str,
    quiet: bool,
) -> tuple[Dataset, Analysis]:
    config = opt.config_from(
        "auto", opt.DEFAULTS.rule, tolerance, mode, opt.DEFAULTS.threshold,
        str(opt.DEFAULTS.window), str(opt.DEFAULTS.warmup),
    )  # fmt: skip
    costs = opt.costs_from(1.0, None, None)
    return _analyse(
        paths, input_format, metric, objective, config, costs, jobs, False, None, max_file_size,
        quiet,
    )  # fmt: skip


@app.command("config")
def show_config(
    config_file: opt.ShowConfigFile = None,
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
