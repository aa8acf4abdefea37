"""Fused, numerically stable softmax + cross-entropy kernels.

Forward keeps ``exp(x - max)`` of every row (the unnormalised
probabilities) and the row sums; backward scales them, so each element's
exponential is computed once.  Rows are independent: parallel over rows, the
same result with any thread count.
"""

from __future__ import annotations

import math

from fastlstm._kernels.fastmath import exp as _exp
from fastlstm._numba import REDUCE_FASTMATH, dual, prange


@dual(fastmath=REDUCE_FASTMATH)
def softmax_ce_forward(x, t, ignore_label, e, sums, losses):
    """Per-row stable softmax numerators and cross-entropy.

    Parameters
    ----------
    x : (M, V) scores.
    t : (M,) target ids; rows with ``ignore_label`` get loss 0.
    ignore_label : int
    e : (M, V) output, ``exp(x[r] - max(x[r]))``.
    sums : (M,) float64 output, the row sums of ``e``.
    losses : (M,) float64 output, ``log(sums) + max - x[r, t[r]]`` (0 where ignored);
        NaN or inf when the row holds NaN or inf.
    """
    M, V = x.shape
    for r in prange(M):
        row = x[r]
        er = e[r]
        m = row[0]
        for v in range(1, V):
            m = row[v] if row[v] > m else m
        s = 0.0
        for v in range(V):
            w = _exp(row[v] - m)
            er[v] = w
            s += w
        sums[r] = s
        lse = m + math.log(s)
        if t[r] == ignore_label:
            losses[r] = 0.0 if math.isfinite(lse) else lse
        else:
            losses[r] = lse - row[t[r]]


@dual(fastmath=REDUCE_FASTMATH)
def softmax_ce_backward(e, t, ignore_label, sums, scale, dx):
    """``dx[r] = (e[r] / sums[r] - onehot(t[r])) * scale``; zero rows where ignored."""
    M, V = e.shape
    for r in prange(M):
        dr = dx[r]
        if t[r] == ignore_label:
            for v in range(V):
                dr[v] = 0
        else:
            er = e[r]
            k = scale / sums[r]
            for v in range(V):
                dr[v] = er[v] * k
            dr[t[r]] -= scale


@dual(fastmath=REDUCE_FASTMATH)
def softmax_rows(x, out):
    """Stable softmax over the last axis of a 2-D array."""
    M, V = x.shape
    for r in prange(M):
        row = x[r]
        orow = out[r]
        m = row[0]
        for v in range(1, V):
            m = row[v] if row[v] > m else m
        s = 0.0
        for v in range(V):
            w = _exp(row[v] - m)
            orow[v] = w
            s += w
        inv = 1.0 / s
        for v in range(V):
            orow[v] *= inv
