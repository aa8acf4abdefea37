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

import math

import numpy as np

from fastlstm._numba import jit


@jit
def _sigmoid(x):
    # stable for large |x| in both directions
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@jit
def lstm_forward(A, Wh, hs_tm, cs_tm, hs, tmp):
    """Run the LSTM over all time steps.

    Parameters
    ----------
    A : (T, N, 4H) array
        Input projections ``x_t @ Wx + b``; overwritten with the gate
        activations (f, g, i, o), which backward needs.
    Wh : (H, 4H) C-contiguous array
    hs_tm : (T+1, N, H) array
        ``hs_tm[0]`` holds the initial state on entry; step ``t`` writes ``hs_tm[t+1]``.
    cs_tm : (T+1, N, H) array
        Same for the cell state.
    hs : (N, T, H) array
        Output hidden states in batch-major order.
    tmp : (N, 4H) C-contiguous work array.
    """
    T, N, H4 = A.shape
    H = H4 // 4
    for t in range(T):
        np.dot(hs_tm[t], Wh, tmp)  # (N, 4H)
        for n in range(N):
            for j in range(H):
                f = _sigmoid(A[t, n, j] + tmp[n, j])
                g = math.tanh(A[t, n, H + j] + tmp[n, H + j])
                i = _sigmoid(A[t, n, 2 * H + j] + tmp[n, 2 * H + j])
                o = _sigmoid(A[t, n, 3 * H + j] + tmp[n, 3 * H + j])
                A[t, n, j] = f
                A[t, n, H + j] = g
                A[t, n, 2 * H + j] = i
                A[t, n, 3 * H + j] = o
                c = f * cs_tm[t, n, j] + g * i
                h = o * math.tanh(c)
                cs_tm[t + 1, n, j] = c
                hs_tm[t + 1, n, j] = h
                hs[n, t, j] = h


@jit
def lstm_backward(G, cs_tm, dhs, WhT, dA, dh, dc):
    """Backpropagate through all time steps.

    Parameters
    ----------
    G : (T, N, 4H) gate activations from :func:`lstm_forward`.
    cs_tm : (T+1, N, H) cell states (``cs_tm[0]`` is the initial state).
    dhs : (N, T, H) upstream gradients of the hidden states.
    WhT : (4H, H) C-contiguous transpose of ``Wh``.
    dA : (T, N, 4H) output: gradients of the gate pre-activations.
    dh : (N, H) in: gradient flowing into the last ``h``; out: gradient of the initial ``h``.
    dc : (N, H) in: gradient flowing into the last ``c``; out: gradient of the initial ``c``.
    """
    T, N, H4 = G.shape
    H = H4 // 4
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                f = G[t, n, j]
                g = G[t, n, H + j]
                i = G[t, n, 2 * H + j]
                o = G[t, n, 3 * H + j]
                tc = math.tanh(cs_tm[t + 1, n, j])
                dh_t = dhs[n, t, j] + dh[n, j]
                ds = dc[n, j] + dh_t * o * (1.0 - tc * tc)
                dc[n, j] = ds * f
                dA[t, n, j] = ds * cs_tm[t, n, j] * f * (1.0 - f)
                dA[t, n, H + j] = ds * i * (1.0 - g * g)
                dA[t, n, 2 * H + j] = ds * g * i * (1.0 - i)
                dA[t, n, 3 * H + j] = dh_t * tc * o * (1.0 - o)
        np.dot(dA[t], WhT, dh)  # (N, H)


@jit
def rnn_forward(A, Wh, hs_tm, hs, tmp):
    """Elman RNN ``h_t = tanh(x_t Wx + h_{t-1} Wh + b)`` over all steps.

    ``A`` (T, N, H) holds ``x_t Wx + b``; ``hs_tm`` (T+1, N, H) the states with
    the initial one in ``hs_tm[0]``; ``hs`` (N, T, H) receives the output.
    """
    T, N, H = A.shape
    for t in range(T):
        np.dot(hs_tm[t], Wh, tmp)  # (N, H)
        for n in range(N):
            for j in range(H):
                h = math.tanh(A[t, n, j] + tmp[n, j])
                hs_tm[t + 1, n, j] = h
                hs[n, t, j] = h


@jit
def rnn_backward(hs_tm, dhs, WhT, dA, dh):
    """Backward of :func:`rnn_forward`; ``dh`` (N, H) is in/out as in LSTM."""
    T, N, H = dA.shape
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                h = hs_tm[t + 1, n, j]
                dA[t, n, j] = (dhs[n, t, j] + dh[n, j]) * (1.0 - h * h)
        np.dot(dA[t], WhT, dh)  # (N, H)


@jit
def gru_forward(A, Whzr, Whh, hs_tm, G, RH, hs, tmp_zr, tmp_h):
    """GRU (book form, no bias) over all steps.

    ``A`` (T, N, 3H) holds ``x_t Wx`` (blocks z, r, h~); ``Whzr`` (H, 2H) and
    ``Whh`` (H, H) are contiguous copies of ``Wh[:, :2H]`` and ``Wh[:, 2H:]``.
    ``G`` (T, N, 3H) receives z, r, h~; ``RH`` (T, N, H) receives ``r * h_prev``.
    """
    T, N, H3 = A.shape
    H = H3 // 3
    for t in range(T):
        np.dot(hs_tm[t], Whzr, tmp_zr)  # (N, 2H)
        for n in range(N):
            for j in range(H):
                z = _sigmoid(A[t, n, j] + tmp_zr[n, j])
                r = _sigmoid(A[t, n, H + j] + tmp_zr[n, H + j])
                G[t, n, j] = z
                G[t, n, H + j] = r
                RH[t, n, j] = r * hs_tm[t, n, j]
        np.dot(RH[t], Whh, tmp_h)  # (N, H)
        for n in range(N):
            for j in range(H):
                z = G[t, n, j]
                hh = math.tanh(A[t, n, 2 * H + j] + tmp_h[n, j])
                G[t, n, 2 * H + j] = hh
                h = (1.0 - z) * hs_tm[t, n, j] + z * hh
                hs_tm[t + 1, n, j] = h
                hs[n, t, j] = h


@jit
def gru_backward(G, hs_tm, dhs, WhzrT, WhhT, dA, dh, dt_h, dt_zr, tmp):
    """Backward of :func:`gru_forward`; ``dh`` (N, H) is in/out.

    ``dt_h`` (N, H), ``dt_zr`` (N, 2H) and ``tmp`` (N, H) are contiguous work arrays.
    """
    T, N, H3 = G.shape
    H = H3 // 3
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                z = G[t, n, j]
                hh = G[t, n, 2 * H + j]
                dh_t = dhs[n, t, j] + dh[n, j]
                dt_h[n, j] = dh_t * z * (1.0 - hh * hh)
                dt_zr[n, j] = dh_t * (hh - hs_tm[t, n, j]) * z * (1.0 - z)
                dh[n, j] = dh_t * (1.0 - z)
        np.dot(dt_h, WhhT, tmp)  # (N, H): gradient of r * h_prev
        for n in range(N):
            for j in range(H):
                r = G[t, n, H + j]
                dh[n, j] += r * tmp[n, j]
                dt_zr[n, H + j] = tmp[n, j] * hs_tm[t, n, j] * r * (1.0 - r)
        np.dot(dt_zr, WhzrT, tmp)  # (N, H)
        for n in range(N):
            for j in range(H):
                dh[n, j] += tmp[n, j]
                dA[t, n, j] = dt_zr[n, j]
                dA[t, n, H + j] = dt_zr[n, H + j]
                dA[t, n, 2 * H + j] = dt_h[n, j]
