"""Matrix products and column sums of the layers, through the package's BLAS kernels.

``_matmul_into`` writes ``a @ b (+ bias)`` into an existing array (no temporary
when the layouts allow), ``_mm`` returns a new one, ``_panels`` lays a weight
matrix out in column panels for the packed kernels, ``_column_sums`` sums rows
with NumPy's bits.
"""

from __future__ import annotations

import numba
import numpy as np

from fastlstm._kernels import blas as _kblas
from fastlstm._numba import CHUNKS, PARALLEL_MIN_WORK


def _operand(a):
    """``a`` as a 2-D array BLAS can take (C- or F-contiguous)."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return a
    return np.ascontiguousarray(a)


def _matmul_into(out, a, b, bias=None):
    """``out[...] = a @ b (+ bias)`` through the package's BLAS, without a temporary when possible."""
    a, b = _operand(a), _operand(b)
    if not (out.dtype == a.dtype == b.dtype):
        out[...] = _mm(a.astype(out.dtype), b.astype(out.dtype), bias)
    elif not out.flags.c_contiguous:
        if bias is not None or not out.flags.f_contiguous:
            out[...] = _mm(a, b, bias)
        else:
            _matmul_into(out.T, b.T, a.T)
    elif bias is not None:
        _kblas.matmul_bias.pick(_work(a, b))(np.ascontiguousarray(a), b, bias, out, CHUNKS)
    elif a.flags.c_contiguous:
        _kblas.matmul.pick(_work(a, b))(a, b, out, CHUNKS)
    elif 4 * a.shape[0] <= a.shape[1] and CHUNKS > 1:  # short, wide out: split the sum
        x, y = a.T, np.ascontiguousarray(b)
        blocks = max(1, min(CHUNKS, x.shape[0]))
        part = np.empty((blocks - 1, *out.shape), dtype=out.dtype)
        _kblas.matmul_tn_rows.pick(_work(a, b))(x, y, out, part, CHUNKS)
    else:
        _kblas.matmul_tn.pick(_work(a, b))(a.T, np.ascontiguousarray(b), out, CHUNKS)


def _column_sums(a, out):
    """``out[...] = a.sum(axis=0)`` for 2-D ``a``, NumPy's bits.

    Large C-contiguous arrays go to the parallel kernel; below the size at which
    threads pay off NumPy's own sum is as fast and needs no compiled kernel.
    """
    if (
        a.size >= PARALLEL_MIN_WORK
        and a.flags.c_contiguous
        and out.flags.c_contiguous
        and a.dtype == out.dtype
    ):
        _kblas.column_sums(a, out)
    else:
        out[...] = a.sum(axis=0)


def _flops(a, b):
    return 2 * a.shape[0] * a.shape[1] * b.shape[1]


#: A BLAS product's flops per unit of :data:`~fastlstm._numba.PARALLEL_MIN_WORK`: a core runs
#: a product several times faster than an elementwise kernel's operations, so a product
#: goes parallel from 4 MFLOP.  Below that, waking idle threads (75-100 µs where they
#: sleep) cost more than half the product: the output layer's 1.7 MFLOP products of the
#: addition models took 46-78 µs serially, 113-152 µs in parallel, on a 2-core Xeon.
_FLOPS_PER_WORK = 8


def _work(a, b):
    """The work by which ``a @ b`` picks its serial or parallel build."""
    return _flops(a, b) // _FLOPS_PER_WORK


def _mm(a, b, bias=None):
    """Return ``a @ b (+ bias)`` computed through the package's BLAS."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    _matmul_into(out, a, b, bias)
    return out


def _panels(W, transpose=False):
    """``W`` (K, M) (or ``W.T`` for ``transpose``) in column panels for ``matmul_packed``.

    Returns ``(npan, K, P)`` (``(npan, M, P)`` of ``W.T``), zero-padded to whole panels.
    """
    W = np.ascontiguousarray(W)
    P = _kblas.panel_width(W.dtype)
    K, M = W.shape[::-1] if transpose else W.shape
    out = np.empty((-(-M // P), K, P), dtype=W.dtype)
    (_kblas.pack_panels_t if transpose else _kblas.pack_panels)(W, out)
    return out


def _scatter_blocks(D):
    return max(1, min(D, 4 * numba.get_num_threads()))
