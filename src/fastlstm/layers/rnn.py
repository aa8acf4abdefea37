"""The book's plain RNN and the GRU: the cells ``RNN`` and ``GRU`` and their whole-sequence
versions ``TimeRNN`` and ``TimeGRU``.

Each sequence runs in one compiled kernel; input projections and weight gradients are
whole-sequence matrix products.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastlstm._kernels import lstm as _klstm
from fastlstm._validate import as_floats
from fastlstm.layers._checks import (
    _check_params,
    _forward_first,
    _state,
)
from fastlstm.layers._products import _matmul_into, _mm, _panels
from fastlstm.layers._recurrent import _Recurrent

__all__ = ["TimeRNN", "RNN", "TimeGRU", "GRU"]


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
            If ``xs`` is not 3-D with ``D`` features, or the kept state has
            another batch size.
        """
        N, T, xs_tm = self._inputs(xs)
        if not self.stateful:
            self.h = None
        h0 = _state(self.h, (N, self.H), self.dtype, "h")
        hs = self._run(xs_tm, h0)
        self.h = hs[:, -1].copy() if T else h0.copy()  # no steps: the state it started from
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
            If the shapes disagree.
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
        _check_params(self)
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
        _check_params(self)
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


def _gru_bias(b):
    """Refuse a flag where the bias goes (``TimeGRU(Wx, Wh, True)`` meant ``stateful``)."""
    if isinstance(b, (bool, np.bool_, numbers.Integral)):
        raise TypeError(
            f"the third argument of a GRU layer is the bias b (3H,), got {b!r}; "
            "pass stateful by name: TimeGRU(Wx, Wh, b, stateful=True)"
        )


class TimeGRU(_HiddenStateSequence, _Recurrent):
    """GRU over a whole sequence (the book's ``common/time_layers.py``; blocks z, r, h~).

    ``z = sigmoid(x Wxz + h Whz + bz)``, ``r = sigmoid(x Wxr + h Whr + br)``,
    ``h~ = tanh(x Wxh + (r * h) Whh + bh)``, ``h_next = (1 - z) * h + z * h~``.

    Parameters
    ----------
    Wx : ndarray, (D, 3H)
    Wh : ndarray, (H, 3H)
    b : ndarray, (3H,), optional
        The bias, as in the book's current code. Without it the layer is the
        book's first form, ``TimeGRU(Wx, Wh)``, with ``params = [Wx, Wh]``.
    stateful : bool, default False
        Keep ``h`` between calls to :meth:`forward`.

    Attributes
    ----------
    dWx, dWh : ndarray
        The gradient arrays (the same objects as ``grads``); ``db`` too when there is a bias.
    """

    gates = 3

    def __init__(self, Wx, Wh, b=None, stateful=False):
        _gru_bias(b)
        self._init_params(Wx, Wh, b)
        self.dWx, self.dWh = self.grads[:2]
        self.Wx, self.Wh = self.params[:2]
        if b is not None:
            self.b, self.db = self.params[2], self.grads[2]
        self.stateful = stateful
        self.h, self.dh = None, None
        self._cache = None

    def _run(self, xs_tm, h0):
        _check_params(self)
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
        _check_params(self)
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
        if len(self.params) == 3:
            self.grads[2][...] = dA2.sum(axis=0)
        dxs_tm = _mm(dA2, self.params[0].T)
        return np.ascontiguousarray(dxs_tm.reshape(T, N, D).transpose(1, 0, 2))


class GRU(_HiddenStateStep, TimeGRU):
    """One GRU step: ``forward(x, h_prev) -> h_next``; ``backward(dh_next) -> (dx, dh_prev)``.

    Parameters
    ----------
    Wx : ndarray, (D, 3H)
        Input weights, blocks z, r, h~.
    Wh : ndarray, (H, 3H)
        Recurrent weights.
    b : ndarray, (3H,), optional
        Bias, as in the book's current code; without it, the book's first form ``GRU(Wx, Wh)``.
    """

    def __init__(self, Wx, Wh, b=None):
        super().__init__(Wx, Wh, b)
