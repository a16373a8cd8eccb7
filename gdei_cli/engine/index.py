"""The Gradient Descent Efficiency Index and the smoothing applied before it.

The index (Dhingra, "Gradient Descent Efficiency Index", arXiv:2410.19448), for
one series of loss values ``L_0, L_1, ...`` at its logged points::

    P_k = (L_0 - L_k) / L_0
    D_k = |L_(k-1) - L_k|
    E_k = 100 - min(100, max(1, 100 * P_k / (1 + ln(1 + D_k**2))))   (k >= 1)

``E_0`` is undefined (NaN).  ``E`` falls as training removes loss: an index
that stops falling means the iterations stopped buying anything.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from gdei_cli.engine.segments import Segments


def auto_smoothing(n_points: np.ndarray) -> np.ndarray:
    """The "auto" smoothing weight: an EMA spanning 1% of a series' points."""
    span = np.maximum(1.0, np.asarray(n_points, dtype=np.float64) / 100.0)
    return np.asarray(np.where(span <= 1.0, 0.0, 1.0 - 2.0 / (span + 1.0)), dtype=np.float64)


def smoothing_weights(counts: np.ndarray, smoothing: float | None) -> np.ndarray:
    """Each series' EMA weight: *smoothing*, or "auto" from its number of finite points."""
    if smoothing is None:
        return auto_smoothing(counts)
    return np.full(np.shape(counts), float(smoothing), dtype=np.float64)


def smooth(values: np.ndarray, groups: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """TensorBoard's debiased EMA, per group: ``last = w*last + (1-w)*y``, ``/ (1 - w**n)``.

    That is exactly pandas' ``ewm(alpha=1-w, adjust=True)``.  *weight* gives
    each group's ``w`` (indexed by group code); rows of a group are
    contiguous.  Computed by pandas' own EWM kernel over every group at once
    (one call per group when groups have different weights).
    """
    out = np.asarray(values, dtype=np.float64).copy()
    return _smooth(out, Segments.of(groups, weight.size), weight)


def _smooth(out: np.ndarray, segs: Segments, weight: np.ndarray) -> np.ndarray:
    """:func:`smooth` of *out* (float64, ours to change) over the segments *segs*."""
    if out.size == 0:
        return out
    starts, ends = segs.starts, segs.ends
    w_seg = weight[segs.ids]
    on = w_seg != 0.0
    if not on.any():
        return out
    kernel = _ewm_kernel()
    if kernel is None:
        return _smooth_grouped(out, segs.codes, weight)
    ws = np.unique(w_seg[on])
    if ws.size == 1:
        got = kernel(out, starts[on], ends[on], 1, _com(ws[0]), True, False, None, True)
        if on.all():  # the kernel filled every row
            return np.asarray(got, dtype=np.float64)
        rows = segs.rows(on)
        out[rows] = got[rows]
        return out
    one = np.zeros(1, dtype=np.int64)
    for s, e, w in zip(starts[on].tolist(), ends[on].tolist(), w_seg[on].tolist(), strict=True):
        out[s:e] = kernel(out[s:e], one, np.array([e - s]), 1, _com(w), True, False, None, True)
    return out


def _com(w: float) -> float:
    """The centre of mass pandas derives from ``alpha = 1 - w`` (bit for bit)."""
    return 1.0 / (1.0 - float(w)) - 1.0


@functools.cache
def _ewm_kernel() -> Callable[..., np.ndarray] | None:
    """pandas' EWM kernel over (start, end) row ranges, which its grouped ``ewm`` calls
    once per frame; None if this pandas has no such kernel (then the public API)."""
    try:
        aggregations = importlib.import_module("pandas._libs.window.aggregations")
    except ImportError:  # pragma: no cover - pandas moved it
        return None
    kernel = getattr(aggregations, "ewm", None)
    return kernel if callable(kernel) else None


def _smooth_grouped(out: np.ndarray, groups: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """:func:`smooth` through pandas' public grouped ``ewm`` (one call per weight)."""
    w_point = weight[groups]
    present = groups[np.r_[True, groups[1:] != groups[:-1]]]
    for w in np.unique(weight[present]):
        if w == 0.0:
            continue
        sel = w_point == w
        part = pd.Series(out[sel])
        sm = part.groupby(groups[sel], sort=False).ewm(alpha=1.0 - float(w), adjust=True).mean()
        # rows of a group are contiguous and groups keep their order: the
        # result is already in row order
        out[sel] = sm.to_numpy()
    return out


def smooth_finite(values: np.ndarray, segs: Segments, weight: np.ndarray) -> np.ndarray:
    """:func:`smooth` over the finite values only (NaN elsewhere), as TensorBoard does."""
    finite = np.isfinite(values)
    if finite.all():  # the segments as they are
        return _smooth(np.asarray(values, dtype=np.float64).copy(), segs, weight)
    out = np.full(values.size, np.nan)
    idx = np.flatnonzero(finite)
    out[idx] = smooth(values[idx], segs.codes[idx], weight)
    return out


def gdei(values: np.ndarray, segs: Segments) -> np.ndarray:
    """The index of every row, per segment (rows of a segment in step order).

    Non-finite values give NaN at that row; the first finite value of a
    segment is its ``L_0``; segments whose ``L_0`` is <= 0 get NaN everywhere.
    ``D_k`` compares a row with the previous *finite* row of its segment.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v.copy()
    finite = np.isfinite(v)
    if finite.all():  # the usual case: no compaction
        return _index(v, segs.starts, segs.lengths)
    idx = np.flatnonzero(finite)
    e = np.full(v.size, np.nan)
    if idx.size == 0:
        return e
    finite_segs = Segments.of(segs.codes[idx], segs.n_runs)
    e[idx] = _index(v[idx], finite_segs.starts, finite_segs.lengths)
    return e


def _index(v: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The index over finite *v* made of segments (*starts*, *lengths*), in place on
    few temporaries: the formula above, operation for operation."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _index_of(v, starts, lengths)


def _index_of(v: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    l0 = np.repeat(v[starts], lengths)
    e: np.ndarray = l0 - v
    e /= l0
    e *= 100.0  # 100 * P_k
    d = np.empty_like(v)
    d[0] = np.nan
    np.subtract(v[:-1], v[1:], out=d[1:])
    d *= d  # D_k ** 2 (the sign goes with the square)
    np.log1p(d, out=d)
    d += 1.0
    e /= d
    np.maximum(e, 1.0, out=e)
    np.minimum(e, 100.0, out=e)
    np.subtract(100.0, e, out=e)
    e[starts] = np.nan  # E_0 is undefined
    bad = ~(v[starts] > 0)  # finite here: only L_0 <= 0 leaves a segment undefined
    if bad.any():
        e[np.repeat(bad, lengths)] = np.nan
    return e
