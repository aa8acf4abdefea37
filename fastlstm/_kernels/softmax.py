"""Fused, numerically stable softmax + cross-entropy kernels."""

from __future__ import annotations

import math

from fastlstm._numba import pjit, prange


@pjit
def softmax_ce_forward(x, t, ignore_label, lse, losses):
    """Per-row log-sum-exp and cross-entropy.

    Parameters
    ----------
    x : (M, V) scores.
    t : (M,) target ids; rows with ``ignore_label`` get loss 0.
    ignore_label : int
    lse : (M,) output, ``log(sum(exp(x[r])))`` computed stably (max subtracted).
    losses : (M,) float64 output, ``lse[r] - x[r, t[r]]`` (0 where ignored).
    """
    M, V = x.shape
    for r in prange(M):
        m = x[r, 0]
        for v in range(1, V):
            if x[r, v] > m:
                m = x[r, v]
        s = 0.0
        for v in range(V):
            s += math.exp(x[r, v] - m)
        val = m + math.log(s)
        lse[r] = val
        if t[r] == ignore_label:
            losses[r] = 0.0
        else:
            losses[r] = val - x[r, t[r]]


@pjit
def softmax_ce_backward(x, t, ignore_label, lse, scale, dx):
    """``dx[r] = (softmax(x[r]) - onehot(t[r])) * scale``; zero rows where ignored."""
    M, V = x.shape
    for r in prange(M):
        if t[r] == ignore_label:
            for v in range(V):
                dx[r, v] = 0
        else:
            lr = lse[r]
            for v in range(V):
                dx[r, v] = math.exp(x[r, v] - lr) * scale
            dx[r, t[r]] -= scale


@pjit
def softmax_rows(x, out):
    """Stable softmax over the last axis of a 2-D array."""
    M, V = x.shape
    for r in prange(M):
        m = x[r, 0]
        for v in range(1, V):
            if x[r, v] > m:
                m = x[r, v]
        s = 0.0
        for v in range(V):
            e = math.exp(x[r, v] - m)
            out[r, v] = e
            s += e
        inv = 1.0 / s
        for v in range(V):
            out[r, v] *= inv
