"""The book's LSTM layers: the cell ``LSTM``, the whole sequence ``TimeLSTM``, and
``TimeBiLSTM`` (two TimeLSTMs, one reading the sequence backwards).

Each sequence runs in one compiled kernel (:mod:`fastlstm._kernels.lstm`); input
projections and weight gradients are whole-sequence matrix products.
"""

from __future__ import annotations

import contextlib

import numpy as np

from fastlstm._kernels import blas as _kblas
from fastlstm._kernels import lstm as _klstm
from fastlstm._numba import CHUNKS
from fastlstm._validate import as_floats
from fastlstm.layers._checks import (
    _check_bi_params,
    _check_params,
    _forward_first,
    _state,
)
from fastlstm.layers._products import _work
from fastlstm.layers._recurrent import _Recurrent
from fastlstm.layers._workspace import work_array

__all__ = ["TimeLSTM", "LSTM", "TimeBiLSTM"]


def _time_loop(rows, units, N, work):
    """The build of an LSTM time-loop kernel to run on ``N`` rows, and its last arguments.

    ``rows`` takes blocks of rows through all steps (``R`` its last argument), ``units``
    runs each step's blocks of units in parallel, for fewer rows
    (:func:`fastlstm._kernels.lstm.row_blocks`); both give the same bits.
    """
    build = rows.pick(work)
    R = _klstm.row_blocks(N, CHUNKS)
    if R:
        return build, (R,)
    if build is rows.parallel:
        return units.parallel, ()
    return build, (1,)  # the serial build: one block of all rows


def _write_through(dst, write):
    """``write(out)`` with ``out`` = ``dst``, or a C-contiguous array then copied into ``dst``
    when ``dst`` is not one (the kernels write C-contiguous gradients)."""
    if dst.flags.c_contiguous:
        write(dst)
    else:
        out = np.empty(dst.shape, dtype=dst.dtype)
        write(out)
        dst[...] = out


class _LSTMKernels(_Recurrent):
    """Calls of the LSTM sequence kernels shared by :class:`TimeLSTM` and :class:`LSTM`.

    The kernels work in a blocked gate layout (see :mod:`fastlstm._kernels.lstm`);
    parameters are packed on each forward and gradients unpacked after backward.
    """

    gates = 4

    def _work(self, name, shape, zero=False):
        """A work array kept between calls (same shape and dtype), never handed out."""
        return work_array(self, name, shape, self.dtype, zero)

    def _lay_out(self, D, S):
        """The weights laid out for the kernels (again, unless inside :meth:`fixed_weights`):
        ``(C, hc, Wxc, Wxp, Whp, WhTp, Wsp)`` for inputs of ``D`` columns, the first ``S``
        static."""
        H = self.H
        Wx, Wh, b = self.params
        pw = _kblas.panel_width(self.dtype)
        C, hc = _klstm.split_units(H, CHUNKS, pw // 4)
        Wxc = self._work("Wxc", (C, D + 1, 4 * hc))  # (C, D+1, 4hc): Wx with b as last row
        # (C, 4hc/P, D+1, P) Wxc's blocks in panels, for few inputs (each step's projections)
        Wxp = self._work("Wxp", _klstm.input_panels_shape(C, hc, D, pw))
        # Wh laid out once per sequence for the per-step products of forward and backward
        Whp = self._work("Whp", (C, 4 * hc // pw, H, pw))  # (C, 4hc/P, H, P) panels of Wh_c
        WhTp = self._work("WhTp", (C, -(-H // pw), 4 * hc, pw))  # (C, Hp/P, 4hc, P) of Wh_c.T
        pending = self.__dict__.get("_dh_pending")
        if pending is not None and pending[1] is WhTp:  # kept for a dh not yet read
            WhTp = self._work("WhTp2", WhTp.shape)
        Wsp = self._work("Wsp", (-(-4 * H // pw), S, pw))  # (npan, S, P) panels of Wx[:S]
        layout = (Wx, Wh, b, Wxc, Wxp, Whp, WhTp, Wsp, S)  # arrays compared by identity
        laid_out = self.__dict__.get("_laid_out")
        if (
            laid_out is None
            or laid_out[-1] != S
            or any(x is not y for x, y in zip(laid_out[:-1], layout[:-1]))
        ):
            # parallel at large sizes: each thread lays out the blocks it multiplies with
            work = (D + 2 * H) * 4 * H
            _klstm.pack_input.pick(work)(Wx, S, b, C, hc, Wxc)
            _klstm.input_panels(Wxc, Wxp)
            _klstm.pack_recurrent.pick(work)(Wh, self._gate_columns(C, hc), Whp, WhTp)
            if S:
                _kblas.pack_panels(Wx[:S], Wsp)
            if self.__dict__.get("_fixed", 0):  # weights unchanged until the block ends
                self._laid_out = layout
        return C, hc, Wxc, Wxp, Whp, WhTp, Wsp

    def _inputs_ones(self, xs_tm):
        """``X2`` (T*N, D+1): the inputs ``xs_tm`` (T, N, D) by rows, and a column of ones."""
        T, N, D = xs_tm.shape
        X2 = self._work("X2", (T * N, D + 1))
        X2[:, :D] = xs_tm.reshape(T * N, D)
        X2[:, D] = 1
        return X2

    def _state_arrays(self, h0, c0, T):
        """``hs_tm``, ``cs_tm`` (T+1, N, H) starting from ``h0``, ``c0`` (N, H), and a new
        ``hs`` (N, T, H): the states a time loop of ``T`` steps writes."""
        N, H = h0.shape
        hs_tm = self._work("hs_tm", (T + 1, N, H))
        cs_tm = self._work("cs_tm", (T + 1, N, H))
        hs_tm[0] = h0
        cs_tm[0] = c0
        return hs_tm, cs_tm, np.empty((N, T, H), dtype=self.dtype)

    def _sequence_forward(self, xs_tm, h0, c0, static=None):
        """xs_tm (T, N, D) -> ``(hs (N, T, H), hs_tm, cs_tm)``; caches what backward needs.

        With ``static`` (N, S), the input at every step is ``concat(static, x_t)``
        and ``xs_tm`` is (T, N, D - S): ``static @ Wx[:S]`` is computed once.
        """
        _check_params(self)
        T, N, D = xs_tm.shape
        H, dt = self.H, self.dtype
        S = 0 if static is None else static.shape[1]
        pw = _kblas.panel_width(dt)
        C, hc, Wxc, Wxp, Whp, WhTp, Wsp = self._lay_out(D, S)
        P = self._work("P", (C, N if S else 0, 4 * hc))  # (C, N, 4hc): static @ Wx[:S]
        if S:  # from the panels, with the bits of the one-question decoding kernel
            proj = self._work("proj", (N, Wsp.shape[0] * pw))
            kernel = _klstm.static_projection_blocks.pick(2 * N * S * 4 * H)
            kernel(np.ascontiguousarray(static), Wsp, H, proj, P, CHUNKS)
        A = self._work("A", (C, T, N, 4 * hc))  # (C, T, N, 4hc) gates
        hs_tm, cs_tm, hs = self._state_arrays(h0, c0, T)
        X2 = self._inputs_ones(xs_tm)  # (T*N, D+1)
        tmp = self._work("tmp", (C, N, 4 * hc))
        # (T*N, H+D+1): previous h, input and a one per row, for backward's one product per block
        Z = self._work("Z", (T * N, H + X2.shape[1]))
        run, R = _time_loop(_klstm.lstm_forward, _klstm.lstm_forward_units, N, 8 * N * H * H)
        run(X2, Wxc, Wxp, Whp, P, A, hs_tm, cs_tm, hs, tmp, Z, *R)
        self._cache = (X2, Wxc, WhTp, A, hs_tm, cs_tm, static, Z)
        return hs, hs_tm, cs_tm

    def _sequence_states(self, xs_tm, h0, c0):
        """xs_tm (T, N, D) -> ``(hs (N, T, H), hs_tm, cs_tm)``, nothing kept for backward.

        For inference: the forward kernel in blocks of rows, computing each step's input
        projections just before its gates and keeping none of the gate activations
        (:func:`fastlstm._kernels.lstm.lstm_forward` with one step's ``A``).  With too few
        rows for blocks of rows, or more than ``STEP_INPUTS_MAX`` inputs
        (:data:`fastlstm._kernels.lstm.STEP_INPUTS_MAX`), the training forward runs.
        Either way the next ``backward`` asks for a forward first.
        """
        T, N, D = xs_tm.shape
        H = self.H
        run, R = _time_loop(_klstm.lstm_forward, _klstm.lstm_forward_units, N, 8 * N * H * H)
        if not R or not _klstm.step_inputs(D):
            states = self._sequence_forward(xs_tm, h0, c0)
            self._cache = None
            return states
        _check_params(self)
        self._cache = None  # the work arrays below are those a backward would read
        C, hc, Wxc, Wxp, Whp, _, _ = self._lay_out(D, 0)
        G = self._work("G", (C, 1, N, 4 * hc))  # (C, 1, N, 4hc) one step's gates
        P = self._work("P", (C, 0, 4 * hc))
        hs_tm, cs_tm, hs = self._state_arrays(h0, c0, T)
        tmp = self._work("tmp", (C, N, 4 * hc))
        X2 = self._inputs_ones(xs_tm)  # (T*N, D+1)
        Z = np.empty((0, H + X2.shape[1]), dtype=self.dtype)  # no rows: nothing for a backward
        run(X2, Wxc, Wxp, Whp, P, G, hs_tm, cs_tm, hs, tmp, Z, *R)
        return hs, hs_tm, cs_tm

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

    def _initial_dh(self, dA, WhTp):
        """The gradient of the initial ``h`` (N, H) that a backward left pending."""
        C, _, N, hc4 = dA.shape
        part = np.empty((C, N, WhTp.shape[1] * WhTp.shape[3]), dtype=self.dtype)  # (C, N, Hp)
        dh = np.empty((N, self.H), dtype=self.dtype)
        _klstm.lstm_initial_dh.pick(2 * part.size * hc4)(dA, WhTp, part, dh)
        return dh

    def _sequence_backward(self, dhs, dh, dc, initial=True):
        """dhs (N, T, H) -> dxs (N, T, D); fills grads; ``dh``/``dc`` in/out as in the kernel.

        After a forward with ``static``, its gradient is left in ``self.dstatic``.  With
        ``initial`` False the gradient of the initial ``h`` is not computed: what it needs
        (the gate gradients, which only the next backward overwrites, after dropping the
        pending ``dh``, and the layout of ``Wh.T``) is kept in ``self._dh_pending`` for
        :meth:`_initial_dh`, and the next forward lays ``Wh`` out into another array.
        """
        _check_params(self)
        X2, Wxc, WhTp, G, hs_tm, cs_tm, static, Z = self._cache
        C, T, N, hc4 = G.shape
        H, D, dt = self.H, X2.shape[1] - 1, self.dtype
        Hp = WhTp.shape[1] * WhTp.shape[3]  # H rounded up to whole panels
        self._dh_pending = None  # the last backward's dA is overwritten now
        dA = self._work("dA", G.shape)  # every element written (the padding's zeros too)
        part = self._work("part", (2, C, N, Hp))
        carry = self._work("carry", (C, N, hc4 // 4))
        run, R = _time_loop(_klstm.lstm_backward, _klstm.lstm_backward_units, N, 8 * N * H * H)
        run(G, cs_tm, dhs, WhTp, dA, dh, dc, part, carry, self._one, initial, *R)
        if not initial:
            self._dh_pending = (dA, WhTp)
        dWzc = self._work("dWzc", (C, H + D + 1, hc4))  # (C, H+D+1, 4hc): dWh, dWx, db
        dXp = self._work("dXp", (C, T * N, D))
        _klstm.lstm_weight_grads.pick(2 * T * N * C * hc4 * (2 * D + H))(Z, dA, Wxc, dWzc, dXp)
        dWhc, dWxc = dWzc[:, :H], dWzc[:, H:]
        S = 0 if static is None else static.shape[1]
        _klstm.unpack_input.pick(dWxc.size)(dWxc, S, self.grads[0], self.grads[2])
        self.dstatic = None
        if S:  # the static input: one product with the gate gradients summed over time
            dAsum = self._work("dAsum", (N, 4 * H))  # (N, 4H)
            sums = self._work("dAsum_blocks", (N, C, hc4))  # (N, C, 4hc)
            self.dstatic = np.empty((N, S), dtype=dt)  # (N, S)
            Ws = np.ascontiguousarray(self.params[0][:S])  # (S, 4H)
            kernel = _klstm.static_grads.pick(2 * _work(static.T, dAsum))  # two products
            _write_through(
                self.grads[0][:S],  # (S, 4H)
                lambda dWs: kernel(dA, static, Ws, sums, dAsum, dWs, self.dstatic, CHUNKS),
            )
        dWh = self.grads[1]
        _write_through(dWh, lambda out: _klstm.unpack_cols.pick(dWh.size)(dWhc, out))
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
            If ``xs`` is not 3-D with ``D`` features, or the kept state has
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

    def _states(self, xs):
        """:meth:`forward` for inference: the same ``hs``, ``h`` and ``c``, nothing kept for
        ``backward`` (which then asks for a forward first).

        Where the BLAS rounds a row alike whatever rows come with it, the bits are those
        of :meth:`forward`.
        """
        N, T, xs_tm = self._inputs(xs)
        return self._forward(N, T, xs_tm, None, keep=False)

    def _forward(self, N, T, xs_tm, static, keep=True):
        H = self.H
        if not self.stateful:
            self.h, self.c = None, None
        h0 = _state(self.h, (N, H), self.dtype, "h")
        c0 = _state(self.c, (N, H), self.dtype, "c")
        if keep:
            hs, hs_tm, cs_tm = self._sequence_forward(xs_tm, h0, c0, static)
        else:
            hs, hs_tm, cs_tm = self._sequence_states(xs_tm, h0, c0)
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
        # a stateless layer starts from zeros, as an encoder does, and its dh is rarely
        # read: it is computed when it is (the first step's product, about 1/T of the
        # backward's recurrent products)
        initial = bool(self.stateful)
        dxs = self._sequence_backward(dhs, dh, dc, initial)
        if initial:
            self.dh = dh
        else:
            self._dh = None  # until read: _sequence_backward left what it needs pending
        return dxs

    @property
    def dh(self):
        """ndarray (N, H) or None: gradient with respect to the initial hidden state, after
        ``backward`` (computed when first read, for a stateless layer)."""
        pending = self.__dict__.get("_dh_pending")
        if pending is not None:
            self._dh = self._initial_dh(*pending)
            self._dh_pending = None
        return self.__dict__.get("_dh")

    @dh.setter
    def dh(self, value):
        self._dh_pending = None
        self._dh = value

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
            If the shapes disagree.
        """
        x = as_floats(x, self.dtype, "x", ndim=2, shape=(None, self.D))
        N, H = x.shape[0], self.H
        h0 = _state(h_prev, (N, H), self.dtype, "h_prev")
        c0 = _state(c_prev, (N, H), self.dtype, "c_prev")
        _, hs_tm, cs_tm = self._sequence_forward(x.reshape(1, N, self.D), h0, c0)
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
        one, two = self.forward_lstm, self.backward_lstm
        if one.D != two.D:
            raise ValueError(
                f"the two directions read inputs of different sizes: Wx1 has D = {one.D}, "
                f"Wx2 D = {two.D}"
            )
        if one.dtype != two.dtype:
            raise TypeError(
                f"the two directions must share one dtype, got {one.dtype} (Wx1, Wh1, b1) and "
                f"{two.dtype} (Wx2, Wh2, b2)"
            )
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
            (aligned with the input's time steps); ``H1 + H2`` wide if the two differ.

        Raises
        ------
        ValueError
            If ``xs`` is not 3-D with ``D`` features.
        """
        _check_bi_params(self)
        o1 = self.forward_lstm.forward(xs)
        o2 = self.backward_lstm.forward(np.asarray(xs)[:, ::-1])
        self._out_shape = o1.shape[:2] + (self.forward_lstm.H + self.backward_lstm.H,)
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
        _check_bi_params(self)
        H = self.forward_lstm.H
        dhs = as_floats(dhs, self.forward_lstm.dtype, "dhs", ndim=3, shape=self._out_shape)
        dxs1 = self.forward_lstm.backward(dhs[:, :, :H])
        dxs2 = self.backward_lstm.backward(dhs[:, ::-1, H:])
        return dxs1 + dxs2[:, ::-1]
