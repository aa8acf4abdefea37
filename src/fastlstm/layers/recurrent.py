"""The book's recurrent layers: RNN, LSTM and GRU cells, their whole-sequence
versions TimeRNN, TimeLSTM, TimeGRU, and TimeBiLSTM.

Each sequence runs in one compiled kernel; input projections and weight
gradients are whole-sequence matrix products.
"""

from __future__ import annotations

import contextlib

import numpy as np

from fastlstm._kernels import blas as _kblas
from fastlstm._kernels import lstm as _klstm
from fastlstm._numba import CHUNKS
from fastlstm._validate import as_floats
from fastlstm.layers._checks import _forward_first, _param, _same_dtype, _state
from fastlstm.layers._products import _matmul_into, _mm, _panels

__all__ = ["TimeLSTM", "LSTM", "TimeRNN", "RNN", "TimeGRU", "GRU", "TimeBiLSTM"]


class _Recurrent:
    """Shared set-up of RNN/LSTM/GRU parameter checks and state handling."""

    gates = 1

    def _init_params(self, Wx, Wh, b):
        names = ["Wx", "Wh"] + (["b"] if b is not None else [])
        arrays = [Wx, Wh] + ([b] if b is not None else [])
        for a, n in zip(arrays, names):
            _param(a, n, 1 if n == "b" else 2)
        _same_dtype(*arrays)
        H, G = Wh.shape
        if G != self.gates * H:
            raise ValueError(f"Wh must be (H, {self.gates}H), got {Wh.shape}")
        if Wx.shape[1] != G:
            raise ValueError(f"Wx has shape {Wx.shape}, expected (D, {G}) to match Wh {Wh.shape}")
        if b is not None and b.shape != (G,):
            raise ValueError(f"b has shape {b.shape}, expected ({G},) to match Wh {Wh.shape}")
        self.params = arrays
        self.grads = [np.zeros_like(a) for a in arrays]
        self.dtype = Wx.dtype
        self._one = Wx.dtype.type(1)
        self.D, self.H = Wx.shape[0], H

    def _inputs(self, xs):
        xs = as_floats(xs, self.dtype, "xs", ndim=3, shape=(None, None, self.D))
        N, T, _ = xs.shape
        xs_tm = np.ascontiguousarray(xs.transpose(1, 0, 2))  # (T, N, D)
        return N, T, xs_tm

    def _projection(self, xs_tm, width):
        T, N, D = xs_tm.shape
        A = np.empty((T, N, width), dtype=self.dtype)  # (T, N, G)
        bias = self.params[2] if len(self.params) == 3 else None
        _matmul_into(A.reshape(T * N, width), xs_tm.reshape(T * N, D), self.params[0], bias)
        return A

    def _dhs(self, dhs, N, T):
        return as_floats(dhs, self.dtype, "dhs", ndim=3, shape=(N, T, self.H))

    def _weight_grads(self, xs_tm, hprev_tm, dA):
        """dWx, dWh, db and dxs (N, T, D) as whole-sequence products."""
        T, N, D = xs_tm.shape
        G = dA.shape[2]
        dA2 = dA.reshape(T * N, G)  # (T*N, G)
        _matmul_into(self.grads[0], xs_tm.reshape(T * N, D).T, dA2)
        _matmul_into(self.grads[1], hprev_tm.reshape(T * N, self.H).T, dA2)
        if len(self.params) == 3:
            self.grads[2][...] = dA2.sum(axis=0)
        dxs_tm = _mm(dA2, self.params[0].T)  # (T*N, D)
        return np.ascontiguousarray(dxs_tm.reshape(T, N, D).transpose(1, 0, 2))


class _LSTMKernels(_Recurrent):
    """Calls of the LSTM sequence kernels shared by :class:`TimeLSTM` and :class:`LSTM`.

    The kernels work in a blocked gate layout (see :mod:`fastlstm._kernels.lstm`);
    parameters are packed on each forward and gradients unpacked after backward.
    """

    gates = 4

    def _work(self, name, shape, zero=False):
        """A work array kept between calls (same shape and dtype), never handed out.

        Reusing them spares the page faults of fresh multi-megabyte arrays on
        every iteration.
        """
        ws = self.__dict__.setdefault("_workspace", {})
        buf = ws.get(name)
        if buf is None or buf.shape != shape:
            buf = ws[name] = (
                np.zeros(shape, dtype=self.dtype) if zero else np.empty(shape, dtype=self.dtype)
            )
        elif zero:
            buf[...] = 0
        return buf

    def _sequence_forward(self, xs_tm, h0, c0, static=None):
        """xs_tm (T, N, D) -> hs (N, T, H); caches what backward needs.

        With ``static`` (N, S), the input at every step is ``concat(static, x_t)``
        and ``xs_tm`` is (T, N, D - S): ``static @ Wx[:S]`` is computed once.
        """
        T, N, D = xs_tm.shape
        H, dt = self.H, self.dtype
        Wx, Wh, b = self.params
        S = 0 if static is None else static.shape[1]
        pw = _kblas.panel_width(dt)
        C, hc = _klstm.split_units(H, CHUNKS, pw // 4)
        Wxc = self._work("Wxc", (C, D + 1, 4 * hc))  # (C, D+1, 4hc): Wx with b as last row
        # Wh laid out once per sequence for the per-step products of forward and backward
        Whp = self._work("Whp", (C, 4 * hc // pw, H, pw))  # (C, 4hc/P, H, P) panels of Wh_c
        WhTp = self._work("WhTp", (C, -(-H // pw), 4 * hc, pw))  # (C, Hp/P, 4hc, P) of Wh_c.T
        layout = (Wx, Wh, b, Wxc, Whp, WhTp, S)  # arrays compared by identity
        laid_out = self.__dict__.get("_laid_out")
        if (
            laid_out is None
            or laid_out[-1] != S
            or any(x is not y for x, y in zip(laid_out[:-1], layout[:-1]))
        ):
            # parallel at large sizes: each thread lays out the blocks it multiplies with
            work = (D + 2 * H) * 4 * H
            _klstm.pack_input.pick(work)(Wx, S, b, C, hc, Wxc)
            _klstm.pack_recurrent.pick(work)(Wh, self._gate_columns(C, hc), Whp, WhTp)
            if self.__dict__.get("_fixed", 0):  # weights unchanged until the block ends
                self._laid_out = layout
        P = self._work("P", (C, N if S else 0, 4 * hc))  # (C, N, 4hc): static @ Wx[:S]
        if S:
            _klstm.pack_cols.serial(_mm(static, Wx[:S]), C, hc, P)
        A = self._work("A", (C, T, N, 4 * hc))  # (C, T, N, 4hc) gates
        hs_tm = self._work("hs_tm", (T + 1, N, H))
        cs_tm = self._work("cs_tm", (T + 1, N, H))
        hs_tm[0] = h0
        cs_tm[0] = c0
        hs = np.empty((N, T, H), dtype=dt)
        X2 = np.empty((T * N, D + 1), dtype=dt)  # (T*N, D+1) inputs and a column of ones
        X2[:, :D] = xs_tm.reshape(T * N, D)
        X2[:, D] = 1
        tmp = self._work("tmp", (C, N, 4 * hc))
        _klstm.lstm_forward.pick(8 * N * H * H)(X2, Wxc, Whp, P, A, hs_tm, cs_tm, hs, tmp)
        self._cache = (X2, Wxc, WhTp, A, hs_tm, cs_tm, static)
        return hs

    @contextlib.contextmanager
    def fixed_weights(self):
        """Within the ``with`` block the weights are laid out for the kernels once.

        For decoding loops that run the layer one step at a time with the same
        weights: every ``forward`` would otherwise lay out all of ``Wx`` and
        ``Wh`` again for a single step.  The parameters must not change inside
        the block.  Blocks may nest.

        Yields
        ------
        LSTM or TimeLSTM
            The layer itself.
        """
        self._fixed = self.__dict__.get("_fixed", 0) + 1
        try:
            yield self
        finally:
            self._fixed -= 1
            if not self._fixed:
                self._laid_out = None

    def _gate_columns(self, C, hc):
        """Book column of every blocked gate column, ``(C, 4hc)`` (cached per layout)."""
        cols = self.__dict__.get("_cols")
        if cols is None or cols.shape != (C, 4 * hc):
            cols = self._cols = _klstm.gate_columns(self.H, C, hc)
        return cols

    def _sequence_backward(self, dhs, dh, dc):
        """dhs (N, T, H) -> dxs (N, T, D); fills grads; ``dh``/``dc`` in/out as in the kernel.

        After a forward with ``static``, its gradient is left in ``self.dstatic``.
        """
        X2, Wxc, WhTp, G, hs_tm, cs_tm, static = self._cache
        C, T, N, hc4 = G.shape
        H, D, dt = self.H, X2.shape[1] - 1, self.dtype
        Hp = WhTp.shape[1] * WhTp.shape[3]  # H rounded up to whole panels
        # padding columns of the gradients must stay zero
        dA = self._work("dA", G.shape, zero=C * (hc4 // 4) != H)
        part = self._work("part", (2, C, N, Hp))
        carry = self._work("carry", (C, N, hc4 // 4))
        _klstm.lstm_backward.pick(8 * N * H * H)(
            G, cs_tm, dhs, WhTp, dA, dh, dc, part, carry, self._one
        )
        # (T*N, H+D+1): previous h, input and a one per row, for one product per block
        Z = self._work("Z", (T * N, H + D + 1))
        Z[:, :H] = hs_tm[:T].reshape(T * N, H)
        Z[:, H:] = X2
        dWzc = self._work("dWzc", (C, H + D + 1, hc4))  # (C, H+D+1, 4hc): dWh, dWx, db
        dXp = self._work("dXp", (C, T * N, D))
        _klstm.lstm_weight_grads.pick(2 * T * N * C * hc4 * (2 * D + H))(Z, dA, Wxc, dWzc, dXp)
        dWhc, dWxc = dWzc[:, :H], dWzc[:, H:]
        S = 0 if static is None else static.shape[1]
        _klstm.unpack_input.pick(dWxc.size)(dWxc, S, self.grads[0], self.grads[2])
        self.dstatic = None
        if S:  # the static input: one product with the gate gradients summed over time
            dAsum = self._work("dAsum", (N, 4 * H))  # (N, 4H)
            _klstm.unpack_cols.serial(dA.sum(axis=1), dAsum)
            _matmul_into(self.grads[0][:S], static.T, dAsum)
            self.dstatic = _mm(dAsum, self.params[0][:S].T)  # (N, S)
        dWh = self.grads[1]
        if dWh.flags.c_contiguous:
            _klstm.unpack_cols.pick(dWh.size)(dWhc, dWh)
        else:
            tmp = np.empty(dWh.shape, dtype=dt)
            _klstm.unpack_cols.pick(dWh.size)(dWhc, tmp)
            dWh[...] = tmp
        dxs = np.empty((N, T, D), dtype=dt)
        _klstm.sum_blocks_batch_major.pick(dXp.size)(dXp, dxs)  # (N, T, D)
        return dxs


class TimeLSTM(_LSTMKernels):
    """LSTM over a whole sequence.

    Parameters
    ----------
    Wx : ndarray, (D, 4H)
        Input weights, gate blocks in the order f, g, i, o.
    Wh : ndarray, (H, 4H)
        Recurrent weights.
    b : ndarray, (4H,)
    stateful : bool
        If True, the last ``h`` and ``c`` of one ``forward`` are the initial
        state of the next (truncated BPTT).

    Attributes
    ----------
    h, c : ndarray (N, H) or None
        Last hidden and cell state.
    dh : ndarray (N, H) or None
        Gradient with respect to the initial hidden state, after ``backward``.
    """

    def __init__(self, Wx, Wh, b, stateful=False):
        self._init_params(Wx, Wh, b)
        self.stateful = stateful
        self.h, self.c, self.dh = None, None, None
        self._cache = None

    def forward(self, xs):
        """Run the LSTM over a whole sequence.

        The initial state is ``h``/``c`` left by the previous call when ``stateful`` (or set
        by :meth:`set_state`), zeros otherwise.

        Parameters
        ----------
        xs : ndarray, (N, T, D)
            Input sequence; cast to the layer's dtype.

        Returns
        -------
        hs : ndarray, (N, T, H)
            Hidden state of every step; the last ``h`` and ``c`` are kept in ``.h`` and ``.c``.

        Raises
        ------
        ValueError
            If ``xs`` is not 3-D with ``D`` features, contains NaN or inf, or the kept state has
            another batch size.
        """
        N, T, xs_tm = self._inputs(xs)
        return self._forward(N, T, xs_tm, None)

    def _forward_peeky(self, xs, static):
        """``forward(concat(static at every step, xs))`` with ``static @ Wx[:S]`` computed once.

        ``static`` is ``(N, S)`` and ``xs`` ``(N, T, D - S)``: the input of every
        step is ``concat(static, xs[:, t])``, as in the book's ``PeekyDecoder``.
        ``backward`` returns the gradient of ``xs`` and leaves that of ``static``
        (summed over the steps) in ``dstatic``.
        """
        static = as_floats(static, self.dtype, "static", ndim=2)
        N, S = static.shape
        if not 0 < S < self.D:
            raise ValueError(
                f"static must have 1 to {self.D - 1} columns, got shape {static.shape}"
            )
        xs = as_floats(xs, self.dtype, "xs", ndim=3, shape=(N, None, self.D - S))
        xs_tm = np.ascontiguousarray(xs.transpose(1, 0, 2))  # (T, N, D - S)
        return self._forward(N, xs.shape[1], xs_tm, static)

    def _forward(self, N, T, xs_tm, static):
        H = self.H
        if not self.stateful:
            self.h, self.c = None, None
        h0 = _state(self.h, (N, H), self.dtype, "h")
        c0 = _state(self.c, (N, H), self.dtype, "c")
        hs = self._sequence_forward(xs_tm, h0, c0, static)
        hs_tm, cs_tm = self._cache[4], self._cache[5]
        self.h = hs_tm[T].copy()
        self.c = cs_tm[T].copy()
        return hs

    def backward(self, dhs):
        """Backpropagate through the whole sequence: fills ``grads`` and ``dh``.

        Parameters
        ----------
        dhs : ndarray, (N, T, H)
            Gradient of the loss with respect to every hidden state.

        Returns
        -------
        dxs : ndarray, (N, T, D)
            Gradient with respect to the input; the gradient with respect to the initial
            hidden state is left in ``.dh`` ``(N, H)``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dhs`` does not have the shape of the forward output.
        """
        _forward_first(self, self._cache)
        T1, N, H = self._cache[4].shape
        dhs = self._dhs(dhs, N, T1 - 1)
        dh = np.zeros((N, H), dtype=self.dtype)
        dc = np.zeros((N, H), dtype=self.dtype)
        dxs = self._sequence_backward(dhs, dh, dc)
        self.dh = dh
        return dxs

    def set_state(self, h, c=None):
        """Set the state the next ``forward`` starts from (kept only if ``stateful``).

        Parameters
        ----------
        h : ndarray, (N, H)
            Hidden state.
        c : ndarray, (N, H), optional
            Cell state; zeros if None.
        """
        self.h, self.c = h, c

    def reset_state(self):
        """Forget the kept state: the next ``forward`` starts from zeros."""
        self.h, self.c = None, None


class LSTM(_LSTMKernels):
    """One LSTM step: ``forward(x, h_prev, c_prev) -> (h_next, c_next)``.

    Parameters
    ----------
    Wx : ndarray, (D, 4H)
        Input weights, gate blocks in the order f, g, i, o.
    Wh : ndarray, (H, 4H)
        Recurrent weights.
    b : ndarray, (4H,)
        Bias.
    """

    def __init__(self, Wx, Wh, b):
        self._init_params(Wx, Wh, b)
        self._cache = None

    def forward(self, x, h_prev, c_prev):
        """One LSTM step.

        Parameters
        ----------
        x : ndarray, (N, D)
            Input of this step.
        h_prev, c_prev : ndarray, (N, H)
            Previous hidden and cell state.

        Returns
        -------
        h_next, c_next : ndarray, (N, H)
            Next hidden and cell state.

        Raises
        ------
        ValueError
            If the shapes disagree or an input contains NaN or inf.
        """
        x = as_floats(x, self.dtype, "x", ndim=2, shape=(None, self.D))
        N, H = x.shape[0], self.H
        h0 = _state(h_prev, (N, H), self.dtype, "h_prev")
        c0 = _state(c_prev, (N, H), self.dtype, "c_prev")
        self._sequence_forward(x.reshape(1, N, self.D), h0, c0)
        hs_tm, cs_tm = self._cache[4], self._cache[5]
        return hs_tm[1].copy(), cs_tm[1].copy()

    def backward(self, dh_next, dc_next):
        """Backpropagate through the step: fills ``grads``.

        Parameters
        ----------
        dh_next, dc_next : ndarray, (N, H)
            Gradients with respect to the next hidden and cell state.

        Returns
        -------
        dx : ndarray, (N, D)
            Gradient with respect to ``x``.
        dh_prev, dc_prev : ndarray, (N, H)
            Gradients with respect to ``h_prev`` and ``c_prev``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called.
        ValueError
            If a gradient does not have the shape ``(N, H)``.
        """
        _forward_first(self, self._cache)
        N, H = self._cache[4].shape[1], self.H
        dhs = as_floats(dh_next, self.dtype, "dh_next", ndim=2, shape=(N, H)).reshape(N, 1, H)
        dc = as_floats(dc_next, self.dtype, "dc_next", ndim=2, shape=(N, H)).copy()
        dh = np.zeros((N, H), dtype=self.dtype)
        dx = self._sequence_backward(dhs, dh, dc)
        return dx.reshape(N, self.D), dh, dc


class _HiddenStateSequence:
    """``forward``/``backward`` and state handling of a recurrent layer with one state ``h``.

    Subclasses provide ``_run(xs_tm, h0) -> hs`` and ``_back(dhs, dh) -> dxs``.
    """

    def forward(self, xs):
        """Run the layer over a whole sequence.

        The initial state is ``h`` left by the previous call when ``stateful`` (or set by
        ``set_state``), zeros otherwise.

        Parameters
        ----------
        xs : ndarray, (N, T, D)
            Input sequence; cast to the layer's dtype.

        Returns
        -------
        hs : ndarray, (N, T, H)
            Hidden state of every step; the last is kept in ``.h``.

        Raises
        ------
        ValueError
            If ``xs`` is not 3-D with ``D`` features, contains NaN or inf, or the kept state has
            another batch size.
        """
        N, T, xs_tm = self._inputs(xs)
        if not self.stateful:
            self.h = None
        hs = self._run(xs_tm, _state(self.h, (N, self.H), self.dtype, "h"))
        self.h = hs[:, -1].copy() if T else self.h
        return hs

    def backward(self, dhs):
        """Backpropagate through the whole sequence: fills ``grads`` and ``dh``.

        Parameters
        ----------
        dhs : ndarray, (N, T, H)
            Gradient of the loss with respect to every hidden state.

        Returns
        -------
        dxs : ndarray, (N, T, D)
            Gradient with respect to the input; that with respect to the initial hidden state
            is left in ``.dh`` ``(N, H)``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dhs`` does not have the shape of the forward output.
        """
        _forward_first(self, self._cache)
        T, N, _ = self._cache[0].shape
        dh = np.zeros((N, self.H), dtype=self.dtype)
        dxs = self._back(self._dhs(dhs, N, T), dh)
        self.dh = dh
        return dxs

    def set_state(self, h):
        """Set the hidden state the next ``forward`` starts from (kept only if ``stateful``).

        Parameters
        ----------
        h : ndarray, (N, H)
            Hidden state.
        """
        self.h = h

    def reset_state(self):
        """Forget the kept state: the next ``forward`` starts from zeros."""
        self.h = None


class _HiddenStateStep:
    """One step ``forward(x, h_prev) -> h_next``, ``backward(dh_next) -> (dx, dh_prev)``."""

    def forward(self, x, h_prev):
        """One step.

        Parameters
        ----------
        x : ndarray, (N, D)
            Input of this step.
        h_prev : ndarray, (N, H)
            Previous hidden state.

        Returns
        -------
        h_next : ndarray, (N, H)
            Next hidden state.

        Raises
        ------
        ValueError
            If the shapes disagree or an input contains NaN or inf.
        """
        x = as_floats(x, self.dtype, "x", ndim=2, shape=(None, self.D))
        N = x.shape[0]
        hs = self._run(x.reshape(1, N, self.D), _state(h_prev, (N, self.H), self.dtype, "h_prev"))
        return hs[:, 0]

    def backward(self, dh_next):
        """Backpropagate through the step: fills ``grads``.

        Parameters
        ----------
        dh_next : ndarray, (N, H)
            Gradient with respect to the next hidden state.

        Returns
        -------
        dx : ndarray, (N, D)
            Gradient with respect to ``x``.
        dh_prev : ndarray, (N, H)
            Gradient with respect to ``h_prev``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called.
        ValueError
            If ``dh_next`` does not have the shape ``(N, H)``.
        """
        _forward_first(self, self._cache)
        N = self._cache[0].shape[1]
        dhs = as_floats(dh_next, self.dtype, "dh_next", ndim=2, shape=(N, self.H))
        dh = np.zeros((N, self.H), dtype=self.dtype)
        dx = self._back(dhs.reshape(N, 1, self.H), dh)
        return dx.reshape(N, self.D), dh


class TimeRNN(_HiddenStateSequence, _Recurrent):
    """Elman RNN (``tanh``) over a whole sequence.

    Parameters
    ----------
    Wx : ndarray, (D, H)
    Wh : ndarray, (H, H)
    b : ndarray, (H,)
    stateful : bool
    """

    def __init__(self, Wx, Wh, b, stateful=False):
        self._init_params(Wx, Wh, b)
        self.stateful = stateful
        self.h, self.dh = None, None
        self._cache = None

    def _run(self, xs_tm, h0):
        T, N, _ = xs_tm.shape
        H = self.H
        A = self._projection(xs_tm, H)  # (T, N, H)
        hs_tm = np.empty((T + 1, N, H), dtype=self.dtype)
        hs_tm[0] = h0
        hs = np.empty((N, T, H), dtype=self.dtype)
        Whp = _panels(self.params[1])  # laid out once for all steps
        tmp = np.empty((N, Whp.shape[0] * Whp.shape[2]), dtype=self.dtype)
        _klstm.rnn_forward(A, Whp, hs_tm, hs, tmp, self._one)
        self._cache = (xs_tm, hs_tm)
        return hs

    def _back(self, dhs, dh):
        xs_tm, hs_tm = self._cache
        T = xs_tm.shape[0]
        dA = np.empty((T,) + dh.shape, dtype=self.dtype)
        WhTp = _panels(self.params[1], transpose=True)
        tmp = np.empty((dh.shape[0], WhTp.shape[0] * WhTp.shape[2]), dtype=self.dtype)
        _klstm.rnn_backward(hs_tm, dhs, WhTp, dA, dh, tmp, self._one)
        return self._weight_grads(xs_tm, hs_tm[:T], dA)


class RNN(_HiddenStateStep, TimeRNN):
    """One RNN step: ``forward(x, h_prev) -> h_next``; ``backward(dh_next) -> (dx, dh_prev)``.

    Parameters
    ----------
    Wx : ndarray, (D, H)
        Input weights.
    Wh : ndarray, (H, H)
        Recurrent weights.
    b : ndarray, (H,)
        Bias.
    """

    def __init__(self, Wx, Wh, b):
        super().__init__(Wx, Wh, b)


class TimeGRU(_HiddenStateSequence, _Recurrent):
    """GRU over a whole sequence (the book's form: no bias, blocks z, r, h~).

    Parameters
    ----------
    Wx : ndarray, (D, 3H)
    Wh : ndarray, (H, 3H)
    stateful : bool

    Attributes
    ----------
    dWx, dWh : ndarray
        The gradient arrays (the same objects as ``grads``).
    """

    gates = 3

    def __init__(self, Wx, Wh, stateful=False):
        self._init_params(Wx, Wh, None)
        self.dWx, self.dWh = self.grads
        self.Wx, self.Wh = self.params
        self.stateful = stateful
        self.h, self.dh = None, None
        self._cache = None

    def _run(self, xs_tm, h0):
        T, N, _ = xs_tm.shape
        H = self.H
        Wh = self.params[1]
        A = self._projection(xs_tm, 3 * H)  # (T, N, 3H)
        hs_tm = np.empty((T + 1, N, H), dtype=self.dtype)
        hs_tm[0] = h0
        G = np.empty_like(A)
        RH = np.empty((T, N, H), dtype=self.dtype)
        hs = np.empty((N, T, H), dtype=self.dtype)
        Whzr = _panels(Wh[:, : 2 * H])  # laid out once for all steps
        Whh = _panels(Wh[:, 2 * H :])
        _klstm.gru_forward(
            A,
            Whzr,
            Whh,
            hs_tm,
            G,
            RH,
            hs,
            np.empty((N, Whzr.shape[0] * Whzr.shape[2]), dtype=self.dtype),
            np.empty((N, Whh.shape[0] * Whh.shape[2]), dtype=self.dtype),
            self._one,
        )
        self._cache = (xs_tm, hs_tm, G, RH)
        return hs

    def _back(self, dhs, dh):
        xs_tm, hs_tm, G, RH = self._cache
        T, N, D = xs_tm.shape
        H = self.H
        Wh = self.params[1]
        dA = np.empty_like(G)  # (T, N, 3H)
        WhzrT = _panels(Wh[:, : 2 * H], transpose=True)
        WhhT = _panels(Wh[:, 2 * H :], transpose=True)
        _klstm.gru_backward(
            G,
            hs_tm,
            dhs,
            WhzrT,
            WhhT,
            dA,
            dh,
            np.empty((N, H), dtype=self.dtype),
            np.empty((N, 2 * H), dtype=self.dtype),
            np.empty((N, WhhT.shape[0] * WhhT.shape[2]), dtype=self.dtype),
            self._one,
        )
        dA2 = dA.reshape(T * N, 3 * H)
        _matmul_into(self.grads[0], xs_tm.reshape(T * N, D).T, dA2)
        dWh = self.grads[1]
        dWh[:, : 2 * H] = _mm(hs_tm[:T].reshape(T * N, H).T, dA2[:, : 2 * H])
        dWh[:, 2 * H :] = _mm(RH.reshape(T * N, H).T, dA2[:, 2 * H :])
        dxs_tm = _mm(dA2, self.params[0].T)
        return np.ascontiguousarray(dxs_tm.reshape(T, N, D).transpose(1, 0, 2))


class GRU(_HiddenStateStep, TimeGRU):
    """One GRU step: ``forward(x, h_prev) -> h_next``; ``backward(dh_next) -> (dx, dh_prev)``.

    Parameters
    ----------
    Wx : ndarray, (D, 3H)
        Input weights, blocks z, r, h~ (the book's form, no bias).
    Wh : ndarray, (H, 3H)
        Recurrent weights.
    """

    def __init__(self, Wx, Wh):
        super().__init__(Wx, Wh)


class TimeBiLSTM:
    """Bidirectional LSTM: a forward and a time-reversed :class:`TimeLSTM`, outputs concatenated.

    Parameters
    ----------
    Wx1, Wh1, b1 : ndarray, (D, 4H), (H, 4H), (4H,)
        Parameters of the forward-direction LSTM.
    Wx2, Wh2, b2 : ndarray, (D, 4H), (H, 4H), (4H,)
        Parameters of the backward-direction LSTM.
    stateful : bool
        Keep each direction's last state for the next ``forward``.
    """

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads
        self._out_shape = None

    def forward(self, xs):
        """Run both directions over the sequence and concatenate their hidden states.

        Parameters
        ----------
        xs : ndarray, (N, T, D)
            Input sequence.

        Returns
        -------
        ndarray, (N, T, 2H)
            Forward direction's states in ``[..., :H]``, backward direction's in ``[..., H:]``
            (aligned with the input's time steps).

        Raises
        ------
        ValueError
            If ``xs`` is not 3-D with ``D`` features or contains NaN or inf.
        """
        o1 = self.forward_lstm.forward(xs)
        o2 = self.backward_lstm.forward(np.asarray(xs)[:, ::-1])
        self._out_shape = o1.shape[:2] + (2 * self.forward_lstm.H,)
        return np.concatenate((o1, o2[:, ::-1]), axis=2)

    def backward(self, dhs):
        """Backpropagate through both directions: fills ``grads``.

        Parameters
        ----------
        dhs : ndarray, (N, T, 2H)
            Gradient of the loss with respect to the concatenated states.

        Returns
        -------
        dxs : ndarray, (N, T, D)
            Gradient with respect to the input (the sum of both directions').

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dhs`` does not have the shape of the forward output.
        """
        _forward_first(self, self._out_shape)
        H = self.forward_lstm.H
        dhs = as_floats(dhs, self.forward_lstm.dtype, "dhs", ndim=3, shape=self._out_shape)
        dxs1 = self.forward_lstm.backward(dhs[:, :, :H])
        dxs2 = self.backward_lstm.backward(dhs[:, ::-1, H:])
        return dxs1 + dxs2[:, ::-1]
