"""Inverted-dropout kernel."""

from __future__ import annotations

from fastlstm._numba import dual, prange


@dual
def dropout_apply(x, u, ratio, scale, out, mask):
    """``mask = (u > ratio) * scale``; ``out = x * mask`` (flat arrays of equal length)."""
    for k in prange(x.shape[0]):
        m = scale if u[k] > ratio else 0.0
        mask[k] = m
        out[k] = x[k] * mask[k]
