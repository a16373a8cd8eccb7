"""TensorBoard event files (``events.out.tfevents.*``), read exactly and fast.

Split along TensorBoard's own seams (as rustboard is): :mod:`.framing`
(records, CRC32C, resynchronisation), :mod:`.templates` (same-layout records
decoded by column slicing), :mod:`.events` (the protobuf ``Event`` decoder:
scalars plugin, hparams, restarts), :mod:`.reader` (one file, window by
window).  A run is a folder of event files; ``add_scalars`` and
``add_hparams`` sub-folders join the run they belong to.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.readers.registry import Format, ReadOptions, ReadRun, Source

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog

NAME: Final = "tensorboard"
#: the sub-folder ``add_hparams`` writes: ``str(time.time())``
_TIMESTAMP: Final = re.compile(r"^\d{9,11}(\.\d+)?$")


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    """Read one event file into a :class:`RawLog`."""
    from gdei_cli.readers.tensorboard import reader

    return reader.read(path)


def is_event_file(path: Path) -> bool:
    return "tfevents" in path.name


def _join(runs: list[ReadRun]) -> list[ReadRun]:
    """Fold sub-folder runs into the run they belong to.

    ``writer.add_scalars("loss", {"train": a, "val": b})`` writes tag ``loss``
    into sub-folders ``loss/train`` (tensorboardX) or ``loss_train`` (torch) of
    the run folder: they become metrics ``loss/train`` and ``loss/val``.
    ``add_hparams`` writes a ``<timestamp>/`` sub-folder: its hparams and
    metrics join the run.
    """
    import os

    from gdei_cli.readers.base import RawLog

    def real(p: Path) -> Path:
        return Path(os.path.realpath(p))

    by_folder = {real(r.source.where): i for i, r in enumerate(runs)}
    into: dict[int, int] = {}
    for i, run in enumerate(runs):
        folder = real(run.source.where)
        parent = next((by_folder[p] for p in folder.parents if p in by_folder), None)
        if parent is None:
            continue
        rel = folder.relative_to(real(runs[parent].source.where)).as_posix()
        if _TIMESTAMP.match(rel):
            into[i] = parent
            continue
        renamed = [_add_scalars_names(log, rel) for log in run.logs]
        if all(r is not None for r in renamed):
            run.logs = [r for r in renamed if isinstance(r, RawLog)]
            into[i] = parent
    if not into:
        return runs
    for child, parent in sorted(into.items()):
        target = runs[parent]
        src = target.source
        target.source = Source(src.run, src.format, src.paths + runs[child].source.paths, src.where)
        target.logs.extend(runs[child].logs)
    return [r for i, r in enumerate(runs) if i not in into]


def _add_scalars_names(log: RawLog, rel: str) -> RawLog | None:
    """*log* with metric ``tag`` renamed ``tag/member``, if it is an add_scalars file."""
    import copy

    from gdei_cli.readers.base import Points

    points = log.points
    if not len(points):
        return log
    cats = points.metric_names
    new: list[str] = []
    for tag in cats:
        if rel.startswith(tag + "/") and len(rel) > len(tag) + 1:
            new.append(f"{tag}/{rel[len(tag) + 1 :]}")
        elif rel.startswith(tag.replace("/", "_") + "_") and "/" not in rel:
            new.append(f"{tag}/{rel[len(tag.replace('/', '_')) + 1 :]}")
        else:
            return None
    out = copy.copy(log)
    out.points = Points(points.metric_codes, new, points.step, points.value, points.wall_time)
    mapping = dict(zip(cats, new, strict=True))
    out.purges = [(s, {mapping.get(k, k): v for k, v in c.items()}) for s, c in log.purges]
    return out


FORMAT: Final = Format(
    name=NAME,
    description="TensorBoard event files `events.out.tfevents.*` (torch, tensorboardX, "
    "TF1/TF2, Keras, Lightning...)",
    read=read,
    recognise=lambda s: "tfevents" in s.name,
    order=0,
    grouping="folder",
    join=_join,
    run_doc="the folder of event files",
)
