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
    contiguous; groups with one weight are smoothed together.
    """
    out = np.asarray(values, dtype=np.float64).copy()
    if out.size == 0:
        return out
    w_point = weight[groups]
    present = groups[np.r_[True, groups[1:] != groups[:-1]]]  # rows of a group are contiguous
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
    out = np.full(values.size, np.nan)
    if finite.all():
        return smooth(values, segs.codes, weight)
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
    n = v.size
    if n == 0:
        return v.copy()
    finite = np.isfinite(v)
    idx = np.flatnonzero(finite)
    e = np.full(n, np.nan)
    if idx.size == 0:
        return e
    fv = v[idx]
    seg = segs.seg[idx]
    first = np.r_[True, seg[1:] != seg[:-1]]
    start_pos = np.maximum.accumulate(np.where(first, np.arange(idx.size), 0))
    l0 = fv[start_pos]
    prev = np.r_[np.nan, fv[:-1]]
    d = np.abs(prev - fv)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p = (l0 - fv) / l0
        raw = 100.0 * p / (1.0 + np.log1p(d * d))
        fe = 100.0 - np.minimum(100.0, np.maximum(1.0, raw))
    fe[first] = np.nan
    fe[~(l0 > 0) | ~np.isfinite(l0)] = np.nan
    e[idx] = fe
    return e
