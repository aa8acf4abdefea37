"""Greedy decoding of the seq2seq models (ch07, ch08) in one kernel.

:func:`encode_and_decode` runs what ``Seq2seq.generate_batch`` (and its peeky and
attention variants) did one Python call per layer and step: the encoder's LSTM
over the questions, then every decoder step (embedding rows, the LSTM step,
the attention, the output affine map and the argmax); :func:`greedy_decode`
runs the decoder steps alone (large batches, whose encoder runs as its layer,
and the decoders' own ``generate_batch``).  It runs the very bodies
of the layers' kernels (:func:`~fastlstm._kernels.lstm.lstm_forward_steps`,
:func:`~fastlstm._kernels.attention.attention_forward_rows`,
:func:`~fastlstm._kernels.blas.matmul_bias_rows`) on arrays of the shapes the
layers use, so the scores have the layers' bits and the ids are those of the
step-by-step loop (``np.argmax``: the first of equal maxima).

Parallel work is split into the layers' blocks, which depend on the sizes and
on ``nch`` only, never on the thread count: the serial and the parallel build
of :func:`greedy_decode` give the same ids.  :func:`encode_and_decode` is serial
only (one or a few questions per call): its parallel build would cost minutes of
compiling for calls that threads do not speed up.
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels.attention import attention_forward_rows
from fastlstm._kernels.blas import matmul_bias_rows, pack_panels, panel_width_of
from fastlstm._kernels.lstm import (
    _row_product,
    lstm_forward_steps,
    static_projection,
)
from fastlstm._numba import BlasScoped, dual, jit

# decoder kinds
PLAIN = 0  # Decoder: the affine map reads h
PEEKY = 1  # PeekyDecoder: the encoder's state joins the LSTM's input and the affine's
ATTENTION = 2  # AttentionDecoder: the affine map reads concat(context, h)

# status codes
DONE = 0
BAD_SCORES = 1
BAD_WEIGHTS = 2  # a product read from an LSTM's ``Wh`` or a peeky ``Ws`` holds NaN or inf


@jit
def _embed_rows(emb, ids, X2, r0):
    """``X2[r0 + n] = [emb[ids[n]], 1]`` for every ``n``: one time step's inputs (N, D+1)."""
    D = emb.shape[1]
    for n in range(ids.shape[0]):
        row = X2[r0 + n]
        src = emb[ids[n]]
        for d in range(D):
            row[d] = src[d]
        row[D] = 1


@jit
def _argmax_rows(score, ids):
    """``ids[n] = argmax(score[n])`` (first of equal maxima); False if a score is not finite."""
    N, V = score.shape
    for n in range(N):
        row = score[n]
        finite = True
        best = row[0]
        arg = 0
        for v in range(V):
            x = row[v]
            finite &= np.isfinite(x)
            if x > best:
                best = x
                arg = v
        if not finite:
            return False
        ids[n] = arg
    return True


@jit
def encode(xs, emb, Wxc, Wxp, Whp, Wh, hs):
    """The encoder's embedding and LSTM over the questions ``xs (N, T)``: ``hs (N, T, H)``.

    ``Wxc (C, D+1, 4hc)``, ``Wxp`` and ``Whp`` are the LSTM's weights laid out as for
    :func:`~fastlstm._kernels.lstm.lstm_forward`; the initial state is zero.  ``Wh``:
    see :func:`~fastlstm._kernels.lstm.lstm_forward_steps`, whose result is returned.
    """
    N, T = xs.shape
    D = emb.shape[1]
    C, _, hc4 = Wxc.shape
    H = hs.shape[2]
    dt = hs.dtype
    X2 = np.empty((T * N, D + 1), dtype=dt)  # (T*N, D+1) time-major inputs and ones
    for t in range(T):
        _embed_rows(emb, xs[:, t], X2, t * N)
    A = np.empty((C, T, N, hc4), dtype=dt)
    hs_tm = np.empty((T + 1, N, H), dtype=dt)
    cs_tm = np.empty((T + 1, N, H), dtype=dt)
    hs_tm[0] = 0
    cs_tm[0] = 0
    tmp = np.empty((C, N, hc4), dtype=dt)
    none = np.empty((C, 0, hc4), dtype=dt)
    book = np.empty(4 * H, dtype=dt)
    table = np.empty((0, C, hc4), dtype=dt)  # no projections kept
    known = np.empty(0, dtype=np.uint8)
    return lstm_forward_steps(
        X2, Wxc, Wxp, Whp, Wh, none, A, hs_tm, cs_tm, hs, tmp, book, table, known, -1
    )


@jit
def _decode_steps(
    enc_hs, emb, Wxc, Wxp, Whp, Wh, Ws, W, b, table, known, kind, start_id, out, a, state, nch
):
    """The decoder's steps from the encoder's states (arguments as :func:`greedy_decode`).

    ``Wh``: the LSTM's recurrent weights as they are, for one row (else empty; see
    :func:`~fastlstm._kernels.lstm.lstm_forward_steps`).  Then ``BAD_WEIGHTS`` is
    returned when a product read from ``Wh`` or, peeky, from ``Ws`` holds NaN or inf.
    """
    N, S = out.shape
    H = enc_hs.shape[2]
    V = W.shape[1]
    D = emb.shape[1]
    C, _, hc4 = Wxc.shape
    dt = enc_hs.dtype
    Te = enc_hs.shape[1]

    hs2 = np.empty((2, N, H), dtype=dt)  # this step's h, then the next one's
    cs2 = np.empty((2, N, H), dtype=dt)
    h0 = np.empty((N, H), dtype=dt)  # the encoder's last state
    for n in range(N):
        for k in range(H):
            h0[n, k] = enc_hs[n, Te - 1, k]
    hs2[0] = h0
    cs2[0] = 0

    P = np.empty((C, N if kind == PEEKY else 0, hc4), dtype=dt)  # (C, N, 4hc): h0 @ Ws
    K = W.shape[0]
    Z = np.empty((N, K), dtype=dt)  # the affine map's input
    if kind == PEEKY:
        if Wh.shape[0] > 0 and N == 1:  # Ws read as it is, not compared with a copy
            P[...] = 0  # (the padding columns)
            if not _row_product(h0[0], Ws, np.empty(4 * H, dtype=dt), P):
                return BAD_WEIGHTS
        else:  # the same sums from panels, as the layer computes them
            Pw = panel_width_of(h0)
            npan = -(-4 * H // Pw)
            Wsp = np.empty((npan, H, Pw), dtype=dt)
            pack_panels(Ws, Wsp)
            proj = np.empty((N, npan * Pw), dtype=dt)  # (N, 4H) and padding: h0 @ Ws
            static_projection(h0, Wsp, H, proj, P)
        for n in range(N):
            for k in range(H):
                Z[n, k] = h0[n, k]

    X2 = np.empty((N, D + 1), dtype=dt)
    A = np.empty((C, 1, N, hc4), dtype=dt)
    tmp = np.empty((C, N, hc4), dtype=dt)
    hs1 = np.empty((N, 1, H), dtype=dt)
    ctx = np.empty((N, 1, H), dtype=dt)
    a1 = np.empty((N, 1, Te), dtype=dt)
    score = np.empty((N, V), dtype=dt)
    book = np.empty(4 * H, dtype=dt)
    ids = np.full(N, start_id, dtype=np.int64)
    off = 0 if kind == PLAIN else H  # columns of Z before h
    kept = N == 1 and table.shape[0] > 0  # one row: input projections kept by id
    for t in range(S):
        _embed_rows(emb, ids, X2, 0)
        v = ids[0] if kept else -1
        if not lstm_forward_steps(
            X2, Wxc, Wxp, Whp, Wh, P, A, hs2, cs2, hs1, tmp, book, table, known, v
        ):
            return BAD_WEIGHTS
        hs2[0] = hs2[1]
        cs2[0] = cs2[1]
        if kind == ATTENTION:
            attention_forward_rows(enc_hs, hs1, a1, ctx)
            for n in range(N):
                for e in range(Te):
                    a[n, t, e] = a1[n, 0, e]
                for k in range(H):
                    Z[n, k] = ctx[n, 0, k]
        for n in range(N):
            for k in range(H):
                Z[n, off + k] = hs1[n, 0, k]
        matmul_bias_rows(Z, W, b, score, nch)
        if not _argmax_rows(score, ids):
            return BAD_SCORES
        for n in range(N):
            out[n, t] = ids[n]
    state[0] = hs2[0]
    state[1] = cs2[0]
    return DONE


@dual(blas=True)
def greedy_decode(
    enc_hs, emb, Wxc, Wxp, Whp, Ws, W, b, table, known, kind, start_id, out, a, state, nch
):
    """Greedy answers of a seq2seq decoder from the encoder's states.

    Parameters
    ----------
    enc_hs : (N, T_enc, H) array
        The encoder's hidden states (``PLAIN`` and ``PEEKY`` read only
        ``enc_hs[:, -1]``, the decoder's initial state).
    emb : (V, D) array
        The decoder's embedding.
    Wxc, Wxp, Whp : arrays
        The decoder LSTM's weights laid out as for
        :func:`~fastlstm._kernels.lstm.lstm_forward`; for ``PEEKY`` ``Wxc``
        and ``Wxp`` hold the rows of the embedded input only.
    Ws : (H, 4H) or (0, 4H) array
        ``PEEKY``: the rows of the LSTM's ``Wx`` that read the encoder's state.
    W, b : (K, V), (V,) arrays
        The output affine map; ``K`` is ``H`` (``PLAIN``) or ``2H``.
    table : (V, C, 4hc) or (0, C, 4hc) array
        For one row (``N = 1``), the LSTM's input projections of the ids (with the bias),
        computed when an id is first read and kept for later calls: row ``id`` is valid
        where ``known[id]`` (they must come from ``emb`` and ``Wxc`` as they are).  Empty:
        every step computes its projection.
    known : (V,) or (0,) uint8 array
        Which rows of ``table`` hold their projection (updated).
    kind : int
        ``PLAIN``, ``PEEKY`` or ``ATTENTION``.
    start_id : int
        Id read at the first decoder step.
    out : (N, S) int64 array
        The decoded ids.
    a : (N, S, T_enc) or (N, 0, 0) array
        ``ATTENTION``: the attention weights of every step.
    state : (2, N, H) array
        The decoder LSTM's last ``h`` and ``c``.
    nch : int
        Blocks of rows of the products outside the LSTM (``fastlstm._numba.CHUNKS``).

    Returns
    -------
    int
        ``DONE``, or ``BAD_SCORES`` when a step's scores hold NaN or inf
        (``out`` is then incomplete).
    """
    Wh = np.empty((0, 0), dtype=enc_hs.dtype)  # the laid-out Whp is read
    return _decode_steps(
        enc_hs, emb, Wxc, Wxp, Whp, Wh, Ws, W, b, table, known, kind, start_id, out, a, state, nch
    )


@BlasScoped
@jit
def encode_and_decode(
    xs,
    enc_emb,
    enc_Wxc,
    enc_Wxp,
    enc_Whp,
    enc_Wh,
    enc_hs,
    emb,
    Wxc,
    Wxp,
    Whp,
    Wh,
    Ws,
    W,
    b,
    table,
    known,
    kind,
    start_id,
    out,
    a,
    state,
    nch,
):
    """:func:`encode` the questions ``xs (N, T)`` into ``enc_hs (N, T, H)``, then :func:`greedy_decode`.

    Serial only: one or a few questions per call (the book's ``eval_seq2seq``
    loop, ``translate``), where one call in all is what counts.  ``enc_emb``,
    ``enc_Wxc``, ``enc_Wxp`` and ``enc_Whp`` are the encoder's embedding and laid-out LSTM
    weights; the other arguments and the result are those of
    :func:`greedy_decode`.  For one question, ``enc_Wh`` and ``Wh`` may be the
    LSTMs' recurrent weights as they are, read instead of the panels (the same
    bits; empty arrays otherwise): then ``BAD_WEIGHTS`` is returned if their
    products (or, peeky, those of ``Ws``) hold NaN or inf.
    """
    if not encode(xs, enc_emb, enc_Wxc, enc_Wxp, enc_Whp, enc_Wh, enc_hs):
        return BAD_WEIGHTS
    return _decode_steps(
        enc_hs, emb, Wxc, Wxp, Whp, Wh, Ws, W, b, table, known, kind, start_id, out, a, state, nch
    )
