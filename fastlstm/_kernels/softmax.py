"""Fused, numerically stable softmax + cross-entropy kernels.

Forward keeps ``exp(x - max)`` of every row (the unnormalised
probabilities) and the row sums; backward scales them, so each element's
exponential is computed once.  Rows are independent: parallel over rows, the
same result with any thread count.
"""

from __future__ import annotations

import math

from fastlstm._kernels.fastmath import exp as _exp
from fastlstm._numba import REDUCE_FASTMATH, dual, jit, prange


@jit(fastmath=REDUCE_FASTMATH)
def shifted_exp(row, out):
    """``out[:] = exp(row - max(row))``; returns ``(max(row), sum(out))``.

    ``out`` may be ``row`` itself (each element is read before it is written).
    """
    m = row[0]
    for v in range(1, row.shape[0]):
        m = row[v] if row[v] > m else m
    s = 0.0
    for v in range(row.shape[0]):
        w = _exp(row[v] - m)
        out[v] = w
        s += w
    return m, s


@jit(fastmath=REDUCE_FASTMATH)
def softmax_row(row, out):
    """``out[:] = softmax(row)``, stable; ``out`` may be ``row``."""
    inv = 1.0 / shifted_exp(row, out)[1]
    for v in range(out.shape[0]):
        out[v] *= inv


@jit(inline="never")
def softmax_defined(row):
    """True if ``row`` has no NaN, no +inf and at least one finite element.

    Exactly then is its softmax defined (-inf scores are probability 0).
    Compiled without fast-math flags (``fastmath=False``) and never inlined
    (an inlined helper would take its caller's flags): under the reductions'
    ``reassoc``/``nsz``/``contract`` flags LLVM may fold ``math.isfinite`` of a
    NaN to True, so kernels built with those flags call this instead of
    testing finiteness themselves.  Its result is exact, so a separately
    compiled copy cannot change any bits.
    """
    no_nan_or_inf = True
    some_finite = False
    for v in range(row.shape[0]):
        x = row[v]
        no_nan_or_inf &= x < math.inf  # False for NaN and +inf
        some_finite |= math.isfinite(x)
    return no_nan_or_inf and some_finite


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
        NaN for every row (ignored or not) that holds a NaN or +inf or only -inf;
        +inf where the score of the label is -inf.
    """
    M = x.shape[0]
    for r in prange(M):
        row = x[r]
        m, s = shifted_exp(row, e[r])
        sums[r] = s
        if not softmax_defined(row):  # compiled without fast-math flags
            losses[r] = math.nan
        elif t[r] == ignore_label:
            losses[r] = 0.0
        else:
            losses[r] = m + math.log(s) - row[t[r]]


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
    for r in prange(x.shape[0]):
        softmax_row(x[r], out[r])
