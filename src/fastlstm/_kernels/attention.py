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
from fastlstm._numba import dual, inlined, prange


@dual
def attention_forward(hs_enc, hs_dec, a, out):
    """hs_enc (N, Te, H), hs_dec (N, Td, H) -> a (N, Td, Te), out (N, Td, H)."""
    N, Te, H = hs_enc.shape
    Td = hs_dec.shape[1]
    for n in prange(N):
        for t in range(Td):
            for e in range(Te):
                a[n, t, e] = dot8(hs_enc[n, e], hs_dec[n, t])
            # in place: the max is that of the stored (rounded) scores, so a single
            # score gives exactly 1
            softmax_row(a[n, t], a[n, t])
            for k in range(H):
                out[n, t, k] = 0
            for e in range(Te):
                w = a[n, t, e]
                for k in range(H):
                    out[n, t, k] += w * hs_enc[n, e, k]


# its code compiled into the kernels that call it (the decoding kernels)
attention_forward_rows = inlined(attention_forward)


@dual
def attention_backward(hs_enc, hs_dec, a, dout, dhs_enc, dhs_dec, da):
    """Gradients of :func:`attention_forward`.

    ``dhs_enc`` (N, Te, H) and ``dhs_dec`` (N, Td, H) are overwritten; ``da``
    (N, Te) is a work array.
    """
    N, Te, H = hs_enc.shape
    Td = hs_dec.shape[1]
    for n in prange(N):
        for e in range(Te):
            for k in range(H):
                dhs_enc[n, e, k] = 0
        for t in range(Td):
            # WeightSum: d a[t, e] = dout[t] . hs_enc[e];  d hs_enc[e] += a[t, e] dout[t]
            dot = cast_like(da, 0.0)
            for e in range(Te):
                w = a[n, t, e]
                da[n, e] = dot8(dout[n, t], hs_enc[n, e])
                for k in range(H):
                    dhs_enc[n, e, k] += w * dout[n, t, k]
                dot += da[n, e] * w
            # Softmax: ds[e] = a[e] * (da[e] - sum_e' a[e'] da[e'])
            for k in range(H):
                dhs_dec[n, t, k] = 0
            for e in range(Te):
                ds = a[n, t, e] * (da[n, e] - dot)
                for k in range(H):
                    dhs_enc[n, e, k] += ds * hs_dec[n, t, k]
                    dhs_dec[n, t, k] += ds * hs_enc[n, e, k]


@dual
def attention_forward_len(hs_enc, hs_dec, lengths, a, out):
    """:func:`attention_forward` over the first ``lengths[n]`` encoder steps of sample ``n``.

    hs_enc (N, Te, H), hs_dec (N, Td, H), lengths (N,) int64 in [1, Te] -> a (N, Td, Te)
    (zero past ``lengths[n]``), out (N, Td, H).  The steps attended to are computed
    exactly as :func:`attention_forward` on ``hs_enc[n, :lengths[n]]``.  A kernel of its
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
            for k in range(H):
                out[n, t, k] = 0
            for e in range(L):
                w = a[n, t, e]
                for k in range(H):
                    out[n, t, k] += w * hs_enc[n, e, k]


@dual
def attention_backward_len(hs_enc, hs_dec, lengths, a, dout, dhs_enc, dhs_dec, da):
    """Gradients of :func:`attention_forward_len`; ``dhs_enc`` is zero past ``lengths[n]``."""
    N, Te, H = hs_enc.shape
    Td = hs_dec.shape[1]
    for n in prange(N):
        L = lengths[n]
        for e in range(Te):
            for k in range(H):
                dhs_enc[n, e, k] = 0
        for t in range(Td):
            dot = cast_like(da, 0.0)
            for e in range(L):
                w = a[n, t, e]
                da[n, e] = dot8(dout[n, t], hs_enc[n, e])
                for k in range(H):
                    dhs_enc[n, e, k] += w * dout[n, t, k]
                dot += da[n, e] * w
            for k in range(H):
                dhs_dec[n, t, k] = 0
            for e in range(L):
                ds = a[n, t, e] * (da[n, e] - dot)
                for k in range(H):
                    dhs_enc[n, e, k] += ds * hs_dec[n, t, k]
                    dhs_dec[n, t, k] += ds * hs_enc[n, e, k]
