"""LSTM, RNN and GRU sequence kernels.

Layout: everything inside the time loop is *time-major* and C-contiguous, so
that ``a[t]`` is a contiguous ``(N, ...)`` block that ``np.dot`` can hand to
BLAS.  The input projections ``X @ Wx + b`` for all steps are computed by the
caller as one matrix product before the loop; the weight gradients
``dWx``, ``dWh``, ``db`` and ``dX`` are whole-sequence products after it.
Each step costs one ``h @ Wh`` product and one fused elementwise pass.

LSTM gate blocks are in the book's order f, g, i, o.
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels.fastmath import sigmoid as _sig
from fastlstm._kernels.fastmath import tanh as _tanh
from fastlstm._numba import jit, pjit, prange


def split_units(H, nch):
    """Units per block when ``H`` hidden units are split into ``nch`` blocks."""
    C = max(1, min(nch, H))
    return C, (H + C - 1) // C


@jit
def pack_gate_blocks(W, C, hc, out):
    """Regroup the gate columns of ``W`` (K, 4H) by blocks of hidden units.

    ``out`` (C, K, 4*hc) receives, for block ``c`` owning units ``lo:hi``, the
    columns ``[f lo:hi | g lo:hi | i lo:hi | o lo:hi]``, zero-padded to ``hc``
    units, so that one contiguous product per block gives all four gates of
    its units.
    """
    K, H4 = W.shape
    H = H4 // 4
    out[...] = 0
    for c in range(C):
        lo = c * hc
        hi = min(H, lo + hc)
        for r in range(K):
            for gate in range(4):
                for j in range(lo, hi):
                    out[c, r, gate * hc + j - lo] = W[r, gate * H + j]


@jit
def pack_gate_rows(WT, C, hc, out):
    """Like :func:`pack_gate_blocks` for the rows of ``WT`` (4H, K) -> ``out`` (C, 4*hc, K)."""
    H4, K = WT.shape
    H = H4 // 4
    out[...] = 0
    for c in range(C):
        lo = c * hc
        hi = min(H, lo + hc)
        for gate in range(4):
            for j in range(lo, hi):
                for r in range(K):
                    out[c, gate * hc + j - lo, r] = WT[gate * H + j, r]


@pjit
def lstm_forward(A, Whc, hs_tm, cs_tm, hs, tmp, one):
    """Run the LSTM over all time steps.

    Each time step is one parallel region over blocks of hidden units: block
    ``c`` computes ``h_{t-1} @ Whc[c]`` (the recurrent products of its own
    units' four gates, one single-threaded BLAS call) and then the fused gate,
    ``c`` and ``h`` update of those units.

    Parameters
    ----------
    A : (T, N, 4H) array
        Input projections ``x_t @ Wx + b`` (gate order f, g, i, o);
        overwritten with the gate activations, which backward needs.
    Whc : (C, H, 4*hc) array
        ``Wh`` regrouped by :func:`pack_gate_blocks`.
    hs_tm : (T+1, N, H) array
        ``hs_tm[0]`` holds the initial state on entry; step ``t`` writes ``hs_tm[t+1]``.
    cs_tm : (T+1, N, H) array
        Same for the cell state.
    hs : (N, T, H) array
        Output hidden states in batch-major order.
    tmp : (C, N, 4*hc) work array.
    one : scalar of the array dtype (keeps float32 arithmetic in float32).
    """
    T, N, H4 = A.shape
    H = H4 // 4
    C = Whc.shape[0]
    hc = Whc.shape[2] // 4
    for t in range(T):
        for c in prange(C):
            lo = c * hc
            hi = min(H, lo + hc)
            np.dot(hs_tm[t], Whc[c], tmp[c])  # (N, 4hc)
            for n in range(N):
                for j in range(lo, hi):
                    k = j - lo
                    f = _sig(A[t, n, j] + tmp[c, n, k])
                    g = _tanh(A[t, n, H + j] + tmp[c, n, hc + k])
                    i = _sig(A[t, n, 2 * H + j] + tmp[c, n, 2 * hc + k])
                    o = _sig(A[t, n, 3 * H + j] + tmp[c, n, 3 * hc + k])
                    A[t, n, j] = f
                    A[t, n, H + j] = g
                    A[t, n, 2 * H + j] = i
                    A[t, n, 3 * H + j] = o
                    cn = f * cs_tm[t, n, j] + g * i
                    h = o * _tanh(cn)
                    cs_tm[t + 1, n, j] = cn
                    hs_tm[t + 1, n, j] = h
                    hs[n, t, j] = h


@pjit
def lstm_backward(G, cs_tm, dhs, WhcT, dA, dh, dc, dAc, part, one):
    """Backpropagate through all time steps.

    Per step, two parallel regions over blocks of hidden units: the fused
    gate gradients of each block's units, then each block's contribution
    ``dA_c @ WhcT[c]`` to the gradient of the previous ``h``.  The
    contributions are summed in block order, so the result does not depend
    on the thread count.

    Parameters
    ----------
    G : (T, N, 4H) gate activations from :func:`lstm_forward`.
    cs_tm : (T+1, N, H) cell states (``cs_tm[0]`` is the initial state).
    dhs : (N, T, H) upstream gradients of the hidden states.
    WhcT : (C, 4*hc, H) ``Wh.T`` regrouped by :func:`pack_gate_rows`.
    dA : (T, N, 4H) output: gradients of the gate pre-activations.
    dh : (N, H) in: gradient flowing into the last ``h``; out: gradient of the initial ``h``.
    dc : (N, H) in: gradient flowing into the last ``c``; out: gradient of the initial ``c``.
    dAc : (C, N, 4*hc) work array, zero on entry.
    part : (C, N, H) work array.
    one : scalar of the array dtype.
    """
    T, N, H4 = G.shape
    H = H4 // 4
    C = WhcT.shape[0]
    hc = WhcT.shape[1] // 4
    part[...] = 0
    part[0] = dh
    for t in range(T - 1, -1, -1):
        for c in prange(C):
            lo = c * hc
            hi = min(H, lo + hc)
            for n in range(N):
                for j in range(lo, hi):
                    k = j - lo
                    carry = part[0, n, j]
                    for cc in range(1, C):
                        carry += part[cc, n, j]
                    f = G[t, n, j]
                    g = G[t, n, H + j]
                    i = G[t, n, 2 * H + j]
                    o = G[t, n, 3 * H + j]
                    tc = _tanh(cs_tm[t + 1, n, j])
                    dh_t = dhs[n, t, j] + carry
                    ds = dc[n, j] + dh_t * o * (one - tc * tc)
                    dc[n, j] = ds * f
                    df = ds * cs_tm[t, n, j] * f * (one - f)
                    dg = ds * i * (one - g * g)
                    di = ds * g * i * (one - i)
                    do = dh_t * tc * o * (one - o)
                    dA[t, n, j] = df
                    dA[t, n, H + j] = dg
                    dA[t, n, 2 * H + j] = di
                    dA[t, n, 3 * H + j] = do
                    dAc[c, n, k] = df
                    dAc[c, n, hc + k] = dg
                    dAc[c, n, 2 * hc + k] = di
                    dAc[c, n, 3 * hc + k] = do
        for c in prange(C):
            np.dot(dAc[c], WhcT[c], part[c])  # (N, H)
    for n in range(N):
        for j in range(H):
            carry = part[0, n, j]
            for cc in range(1, C):
                carry += part[cc, n, j]
            dh[n, j] = carry


@pjit
def rnn_forward(A, Wh, hs_tm, hs, tmp, one):
    """Elman RNN ``h_t = tanh(x_t Wx + h_{t-1} Wh + b)`` over all steps.

    ``A`` (T, N, H) holds ``x_t Wx + b``; ``hs_tm`` (T+1, N, H) the states with
    the initial one in ``hs_tm[0]``; ``hs`` (N, T, H) receives the output.
    """
    T, N, H = A.shape
    for t in range(T):
        np.dot(hs_tm[t], Wh, tmp)  # (N, H)
        for n in prange(N):
            for j in range(H):
                h = _tanh(A[t, n, j] + tmp[n, j])
                hs_tm[t + 1, n, j] = h
                hs[n, t, j] = h


@pjit
def rnn_backward(hs_tm, dhs, WhT, dA, dh, one):
    """Backward of :func:`rnn_forward`; ``dh`` (N, H) is in/out as in LSTM."""
    T, N, H = dA.shape
    for t in range(T - 1, -1, -1):
        for n in prange(N):
            for j in range(H):
                h = hs_tm[t + 1, n, j]
                dA[t, n, j] = (dhs[n, t, j] + dh[n, j]) * (one - h * h)
        np.dot(dA[t], WhT, dh)  # (N, H)


@pjit
def gru_forward(A, Whzr, Whh, hs_tm, G, RH, hs, tmp_zr, tmp_h, one):
    """GRU (book form, no bias) over all steps.

    ``A`` (T, N, 3H) holds ``x_t Wx`` (blocks z, r, h~); ``Whzr`` (H, 2H) and
    ``Whh`` (H, H) are contiguous copies of ``Wh[:, :2H]`` and ``Wh[:, 2H:]``.
    ``G`` (T, N, 3H) receives z, r, h~; ``RH`` (T, N, H) receives ``r * h_prev``.
    """
    T, N, H3 = A.shape
    H = H3 // 3
    for t in range(T):
        np.dot(hs_tm[t], Whzr, tmp_zr)  # (N, 2H)
        for n in prange(N):
            for j in range(H):
                z = _sig(A[t, n, j] + tmp_zr[n, j])
                r = _sig(A[t, n, H + j] + tmp_zr[n, H + j])
                G[t, n, j] = z
                G[t, n, H + j] = r
                RH[t, n, j] = r * hs_tm[t, n, j]
        np.dot(RH[t], Whh, tmp_h)  # (N, H)
        for n in prange(N):
            for j in range(H):
                z = G[t, n, j]
                hh = _tanh(A[t, n, 2 * H + j] + tmp_h[n, j])
                G[t, n, 2 * H + j] = hh
                h = (one - z) * hs_tm[t, n, j] + z * hh
                hs_tm[t + 1, n, j] = h
                hs[n, t, j] = h


@pjit
def gru_backward(G, hs_tm, dhs, WhzrT, WhhT, dA, dh, dt_h, dt_zr, tmp, one):
    """Backward of :func:`gru_forward`; ``dh`` (N, H) is in/out.

    ``dt_h`` (N, H), ``dt_zr`` (N, 2H) and ``tmp`` (N, H) are contiguous work arrays.
    """
    T, N, H3 = G.shape
    H = H3 // 3
    for t in range(T - 1, -1, -1):
        for n in prange(N):
            for j in range(H):
                z = G[t, n, j]
                hh = G[t, n, 2 * H + j]
                dh_t = dhs[n, t, j] + dh[n, j]
                dt_h[n, j] = dh_t * z * (one - hh * hh)
                dt_zr[n, j] = dh_t * (hh - hs_tm[t, n, j]) * z * (one - z)
                dh[n, j] = dh_t * (one - z)
        np.dot(dt_h, WhhT, tmp)  # (N, H): gradient of r * h_prev
        for n in prange(N):
            for j in range(H):
                r = G[t, n, H + j]
                dh[n, j] += r * tmp[n, j]
                dt_zr[n, H + j] = tmp[n, j] * hs_tm[t, n, j] * r * (one - r)
        np.dot(dt_zr, WhzrT, tmp)  # (N, H)
        for n in prange(N):
            for j in range(H):
                dh[n, j] += tmp[n, j]
                dA[t, n, j] = dt_zr[n, j]
                dA[t, n, H + j] = dt_zr[n, H + j]
                dA[t, n, 2 * H + j] = dt_h[n, j]
