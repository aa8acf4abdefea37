"""Fused, numerically stable softmax + cross-entropy kernels.

Forward keeps ``exp(x - max)`` of every row (the unnormalised
probabilities) and the row sums; backward scales them, so each element's
exponential is computed once.  The output layer's forward can also turn each
row into its gradient while the row is in cache (``softmax_ce_forward_bias``
with ``grad``).  Rows are independent: parallel over rows, the same result
with any thread count.
"""

from __future__ import annotations

import math

from fastlstm._kernels.blas import _add_row, add_rows
from fastlstm._kernels.fastmath import cast_like
from fastlstm._kernels.fastmath import exp as _exp
from fastlstm._kernels.lanes import dot8_head, gt, max8_head, sum8_head
from fastlstm._numba import dual, jit, prange


@jit(inline="never")
def row_max(row):
    """The largest element of ``row``.

    Eight independent running maxima over interleaved elements, combined at
    the end (:func:`fastlstm._kernels.lanes.max8_head`, one vector of eight
    lanes): the same value as one sequential pass, since a maximum does not
    depend on the order.  For a row with a NaN the result is unspecified, and
    it does not matter: ``exp(row - m)`` keeps the NaN, so the row's sum is
    NaN whatever ``m`` is, and callers check rows with
    :func:`softmax_defined`.  Never inlined: compiled once, linked into every
    softmax kernel.
    """
    n = row.shape[0]
    m = row[0]
    n8 = n - n % 8
    if n8 > 0:
        m = max8_head(row, n8)
    for v in range(n8, n):
        m = gt(row[v], m)
    return m


@jit
def sum8(x):
    """``sum(x)`` of a vector in its precision, in eight interleaved partial sums
    (element ``i`` goes to ``i % 8``) added pairwise at the end.

    A fixed order, run as one vector of eight lanes without fast-math flags
    (:mod:`fastlstm._kernels.lanes`), so every compiled copy of a kernel gives
    the same bits: a single running sum would need ``reassoc`` to be
    vectorised, and then the order would depend on how each copy was
    optimised.
    """
    n = x.shape[0]
    n8 = n - n % 8
    s = sum8_head(x, n8)
    for i in range(n8, n):
        s += x[i]
    return s


@jit
def dot8(x, y):
    """``x . y`` of two vectors in their precision, in the order of :func:`sum8`
    (eight interleaved partial sums added pairwise at the end)."""
    n = x.shape[0]
    n8 = n - n % 8
    s = dot8_head(x, y, n8)
    for i in range(n8, n):
        s += x[i] * y[i]
    return s


@jit
def shifted_exp(row, out):
    """``out[:] = exp(row - max(row))``; returns ``(max(row), sum(out))``.

    ``out`` may be ``row`` itself (each element is read before it is written).
    The sum is :func:`sum8` of ``out``, in the row's precision (float32 keeps
    about 1e-7 relative accuracy).
    """
    m = row_max(row)
    n = row.shape[0]
    for v in range(n):
        out[v] = _exp(row[v] - m)
    return m, sum8(out)


@jit
def softmax_row(row, out):
    """``out[:] = softmax(row)``, stable; ``out`` may be ``row``."""
    inv = 1.0 / shifted_exp(row, out)[1]
    for v in range(out.shape[0]):
        out[v] *= inv


@jit
def softmax_defined(s):
    """True if a row's softmax is defined, from ``s``, its :func:`shifted_exp` sum.

    The softmax is defined exactly when the row has no NaN, no +inf and at
    least one finite element (-inf scores are probability 0), and exactly
    then ``s`` is not NaN:

    * a NaN anywhere gives a NaN term (``exp`` keeps NaN);
    * a +inf makes the maximum ``m`` +inf, and a row without a finite element
      makes it -inf (or NaN): the term of the maximum is ``exp(m - m)``, NaN;
    * otherwise every term is in [0, 1] and the one of the maximum is 1.

    So no pass over the row is needed.  No kernel has fast-math flags, which
    would let LLVM fold this test away.
    """
    return s == s


@jit
def row_loss(m, s, target, ignored):
    """Cross-entropy of one row from :func:`shifted_exp`'s ``(m, s)`` and the label's score.

    NaN where the softmax is not defined (:func:`softmax_defined`), 0.0 for an
    ignored row, else ``m + log(s) - target``.
    """
    if not softmax_defined(s):
        return math.nan
    if ignored:
        return 0.0
    return m + math.log(s) - target


@dual
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
        label = t[r]
        target = row[label] if label != ignore_label else row[0]
        m, s = shifted_exp(row, e[r])
        sums[r] = s
        losses[r] = row_loss(m, s, target, label == ignore_label)


@jit
def gradient_row(er, s, label, ignored, scale, dr):
    """``dr[:] = (er / s - onehot(label)) * scale``, zeros if ``ignored``; ``dr`` may be ``er``.

    ``er`` holds a row's numerators and ``s`` their sum.
    """
    V = er.shape[0]
    if ignored:
        for v in range(V):
            dr[v] = 0
    else:
        k = cast_like(dr, scale / s)
        for v in range(V):
            dr[v] = er[v] * k
        dr[label] -= scale


@dual
def softmax_ce_backward(e, t, ignore_label, sums, scale, dx):
    """``dx[r] = (e[r] / sums[r] - onehot(t[r])) * scale``; zero rows where ignored."""
    for r in prange(e.shape[0]):
        gradient_row(e[r], sums[r], t[r], t[r] == ignore_label, scale, dx[r])


@dual
def softmax_ce_forward_bias(x, b, t, ignore_label, sums, losses, grad, scale, db, nch):
    """:func:`softmax_ce_forward` of the scores ``x + b``, in place: ``x`` becomes ``e``.

    For an output layer whose product ``x`` (M, V) has no bias yet: each row
    gets ``b`` (V,) added, then its maximum, exponentials and sum while it is
    in cache, where a separate bias pass would read and write every score once
    more.  The same operations as ``softmax_ce_forward(x + b, ...)``, so the
    same bits; ``x[r]`` ends holding ``exp(x[r] + b - max)``.  ``sums`` and
    ``losses`` as there.  The rows go in ``nch`` blocks, in parallel.

    With ``grad`` true, each row then becomes its gradient while it is still
    in cache: ``x`` ends holding what :func:`softmax_ce_backward` writes with
    ``scale`` (the same bits), where the backward pass would read the
    numerators and write the gradient once more.  ``db`` (V,) then receives the
    gradient's column sums with NumPy's bits (what
    :func:`~fastlstm._kernels.blas.column_sums` gives): the first block adds
    its rows in order while each is in cache, and the other blocks' rows are
    added after them (:func:`~fastlstm._kernels.blas.add_rows`).  Without
    ``grad``, ``db`` is not touched.
    """
    M, V = x.shape
    C = max(1, min(nch, M))
    step = (M + C - 1) // C
    if grad and M == 0:
        for v in range(V):
            db[v] = 0
    for c in prange(C):
        for r in range(c * step, min(M, c * step + step)):
            row = x[r]
            for v in range(V):
                row[v] += b[v]
            label = t[r]
            ignored = label == ignore_label
            target = row[label] if not ignored else row[0]  # read before the row becomes e
            m, s = shifted_exp(row, row)
            sums[r] = s
            losses[r] = row_loss(m, s, target, ignored)
            if grad:
                gradient_row(row, s, label, ignored, scale, row)
                if c == 0 and r == 0:
                    for v in range(V):
                        db[v] = row[v]
                elif c == 0:
                    _add_row(db, row)
    if grad:
        add_rows(x, min(step, M), db)


@dual
def softmax_rows(x, out):
    """Stable softmax over the last axis of a 2-D array."""
    for r in prange(x.shape[0]):
        softmax_row(x[r], out[r])
