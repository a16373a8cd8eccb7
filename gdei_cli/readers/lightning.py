"""PyTorch Lightning's ``CSVLogger`` ``metrics.csv`` (+ ``hparams.yaml``).

Sparse rows with ``step`` and ``epoch`` columns; the run is its ``version_N``
folder; the hyperparameters beside it become ``hparam.*`` attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.readers import csv
from gdei_cli.readers._yaml import scalar_attrs
from gdei_cli.readers.registry import Format, ReadOptions

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    return _finish(path, csv.read(path, options))


def _finish(path: Path, log: RawLog) -> RawLog:
    """A ``metrics.csv`` read as CSV, as this format: its name, ``hparams.yaml``."""
    log.format = FORMAT.name
    hparams = scalar_attrs(path.parent / "hparams.yaml")
    log.attrs.update({f"hparam.{k}": v for k, v in hparams.items()})
    return log


FORMAT: Final = Format(
    name="lightning",
    description="PyTorch Lightning `CSVLogger` `metrics.csv` (+ `hparams.yaml`)",
    read=read,
    recognise=lambda s: (
        s.is_csv and s.name.startswith("metrics.") and {"step", "epoch"} <= set(s.header)
    ),
    order=13,
    generic_names=frozenset({"metrics"}),
    skip_names=frozenset({"hparams.yaml"}),
    side_files=lambda path: [path.parent / "hparams.yaml"],
    run_doc="the `version_N` folder",
    metric_doc="`train_loss`, `train_loss_step`",
    read_many=csv.dialect_many(_finish),
)
