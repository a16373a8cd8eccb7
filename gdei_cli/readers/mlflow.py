"""MLflow file store runs: ``mlruns/<experiment>/<run>/metrics/<key>``.

Each metric file holds ``<timestamp_ms> <value> [<step>]`` lines; keys with
``/`` are sub-folders.  The run is the run folder (discovery groups its metric
files); its ``meta.yaml`` (run name, status, times), ``tags/mlflow.runName``,
``params/*`` and the experiment's name become run attributes.  The lines are
parsed by pyarrow's CSV reader with a space delimiter, one call per metric
file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from gdei_cli.errors import InputError
from gdei_cli.readers._io import check_utf8, read_bytes, read_small, regular_files
from gdei_cli.readers._yaml import yaml_dict
from gdei_cli.readers.base import RawLog, SkippedLine, empty_log, raw_frame
from gdei_cli.readers.registry import Format, ReadOptions, Sniff

NAME: Final = "mlflow"
STATUS: Final = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
#: params read as run attributes, at most
MAX_PARAMS: Final = 1000


def run_folder(metric_file: Path) -> Path:
    """The run folder of a file under ``<run>/metrics/``."""
    for parent in metric_file.parents:
        if parent.name == "metrics":
            return parent.parent
    raise ValueError(metric_file)


def is_run_folder(folder: Path) -> bool:
    # (asked of every folder listing both names: plain paths, no Path objects built)
    here = os.fspath(folder)
    return os.path.isfile(os.path.join(here, "meta.yaml")) and os.path.isdir(
        os.path.join(here, "metrics")
    )


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    """One metric file of a run (assembly joins a run's files).

    A last line cut short (fewer fields, no line end) is dropped with a
    warning; any other line that is not ``<timestamp> <value> [<step>]`` is an
    error naming it.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from gdei_cli.readers._table import settle_invalid_rows

    options = options or ReadOptions()
    folder = run_folder(path)
    key = path.relative_to(folder / "metrics").as_posix()
    warnings: list[str] = []
    skipped: list[SkippedLine] = []
    data = read_bytes(path, warnings, max_bytes=options.max_bytes)
    if not data.strip():
        return empty_log(path, NAME)
    check_utf8(data, path)  # before pyarrow, whose bad-row text must decode
    first = data.split(b"\n", 1)[0].split()
    if len(first) not in (2, 3):
        raise InputError(
            f"expected '<timestamp> <value> [<step>]', got {len(first)} field(s)", path=path, line=1
        )
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                autogenerate_column_names=True,
                block_size=max(1 << 20, options.max_bytes // 256 + 1),
            ),
            parse_options=pacsv.ParseOptions(delimiter=" ", invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={"f0": pa.float64(), "f1": pa.float64(), "f2": pa.int64()}
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"not an MLflow metric file: {_first_line(exc)}", path=path) from None
    settle_invalid_rows(data, invalid, path, warnings, skipped, line_ends=b"\n", number_offset=None)
    n = table.num_rows
    ts = table.column(0).to_numpy(zero_copy_only=False) / 1000.0
    value = table.column(1).to_numpy(zero_copy_only=False)
    step = (
        table.column(2).fill_null(0).to_numpy(zero_copy_only=False)
        if table.num_columns >= 3
        else np.zeros(n, dtype=np.int64)
    )
    log = RawLog(
        path=path,
        format=NAME,
        frame=raw_frame(np.full(n, key, dtype=object), step, value, ts),
        wall_clock="logged",
        warnings=warnings,
        skipped_lines=skipped,
    )
    log.attrs = run_attrs(folder, log.warnings)
    return log


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0]


def run_attrs(folder: Path, warnings: list[str] | None = None) -> dict[str, str]:
    """The run's name, status, times, experiment and params (scalars only, small files only)."""
    attrs: dict[str, Any] = {}
    meta = yaml_dict(folder / "meta.yaml", warnings)
    name = meta.get("run_name") or meta.get("name")
    if _scalar(name):
        attrs["run_name"] = name
    tag = read_small(folder / "tags" / "mlflow.runName", 4096)
    if tag is not None and tag.strip():
        attrs["run_name"] = tag.strip()
    status = meta.get("status")
    if type(status) is int:
        attrs["status"] = STATUS.get(status, str(status))
    elif _scalar(status):
        attrs["status"] = status
    for k in ("start_time", "end_time"):
        if type(meta.get(k)) is int:
            attrs[k] = meta[k] / 1000.0
    exp = yaml_dict(folder.parent / "meta.yaml", warnings)
    if _scalar(exp.get("name")) and exp.get("name"):
        attrs["experiment"] = exp["name"]
    params = folder / "params"
    if params.is_dir():
        for p in regular_files(params)[:MAX_PARAMS]:
            text = read_small(p, 4096)
            if text is not None:
                attrs[f"param.{p.relative_to(params).as_posix()}"] = text.strip()
    return {k: str(v) for k, v in attrs.items()}


def _side_files(metric_file: Path) -> list[Path]:
    """What :func:`run_attrs` opens for the run of *metric_file*."""
    folder = run_folder(metric_file)
    params = folder / "params"
    listed = regular_files(params)[:MAX_PARAMS] if params.is_dir() else []
    side = [folder / "meta.yaml", folder / "tags" / "mlflow.runName", folder.parent / "meta.yaml"]
    return side + listed


def _scalar(v: Any) -> bool:
    return type(v) in (str, int, float, bool)


def _recognise(s: Sniff) -> bool:
    if "metrics" not in s.path.parts[:-1]:  # the usual file: no folder to look at
        return False
    return any(p.name == "metrics" and (p.parent / "meta.yaml").is_file() for p in s.path.parents)


def _walk(folder: Path, names: frozenset[str]) -> Sequence[Path] | None:
    """A run folder yields its metric files (and nothing else under it); *names*: the
    folder's listing (one without both names is no run folder: nothing to ask)."""
    if "meta.yaml" not in names or "metrics" not in names or not is_run_folder(folder):
        return None
    return regular_files(folder / "metrics")


FORMAT: Final = Format(
    name=NAME,
    description="MLflow file store `mlruns/<exp>/<run>/metrics/*`",
    read=read,
    recognise=_recognise,
    order=1,
    grouping="folder",
    run_folder=run_folder,
    walk=_walk,
    skip_names=frozenset({"meta.yaml"}),
    side_files=_side_files,
    run_doc="the run folder",
    metric_doc="`loss`",
)
