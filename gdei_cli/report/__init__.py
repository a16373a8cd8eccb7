"""Everything gdei shows or writes: rich tables, JSON documents, exported files.

Five modules, each with one job:

* :mod:`~gdei_cli.report.documents`: the JSON documents and the text of values
  (plain data, no rendering);
* :mod:`~gdei_cli.report.terminal`: rich tables, notes, the progress bar, text
  charts (the only place rich is imported, lazily, so ``gdei --help`` stays fast);
* :mod:`~gdei_cli.report.github`: GitHub Actions annotations and the job summary;
* :mod:`~gdei_cli.report.plots`: pictures of a run (text chart, PNG/SVG, the HTML
  page; matplotlib imported only there, only when asked for);
* :mod:`~gdei_cli.report.files`: every file gdei writes, atomically, never onto
  an input log.
"""

from gdei_cli.report.documents import (
    SCHEMA_VERSION,
    analysis_document,
    dumps,
    fmt_duration,
    inspect_document,
    number_cells,
    problems,
    safe_cell,
    skipped_records,
    summary_records,
    write_json,
)
from gdei_cli.report.files import (
    POINTS_EXPORT_SUFFIXES,
    SUMMARY_EXPORT_SUFFIXES,
    PointsParts,
    atomic_path,
    check_target,
    export_points,
    export_summary,
    points_parts,
    write_html_report,
    write_plots,
)
from gdei_cli.report.github import (
    STEP_SUMMARY_LIMIT,
    append_step_summary,
    github_annotations,
    step_summary,
)
from gdei_cli.report.terminal import (
    PROGRESS_MIN_BYTES,
    make_console,
    progress_bar,
    render_analysis,
    render_charts,
    render_inspect,
)

__all__ = [
    "POINTS_EXPORT_SUFFIXES",
    "PROGRESS_MIN_BYTES",
    "SCHEMA_VERSION",
    "STEP_SUMMARY_LIMIT",
    "SUMMARY_EXPORT_SUFFIXES",
    "analysis_document",
    "append_step_summary",
    "atomic_path",
    "check_target",
    "dumps",
    "write_json",
    "PointsParts",
    "export_points",
    "export_summary",
    "points_parts",
    "fmt_duration",
    "github_annotations",
    "inspect_document",
    "make_console",
    "number_cells",
    "problems",
    "progress_bar",
    "render_analysis",
    "render_charts",
    "render_inspect",
    "safe_cell",
    "skipped_records",
    "step_summary",
    "summary_records",
    "write_html_report",
    "write_plots",
]
