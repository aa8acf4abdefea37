"""The book's attention layers (ch. 8): WeightSum, AttentionWeight, Attention and
TimeAttention, on fused kernels.
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels import attention as _katt
from fastlstm._kernels import softmax as _ksm
from fastlstm._validate import as_floats
from fastlstm.layers._checks import _forward_first, _like, _work_dtype
from fastlstm.layers._workspace import work_array

__all__ = ["WeightSum", "AttentionWeight", "Attention", "TimeAttention"]


class WeightSum:
    """Context vector ``c = sum_t a[:, t] * hs[:, t]``: ``forward(hs (N,T,H), a (N,T)) -> (N,H)``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        """Weighted sum of the encoder states.

        Parameters
        ----------
        hs : ndarray, (N, T, H)
            Encoder hidden states.
        a : ndarray, (N, T)
            Attention weights.

        Returns
        -------
        c : ndarray, (N, H)
            Context vector ``sum_t a[:, t] * hs[:, t]``.

        Raises
        ------
        ValueError
            If the shapes disagree.
        """
        dtype = _work_dtype(hs, "hs")
        hs = as_floats(hs, dtype, "hs")
        a = as_floats(a, dtype, "a")
        if hs.ndim != 3 or a.shape != hs.shape[:2]:
            raise ValueError(f"expected hs (N, T, H) and a (N, T), got {hs.shape} and {a.shape}")
        self.cache = (hs, a)
        return (a[:, :, None] * hs).sum(axis=1)  # (N, H)

    def backward(self, dc):
        """Gradients of the weighted sum.

        Parameters
        ----------
        dc : ndarray, (N, H)
            Gradient of the loss with respect to the context vector.

        Returns
        -------
        dhs : ndarray, (N, T, H)
            Gradient with respect to ``hs``.
        da : ndarray, (N, T)
            Gradient with respect to ``a``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dc`` does not have the shape of the forward output.
        """
        _forward_first(self, self.cache)
        hs, a = self.cache
        dc = as_floats(dc, hs.dtype, "dc", ndim=2, shape=(hs.shape[0], hs.shape[2]))
        dhs = a[:, :, None] * np.asarray(dc)[:, None, :]  # (N, T, H)
        da = (hs * np.asarray(dc)[:, None, :]).sum(axis=2)  # (N, T)
        return dhs, da


class AttentionWeight:
    """Attention weights ``a = softmax(hs @ h)``: ``forward(hs (N,T,H), h (N,H)) -> (N,T)``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, h):
        """Attention weights of one decoder state over the encoder states.

        Parameters
        ----------
        hs : ndarray, (N, T, H)
            Encoder hidden states.
        h : ndarray, (N, H)
            Decoder hidden state.

        Returns
        -------
        a : ndarray, (N, T)
            ``softmax(hs @ h)`` over ``T``.

        Raises
        ------
        ValueError
            If the shapes disagree.
        """
        dtype = _work_dtype(hs, "hs")
        hs = as_floats(hs, dtype, "hs")
        h = as_floats(h, dtype, "h")
        if hs.ndim != 3 or h.shape != (hs.shape[0], hs.shape[2]):
            raise ValueError(f"expected hs (N, T, H) and h (N, H), got {hs.shape} and {h.shape}")
        s = (hs * h[:, None, :]).sum(axis=2)  # (N, T)
        a = np.empty_like(s)
        _ksm.softmax_rows.pick(8 * s.size)(np.ascontiguousarray(s), a)
        self.cache = (hs, h, a)
        return a

    def backward(self, da):
        """Gradients of the attention weights.

        Parameters
        ----------
        da : ndarray, (N, T)
            Gradient of the loss with respect to ``a``.

        Returns
        -------
        dhs : ndarray, (N, T, H)
            Gradient with respect to ``hs``.
        dh : ndarray, (N, H)
            Gradient with respect to ``h``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``da`` does not have the shape of the forward output.
        """
        _forward_first(self, self.cache)
        hs, h, a = self.cache
        da = _like(da, a, "da")
        ds = a * da
        ds -= a * ds.sum(axis=1, keepdims=True)  # (N, T)
        dhs = ds[:, :, None] * h[:, None, :]
        dh = (ds[:, :, None] * hs).sum(axis=1)
        return dhs, dh


def _check_lengths(lengths, N, Te):
    """Attention ``lengths`` as int64 ``(N,)`` in ``[1, Te]``."""
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    if arr.shape != (N,):
        raise ValueError(f"lengths must have shape ({N},), got {arr.shape}")
    if N and (arr.min() < 1 or arr.max() > Te):
        raise ValueError(f"lengths must be in [1, {Te}] (T_enc), got [{arr.min()}, {arr.max()}]")
    return np.ascontiguousarray(arr, dtype=np.int64)


class _AttentionCore:
    """Batched attention for several decoder steps, via the fused kernel."""

    def __init__(self):
        self.params, self.grads = [], []
        self._cache = None

    def _forward3d(self, hs_enc, hs_dec, lengths=None, concat=False):
        """``(out, a)``; with ``concat``, ``out`` is ``concat(context, hs_dec)`` (N, Td, 2H)."""
        hs_enc = np.asarray(hs_enc)
        if hs_enc.ndim != 3:
            raise ValueError(f"hs_enc must be 3-D (N, T_enc, H), got shape {hs_enc.shape}")
        dtype = _work_dtype(hs_enc, "hs_enc")
        N, Te, H = hs_enc.shape
        hs_enc = as_floats(hs_enc, dtype, "hs_enc")
        hs_dec = as_floats(hs_dec, dtype, "hs_dec", ndim=3, shape=(N, None, H))
        if Te == 0:
            raise ValueError("hs_enc has no time steps to attend to")
        Td = hs_dec.shape[1]
        a = np.empty((N, Td, Te), dtype=dtype)
        out = np.empty((N, Td, 2 * H if concat else H), dtype=dtype)
        work = 4 * hs_enc.size * Td
        if lengths is None:
            _katt.attention_forward.pick(work)(hs_enc, hs_dec, a, out)
        else:
            lengths = _check_lengths(lengths, N, Te)
            _katt.attention_forward_len.pick(work)(hs_enc, hs_dec, lengths, a, out)
        self._cache = (hs_enc, hs_dec, a, lengths)
        return out, a

    def _backward3d(self, dout, kept=False, concat=False):
        """``(dhs_enc, dhs_dec)``; with ``kept``, work arrays of this layer that its next
        such call overwrites (for a model's own backward, which hands them on at once).
        With ``concat``, ``dout`` (N, Td, 2H) is the gradient of ``concat(context, hs_dec)``
        and ``dhs_dec`` includes its second half."""
        _forward_first(self, self._cache)
        hs_enc, hs_dec, a, lengths = self._cache
        N, Td, H = hs_dec.shape
        shape = (N, Td, 2 * H) if concat else hs_dec.shape
        dout = as_floats(dout, hs_enc.dtype, "dout", ndim=3, shape=shape)
        if kept:  # no fresh memory to fault in at every iteration
            dhs_enc = work_array(self, "dhs_enc", hs_enc.shape, hs_enc.dtype)
            dhs_dec = work_array(self, "dhs_dec", hs_dec.shape, hs_dec.dtype)
        else:
            dhs_enc = np.empty_like(hs_enc)
            dhs_dec = np.empty_like(hs_dec)
        da = np.empty((hs_enc.shape[0], hs_enc.shape[1]), dtype=hs_enc.dtype)
        work = 8 * hs_enc.size * hs_dec.shape[1]
        if lengths is None:
            _katt.attention_backward.pick(work)(hs_enc, hs_dec, a, dout, dhs_enc, dhs_dec, da)
        else:
            _katt.attention_backward_len.pick(work)(
                hs_enc, hs_dec, lengths, a, dout, dhs_enc, dhs_dec, da
            )
        return dhs_enc, dhs_dec


class Attention(_AttentionCore):
    """One decoder step: ``forward(hs (N,T,H), h (N,H)) -> c (N,H)``; ``backward(dc) -> (dhs, dh)``.

    Attributes
    ----------
    attention_weight : ndarray (N, T)
    """

    def __init__(self):
        super().__init__()
        self.attention_weight = None

    def forward(self, hs, h):
        """Context vector of one decoder step (weights, then weighted sum, fused).

        Parameters
        ----------
        hs : ndarray, (N, T, H)
            Encoder hidden states.
        h : ndarray, (N, H)
            Decoder hidden state.

        Returns
        -------
        c : ndarray, (N, H)
            Context vector; the weights ``(N, T)`` are kept in ``attention_weight``.

        Raises
        ------
        ValueError
            If the shapes disagree or ``hs`` has no time steps.
        """
        h = np.asarray(h)
        if h.ndim != 2:
            raise ValueError(f"h must be 2-D (N, H), got shape {h.shape}")
        hs_shape = np.shape(hs)
        if len(hs_shape) == 3 and h.shape != (hs_shape[0], hs_shape[2]):
            raise ValueError(
                f"h has shape {h.shape}, expected {(hs_shape[0], hs_shape[2])} for hs {hs_shape}"
            )
        out, a = self._forward3d(hs, h[:, None, :])
        self.attention_weight = a[:, 0]
        return out[:, 0]

    def backward(self, dout):
        """Gradients of the context vector.

        Parameters
        ----------
        dout : ndarray, (N, H)
            Gradient of the loss with respect to the context vector.

        Returns
        -------
        dhs : ndarray, (N, T, H)
            Gradient with respect to the encoder states.
        dh : ndarray, (N, H)
            Gradient with respect to the decoder state.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dout`` does not have the shape of the forward output.
        """
        _forward_first(self, self._cache)
        hs_dec = self._cache[1]  # (N, 1, H)
        dout = as_floats(
            dout, hs_dec.dtype, "dout", ndim=2, shape=(hs_dec.shape[0], hs_dec.shape[2])
        )
        dhs, dh = self._backward3d(dout[:, None, :])
        return dhs, dh[:, 0]


class TimeAttention(_AttentionCore):
    """Attention of every decoder step over the encoder states, all steps at once.

    ``forward(hs_enc (N, T_enc, H), hs_dec (N, T_dec, H)) -> (N, T_dec, H)``;
    ``backward(dout) -> (dhs_enc, dhs_dec)``.

    ``forward(..., lengths=lengths)`` with ``lengths (N,)`` (ints in
    ``[1, T_enc]``) attends to the first ``lengths[n]`` encoder steps of sample
    ``n`` only: the others (padding) get weight 0 and gradient 0, and the
    result is that of the unpadded ``hs_enc[n, :lengths[n]]``.

    Attributes
    ----------
    attention_weights : list of ndarray (N, T_enc)
        One entry per decoder step, as in the book.
    weights : ndarray (N, T_dec, T_enc)
        The same weights as one array.
    """

    def __init__(self):
        super().__init__()
        self.attention_weights = None
        self.weights = None

    def forward(self, hs_enc, hs_dec, lengths=None):
        """Context vectors of every decoder step at once.

        Parameters
        ----------
        hs_enc : ndarray, (N, Te, H)
            Encoder hidden states.
        hs_dec : ndarray, (N, Td, H)
            Decoder hidden states.
        lengths : ndarray of int, (N,), optional
            Steps of ``hs_enc[n]`` to attend to (``1..Te``): the padding after
            them gets weight 0 and gradient 0.

        Returns
        -------
        ndarray, (N, Td, H)
            One context vector per decoder step; the weights are kept in ``weights``
            ``(N, Td, Te)`` and ``attention_weights`` (the book's list of ``Td`` arrays ``(N, Te)``).

        Raises
        ------
        ValueError
            If the shapes disagree, ``hs_enc`` has no time steps, an input contains NaN or
            inf, or ``lengths`` is out of range.
        """
        return self._forward_weights(hs_enc, hs_dec, lengths, False)

    def _forward_weights(self, hs_enc, hs_dec, lengths, concat):
        """:meth:`forward`; with ``concat``, ``concat(context, hs_dec)`` (N, Td, 2H)."""
        out, a = self._forward3d(hs_enc, hs_dec, lengths, concat)
        self.weights = a
        self.attention_weights = [a[:, t] for t in range(a.shape[1])]
        return out

    def backward(self, dout):
        """Gradients of the context vectors.

        Parameters
        ----------
        dout : ndarray, (N, Td, H)
            Gradient of the loss with respect to the context vectors.

        Returns
        -------
        dhs_enc : ndarray, (N, Te, H)
            Gradient with respect to the encoder states.
        dhs_dec : ndarray, (N, Td, H)
            Gradient with respect to the decoder states.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dout`` does not have the shape of the forward output.
        """
        return self._backward3d(dout)
