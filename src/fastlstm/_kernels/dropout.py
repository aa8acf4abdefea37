"""Inverted-dropout kernels: the mask ``(u > ratio) * scale`` and ``out = x * mask``.

:func:`dropout_apply` takes the uniform draws ``u`` made by NumPy.  The other two
make them from a NumPy generator's state as NumPy would
(:mod:`fastlstm._kernels.uniform`) and use each where it is made: the same mask
and output bits, the state advanced by the same draws, without the float64
temporary and with the draws of a PCG64 generator in parallel blocks.
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels.blas import block_bounds, product_blocks
from fastlstm._kernels.uniform import (
    PCG_MULT,
    mt_double,
    mt_stream,
    mt_temper,
    pcg_double,
    pcg_step,
)
from fastlstm._numba import dual, jit, prange


@jit
def _apply(x, u, ratio, scale, out, mask, k):
    """Element ``k``: ``mask = (u > ratio) * scale``, ``out = x * mask``."""
    m = scale if u > ratio else 0.0
    mask[k] = m
    out[k] = x[k] * mask[k]


@dual
def dropout_apply(x, u, ratio, scale, out, mask):
    """``mask = (u > ratio) * scale``; ``out = x * mask`` (flat arrays of equal length)."""
    for k in prange(x.shape[0]):
        _apply(x, u[k], ratio, scale, out, mask, k)


@dual
def dropout_pcg64(x, ratio, scale, out, mask, starts, inc, S):
    """:func:`dropout_apply` with ``u`` drawn from a PCG64 generator's state.

    Parameters
    ----------
    x, out, mask : (n,) flat arrays of one float dtype.
    ratio, scale : float
    starts : (B, 2) uint64, the high and low words of the state before each block
        of ``S`` draws (the last block may be shorter), ``B = ceil(n / S)``; the
        blocks run in parallel, and any split gives the same bits.
    inc : (2,) uint64, the generator's increment.
    S : int
    """
    n = x.shape[0]
    mh, ml = np.uint64(PCG_MULT[0]), np.uint64(PCG_MULT[1])
    ih, il = inc[0], inc[1]
    for b in prange(starts.shape[0]):
        sh, sl = starts[b, 0], starts[b, 1]
        for k in range(b * S, min(n, b * S + S)):
            sh, sl = pcg_step(sh, sl, mh, ml, ih, il)
            _apply(x, pcg_double(sh, sl), ratio, scale, out, mask, k)


@dual
def dropout_mt19937(x, ratio, scale, out, mask, key, pos, stream, nch):
    """:func:`dropout_apply` with ``u`` drawn from an MT19937 generator's state.

    Parameters
    ----------
    x, out, mask : (n,) flat arrays of one float dtype.
    ratio, scale : float
    key : (624,) uint32, the generator's words, and ``pos`` (1,) int64 the next one's
        index: on return, the state after the ``n`` draws (two words each).
    stream : (2n + 1248,) uint32 work array: ``key`` and the words after it, in
        order (:func:`~fastlstm._kernels.uniform.mt_stream`, serial), then tempered
        and used in ``nch`` blocks in parallel.
    nch : int, number of blocks (any number gives the same bits).
    """
    n = x.shape[0]
    if n == 0:
        return
    N = key.shape[0]
    p = pos[0]
    end = p + 2 * n  # the words used are stream[p:end]
    L = (end + N - 1) // N * N  # whole states: the last is the new key
    s = stream[:L]
    for i in range(N):
        s[i] = key[i]
    mt_stream(s, N)
    for i in range(N):
        key[i] = s[L - N + i]
    pos[0] = end - (L - N)
    C = product_blocks(n, nch)
    for c in prange(C):
        lo, hi = block_bounds(c, n, C)
        # slices of the block's own, indexed from 0: so the loop vectorises (3x faster)
        w = s[p + 2 * lo : p + 2 * hi]
        xc, oc, mc = x[lo:hi], out[lo:hi], mask[lo:hi]
        for k in range(hi - lo):
            u = mt_double(mt_temper(w[2 * k]), mt_temper(w[2 * k + 1]))
            _apply(xc, u, ratio, scale, oc, mc, k)
