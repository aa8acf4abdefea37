"""Dot-product attention over all decoder steps at once (batched).

For each sample ``n``::

    s[n]   = hs_dec[n] @ hs_enc[n].T        # (Td, Te) scores
    a[n]   = softmax(s[n], axis=-1)         # attention weights
    out[n] = a[n] @ hs_enc[n]               # (Td, H) context vectors

This is the book's ``TimeAttention`` (``AttentionWeight`` + ``WeightSum``
applied at every decoder step) written as one kernel, parallel over samples.
"""

from __future__ import annotations

from fastlstm._kernels.fastmath import cast_like
from fastlstm._kernels.softmax import dot8, softmax_row
from fastlstm._numba import dual, inlined, jit, prange


@jit
def _weighted_sum(w, x, L, out):
    """``out[:] = sum_e w[e] * x[e]`` over ``e < L``: ``w`` (Te,), ``x`` (Te, H), ``out`` (H,).

    Each element is the chain ``((0 + w[0] x[0]) + w[1] x[1]) + ...`` in the order of ``e``;
    four terms are added per pass over ``out`` (one load and store of ``out`` for four
    products), in that order, so the bits are those of one term per pass.
    """
    H = out.shape[0]
    for k in range(H):
        out[k] = 0
    L4 = L - L % 4
    for e in range(0, L4, 4):
        w0, w1, w2, w3 = w[e], w[e + 1], w[e + 2], w[e + 3]
        x0, x1, x2, x3 = x[e], x[e + 1], x[e + 2], x[e + 3]
        for k in range(H):
            out[k] = (((out[k] + w0 * x0[k]) + w1 * x1[k]) + w2 * x2[k]) + w3 * x3[k]
    for e in range(L4, L):
        we, xe = w[e], x[e]
        for k in range(H):
            out[k] += we * xe[k]


@jit
def _step_backward(w, hs_enc, hd, g, L, dhs_enc, dd, da):
    """One decoder step of :func:`attention_backward` for one sample, over ``e < L``.

    ``w`` (Te,) the step's attention weights, ``hs_enc`` (Te, H), ``hd`` and ``g`` (H,) the
    step's decoder state and upstream gradient; ``dhs_enc`` (Te, H) accumulates, ``dd`` (H,)
    is overwritten, ``da`` (Te,) is a work row.  WeightSum: ``da[e] = g . hs_enc[e]`` and
    ``dhs_enc[e] += w[e] g``; softmax: ``ds[e] = w[e] (da[e] - sum_e' w[e'] da[e'])``, then
    ``dhs_enc[e] += ds[e] hd`` and ``dd = sum_e ds[e] hs_enc[e]``.  Both additions to
    ``dhs_enc[e]`` are made in one pass, in that order, and ``dd`` is the weighted sum of
    :func:`_weighted_sum` with ``ds`` (kept in ``da``) as the weights: the bits of one
    addition per pass.
    """
    H = hd.shape[0]
    dot = cast_like(da, 0.0)
    for e in range(L):
        da[e] = dot8(g, hs_enc[e])
        dot += da[e] * w[e]
    for e in range(L):
        we = w[e]
        ds = we * (da[e] - dot)
        da[e] = ds
        r = dhs_enc[e]
        for k in range(H):
            r[k] = (r[k] + we * g[k]) + ds * hd[k]
    _weighted_sum(da, hs_enc, L, dd)


@jit
def _decoder_half(hd, o, H):
    """``o[H:2H] = hd`` when the row ``o`` is ``concat(context, hd)`` (``2H`` wide)."""
    if o.shape[0] > H:
        for k in range(H):
            o[H + k] = hd[k]


@jit
def _add_decoder_half(g, dd, H):
    """``dd += g[H:2H]`` when the row ``g`` is the gradient of ``concat(context, hd)``."""
    if g.shape[0] > H:
        for k in range(H):
            dd[k] += g[H + k]


@dual
def attention_forward(hs_enc, hs_dec, a, out):
    """hs_enc (N, Te, H), hs_dec (N, Td, H) -> a (N, Td, Te), out (N, Td, H).

    ``out`` may be (N, Td, 2H): ``concat(context, hs_dec)``, the decoder's input to its
    output layer, the context vectors in ``out[..., :H]`` and a copy of ``hs_dec`` after
    them (written while each step's row is in cache).
    """
    N, Te, H = hs_enc.shape
    Td = hs_dec.shape[1]
    for n in prange(N):
        for t in range(Td):
            for e in range(Te):
                a[n, t, e] = dot8(hs_enc[n, e], hs_dec[n, t])
            # in place: the max is that of the stored (rounded) scores, so a single
            # score gives exactly 1
            softmax_row(a[n, t], a[n, t])
            _weighted_sum(a[n, t], hs_enc[n], Te, out[n, t, :H])
            _decoder_half(hs_dec[n, t], out[n, t], H)


# its code compiled into the kernels that call it (the decoding kernels)
attention_forward_rows = inlined(attention_forward)


@dual
def attention_backward(hs_enc, hs_dec, a, dout, dhs_enc, dhs_dec, da):
    """Gradients of :func:`attention_forward`.

    ``dhs_enc`` (N, Te, H) and ``dhs_dec`` (N, Td, H) are overwritten; ``da``
    (N, Te) is a work array.  ``dout`` (N, Td, H), or (N, Td, 2H), the gradient of
    ``concat(context, hs_dec)``: then its second half is added to ``dhs_dec`` (the
    gradient the decoder's states get through both ways).
    """
    N, Te, H = hs_enc.shape
    Td = hs_dec.shape[1]
    for n in prange(N):
        for e in range(Te):
            for k in range(H):
                dhs_enc[n, e, k] = 0
        for t in range(Td):
            _step_backward(
                a[n, t], hs_enc[n], hs_dec[n, t], dout[n, t, :H], Te, dhs_enc[n], dhs_dec[n, t],
                da[n],
            )  # fmt: skip
            _add_decoder_half(dout[n, t], dhs_dec[n, t], H)


@dual
def attention_forward_len(hs_enc, hs_dec, lengths, a, out):
    """:func:`attention_forward` over the first ``lengths[n]`` encoder steps of sample ``n``.

    hs_enc (N, Te, H), hs_dec (N, Td, H), lengths (N,) int64 in [1, Te] -> a (N, Td, Te)
    (zero past ``lengths[n]``), out (N, Td, H).  The steps attended to are computed
    exactly as :func:`attention_forward` on ``hs_enc[n, :lengths[n]]``; ``out`` may be
    ``2H`` wide as there.  A kernel of its
    own: with every length full it gives the unmasked kernel's bits but runs 13-17% slower
    (``docs/design.md``), so unpadded batches keep :func:`attention_forward`.
    """
    N, Te, H = hs_enc.shape
    Td = hs_dec.shape[1]
    for n in prange(N):
        L = lengths[n]
        for t in range(Td):
            for e in range(L):
                a[n, t, e] = dot8(hs_enc[n, e], hs_dec[n, t])
            softmax_row(a[n, t, :L], a[n, t, :L])
            for e in range(L, Te):
                a[n, t, e] = 0
            _weighted_sum(a[n, t], hs_enc[n], L, out[n, t, :H])
            _decoder_half(hs_dec[n, t], out[n, t], H)


@dual
def attention_backward_len(hs_enc, hs_dec, lengths, a, dout, dhs_enc, dhs_dec, da):
    """Gradients of :func:`attention_forward_len`; ``dhs_enc`` is zero past ``lengths[n]``;
    ``dout`` may be ``2H`` wide as in :func:`attention_backward`."""
    N, Te, H = hs_enc.shape
    Td = hs_dec.shape[1]
    for n in prange(N):
        L = lengths[n]
        for e in range(Te):
            for k in range(H):
                dhs_enc[n, e, k] = 0
        for t in range(Td):
            _step_backward(
                a[n, t], hs_enc[n], hs_dec[n, t], dout[n, t, :H], L, dhs_enc[n], dhs_dec[n, t],
                da[n],
            )  # fmt: skip
            _add_decoder_half(dout[n, t], dhs_dec[n, t], H)
