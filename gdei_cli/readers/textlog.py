"""Plain-text training logs: ``key:value`` / ``key=value`` / ``key value`` lines.

As scripts print them, e.g. llm.c's ``main.log`` (``s:0 trl:11.01 lr:0.000001
norm:14.96``, with ``tel:`` eval lines) or ``step 100 | loss 2.34 | lr 3e-4``.
Every line is searched for key/value tokens by one vectorized regex pass
(pandas ``str.extractall``); the line's step is its ``s``/``step``/``iter``/...
value, every other token is a point of the metric named by its key.  Lines
without a step are skipped and counted.  ``--line-pattern REGEX`` replaces the
tokenizer with a regex whose named groups are ``step`` and one per metric.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from gdei_cli.errors import InputError, UsageError
from gdei_cli.readers._io import read_bytes
from gdei_cli.readers.base import RawLog, SkippedLine, raw_frame
from gdei_cli.readers.registry import Format, ReadOptions, Sniff

NAME: Final = "textlog"

#: keys that give a line's step, in order of preference
STEP_KEYS: Final = ("s", "step", "global_step", "iteration", "iter", "it", "epoch")
_NUMBER = (
    r"[-+]?(?:nan|inf(?:inity)?|\d++(?:\.\d*+)?+(?:[eE][-+]?\d++)?+|\.\d++(?:[eE][-+]?\d++)?+)"
)
#: a key: a word (with ``. / @ -``), optionally ending in one ``(...)`` group
_KEY = r"[A-Za-z_][\w./@-]*+(?:\([\w./@-]*+\))?+"
#: key/value tokens.  Linear on any line: a key starts only where the previous
#: character cannot be part of one (so each run of key characters is scanned
#: once), and every repetition is possessive (no backtracking).
TOKEN: Final = re.compile(
    rf"(?<![\w./@-])(?P<key>{_KEY})(?:\s*+[:=]\s*+|\s++)(?P<val>{_NUMBER})(?![\w.:/-])",
    re.IGNORECASE,
)


def looks_like_textlog(head: str) -> bool:
    """Most of the first lines carry a step key and at least one more key/value."""
    lines = [ln for ln in head.splitlines()[:50] if ln.strip()]
    if not lines:
        return False
    good = 0
    for ln in lines:
        keys = {m.group("key").lower() for m in TOKEN.finditer(ln)}
        if keys & set(STEP_KEYS) and len(keys) >= 2:
            good += 1
    return good >= max(1, len(lines) // 2)


def read(path: Path, options: ReadOptions | None = None) -> RawLog:
    """Read a plain-text log (or, with ``--line-pattern``, lines matching the pattern)."""
    import numpy as np
    import pandas as pd

    options = options or ReadOptions()
    line_pattern = options.line_pattern
    warnings: list[str] = []
    data = read_bytes(path, warnings, max_bytes=options.max_bytes)
    text = data.decode("utf-8", errors="replace")
    del data
    lines = pd.Series(text.splitlines(), dtype=object)
    n_lines = len(lines)
    if line_pattern is not None:
        got = _read_pattern(path, lines, line_pattern)
        got.warnings[:0] = warnings
        return got
    found = lines.str.extractall(TOKEN)
    if found.empty:
        return RawLog(path=path, format=NAME, frame=raw_frame([], [], [], []), warnings=warnings)
    line_no = found.index.get_level_values(0).to_numpy()
    keys = found["key"].to_numpy(dtype=object)
    vals = pd.to_numeric(found["val"], errors="coerce").to_numpy(dtype=np.float64)
    lower = found["key"].str.lower().to_numpy(dtype=object)
    # the line's step: the first step key (by preference) on that line
    step = np.full(n_lines, np.nan)
    for key in reversed(STEP_KEYS):
        hit = lower == key
        step[line_no[hit]] = vals[hit]
    is_step_key = np.isin(lower, STEP_KEYS)
    line_step = step[line_no]
    ok = ~is_step_key & np.isfinite(line_step) & (np.abs(line_step) < 2.0**62)
    skipped_lines = np.setdiff1d(
        np.unique(line_no[~is_step_key]), np.unique(line_no[np.isfinite(line_step)])
    )
    log = RawLog(
        path=path,
        format=NAME,
        frame=raw_frame(
            keys[ok], line_step[ok].astype(np.int64), vals[ok], np.full(ok.sum(), np.nan)
        ),
        warnings=warnings,
    )
    if skipped_lines.size:
        log.warnings.append(f"{skipped_lines.size} line(s) with values but no step were skipped")
        log.skipped_lines = [
            SkippedLine(int(i) + 1, "values but no step") for i in skipped_lines[:20]
        ]
    return log


def _read_pattern(path: Path, lines: object, pattern: str) -> RawLog:
    import numpy as np
    import pandas as pd

    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"--line-pattern is not a valid regex: {exc}") from None
    groups = list(rx.groupindex)
    if "step" not in groups or len(groups) < 2:
        raise UsageError(
            "--line-pattern needs a named group 'step' and one per metric, e.g. "
            r"'step (?P<step>\d+).*loss (?P<loss>[\d.e+-]+)'"
        )
    if not isinstance(lines, pd.Series):
        raise TypeError("lines must be a pandas Series")
    got = lines.str.extract(rx)
    step = pd.to_numeric(got["step"], errors="coerce").to_numpy(dtype=np.float64)
    has = np.isfinite(step) & (np.abs(step) < 2.0**62)
    metrics = [g for g in groups if g != "step"]
    vals = np.column_stack(
        [pd.to_numeric(got[m], errors="coerce").to_numpy(dtype=np.float64) for m in metrics]
    )
    present = np.column_stack([got[m].notna().to_numpy() for m in metrics]) & has[:, None]
    rows, cols = np.nonzero(present)
    if rows.size == 0:
        raise InputError("--line-pattern matched no line with a step", path=path)
    return RawLog(
        path=path,
        format=NAME,
        frame=raw_frame(
            np.asarray(metrics, dtype=object)[cols],
            step[rows].astype(np.int64),
            vals[rows, cols],
            np.full(rows.size, np.nan),
        ),
    )


def _recognise(s: Sniff) -> bool:
    if not s.is_text or s.first_record is not None:
        return False
    return s.options.line_pattern is not None or looks_like_textlog(s.text)


FORMAT: Final = Format(
    name=NAME,
    description="plain text: `s:0 trl:11.01 lr:1e-6` (llm.c), `step 100 | loss 2.34`, "
    "`key=value`; or `--line-pattern`",
    read=read,
    recognise=_recognise,
    order=92,
    metric_doc="`loss`, `trl`...",
)
