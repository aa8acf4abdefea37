"""LSTM, RNN and GRU sequence kernels.

Layout: everything inside the time loop is *time-major* and C-contiguous, so
that ``a[t]`` is a contiguous ``(N, ...)`` block that a product can hand to
BLAS.  The input projections ``X @ Wx + b`` of an LSTM are computed at each step
just before its gates, through the register-blocked tiles, for inputs of at most
:data:`STEP_INPUTS_MAX` columns (the book's seq2seq models), else as one BLAS
product for all steps before the loop; the weight gradients ``dWx``, ``dWh``,
``db`` and ``dX`` are whole-sequence products after it.
Each step costs one ``h @ Wh`` product and one fused elementwise pass.  The
recurrent weights are laid out once per sequence in panels that the
register-blocked kernel :func:`fastlstm._kernels.blas.matmul_packed`
consumes at every step without repacking them (a BLAS call would repack all
of ``Wh`` at every step).

LSTM gate blocks are in the book's order f, g, i, o.
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels.blas import (
    block_bounds,
    check_panel_width,
    gemm,
    matmul_packed,
    matmul_panels,
    matmul_panels_wide,
    matmul_row,
    pack_panels,
    panel_width_of,
    product_blocks,
    tn_block,
)
from fastlstm._kernels.fastmath import sigmoid as _sig
from fastlstm._kernels.fastmath import tanh as _tanh
from fastlstm._kernels.gates import gates_backward_row as _gates_backward_row
from fastlstm._kernels.gates import gates_forward_row as _gates_forward_row
from fastlstm._numba import dual, jit, prange


def split_units(H, nch, quantum=1):
    """Split ``H`` hidden units into ``C`` blocks of ``hc`` units (the last ones padded): ``(C, hc)``.

    ``hc`` is a multiple of ``quantum`` (so that a block's ``4*hc`` gate
    columns fill whole panels of :func:`fastlstm._kernels.blas.matmul_packed`).
    """
    C = max(1, min(nch, H))
    hc = (H + C - 1) // C
    hc = (hc + quantum - 1) // quantum * quantum
    return (H + hc - 1) // hc, hc  # rounding up may leave fewer blocks


def gate_columns(H, C, hc):
    """Book column of every blocked gate column: ``(C, 4hc)`` int64, -1 for padding."""
    cols = np.full((C, 4 * hc), -1, dtype=np.int64)
    for c in range(C):
        lo = c * hc
        hi = min(H, lo + hc)
        for gate in range(4):
            cols[c, gate * hc : gate * hc + hi - lo] = gate * H + np.arange(lo, hi)
    return cols


@dual
def pack_recurrent(Wh, cols, Whp, WhTp):
    """Lay ``Wh`` (H, 4H) out once per sequence for the per-step products, one task per block.

    ``Whp`` (C, 4hc/P, H, P): block ``c``'s gate columns (``cols[c]``, see
    :func:`gate_columns`) in panels of ``P`` columns, for ``h @ Wh_c``.
    ``WhTp`` (C, Hp/P, 4hc, P): ``Wh_c.T`` in panels of ``P`` of its ``H``
    columns (zero beyond ``H``), for ``dA_c @ Wh_c.T``.  Padding is zero.
    ``Whp`` is written by groups of ``KB`` rows of ``Wh``, panel after panel, and
    a panel whose columns are one run of ``Wh``'s (all but those that straddle
    two gates or reach the padding) is copied as that run, in vector code:
    element by element, down all ``H`` rows for one panel at a time, it took
    about 1 ms more in a layer at H = 650, whose ``Wh`` is out of the cache by
    then (rows 10 KB apart).  ``Wh_c.T`` is written reading four rows of
    ``Wh`` down its columns at a time: read down all ``P`` rows at once, the rows
    of a float32 ``Wh`` with H = 256, 4 KB apart, would compete for one set of
    the L1 cache (six times slower).
    """
    H = Wh.shape[0]
    C, npan, _, P = Whp.shape
    npan_t = WhTp.shape[1]
    hc4 = cols.shape[1]
    KB = 32
    for c in prange(C):
        for k0 in range(0, H, KB):
            k1 = min(H, k0 + KB)
            for p in range(npan):
                m0 = cols[c, p * P]
                run = m0 >= 0
                for j in range(P):
                    run &= cols[c, p * P + j] == m0 + j
                for k in range(k0, k1):
                    dst = Whp[c, p, k]
                    if run:
                        src = Wh[k, m0 : m0 + P]
                        for j in range(P):
                            dst[j] = src[j]
                    else:
                        for j in range(P):
                            m = cols[c, p * P + j]
                            dst[j] = Wh[k, m] if m >= 0 else 0
        for p in range(npan_t):
            blk = WhTp[c, p]  # (4hc, P)
            w = min(P, H - p * P)
            for j0 in range(0, P, 4):  # four rows of Wh at a time (P is a multiple of 4)
                for k in range(hc4):
                    m = cols[c, k]
                    dst = blk[k]
                    for j in range(j0, j0 + 4):
                        dst[j] = Wh[p * P + j, m] if m >= 0 and j < w else 0


# --------------------------------------------------------------------------- #
# LSTM in blocked gate layout
#
# The hidden units are split into C blocks (``split_units``).  Inside the
# kernels the gate columns are regrouped per block: block ``c`` owning units
# ``lo:hi`` holds ``[f lo:hi | g lo:hi | i lo:hi | o lo:hi]``, zero-padded to
# ``hc`` units, i.e. ``4*hc`` columns.  Arrays in this layout carry a leading
# block axis: weights ``(C, K, 4hc)``, biases ``(C, 4hc)``, gates
# ``(C, T, N, 4hc)``.  Then every block's products are contiguous BLAS calls
# and every row of gates is a contiguous vector that LLVM vectorises; each
# block is one task of a ``prange``.  The book's layout is restored only for
# the gradients handed back to the layer.
# --------------------------------------------------------------------------- #
@jit
def _block_row(src, C, hc, dst):
    """One book-layout row ``src`` (4H,) -> ``dst`` (C, 4hc): gate columns per block, padding zero.

    One contiguous run per block and gate, copied through slices (vectorised).
    """
    H = src.shape[0] // 4
    for c in range(C):
        lo = c * hc
        w = min(H, lo + hc) - lo
        d = dst[c]
        for gate in range(4):
            dg = d[gate * hc : (gate + 1) * hc]
            sg = src[gate * H + lo : gate * H + lo + w]
            for j in range(w):
                dg[j] = sg[j]
            for j in range(w, hc):
                dg[j] = 0


@jit
def static_projection(static, Wsp, H, proj, P):
    """``P`` (C, N, 4hc) = ``static @ Ws`` in the blocks' gate order (padding zero).

    ``static`` (N, S) is C-contiguous; ``Ws`` (S, 4H) is given in panels ``Wsp``
    (npan, S, Pw) (:func:`~fastlstm._kernels.blas.pack_panels`); ``proj`` (N,
    npan*Pw) is a work array.  Every value is one multiply-add per row of ``Ws``,
    in order, from zero: the sum :func:`~fastlstm._kernels.blas.matmul_row` gives
    from ``Ws`` as it is, so a peeky decoder's layer and the one-question decoding
    kernel (which reads ``Ws`` so) have the same bits, whatever ``N``.
    """
    check_panel_width(Wsp.shape[2], static.itemsize)
    _static_rows(static, Wsp, H, proj, P, 0, static.shape[0])


@jit
def _static_rows(static, Wsp, H, proj, P, lo, hi):
    """Rows ``lo:hi`` of :func:`static_projection`."""
    C, _, hc4 = P.shape
    matmul_panels_wide(static[lo:hi], Wsp, proj[lo:hi])  # (hi-lo, npan*Pw)
    for n in range(lo, hi):
        _block_row(proj[n, : 4 * H], C, hc4 // 4, P[:, n])


@dual
def static_projection_blocks(static, Wsp, H, proj, P, nch):
    """:func:`static_projection` in ``nch`` blocks of rows, in parallel.

    Each row's values are its own sums (the tiles of
    :func:`~fastlstm._kernels.blas.matmul_panels_wide` do not mix rows), so the
    bits are those of :func:`static_projection`.
    """
    check_panel_width(Wsp.shape[2], static.itemsize)
    N = static.shape[0]
    R = product_blocks(N, nch)
    for r in prange(R):
        lo, hi = block_bounds(r, N, R)
        if lo < hi:
            _static_rows(static, Wsp, H, proj, P, lo, hi)


@dual
def pack_input(Wx, S, b, C, hc, out):
    """``Wx[S:]`` (D, 4H) and ``b`` (4H,) -> ``out`` (C, D+1, 4hc) blocked, ``b`` as the last row."""
    D = Wx.shape[0] - S
    for r in prange(D + 1):
        _block_row(Wx[S + r] if r < D else b, C, hc, out[:, r])


@jit
def _unblock_row(src, C, hc, dst):
    """Inverse of :func:`_block_row`: ``src`` (C, 4hc) -> ``dst`` (4H,) in book layout, padding dropped."""
    H = dst.shape[0] // 4
    for c in range(C):
        lo = c * hc
        w = min(H, lo + hc) - lo
        s = src[c]
        for gate in range(4):
            dg = dst[gate * H + lo : gate * H + lo + w]
            sg = s[gate * hc : gate * hc + w]
            for j in range(w):
                dg[j] = sg[j]


@dual
def unpack_input(dWxc, S, dWx, db):
    """Inverse of :func:`pack_input`: rows of ``dWxc`` into ``dWx[S:]`` and the last into ``db``."""
    C, D1, hc4 = dWxc.shape
    for r in prange(D1):
        _unblock_row(dWxc[:, r], C, hc4 // 4, dWx[S + r] if r < D1 - 1 else db)


@dual
def unpack_cols(Wc, out):
    """``Wc`` (C, K, 4hc) blocked by :func:`_block_row` -> ``out`` (K, 4H) in book layout; rows in parallel."""
    C, K, hc4 = Wc.shape
    for r in prange(K):
        _unblock_row(Wc[:, r], C, hc4 // 4, out[r])


@dual
def sum_blocks_batch_major(dXp, out):
    """``out[n, t] = sum_c dXp[c, t*N + n]``: ``dXp`` (C, T*N, D) -> ``out`` (N, T, D), blocks in order."""
    C = dXp.shape[0]
    N, T, D = out.shape
    for n in prange(N):
        for t in range(T):
            dst = out[n, t]
            first = dXp[0, t * N + n]
            for d in range(D):
                dst[d] = first[d]
            for c in range(1, C):
                src = dXp[c, t * N + n]
                for d in range(D):
                    dst[d] += src[d]


#: Most input columns (the ones' column included) whose projections the LSTM kernels
#: compute through the tiles (:func:`input_panels`), step by step in the forward; wider
#: inputs are multiplied by the BLAS, all steps at once, and their panels would be laid
#: out again for every step's few rows.
STEP_INPUTS_MAX = 64


def step_inputs(D):
    """Whether ``D`` inputs (and the ones' column) are projected step by step through the
    tiles: at most :data:`STEP_INPUTS_MAX` columns."""
    return D + 1 <= STEP_INPUTS_MAX


def input_panels_shape(C, hc, D, pw):
    """The shape of :func:`input_panels`' ``Wxp`` for ``Wxc`` (C, D+1, 4hc) and panels ``pw``
    wide: (C, 4hc/pw, D+1, pw), or no panels where :func:`step_inputs` is false."""
    return (C, 4 * hc // pw if step_inputs(D) else 0, D + 1, pw)


@jit
def input_panels(Wxc, Wxp):
    """``Wxp`` (C, 4hc/P, D+1, P) = each block of ``Wxc`` (C, D+1, 4hc) in panels
    (:func:`~fastlstm._kernels.blas.pack_panels`); nothing when ``Wxp`` has no panels."""
    if Wxp.shape[1] > 0:
        for c in range(Wxc.shape[0]):
            pack_panels(Wxc[c], Wxp[c])


@jit(inline="always")
def _input_projections(X2, Wxc, Wxp, P, A):
    """``A[c] = X2 @ Wxc[c]``, the input projections with the bias, of all steps at once,
    one product per block in parallel (through the tiles if ``Wxp`` has panels, else the
    BLAS); then ``P[c]`` added at every step if it has rows."""
    C, T, N, hc4 = A.shape
    for c in prange(C):
        if Wxp.shape[1] > 0:
            matmul_panels(X2, Wxp[c], A[c].reshape((T * N, hc4)))
        else:
            gemm(X2, Wxc[c], A[c].reshape((T * N, hc4)))
        add_static(P, A, c)


@jit
def _step_projections(X2, Wxp, P, a, t, c, n0, n1):
    """Step ``t``'s input projections of block ``c`` for rows ``n0:n1`` into ``a`` (N, 4hc),
    through the tiles, with ``P[c]`` added if it has rows."""
    N = a.shape[0]
    matmul_panels(X2[t * N + n0 : t * N + n1], Wxp[c], a[n0:n1])  # (n1-n0, 4hc)
    if P.shape[1] > 0:
        _add_static_rows(P, a, c, n0, n1)


@jit(inline="always")
def add_static(P, A, c):
    """``A[c, t] += P[c]`` at every step ``t`` if ``P`` has rows (a peeky decoder's ``h @ Ws``)."""
    C, T, N, hc4 = A.shape
    if P.shape[1] > 0:
        for t in range(T):
            _add_static_rows(P, A[c, t], c, 0, N)


@jit(inline="always")
def _add_static_rows(P, a, c, n0, n1):
    """``a[n] += P[c, n]`` for rows ``n0:n1`` of one step's projections ``a`` (N, 4hc)."""
    for n in range(n0, n1):
        an = a[n]
        pn = P[c, n]
        for k in range(an.shape[0]):
            an[k] += pn[k]


@jit
def _forward_block(Whp, a, hs_tm, cs_tm, hs, tmp, t, c, n0, n1, zero):
    """Step ``t`` of block ``c`` of units for rows ``n0:n1``: its product (zero when
    ``zero``), gates, ``c`` and ``h``; ``a`` (N, 4hc) holds the step's input projections
    of the block (``A[c, t]``)."""
    if zero:
        tmp[c, n0:n1] = 0
    else:
        matmul_panels(hs_tm[t, n0:n1], Whp[c], tmp[c, n0:n1])  # (n1-n0, 4hc)
    _gates_rows(a, tmp, hs_tm, cs_tm, hs, t, c, n0, n1)


@jit
def _gates_rows(a, tmp, hs_tm, cs_tm, hs, t, c, n0, n1):
    """Gates, ``c`` and ``h`` of step ``t``, block ``c`` of units, rows ``n0:n1``, from the
    input projections in ``a`` (N, 4hc), which become the gate activations, and the
    recurrent products in ``tmp[c]``; ``h`` copied into ``hs`` too."""
    hc = a.shape[1] // 4
    H = hs_tm.shape[2]
    lo = c * hc
    hi = min(H, lo + hc)
    for n in range(n0, n1):
        _gates_forward_row(
            a[n],
            tmp[c, n],
            cs_tm[t, n, lo:hi],
            cs_tm[t + 1, n, lo:hi],
            hs_tm[t + 1, n, lo:hi],
            hi - lo,
            hc,
        )
        for k in range(lo, hi):
            hs[n, t, k] = hs_tm[t + 1, n, k]


@jit
def _weight_grad_rows(hs_tm, X2, Z, t, n0, n1):
    """Rows ``t*N + n0 : t*N + n1`` of ``Z`` (T*N, H+D+1): each row's ``h`` before step ``t``
    followed by its input and one (``X2``'s row), as the weight gradients' product reads them
    (:func:`lstm_weight_grads`).  Nothing when ``Z`` has no rows."""
    if Z.shape[0] == 0:
        return
    N, H = hs_tm.shape[1], hs_tm.shape[2]
    D1 = X2.shape[1]
    for n in range(n0, n1):
        z = Z[t * N + n]
        h = hs_tm[t, n]
        x = X2[t * N + n]
        for k in range(H):
            z[k] = h[k]
        for k in range(D1):
            z[H + k] = x[k]


@dual(blas=True)
def lstm_forward(X2, Wxc, Wxp, Whp, P, A, hs_tm, cs_tm, hs, tmp, Z, R):
    """Run the LSTM over a whole sequence.

    Parameters
    ----------
    X2 : (T*N, D+1) inputs, time-major rows, with a last column of ones.
    Wxc : (C, D+1, 4hc) blocked input weights; the last row is the bias, so
        the products include it.
    Wxp : (C, 4hc/P, D+1, P) each block of ``Wxc`` in panels (:func:`input_panels`), for
        inputs of at most :data:`STEP_INPUTS_MAX` columns: each step's input projections
        are then computed through the tiles just before its gates, while the rows are in
        cache.  Or (C, 0, D+1, P): one BLAS product per block before the time loop.
    Whp : (C, 4hc/P, H, P) blocked recurrent weights, each block laid out in
        panels once for the whole sequence (:func:`pack_recurrent`); every
        step multiplies them with :func:`~fastlstm._kernels.blas.matmul_packed`.
    P : (C, N, 4hc) or (C, 0, 4hc): a projection added at every step (the
        part of the input that is the same at every step), or nothing.
    A : (C, T, N, 4hc) output: gate activations (backward needs them); or, for inference,
        (C, 1, N, 4hc) for ``T > 1`` (with ``Wxp`` in panels): each step's gates are
        computed in ``A[:, 0]`` and none are kept: a whole sequence's (30 MB for 256 date
        questions, T = 29, H = 256) are neither written out nor read back.  The tiles
        compute each row's projections on their own (one multiply-add per input, in
        order, from zero), so the bits do not depend on the rows computed with it.
    hs_tm, cs_tm : (T+1, N, H); index 0 holds the initial state on entry.
    hs : (N, T, H) output hidden states, batch-major.
    tmp : (C, N, 4hc) work array.
    Z : (T*N, H+D+1) output for training, or (0, H+D+1): row ``t*N + n`` receives row
        ``n``'s ``h`` before step ``t``, its input and a one (:func:`_weight_grad_rows`),
        written at step ``t`` while that ``h`` is in cache.
    R : the rows go in ``R`` blocks (:func:`row_blocks`), in parallel, each taken
        through all steps by one task: rows do not depend on each other, so the tasks
        never wait for each other, and each multiplies all of ``Wh``.  For a few
        rows, too few for the product's tiles, :func:`lstm_forward_units` runs
        each step's blocks of units in parallel instead.  Every element is computed
        by the same operations either way: the same bits.

    When the initial state is all zero (a stateless layer, an encoder), the first
    step's recurrent product, zero, is not computed: its gates are the input
    projections as they are (what adding the product's zeros gives, bit for
    bit, for any finite ``Wh``).
    """

    C, TA, N, hc4 = A.shape
    T = hs.shape[1]
    keep = TA == T  # else one step's gates at a time (inference)
    steps = Wxp.shape[1] > 0  # each step's input projections just before its gates
    if not (keep or steps):
        raise ValueError("one step's gates at a time need the input weights in panels")
    check_panel_width(Whp.shape[3], hs_tm.itemsize)
    if not steps:
        _input_projections(X2, Wxc, Wxp, P, A)
    skip0 = all_zero(hs_tm[0])  # a zero initial state: the first product is zero
    for r in prange(R):
        n0 = r * N // R
        n1 = (r + 1) * N // R
        for t in range(T):
            _weight_grad_rows(hs_tm, X2, Z, t, n0, n1)
            for c in range(C):
                a = A[c, t] if keep else A[c, 0]  # (N, 4hc)
                if steps:
                    _step_projections(X2, Wxp, P, a, t, c, n0, n1)
                _forward_block(Whp, a, hs_tm, cs_tm, hs, tmp, t, c, n0, n1, t == 0 and skip0)


@dual(blas=True)
def lstm_forward_units(X2, Wxc, Wxp, Whp, P, A, hs_tm, cs_tm, hs, tmp, Z):
    """:func:`lstm_forward` with the blocks of units of every step in parallel.

    For a few rows, too few for blocks of rows: each step waits for all blocks
    of the one before.  The same arguments (without ``R``) and the same bits.
    """
    C, T, N, hc4 = A.shape
    check_panel_width(Whp.shape[3], hs_tm.itemsize)
    _input_projections(X2, Wxc, Wxp, P, A)
    skip0 = all_zero(hs_tm[0])
    for t in range(T):
        _weight_grad_rows(hs_tm, X2, Z, t, 0, N)
        for c in prange(C):
            _forward_block(Whp, A[c, t], hs_tm, cs_tm, hs, tmp, t, c, 0, N, t == 0 and skip0)


def row_blocks(N, nch, min_rows=4):
    """Blocks of rows for :func:`lstm_forward` and :func:`lstm_backward` at ``N`` rows:
    ``nch`` when each gets at least ``min_rows``, else 0 (the ``_units`` kernels).

    Below that, a block's product has too few rows to keep the panels' vectors busy,
    and the blocks of units in parallel are faster (2.5 against 3.8 ms for a forward
    at N = 1, T = 35, H = 650 on two threads; level at N = 10).
    """
    return nch if N >= min_rows * nch else 0


@jit
def all_zero(h):
    """Whether every element of the 2-D array ``h`` is zero (stops at the first that is not)."""
    for n in range(h.shape[0]):
        for k in range(h.shape[1]):
            if h[n, k] != 0:
                return False
    return True


@jit
def all_finite(v):
    """Whether the 1-D array ``v`` holds no NaN or inf (no early exit: vector registers)."""
    finite = True
    for k in range(v.shape[0]):
        finite &= np.isfinite(v[k])
    return finite


@jit(inline="never")
def _row_product(h, Wh, book, tmp):
    """``tmp[:, 0]`` (C, 1, 4hc) = ``h @ Wh`` in the blocks' gate order, for one row ``h`` (H,).

    ``Wh`` (H, 4H) is read in the book's layout into ``book`` (4H,)
    (:func:`~fastlstm._kernels.blas.matmul_row`: the bits of the panels' product).
    False if the product holds NaN or inf, or if ``4H`` is not a whole number of
    panels (which :func:`~fastlstm._kernels.blas.matmul_row` needs; the callers
    then read the panels).  Compiled once for all its callers.
    """
    C, _, hc4 = tmp.shape
    hc = hc4 // 4
    H = h.shape[0]
    if (4 * H) % panel_width_of(h) != 0:
        return False
    matmul_row(h, Wh, book)  # (4H,) gates in the book's order
    if not all_finite(book):
        return False
    for c in range(C):
        lo = c * hc
        for gate in range(4):
            for j in range(min(H, lo + hc) - lo):
                tmp[c, 0, gate * hc + j] = book[gate * H + lo + j]
    return True


@jit
def lstm_forward_steps(X2, Wxc, Wxp, Whp, Wh, P, A, hs_tm, cs_tm, hs, tmp, book, table, known, v):
    """:func:`lstm_forward` (arguments as there, without ``R``) for kernels that run it inside.

    The same code, compiled into its caller: the decoding kernels run the encoder and every
    decoder step through it, so they compute what the layer computes, bit for bit
    (``tests/test_decode.py`` compares them): the same helpers, but a loop of its own
    rather than a call of ``lstm_forward``, whose compile time the first training
    iteration waits for.

    With ``Wh`` (H, 4H), for one row (N = 1; else ``Wh`` is empty), the recurrent
    product reads ``Wh`` in the book's layout (:func:`~fastlstm._kernels.blas.matmul_row`,
    the same bits as from ``Whp``) into ``book`` (4H,).  Returns False if that product
    holds NaN or inf (``Wh`` does then), else True.

    With ``v >= 0`` (one row, one step: ``X2`` holds the row of id ``v``), the input
    projections ``X2 @ Wxc[c]`` are kept in ``table[v]`` (V, C, 4hc) and marked in
    ``known[v]`` when first computed, and copied from there later: the products of one
    row, so a kept projection has the bits of a computed one.
    """
    C, T, N, hc4 = A.shape
    if v >= 0 and known[v]:
        for c in range(C):
            A[c, 0, 0] = table[v, c]
    else:
        _input_projections(X2, Wxc, Wxp, P[:, :0], A)  # the products alone: P is added below
        if v >= 0:
            for c in range(C):
                table[v, c] = A[c, 0, 0]
            known[v] = 1
    for c in prange(C):
        add_static(P, A, c)
    raw = Wh.shape[0] > 0 and N == 1
    check_panel_width(Whp.shape[3], hs_tm.itemsize)
    for t in range(T):
        if raw and not _row_product(hs_tm[t, 0], Wh, book, tmp):
            return False
        for c in prange(C):
            if not raw:
                matmul_panels_wide(hs_tm[t], Whp[c], tmp[c])  # (N, 4hc)
            _gates_rows(A[c, t], tmp, hs_tm, cs_tm, hs, t, c, 0, N)
    return True


@jit
def _backward_block(G, cs_tm, dhs, dA, dc, src, carry, t, c, n0, n1, one):
    """Gate gradients of step ``t``, block ``c`` of units, rows ``n0:n1``: the gradient of
    ``h`` is ``dhs`` plus the blocks' parts ``src`` added in block order."""
    C = G.shape[0]
    hc = G.shape[3] // 4
    H = cs_tm.shape[2]
    lo = c * hc
    hi = min(H, lo + hc)
    w = hi - lo
    for n in range(n0, n1):
        cr = carry[c, n]
        for k in range(w):
            cr[k] = dhs[n, t, lo + k] + src[0, n, lo + k]
        for cc in range(1, C):
            for k in range(w):
                cr[k] += src[cc, n, lo + k]
        _gates_backward_row(
            G[c, t, n],
            cr,
            dc[n, lo:hi],
            cs_tm[t, n, lo:hi],
            cs_tm[t + 1, n, lo:hi],
            dA[c, t, n],
            w,
            hc,
            one,
        )


@jit
def _first_parts(dh, part, T):
    """``part`` (2, C, N, Hp) zeroed but for ``dh``, the gradient flowing into the last ``h``,
    as block 0's part in the buffer that step ``T - 1`` reads."""
    part[...] = 0
    N, H = dh.shape
    for n in range(N):
        for j in range(H):
            part[T % 2, 0, n, j] = dh[n, j]


@dual
def lstm_backward(G, cs_tm, dhs, WhTp, dA, dh, dc, part, carry, one, initial, R):
    """Backpropagate through all time steps (the recurrent part).

    At each step, each block of units gets the gate gradients of its units and
    then its contribution ``dA[c, t] @ Wh_c.T`` to the gradient of the previous
    ``h``.  Contributions go to one of two buffers, alternating by step, so that
    none is overwritten while it is still read; they are summed in block order,
    so results do not depend on the thread count.  The rows go in ``R`` blocks
    in parallel, each through all steps, as in :func:`lstm_forward`
    (:func:`lstm_backward_units` for a few rows).

    Parameters
    ----------
    G : (C, T, N, 4hc) gate activations.
    cs_tm : (T+1, N, H) cell states.
    dhs : (N, T, H) upstream gradients of the hidden states.
    WhTp : (C, Hp/P, 4hc, P) the blocks of ``Wh.T`` in panels (:func:`pack_recurrent`),
        ``Hp`` being ``H`` rounded up to whole panels.
    dA : (C, T, N, 4hc) output (the padding units' columns zero).
    dh, dc : (N, H) in: gradients flowing into the last h and c; out: those of the initial ones.
    part : (2, C, N, Hp) and carry : (C, N, hc) work arrays.
    initial : whether to compute the gradient of the initial ``h`` into ``dh``.  If
        False, the first step's product ``dA[:, 0] @ Wh.T`` is left out and ``dh`` is
        left as it came; :func:`lstm_initial_dh` computes it later from ``dA`` and
        ``WhTp``, with the same bits.
    R : the number of blocks of rows (:func:`row_blocks`).
    """
    C, T, N, hc4 = G.shape
    check_panel_width(WhTp.shape[3], dA.itemsize)
    _first_parts(dh, part, T)
    for r in prange(R):
        n0 = r * N // R
        n1 = (r + 1) * N // R
        for t in range(T - 1, -1, -1):
            src = part[(t + 1) % 2]
            dst = part[t % 2]
            for c in range(C):
                _backward_block(G, cs_tm, dhs, dA, dc, src, carry, t, c, n0, n1, one)
                if t > 0 or initial:
                    matmul_panels(dA[c, t, n0:n1], WhTp[c], dst[c, n0:n1])  # (n1-n0, Hp)
    if initial:
        _sum_blocks(part[0], dh)


@dual
def lstm_backward_units(G, cs_tm, dhs, WhTp, dA, dh, dc, part, carry, one, initial):
    """:func:`lstm_backward` with the blocks of units of every step in parallel
    (see :func:`lstm_forward_units`): the same arguments (without ``R``), the same bits."""
    C, T, N, hc4 = G.shape
    check_panel_width(WhTp.shape[3], dA.itemsize)
    _first_parts(dh, part, T)
    for t in range(T - 1, -1, -1):
        src = part[(t + 1) % 2]
        dst = part[t % 2]
        for c in prange(C):
            _backward_block(G, cs_tm, dhs, dA, dc, src, carry, t, c, 0, N, one)
            if t > 0 or initial:
                matmul_panels(dA[c, t], WhTp[c], dst[c])  # (N, Hp)
    if initial:
        _sum_blocks(part[0], dh)


@jit
def _sum_blocks(part, dh):
    """``dh`` (N, H) = the blocks' parts ``part`` (C, N, Hp) added in block order."""
    C = part.shape[0]
    N, H = dh.shape
    for n in range(N):
        for j in range(H):
            dh[n, j] = part[0, n, j]
    for cc in range(1, C):
        for n in range(N):
            for j in range(H):
                dh[n, j] += part[cc, n, j]


@dual
def lstm_initial_dh(dA, WhTp, part, dh):
    """The gradient of the initial ``h`` that :func:`lstm_backward` left out (``initial=False``).

    ``dA`` (C, T, N, 4hc) and ``WhTp`` as that backward left them, ``part`` (C, N, Hp)
    a work array, ``dh`` (N, H) output: the same products and sums as
    :func:`lstm_backward`'s first step, so the same bits.
    """
    C = dA.shape[0]
    for c in prange(C):
        matmul_panels(dA[c, 0], WhTp[c], part[c])  # (N, Hp)
    _sum_blocks(part, dh)


@dual(blas=True)
def static_grads(dA, static, Ws, sums, dAsum, dWs, dstatic, nch):
    """The gradients through the input that is the same at every step (a peeky decoder's).

    ``dA`` (C, T, N, 4hc) are the gate gradients; ``static`` (N, S) the input and ``Ws``
    (S, 4H) its rows of ``Wx``, both C-contiguous.  Writes ``dAsum`` (N, 4H), ``dA`` summed
    over the steps in their order and laid out as the book's columns (``sums`` (N, C, 4hc)
    is a work array), then ``dWs`` (S, 4H) ``= static.T @ dAsum`` and ``dstatic`` (N, S)
    ``= dAsum @ Ws.T``, in blocks of rows (``nch`` of each) as :func:`~fastlstm._kernels.
    blas.matmul_tn` and :func:`~fastlstm._kernels.blas.matmul` compute them: their bits,
    in one call.
    """
    C, T, N, hc4 = dA.shape
    S = static.shape[1]
    for n in prange(N):
        row = sums[n]  # (C, 4hc)
        for c in range(C):
            for k in range(hc4):
                row[c, k] = dA[c, 0, n, k]
            for t in range(1, T):
                for k in range(hc4):
                    row[c, k] += dA[c, t, n, k]
        _unblock_row(row, C, hc4 // 4, dAsum[n])
    C1 = product_blocks(S, nch)  # blocks of rows of dWs
    C2 = product_blocks(N, nch)  # blocks of rows of dstatic
    for i in prange(C1 + C2):
        if i < C1:
            lo, hi = block_bounds(i, S, C1)
            if lo < hi:
                tn_block(static, dAsum, lo, hi, dWs)
        else:
            lo, hi = block_bounds(i - C1, N, C2)
            if lo < hi:
                gemm(dAsum[lo:hi], Ws.T, dstatic[lo:hi])


@dual(blas=True)
def lstm_weight_grads(Z, dA, Wxc, dWzc, dXp):
    """Whole-sequence products after the time loop, one block per task.

    ``Z`` (T*N, H+D+1) holds, row by row, the previous hidden state, the
    input and a one: ``dWzc[c] = Z.T @ dA[c]`` is ``dWh_c`` in its first
    ``H`` rows, ``dWx_c`` in the next ``D`` and the bias gradient in the
    last, in one product: separate products would read and pack ``dA[c]``
    once each, and at small ``D`` the one for ``dWx`` costs nearly as much
    as the one for ``dWh``.  ``dXp[c] = dA[c] @ Wx_c.T`` (to be summed over
    blocks).
    """
    C, T, N, hc4 = dA.shape
    D = Wxc.shape[1] - 1
    for c in prange(C):
        dAc = dA[c].reshape((T * N, hc4))
        gemm(Z.T, dAc, dWzc[c])
        gemm(dAc, Wxc[c, :D].T, dXp[c])


@jit
def rnn_forward(A, Whp, hs_tm, hs, tmp, one):
    """Elman RNN ``h_t = tanh(x_t Wx + h_{t-1} Wh + b)`` over all steps.

    ``A`` (T, N, H) holds ``x_t Wx + b``; ``Whp`` is ``Wh`` in panels
    (:func:`~fastlstm._kernels.blas.pack_panels`), ``tmp`` (N, Hp) a work array
    of whole panels; ``hs_tm`` (T+1, N, H) the states with the initial one in
    ``hs_tm[0]``; ``hs`` (N, T, H) receives the output.
    """
    T, N, H = A.shape
    for t in range(T):
        matmul_packed(hs_tm[t], Whp, tmp)  # (N, Hp)
        for n in prange(N):
            for j in range(H):
                h = _tanh(A[t, n, j] + tmp[n, j])
                hs_tm[t + 1, n, j] = h
                hs[n, t, j] = h


@jit
def rnn_backward(hs_tm, dhs, WhTp, dA, dh, tmp, one):
    """Backward of :func:`rnn_forward`; ``dh`` (N, H) is in/out as in LSTM.

    ``WhTp`` is ``Wh.T`` in panels (:func:`~fastlstm._kernels.blas.pack_panels_t`
    of ``Wh``), ``tmp`` (N, Hp) a work array.
    """
    T, N, H = dA.shape
    for t in range(T - 1, -1, -1):
        for n in prange(N):
            for j in range(H):
                h = hs_tm[t + 1, n, j]
                dA[t, n, j] = (dhs[n, t, j] + dh[n, j]) * (one - h * h)
        matmul_packed(dA[t], WhTp, tmp)  # (N, Hp)
        for n in range(N):
            for j in range(H):
                dh[n, j] = tmp[n, j]


@jit
def gru_forward(A, Whzr, Whh, hs_tm, G, RH, hs, tmp_zr, tmp_h, one):
    """GRU (the book's form) over all steps.

    ``A`` (T, N, 3H) holds ``x_t Wx`` plus the bias, if any (blocks z, r, h~); ``Whzr`` and ``Whh``
    are ``Wh[:, :2H]`` and ``Wh[:, 2H:]`` in panels (:func:`~fastlstm._kernels.blas.pack_panels`),
    ``tmp_zr`` and ``tmp_h`` work arrays of whole panels (at least 2H and H columns).
    ``G`` (T, N, 3H) receives z, r, h~; ``RH`` (T, N, H) receives ``r * h_prev``.
    """
    T, N, H3 = A.shape
    H = H3 // 3
    for t in range(T):
        matmul_packed(hs_tm[t], Whzr, tmp_zr)  # (N, >= 2H)
        for n in prange(N):
            for j in range(H):
                z = _sig(A[t, n, j] + tmp_zr[n, j])
                r = _sig(A[t, n, H + j] + tmp_zr[n, H + j])
                G[t, n, j] = z
                G[t, n, H + j] = r
                RH[t, n, j] = r * hs_tm[t, n, j]
        matmul_packed(RH[t], Whh, tmp_h)  # (N, >= H)
        for n in prange(N):
            for j in range(H):
                z = G[t, n, j]
                hh = _tanh(A[t, n, 2 * H + j] + tmp_h[n, j])
                G[t, n, 2 * H + j] = hh
                h = (one - z) * hs_tm[t, n, j] + z * hh
                hs_tm[t + 1, n, j] = h
                hs[n, t, j] = h


@jit
def gru_backward(G, hs_tm, dhs, WhzrT, WhhT, dA, dh, dt_h, dt_zr, tmp, one):
    """Backward of :func:`gru_forward`; ``dh`` (N, H) is in/out.

    ``WhzrT`` and ``WhhT`` are ``Wh[:, :2H].T`` and ``Wh[:, 2H:].T`` in panels
    (:func:`~fastlstm._kernels.blas.pack_panels_t` of the two parts of ``Wh``);
    ``dt_h`` (N, H), ``dt_zr`` (N, 2H) and ``tmp`` (N, Hp, whole panels) are
    contiguous work arrays.
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
        matmul_packed(dt_h, WhhT, tmp)  # (N, Hp): gradient of r * h_prev
        for n in prange(N):
            for j in range(H):
                r = G[t, n, H + j]
                dh[n, j] += r * tmp[n, j]
                dt_zr[n, H + j] = tmp[n, j] * hs_tm[t, n, j] * r * (one - r)
        matmul_packed(dt_zr, WhzrT, tmp)  # (N, Hp)
        for n in prange(N):
            for j in range(H):
                dh[n, j] += tmp[n, j]
                dA[t, n, j] = dt_zr[n, j]
                dA[t, n, H + j] = dt_zr[n, H + j]
                dA[t, n, 2 * H + j] = dt_h[n, j]
