"""Greedy decoding of the seq2seq models in one compiled call.

``generate`` and ``generate_batch`` of :class:`~fastlstm.models.Seq2seq`,
:class:`~fastlstm.models.PeekySeq2seq`, :class:`~fastlstm.models.AttentionSeq2seq`
(and of their decoders alone) run :mod:`fastlstm._kernels.decode`: the
encoder and every decoder step in compiled code, with the layers' own
kernels, so the ids are those of the step-by-step loop (``_generate_steps``,
kept for subclasses that change a decoder step).

The weights are laid out for the kernel once and kept with a copy of the
parameters they came from; a later call compares the parameters with that copy
(in compiled code, bit for bit) and lays them out again only if they changed,
so the book's ``eval_seq2seq`` loop, one question per call, does not lay out
the weights for every question.  The check for NaN or inf in the parameters
runs when they are laid out: unchanged parameters were finite before.

For one question the kernel reads both LSTMs' ``Wh`` (and a peeky decoder's
``Ws``) as they are, with the same sums as from the layout
(:func:`~fastlstm._kernels.blas.matmul_row`), and the output layer as every call
does: only the other parameters are compared, and NaN or inf in those weights is
found in their products, step by step, or in the scores by the kernel (see
:func:`decode_model`).  (An infinite embedding would only saturate the gates:
the embeddings are compared.)
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels import blas as _kblas
from fastlstm._kernels import decode as _kdec
from fastlstm._kernels import lstm as _klstm
from fastlstm._numba import CHUNKS, PARALLEL_MIN_WORK, jit
from fastlstm.layers._checks import _check_params
from fastlstm.models.base import check_finite_params

PLAIN, PEEKY, ATTENTION = _kdec.PLAIN, _kdec.PEEKY, _kdec.ATTENTION


@jit
def _same_bits(a, c):
    """Whether ``a`` equals its copy ``c``: 2-D integer views of a parameter's bits.

    The bits are compared (NaN, -0.0 included), without an early exit so that the
    loop runs in vector registers.
    """
    if a.shape != c.shape:
        return False
    diff = 0
    for r in range(a.shape[0]):
        ar = a[r]
        cr = c[r]
        for k in range(ar.shape[0]):
            diff |= ar[k] ^ cr[k]
    return diff == 0


def _unchanged(views, copies):
    """Whether every parameter (``views``) still has the bits of its copy."""
    for v, c in zip(views, copies):
        if not _same_bits(v, c):
            return False
    return True


_BITS = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def _rows(p):
    """The bits of ``p`` as a C-contiguous 2-D integer view (1-D: one row), or None."""
    bits = _BITS.get(p.dtype)
    if bits is None or not p.flags.c_contiguous or p.ndim not in (1, 2):
        return None
    return (p.reshape(1, -1) if p.ndim == 1 else p).view(bits)


class _Laid:
    """Weights laid out for the kernel, the parameters they came from and a copy of their bits.

    ``quick_views``/``quick_copies``: what one question compares, the parameters
    without those the one-question kernel reads as they are (see :func:`_laid_out`).
    """

    __slots__ = ("arrays", "views", "copies", "quick_views", "quick_copies", "weights")

    def __init__(self, arrays, views, copies, skip, weights):
        self.arrays = arrays
        self.views = views
        self.copies = copies
        kept = [(v[s:], c[s:]) for v, c, s in zip(views, copies, skip) if s < v.shape[0]]
        self.quick_views = tuple(v for v, _ in kept)
        self.quick_copies = tuple(c for _, c in kept)
        self.weights = weights

    # A copied or pickled model lays its weights out again: a deep copy of the views
    # would no longer look at the copied parameters.
    def __deepcopy__(self, memo):
        return None

    def __reduce__(self):
        return type(None), ()


def _laid_out(owner, layers, build, check_name=None, raw_rows=None, quick=False):
    """``build()``'s result for the parameters of ``layers``, reused while they are unchanged.

    The arrays are read from the layers, so one rebound is laid out (and, as
    the layers' ``forward`` does, checked for the shape and dtype they were
    built with) when it is first used.  Kept on ``owner``; ``check_name``
    names the owner in the error raised when a parameter holds NaN or inf
    (checked when the weights are laid out).

    ``raw_rows()`` gives ``{id(parameter): rows}``: leading rows that the
    one-question kernel reads as they are, not from the layout or a table made
    from them (all of an LSTM's ``Wh``, a peeky decoder's ``Ws``, the output
    layer).  With ``quick`` only the other rows are compared: a change in those
    rows is read anyway, and NaN or inf in them is found in the products or the
    scores by the kernel.  Returns ``(weights, kept)``, ``kept`` telling whether
    the parameters' bits are kept (C-contiguous arrays of one dtype), which the
    one-question kernel needs.
    """
    arrays = [p for layer in layers for p in layer.params]
    cache = owner.__dict__.get("_greedy_laid")
    if (
        cache is not None
        and len(cache.arrays) == len(arrays)
        and all(x is y for x, y in zip(cache.arrays, arrays))
        and (
            _unchanged(cache.quick_views, cache.quick_copies)
            if quick
            else _unchanged(cache.views, cache.copies)
        )
    ):
        return cache.weights, True
    owner.__dict__.pop("_greedy_laid", None)
    for layer in layers:
        _check_params(layer)
    if check_name is not None:
        check_finite_params(arrays, check_name)
    weights = build()
    views = tuple(_rows(p) for p in arrays)
    if all(v is not None for v in views) and len({v.dtype for v in views}) == 1:
        rows = {} if raw_rows is None else raw_rows()
        skip = tuple(rows.get(id(p), 0) for p in arrays)
        copies = tuple(v.copy() for v in views)
        owner._greedy_laid = _Laid(tuple(arrays), views, copies, skip, weights)
        return weights, True
    return weights, False


def _layers(*parts):
    """The layers with parameters of ``parts`` (an encoder, a decoder): what the kernels read."""
    names = ("embed", "lstm", "affine")  # an encoder has no affine
    return [getattr(p, n) for p in parts for n in names if getattr(p, n, None) is not None]


def _lstm_weights(lstm, S=0):
    """``(Wxc, Wxp, Whp)`` of a :class:`~fastlstm.layers.TimeLSTM` laid out as its forward does.

    ``S`` leading rows of ``Wx`` (the peeky decoder's encoder state) are left out.
    """
    Wx, Wh, b = lstm.params
    H, dt = lstm.H, lstm.dtype
    pw = _kblas.panel_width(dt)
    C, hc = _klstm.split_units(H, CHUNKS, pw // 4)
    D = Wx.shape[0] - S
    work = (Wx.shape[0] + 2 * H) * 4 * H
    Wxc = np.empty((C, D + 1, 4 * hc), dtype=dt)  # (C, D+1, 4hc): Wx with b as last row
    _klstm.pack_input.pick(work)(np.ascontiguousarray(Wx), S, np.ascontiguousarray(b), C, hc, Wxc)
    Wxp = np.empty(_klstm.input_panels_shape(C, hc, D, pw), dtype=dt)  # Wxc's blocks in panels
    _klstm.input_panels(Wxc, Wxp)
    Whp = np.empty((C, 4 * hc // pw, H, pw), dtype=dt)  # (C, 4hc/P, H, P)
    none = np.empty((C, 0, 4 * hc, pw), dtype=dt)  # the transposed panels are not needed
    _klstm.pack_recurrent.pick(work)(
        np.ascontiguousarray(Wh), _klstm.gate_columns(H, C, hc), Whp, none
    )
    return Wxc, Wxp, Whp


#: Largest table of a decoder's input projections kept by id for one question (see
#: :func:`_decoder_weights`); a larger vocabulary computes them at every step.
TABLE_MAX_BYTES = 16 << 20


def _decoder_weights(decoder, kind):
    """Everything of the decoder the kernel reads: ``(emb, Wxc, Wxp, Whp, Ws, W, b, table,
    known)``.

    ``table`` and ``known`` start empty of projections: the one-question kernel fills them
    as it reads ids, and they are kept with the layout (they come from ``emb`` and ``Wxc``).
    Beyond ``TABLE_MAX_BYTES`` they have no rows (every step computes its projections).
    """
    lstm = decoder.lstm
    H = lstm.H
    S = H if kind == PEEKY else 0
    Wxc, Wxp, Whp = _lstm_weights(lstm, S)
    Ws = np.ascontiguousarray(lstm.params[0][:S])  # (S, 4H)
    W, b = decoder.affine.params
    emb = np.ascontiguousarray(decoder.embed.params[0])
    C, _, hc4 = Wxc.shape
    V = emb.shape[0] if emb.shape[0] * C * hc4 * Wxc.itemsize <= TABLE_MAX_BYTES else 0
    table = np.empty((V, C, hc4), dtype=Wxc.dtype)  # (V, C, 4hc), rows filled as ids come
    known = np.zeros(V, dtype=np.uint8)  # (V,)
    return (emb, Wxc, Wxp, Whp, Ws, W, b, table, known)


# A decoder step runs four parallel regions (LSTM input product, LSTM step, attention,
# output product) for a few rows each: the parallel build pays off only from this many
# operations per step (about 4 rows at H = 256, 14 at H = 128); one question at a time
# runs serially.  Both builds give the same ids.
_PARALLEL_MIN_STEP = 4 * PARALLEL_MIN_WORK


# Up to this many question characters (N * T), the serial build runs without setting SciPy's
# BLAS to one thread and back around the call (tens of microseconds, a quarter of the time
# of one short question): its products are then far below the size at which OpenBLAS uses
# a second thread, and OpenBLAS splits a product between threads by rows and columns, never
# along a sum, so the bits are the same either way.
_UNSCOPED_MAX_ROWS = 64


def _step_flops(H, D, affine_size):
    """Operations of one decoder step for one row: the LSTM's products and the output's."""
    return 2 * (4 * H * (D + H) + affine_size)


def _kernel(N, step_flops, rows=0):
    """The kernel for ``N`` questions of ``rows = N * T`` characters (0: already encoded).

    With ``rows``, :func:`~fastlstm._kernels.decode.encode_and_decode` (serial);
    else the serial build of ``greedy_decode`` for small batches, the parallel
    one from ``_PARALLEL_MIN_STEP``.
    """
    if rows:
        kernel = _kdec.encode_and_decode
    elif N * step_flops >= _PARALLEL_MIN_STEP:
        return _kdec.greedy_decode
    else:
        kernel = _kdec.greedy_decode.serial
    if rows <= _UNSCOPED_MAX_ROWS:
        return getattr(kernel, "dispatcher", kernel)
    return kernel


def _run(decoder, kind, xs, enc, dec, enc_hs, start_id, sample_size, raw=None):
    """Call the kernel; leave the decoder's state (and attention weights) as the step loop did.

    ``xs`` (N, T) are the questions to encode (``enc`` the encoder's weights),
    or None when ``enc_hs`` holds the encoder's states already.  ``raw``: the
    encoder's and the decoder's ``Wh`` for the one-question kernel to read as
    they are; it then returns None (nothing changed) if a product read from
    them or the scores hold NaN or inf.
    """
    N, Te, H = enc_hs.shape
    dt = enc_hs.dtype
    emb, Wxc, Wxp, Whp, Ws, W, b, table, known = dec
    out = np.empty((N, sample_size), dtype=np.int64)  # (N, S)
    a = np.empty((N, sample_size, Te) if kind == ATTENTION else (N, 0, 0), dtype=dt)
    state = np.empty((2, N, H), dtype=dt)
    step_flops = _step_flops(H, emb.shape[1], W.size)
    rest = (emb, Wxc, Wxp, Whp, Ws, W, b, table, known, kind, start_id)
    status = _kdec.DONE
    if xs is None:  # DECODER_ROWS questions per call: their steps' arrays stay in cache
        for lo in range(0, N, DECODER_ROWS):
            hi = min(N, lo + DECODER_ROWS)
            part = state if hi - lo == N else np.empty((2, hi - lo, H), dtype=dt)
            kernel = _kernel(hi - lo, step_flops)
            status = kernel(enc_hs[lo:hi], *rest, out[lo:hi], a[lo:hi], part, CHUNKS)
            if status != _kdec.DONE:
                break
            if part is not state:
                state[:, lo:hi] = part
    else:
        one = raw is not None  # the one-question kernel reads some weights as they are
        if not one:  # empty: the kernel reads the panels
            raw = (np.empty((0, 0), dtype=dt),) * 2
        dec_args = (emb, Wxc, Wxp, Whp, raw[1], *rest[4:], out, a, state, CHUNKS)
        status = _kernel(N, step_flops, xs.size)(xs, *enc, raw[0], enc_hs, *dec_args)
        if one and status in (_kdec.BAD_WEIGHTS, _kdec.BAD_SCORES):
            return None
    if status != _kdec.DONE:
        raise ValueError(
            "the model's scores contain NaN or inf during decoding (diverged parameters?)"
        )
    decoder.lstm.h, decoder.lstm.c = state[0], state[1]
    if kind == ATTENTION:
        decoder.attention.weights = a
        decoder.attention.attention_weights = [a[:, t] for t in range(sample_size)]
    return out


def fused_encoder(model):
    """Whether ``model``'s encoder runs inside the kernel (the package's own encoders)."""
    states = type(model.encoder).__dict__.get("_greedy_encoder")  # "last" or "all"
    kind = type(model.decoder).__dict__.get("_greedy_kind")
    if states is None or kind is None:
        return False
    return states == ("all" if kind == ATTENTION else "last")


#: Questions the decoding kernel answers per call for a large batch: the steps' arrays (the
#: attention reads every encoder state at every step) then stay in cache.  On the Xeon the
#: decoder answered 5,000 date questions in 207 ms in blocks of 1,000 against 265-274 ms at
#: once (750: 211 ms, 2,500: 252 ms).  Questions are independent rows: the same bits.
DECODER_ROWS = 1000

#: Questions the encoder layer runs at once for a large batch, through its inference forward
#: (``TimeLSTM._states``, which keeps one step's gates, not all of them): its state arrays
#: then stay small (7.6 MB each at T = 29, H = 256).  With the forward that keeps every
#: step's gates, these blocks had taken ``generate_batch`` of 5,000 date questions on the
#: Xeon from 754 to 655 ms (268 instead of 1,143 MiB at its peak); with the inference
#: forward, blocks of 256, 512 and 1,024 rows were level (the encoder 477-520 ms).
#: Questions are independent rows: the bits of one call where the BLAS rounds rows alike.
ENCODER_ROWS = 256


def _encode_rows(encoder, xs):
    """The encoder's states ``(N, T, H)`` for the questions ``xs``, ``ENCODER_ROWS`` at a time,
    through the layer's inference forward where it has one (nothing kept for backward)."""
    N, T = xs.shape
    run = getattr(encoder.lstm, "_states", encoder.lstm.forward)
    if N <= ENCODER_ROWS:
        return run(encoder.embed.forward(xs))
    hs = np.empty((N, T, encoder.lstm.H), dtype=encoder.lstm.dtype)
    for lo in range(0, N, ENCODER_ROWS):
        hi = min(N, lo + ENCODER_ROWS)
        hs[lo:hi] = run(encoder.embed.forward(xs[lo:hi]))
    return hs


def _reads_raw(lstm):
    """Whether the one-question kernel can read ``lstm``'s ``Wh`` as it is."""
    Wh = lstm.params[1]
    if not isinstance(Wh, np.ndarray):  # a rebound parameter: checked when laid out
        return False
    whole_panels = 4 * lstm.H % _kblas.panel_width(lstm.dtype) == 0
    return whole_panels and Wh.flags.writeable and Wh.flags.aligned


def decode_model(model, xs, start_id, sample_size):
    """Greedy answers ``(N, sample_size)`` int64 of a model whose encoder :func:`fused_encoder`.

    ``xs`` (N, T) ids are already checked; raises ``ValueError`` if a parameter
    or a step's scores hold NaN or inf.  One question (when :func:`_reads_raw`)
    compares only the parameters the kernel does not read as they are; if the
    kernel finds NaN or inf in a product of ``Wh`` or ``Ws`` or in the scores, the
    call compares every parameter, as for a batch (which names a parameter that
    holds NaN or inf), and decodes from the layout.
    """
    decoder = model.decoder
    kind = type(decoder).__dict__["_greedy_kind"]
    encoder = model.encoder

    def build():
        emb = np.ascontiguousarray(encoder.embed.params[0])
        return (emb, *_lstm_weights(encoder.lstm)), _decoder_weights(decoder, kind)

    N, T = xs.shape
    lstms = (encoder.lstm, decoder.lstm)
    # one question: the kernel reads both LSTMs' Wh (and a peeky Ws) as they are (writeable
    # and aligned, as the laid-out arrays: another array type would compile another kernel)
    one = N == 1 and all(_reads_raw(m) for m in lstms)

    def raw_rows():
        Wx, Wh = decoder.lstm.params[:2]
        S = decoder.lstm.H if kind == PEEKY else 0
        W, b = decoder.affine.params  # read as they are, NaN or inf found in the scores
        rows = {id(encoder.lstm.params[1]): encoder.lstm.H, id(Wh): Wh.shape[0], id(Wx): S}
        rows.update({id(W): W.shape[0], id(b): 1})
        return rows

    layers = _layers(encoder, decoder)
    name = type(model).__name__
    (enc, dec), kept = _laid_out(model, layers, build, name, raw_rows, quick=one)
    H = encoder.lstm.H
    if N * _step_flops(H, dec[0].shape[1], dec[5].size) >= _PARALLEL_MIN_STEP:
        # a large batch: the encoder layer's own parallel kernel (the same bits; inside the
        # decoding kernel its steps are not spread over the threads), then the decoder
        enc_hs = _encode_rows(encoder, xs)  # (N, T, H)
        encoder.hs = enc_hs
        return _run(decoder, kind, None, enc, dec, enc_hs, start_id, sample_size)
    enc_hs = np.empty((N, T, H), dtype=decoder.lstm.dtype)  # (N, T, H)
    xs = np.ascontiguousarray(xs, dtype=np.int64)
    raw = tuple(m.params[1] for m in lstms) if one and kept else None
    out = _run(decoder, kind, xs, enc, dec, enc_hs, start_id, sample_size, raw)
    if out is None:  # NaN or inf read from a weight read as it is: compare all, as for a batch
        enc, dec = _laid_out(model, layers, build, name, raw_rows)[0]
        out = _run(decoder, kind, xs, enc, dec, enc_hs, start_id, sample_size)
    encoder.hs = enc_hs
    return out


def decode_states(decoder, enc_hs, start_id, sample_size):
    """Greedy decoding of a decoder alone from the encoder's states ``enc_hs (N, T_enc, H)``.

    ``PLAIN`` and ``PEEKY`` decoders read the last state only (pass ``h[:, None]``).
    """
    kind = type(decoder).__dict__["_greedy_kind"]
    enc_hs = np.ascontiguousarray(enc_hs, dtype=decoder.lstm.dtype)
    dec = _laid_out(decoder, _layers(decoder), lambda: _decoder_weights(decoder, kind))[0]
    return _run(decoder, kind, None, None, dec, enc_hs, start_id, sample_size)
