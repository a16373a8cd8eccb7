"""TensorBoard's "download CSV" (``Wall time,Step,Value``): one metric per file.

The metric is named from the file: ``run-<run>-tag-<tag>.csv`` gives ``<tag>``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.readers import csv
from gdei_cli.readers.base import raw_frame
from gdei_cli.readers.registry import Format, ReadOptions

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog

_DOWNLOAD: Final = re.compile(r"^run[-_](?P<run>.*?)[-_]tag[-_](?P<tag>.+)$")


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    import numpy as np

    log = csv.read(path, options)
    log.format = FORMAT.name
    stem = path.name.split(".")[0]
    m = _DOWNLOAD.match(stem)
    name = m.group("tag") if m else stem
    f = log.frame
    log.frame = raw_frame(
        np.full(len(f), name, dtype=object), f["step"], f["value"], f["wall_time"]
    )
    return log


FORMAT: Final = Format(
    name="tb_csv",
    description='TensorBoard "download CSV" (`Wall time,Step,Value`)',
    read=read,
    recognise=lambda s: s.is_csv and s.header == ["Wall time", "Step", "Value"],
    order=10,
    metric_doc="the tag in its name",
)
