"""Embedding gather and deterministic scatter-add kernels."""

from __future__ import annotations

from fastlstm._numba import dual, prange


@dual
def embedding_gather(W, idx, out):
    """``out[k] = W[idx[k]]`` for flat ids ``idx`` (M,), ``W`` (V, D), ``out`` (M, D)."""
    M = idx.shape[0]
    D = W.shape[1]
    for k in prange(M):
        row = idx[k]
        for d in range(D):
            out[k, d] = W[row, d]


@dual
def embedding_scatter_add(dW, idx, dout, nblocks):
    """``dW[...] = 0; dW[idx[k]] += dout[k]`` for every ``k`` in order.

    ``dW`` is zeroed by blocks of rows, then the additions are split over blocks
    of columns: every thread owns whole columns and adds the rows of ``dout``
    in the same order, so repeated ids accumulate deterministically, whatever
    the thread count.

    Parameters
    ----------
    dW : (V, D) output gradient, overwritten.
    idx : (M,) ids.
    dout : (M, D) upstream gradient.
    nblocks : int, number of column blocks (>= 1).
    """
    V, D = dW.shape
    M = idx.shape[0]
    rows = (V + nblocks - 1) // nblocks
    for blk in prange(nblocks):  # zero whole rows: contiguous stores
        for v in range(blk * rows, min(V, (blk + 1) * rows)):
            for d in range(D):
                dW[v, d] = 0
    # column blocks a multiple of 16 wide: fewer cache lines written by two threads
    step = ((D + nblocks - 1) // nblocks + 15) // 16 * 16
    for blk in prange(nblocks):
        lo = blk * step
        hi = min(D, lo + step)
        for k in range(M):
            row = idx[k]
            for d in range(lo, hi):
                dW[row, d] += dout[k, d]
