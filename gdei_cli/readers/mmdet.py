"""MMDetection / MMCV ``*.log.json`` (JSON lines from ``TextLoggerHook``).

The first line may be an environment/config record with no step: it is not a
point (its ``exp_name``/``seed`` become run attributes).  Lines carry
``mode`` train/val, ``epoch`` and an ``iter`` that restarts every epoch; the
global step is ``(epoch - 1) * iters_per_epoch + iter``, with
``iters_per_epoch`` the largest train ``iter`` logged in an epoch, and a val
line sits at the end of its epoch (``epoch * iters_per_epoch``).  Bare ``NaN``
tokens are values.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gdei_cli.errors import InputError
from gdei_cli.readers._io import read_bytes
from gdei_cli.readers.registry import Format, ReadOptions, Sniff

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog

NAME: Final = "mmdet"
#: the planned length in an MMCV config: ``total_epochs = 12`` (mmdet 2.x) or
#: ``runner = dict(type='EpochBasedRunner', max_epochs=12)``
_EPOCHS: Final = re.compile(r"\b(?:total_epochs\s*=\s*|max_epochs\s*=\s*)(\d{1,6})\b")
META_KEYS: Final = frozenset({"env_info", "config", "seed", "exp_name", "hook_msgs"})


def _planned_epochs(config: str) -> int | None:
    """The planned number of epochs in the config text, if it says (linear regex)."""
    m = _EPOCHS.search(config)
    return int(m.group(1)) if m else None


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    """Read an MMDetection ``*.log.json`` into a :class:`RawLog`."""
    import numpy as np
    import pandas as pd

    from gdei_cli.readers._json import fast_frame, frame_to_raw, parse_lines

    options = options or ReadOptions()
    warnings: list[str] = []
    # (mutable: a NaN word is written over in place for pyarrow, then back)
    data = read_bytes(path, warnings, max_bytes=options.max_bytes, mutable=True)
    fast = fast_frame(data)
    if fast is not None:
        frame, lines, skipped = fast, np.arange(1, len(fast) + 1), []
    else:
        got = parse_lines(path, data, errors="replace")
        frame, lines, skipped = got.frame, got.line_numbers, got.skipped
        warnings += got.warnings
    del data
    if frame.empty:
        raise InputError("empty MMDetection log", path=path)
    meta_cols = [c for c in frame.columns if c in META_KEYS]
    if "mode" in frame:
        is_meta = frame["mode"].isna().to_numpy().copy()
    else:
        is_meta = np.zeros(len(frame), dtype=bool)
    if meta_cols:
        is_meta &= frame[meta_cols].notna().any(axis=1).to_numpy()
    else:
        is_meta[:] = False
    attrs: dict[str, str] = {}
    for k in ("exp_name", "seed"):
        if k in frame and is_meta.any():
            vals = frame.loc[is_meta, k].dropna()
            if len(vals):
                attrs[k] = str(vals.iloc[0])
    if "config" in frame and is_meta.any():
        configs = frame.loc[is_meta, "config"].dropna()
        planned = _planned_epochs(str(configs.iloc[0])) if len(configs) else None
        if planned is not None:
            attrs["max_epochs"] = str(planned)
    frame = frame.loc[~is_meta].drop(columns=meta_cols).reset_index(drop=True)
    line_numbers = np.asarray(lines, dtype=np.int64)[~is_meta]
    if not {"epoch", "iter"} <= set(frame.columns):
        raise InputError("MMDetection lines need 'epoch' and 'iter'", path=path)
    mode = frame["mode"].astype(str).to_numpy() if "mode" in frame else np.full(len(frame), "train")
    epoch = pd.to_numeric(frame["epoch"], errors="coerce").to_numpy(dtype=np.float64)
    it = pd.to_numeric(frame["iter"], errors="coerce").to_numpy(dtype=np.float64)
    for name, col in (("epoch", epoch), ("iter", it)):
        bad = np.flatnonzero(~np.isfinite(col) | (col != np.round(col)))
        if bad.size:
            raise InputError(
                f"{name!r} is {frame[name].iloc[int(bad[0])]!r}, not a whole number",
                path=path,
                line=int(line_numbers[int(bad[0])]),
            )
    train = mode == "train"
    per_epoch = float(np.nanmax(it[train]) if train.any() else np.nanmax(it))
    step = np.where(train, (epoch - 1) * per_epoch + it, epoch * per_epoch)
    frame = frame.drop(columns=[c for c in ("iter", "mode") if c in frame])
    frame["__step"] = step
    out = frame_to_raw(path, NAME, frame, line_numbers, skipped, warnings, step_names=("__step",))
    out.attrs = {**attrs, "iters_per_epoch": str(int(per_epoch))}
    return out


def _recognise(s: Sniff) -> bool:
    first = s.first_record
    if first is None:
        return False
    return (
        s.name.endswith(".log.json") or "env_info" in first or ("mode" in first and "iter" in first)
    )


FORMAT: Final = Format(
    name=NAME,
    description="MMDetection `*.log.json`",
    read=read,
    recognise=_recognise,
    order=20,
    metric_doc="`loss` (objective: `bbox_mAP`)",
)
