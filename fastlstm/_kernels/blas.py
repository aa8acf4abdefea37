"""Matrix products through numba's BLAS binding, parallel over fixed blocks.

All of fastlstm's matrix products go through these helpers (or through
``np.dot`` inside other kernels), so they share one BLAS library, used
single-threaded from inside ``prange`` (see :mod:`fastlstm._numba`).  The
blocks depend only on ``nch`` (``fastlstm._numba.CHUNKS``), not on the thread
count, so results are reproducible with any number of threads.

Operands are 2-D float arrays; ``a`` in :func:`matmul` and ``x``/``y`` in
:func:`matmul_tn` must be C-contiguous, ``b`` C- or F-contiguous, ``out``
C-contiguous.
"""

from __future__ import annotations

import numpy as np

from fastlstm._numba import dual, prange


@dual(blas=True)
def matmul(a, b, out, nch):
    """``out[...] = a @ b``, blocks of rows of ``a`` in parallel."""
    M = a.shape[0]
    C = max(1, min(nch, M))
    step = (M + C - 1) // C
    for c in prange(C):
        lo = c * step
        hi = min(M, lo + step)
        if lo < hi:
            np.dot(a[lo:hi], b, out[lo:hi])


@dual(blas=True)
def matmul_bias(a, b, bias, out, nch):
    """``out[...] = a @ b + bias`` (bias broadcast over rows)."""
    M = a.shape[0]
    K = out.shape[1]
    C = max(1, min(nch, M))
    step = (M + C - 1) // C
    for c in prange(C):
        lo = c * step
        hi = min(M, lo + step)
        if lo < hi:
            np.dot(a[lo:hi], b, out[lo:hi])
            for i in range(lo, hi):
                for k in range(K):
                    out[i, k] += bias[k]


@dual(blas=True)
def matmul_tn(x, y, out, nch):
    """``out[...] = x.T @ y`` for ``x`` (M, K1), ``y`` (M, K2); blocks of rows of ``out``."""
    K1 = x.shape[1]
    C = max(1, min(nch, K1))
    step = (K1 + C - 1) // C
    for c in prange(C):
        lo = c * step
        hi = min(K1, lo + step)
        if lo < hi:
            xb = np.ascontiguousarray(x[:, lo:hi])  # (M, hi-lo)
            np.dot(xb.T, y, out[lo:hi])
