"""MLflow file store runs: ``mlruns/<experiment>/<run>/metrics/<key>``.

Each metric file holds ``<timestamp_ms> <value> [<step>]`` lines; keys with
``/`` are sub-folders.  The run is the run folder (discovery groups its metric
files); its ``meta.yaml`` (run name, status, times), ``tags/mlflow.runName``,
``params/*`` and the experiment's name become run attributes.  The lines are
parsed by pyarrow's CSV reader with a space delimiter, one call per metric
file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from gdei_cli.errors import InputError
from gdei_cli.readers._io import read_bytes
from gdei_cli.readers._yaml import yaml_dict
from gdei_cli.readers.base import RawLog, empty_log, raw_frame
from gdei_cli.readers.registry import Format, ReadOptions, Sniff

NAME: Final = "mlflow"
STATUS: Final = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def run_folder(metric_file: Path) -> Path:
    """The run folder of a file under ``<run>/metrics/``."""
    for parent in metric_file.parents:
        if parent.name == "metrics":
            return parent.parent
    raise ValueError(metric_file)


def is_run_folder(folder: Path) -> bool:
    return (folder / "meta.yaml").is_file() and (folder / "metrics").is_dir()


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    """One metric file of a run (assembly joins a run's files)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    folder = run_folder(path)
    key = path.relative_to(folder / "metrics").as_posix()
    data = read_bytes(path)
    if not data.strip():
        return empty_log(path, NAME)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(delimiter=" "),
            convert_options=pacsv.ConvertOptions(
                column_types={"f0": pa.float64(), "f1": pa.float64(), "f2": pa.int64()}
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"not an MLflow metric file: {exc}", path=path) from None
    n = table.num_rows
    ts = table.column(0).to_numpy() / 1000.0
    value = table.column(1).to_numpy()
    step = (
        table.column(2).fill_null(0).to_numpy()
        if table.num_columns >= 3
        else np.zeros(n, dtype=np.int64)
    )
    log = RawLog(
        path=path,
        format=NAME,
        frame=raw_frame(np.full(n, key, dtype=object), step, value, ts),
        wall_clock="logged",
    )
    log.attrs = run_attrs(folder)
    return log


def run_attrs(folder: Path) -> dict[str, str]:
    attrs: dict[str, Any] = {}
    meta = yaml_dict(folder / "meta.yaml")
    if meta.get("run_name") or meta.get("name"):
        attrs["run_name"] = meta.get("run_name") or meta.get("name")
    tag = folder / "tags" / "mlflow.runName"
    if tag.is_file():
        attrs["run_name"] = tag.read_text(errors="replace").strip()
    if "status" in meta:
        attrs["status"] = STATUS.get(meta["status"], meta["status"])
    for k in ("start_time", "end_time"):
        if isinstance(meta.get(k), int):
            attrs[k] = meta[k] / 1000.0
    exp = yaml_dict(folder.parent / "meta.yaml")
    if exp.get("name"):
        attrs["experiment"] = exp["name"]
    params = folder / "params"
    if params.is_dir():
        for p in sorted(params.rglob("*")):
            if p.is_file():
                attrs[f"param.{p.relative_to(params).as_posix()}"] = p.read_text(
                    errors="replace"
                ).strip()
    return {k: str(v) for k, v in attrs.items()}


def _recognise(s: Sniff) -> bool:
    return any(p.name == "metrics" and (p.parent / "meta.yaml").is_file() for p in s.path.parents)


def _walk(folder: Path) -> Sequence[Path] | None:
    """A run folder yields its metric files (and nothing else under it)."""
    if not is_run_folder(folder):
        return None
    return sorted(p for p in (folder / "metrics").rglob("*") if p.is_file())


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
    run_doc="the run folder",
    metric_doc="`loss`",
)
