"""Plain NumPy layers of the book (``common/layers.py``, ``common/time_layers.py``,
``ch08/attention_layer.py``), written for clarity, not speed.

Every time layer loops over time steps with one per-step layer object, exactly as the
book does, so this module is the oracle the fast layers of :mod:`fastlstm.layers` are
tested against.  Differences from the book:

* the dtype of a layer is the dtype of its parameters (float32 or float64); float inputs
  are cast to it and nothing is hard-coded to float32;
* :class:`TimeSoftmaxWithLoss` returns a loss of 0 and a zero gradient when every label
  is ignored (the book divides by zero);
* :class:`Dropout` and :class:`TimeDropout` draw their masks from a
  :class:`numpy.random.Generator`;
* :class:`GRU` and :class:`TimeGRU` also hold ``params``/``grads`` lists.
"""

import numpy as np

from reference.functions import cross_entropy_error, sigmoid, softmax

__all__ = [
    "MatMul",
    "Affine",
    "Softmax",
    "SoftmaxWithLoss",
    "Sigmoid",
    "Dropout",
    "Embedding",
    "RNN",
    "TimeRNN",
    "LSTM",
    "TimeLSTM",
    "GRU",
    "TimeGRU",
    "TimeBiLSTM",
    "TimeEmbedding",
    "TimeAffine",
    "TimeSoftmaxWithLoss",
    "TimeDropout",
    "WeightSum",
    "AttentionWeight",
    "Attention",
    "TimeAttention",
]


# --------------------------------------------------------------------------- #
# input checks
# --------------------------------------------------------------------------- #
def _as_float(x, dtype, name, ndim=None):
    """Return ``x`` as an array of ``dtype`` after checking its kind and rank."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    return x.astype(dtype, copy=False)


def _as_ids(x, name, ndim=None):
    """Return ``x`` as an integer array after checking its kind and rank."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of ids, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    return x


def _float_dtype(x):
    """The dtype a parameterless layer computes in: ``x``'s if floating, else float32."""
    x = np.asarray(x)
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)


def _check_size(actual, expected, name, what):
    if actual != expected:
        raise ValueError(f"{name} has {what} {actual}, expected {expected}")


# --------------------------------------------------------------------------- #
# common/layers.py
# --------------------------------------------------------------------------- #
class MatMul:
    """``out = x @ W``.

    Parameters
    ----------
    W : ndarray
        Weight ``(D, H)``.
    """

    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        """``x (N, D) -> (N, H)``."""
        (W,) = self.params
        x = _as_float(x, W.dtype, "x")
        self.x = x
        return np.dot(x, W)

    def backward(self, dout):
        """``dout (N, H) -> dx (N, D)``; writes ``dW`` into ``grads[0]``."""
        (W,) = self.params
        dx = np.dot(dout, W.T)
        self.grads[0][...] = np.dot(self.x.T, dout)
        return dx


class Affine:
    """``out = x @ W + b``.

    Parameters
    ----------
    W : ndarray
        Weight ``(D, H)``.
    b : ndarray
        Bias ``(H,)``.
    """

    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        """``x (N, D) -> (N, H)``."""
        W, b = self.params
        x = _as_float(x, W.dtype, "x")
        self.x = x
        return np.dot(x, W) + b

    def backward(self, dout):
        """``dout (N, H) -> dx (N, D)``; writes ``dW``, ``db``."""
        W, b = self.params
        dx = np.dot(dout, W.T)
        self.grads[0][...] = np.dot(self.x.T, dout)
        self.grads[1][...] = np.sum(dout, axis=0)
        return dx


class Softmax:
    """Softmax over the last axis (no parameters)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        """``x (N, V) -> y (N, V)``."""
        self.out = softmax(x)
        return self.out

    def backward(self, dout):
        """``dout (N, V) -> dx (N, V)``: ``y * (dout - sum(y * dout))``."""
        dx = self.out * dout
        sumdx = np.sum(dx, axis=-1, keepdims=True)
        dx -= self.out * sumdx
        return dx


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy loss (book's ``SoftmaxWithLoss``)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.y = None  # softmax output
        self.t = None  # label ids

    def forward(self, x, t):
        """``x (N, V)``, ``t (N,)`` ids or ``(N, V)`` one-hot ``-> loss``."""
        t = np.asarray(t)
        self.y = softmax(x)
        if t.size == self.y.size:  # one-hot labels
            t = t.argmax(axis=1)
        self.t = t
        return cross_entropy_error(self.y, self.t)

    def backward(self, dout=1):
        """``-> dx (N, V)``: ``(y - onehot(t)) * dout / N``."""
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        dx *= dout
        dx = dx / batch_size
        return dx


class Sigmoid:
    """Element-wise logistic sigmoid (no parameters)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        """``x -> sigmoid(x)``."""
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        """``dout -> dout * y * (1 - y)``."""
        return dout * (1.0 - self.out) * self.out


class Dropout:
    """Dropout of the book's ``common/layers.py`` (no rescaling in training).

    Parameters
    ----------
    dropout_ratio : float, default 0.5
        Probability of dropping a unit.
    rng : numpy.random.Generator, optional
        Source of the masks (default ``np.random.default_rng()``).

    Notes
    -----
    In training ``out = x * mask`` with ``mask = rng.random(x.shape) > dropout_ratio``;
    at test time ``out = x * (1 - dropout_ratio)``, as the book.
    """

    def __init__(self, dropout_ratio=0.5, rng=None):
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.rng = np.random.default_rng() if rng is None else rng
        self.mask = None

    def forward(self, x, train_flg=True):
        """``x -> x * mask`` (training) or ``x * (1 - ratio)`` (test)."""
        if train_flg:
            self.mask = self.rng.random(x.shape) > self.dropout_ratio
            return x * self.mask.astype(_float_dtype(x))
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        """``dout -> dout * mask``."""
        return dout * self.mask.astype(_float_dtype(dout))


class Embedding:
    """Row lookup ``out = W[idx]``.

    Parameters
    ----------
    W : ndarray
        Embedding matrix ``(V, D)``.
    """

    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.idx = None

    def forward(self, idx):
        """``idx (N,)`` integer ids ``-> (N, D)``."""
        (W,) = self.params
        idx = _as_ids(idx, "idx")
        self.idx = idx
        return W[idx]

    def backward(self, dout):
        """Scatter-add ``dout (N, D)`` into ``grads[0]``; returns None."""
        (dW,) = self.grads
        dW[...] = 0
        np.add.at(dW, self.idx, dout)
        return None


# --------------------------------------------------------------------------- #
# common/time_layers.py: RNN
# --------------------------------------------------------------------------- #
class RNN:
    """One step of a vanilla RNN: ``h_next = tanh(h_prev @ Wh + x @ Wx + b)``.

    Parameters
    ----------
    Wx : ndarray
        ``(D, H)``.
    Wh : ndarray
        ``(H, H)``.
    b : ndarray
        ``(H,)``.
    """

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        """``x (N, D)``, ``h_prev (N, H) -> h_next (N, H)``."""
        Wx, Wh, b = self.params
        t = np.dot(h_prev, Wh) + np.dot(x, Wx) + b
        h_next = np.tanh(t)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        """``dh_next (N, H) -> (dx (N, D), dh_prev (N, H))``; writes the grads."""
        Wx, Wh, b = self.params
        x, h_prev, h_next = self.cache

        dt = dh_next * (1 - h_next**2)  # (N, H)
        self.grads[0][...] = np.dot(x.T, dt)
        self.grads[1][...] = np.dot(h_prev.T, dt)
        self.grads[2][...] = np.sum(dt, axis=0)
        dx = np.dot(dt, Wx.T)
        dh_prev = np.dot(dt, Wh.T)
        return dx, dh_prev


class TimeRNN:
    """``T`` steps of :class:`RNN`.

    Parameters
    ----------
    Wx, Wh, b : ndarray
        As :class:`RNN`.
    stateful : bool, default False
        Keep the last hidden state ``h`` between calls to :meth:`forward`.

    Attributes
    ----------
    h : ndarray or None
        Hidden state after the last forward step ``(N, H)``.
    dh : ndarray or None
        Gradient w.r.t. the initial hidden state after :meth:`backward`.
    """

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.h, self.dh = None, None
        self.stateful = stateful

    def forward(self, xs):
        """``xs (N, T, D) -> hs (N, T, H)``."""
        Wx, Wh, b = self.params
        xs = _as_float(xs, Wx.dtype, "xs", ndim=3)
        N, T, D = xs.shape
        _check_size(D, Wx.shape[0], "xs", "feature size D")
        H = Wh.shape[0]

        self.layers = []
        hs = np.empty((N, T, H), dtype=Wx.dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=Wx.dtype)
        else:
            self.h = _as_float(self.h, Wx.dtype, "h", ndim=2)

        for t in range(T):
            layer = RNN(*self.params)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        """``dhs (N, T, H) -> dxs (N, T, D)``; sums step grads, leaves ``dh``."""
        Wx, Wh, b = self.params
        dhs = _as_float(dhs, Wx.dtype, "dhs", ndim=3)
        N, T, H = dhs.shape
        D = Wx.shape[0]

        dxs = np.empty((N, T, D), dtype=Wx.dtype)
        dh = 0
        grads = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh = layer.backward(dhs[:, t, :] + dh)
            dxs[:, t, :] = dx
            for i, grad in enumerate(layer.grads):
                grads[i] += grad

        for i, grad in enumerate(grads):
            self.grads[i][...] = grad
        self.dh = dh
        return dxs

    def set_state(self, h):
        """Set the hidden state ``h (N, H)`` used by the next forward (if stateful)."""
        self.h = h

    def reset_state(self):
        """Forget the hidden state."""
        self.h = None


# --------------------------------------------------------------------------- #
# LSTM
# --------------------------------------------------------------------------- #
class LSTM:
    """One LSTM step; gate blocks of ``Wx``, ``Wh``, ``b`` in the order f, g, i, o.

    Parameters
    ----------
    Wx : ndarray
        ``(D, 4H)``.
    Wh : ndarray
        ``(H, 4H)``.
    b : ndarray
        ``(4H,)``.
    """

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        """``x (N, D)``, ``h_prev``, ``c_prev (N, H) -> (h_next, c_next)``."""
        Wx, Wh, b = self.params
        N, H = h_prev.shape

        A = np.dot(x, Wx) + np.dot(h_prev, Wh) + b  # (N, 4H)
        f = sigmoid(A[:, :H])
        g = np.tanh(A[:, H : 2 * H])
        i = sigmoid(A[:, 2 * H : 3 * H])
        o = sigmoid(A[:, 3 * H :])

        c_next = f * c_prev + g * i
        h_next = o * np.tanh(c_next)

        self.cache = (x, h_prev, c_prev, i, f, g, o, c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        """``dh_next``, ``dc_next (N, H) -> (dx, dh_prev, dc_prev)``; writes the grads."""
        Wx, Wh, b = self.params
        x, h_prev, c_prev, i, f, g, o, c_next = self.cache

        tanh_c_next = np.tanh(c_next)
        ds = dc_next + (dh_next * o) * (1 - tanh_c_next**2)
        dc_prev = ds * f

        df = ds * c_prev * f * (1 - f)
        dg = ds * i * (1 - g**2)
        di = ds * g * i * (1 - i)
        do = dh_next * tanh_c_next * o * (1 - o)
        dA = np.hstack((df, dg, di, do))  # (N, 4H)

        self.grads[0][...] = np.dot(x.T, dA)
        self.grads[1][...] = np.dot(h_prev.T, dA)
        self.grads[2][...] = dA.sum(axis=0)

        dx = np.dot(dA, Wx.T)
        dh_prev = np.dot(dA, Wh.T)
        return dx, dh_prev, dc_prev


class TimeLSTM:
    """``T`` steps of :class:`LSTM`.

    Parameters
    ----------
    Wx, Wh, b : ndarray
        As :class:`LSTM` (``(D, 4H)``, ``(H, 4H)``, ``(4H,)``, blocks f, g, i, o).
    stateful : bool, default False
        Keep ``h`` and ``c`` between calls to :meth:`forward`.

    Attributes
    ----------
    h, c : ndarray or None
        Hidden and cell state after the last forward step ``(N, H)``.
    dh : ndarray or None
        Gradient w.r.t. the initial hidden state after :meth:`backward`
        (the gradient flowing in from the right starts at zero, as the book).
    """

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.h, self.c = None, None
        self.dh = None
        self.stateful = stateful

    def forward(self, xs):
        """``xs (N, T, D) -> hs (N, T, H)``."""
        Wx, Wh, b = self.params
        xs = _as_float(xs, Wx.dtype, "xs", ndim=3)
        N, T, D = xs.shape
        _check_size(D, Wx.shape[0], "xs", "feature size D")
        H = Wh.shape[0]

        self.layers = []
        hs = np.empty((N, T, H), dtype=Wx.dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=Wx.dtype)
        else:
            self.h = _as_float(self.h, Wx.dtype, "h", ndim=2)
        if not self.stateful or self.c is None:
            self.c = np.zeros((N, H), dtype=Wx.dtype)
        else:
            self.c = _as_float(self.c, Wx.dtype, "c", ndim=2)

        for t in range(T):
            layer = LSTM(*self.params)
            self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        """``dhs (N, T, H) -> dxs (N, T, D)``; sums step grads, leaves ``dh``."""
        Wx, Wh, b = self.params
        dhs = _as_float(dhs, Wx.dtype, "dhs", ndim=3)
        N, T, H = dhs.shape
        D = Wx.shape[0]

        dxs = np.empty((N, T, D), dtype=Wx.dtype)
        dh, dc = 0, 0
        grads = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh, dc = layer.backward(dhs[:, t, :] + dh, dc)
            dxs[:, t, :] = dx
            for i, grad in enumerate(layer.grads):
                grads[i] += grad

        for i, grad in enumerate(grads):
            self.grads[i][...] = grad
        self.dh = dh
        return dxs

    def set_state(self, h, c=None):
        """Set ``h`` (and ``c``, default zeros) used by the next forward (if stateful)."""
        self.h, self.c = h, c

    def reset_state(self):
        """Forget ``h`` and ``c``."""
        self.h, self.c = None, None


# --------------------------------------------------------------------------- #
# GRU (book's extra layers, blocks z, r, h~; the bias is optional: the book's first form had none)
# --------------------------------------------------------------------------- #
class GRU:
    """One GRU step of the book; blocks of ``Wx``, ``Wh``, ``b`` in the order z, r, h~.

    ``z = sigmoid(x Wxz + h Whz + bz)``, ``r = sigmoid(x Wxr + h Whr + br)``,
    ``h~ = tanh(x Wx~ + (r * h) Wh~ + b~)``, ``h_next = (1 - z) * h + z * h~``.

    Parameters
    ----------
    Wx : ndarray
        ``(D, 3H)``.
    Wh : ndarray
        ``(H, 3H)``.
    b : ndarray, optional
        ``(3H,)``; without it (the book's first form) there is no bias.
    """

    def __init__(self, Wx, Wh, b=None):
        self.Wx, self.Wh, self.b = Wx, Wh, b
        self.params = [Wx, Wh] + ([] if b is None else [b])
        self.grads = [np.zeros_like(p) for p in self.params]
        self.dWx, self.dWh = self.grads[:2]
        self.cache = None

    def _bias(self, k, H):
        """Block ``k`` (0 z, 1 r, 2 h~) of the bias, or 0 without one."""
        return 0 if self.b is None else self.b[k * H : (k + 1) * H]

    def forward(self, x, h_prev):
        """``x (N, D)``, ``h_prev (N, H) -> h_next (N, H)``."""
        H = self.Wh.shape[0]
        Wxz, Wxr, Wxh = self.Wx[:, :H], self.Wx[:, H : 2 * H], self.Wx[:, 2 * H :]
        Whz, Whr, Whh = self.Wh[:, :H], self.Wh[:, H : 2 * H], self.Wh[:, 2 * H :]

        z = sigmoid(np.dot(x, Wxz) + np.dot(h_prev, Whz) + self._bias(0, H))
        r = sigmoid(np.dot(x, Wxr) + np.dot(h_prev, Whr) + self._bias(1, H))
        h_hat = np.tanh(np.dot(x, Wxh) + np.dot(r * h_prev, Whh) + self._bias(2, H))
        h_next = (1 - z) * h_prev + z * h_hat

        self.cache = (x, h_prev, z, r, h_hat)
        return h_next

    def backward(self, dh_next):
        """``dh_next (N, H) -> (dx (N, D), dh_prev (N, H))``; writes ``dWx``, ``dWh``."""
        H = self.Wh.shape[0]
        Wxz, Wxr, Wxh = self.Wx[:, :H], self.Wx[:, H : 2 * H], self.Wx[:, 2 * H :]
        Whz, Whr, Whh = self.Wh[:, :H], self.Wh[:, H : 2 * H], self.Wh[:, 2 * H :]
        x, h_prev, z, r, h_hat = self.cache

        dh_hat = dh_next * z
        dh_prev = dh_next * (1 - z)

        # candidate h~ (tanh)
        dt = dh_hat * (1 - h_hat**2)
        dbh = np.sum(dt, axis=0)
        dWhh = np.dot((r * h_prev).T, dt)
        dhr = np.dot(dt, Whh.T)
        dWxh = np.dot(x.T, dt)
        dx = np.dot(dt, Wxh.T)
        dh_prev += r * dhr

        # update gate z
        dz = dh_next * h_hat - dh_next * h_prev
        dt = dz * z * (1 - z)
        dbz = np.sum(dt, axis=0)
        dWhz = np.dot(h_prev.T, dt)
        dh_prev += np.dot(dt, Whz.T)
        dWxz = np.dot(x.T, dt)
        dx += np.dot(dt, Wxz.T)

        # reset gate r
        dr = dhr * h_prev
        dt = dr * r * (1 - r)
        dbr = np.sum(dt, axis=0)
        dWhr = np.dot(h_prev.T, dt)
        dh_prev += np.dot(dt, Whr.T)
        dWxr = np.dot(x.T, dt)
        dx += np.dot(dt, Wxr.T)

        self.grads[0][...] = np.hstack((dWxz, dWxr, dWxh))
        self.grads[1][...] = np.hstack((dWhz, dWhr, dWhh))
        if self.b is not None:
            self.grads[2][...] = np.hstack((dbz, dbr, dbh))
        return dx, dh_prev


class TimeGRU:
    """``T`` steps of :class:`GRU`.

    Parameters
    ----------
    Wx : ndarray
        ``(D, 3H)``.
    Wh : ndarray
        ``(H, 3H)``.
    b : ndarray, optional
        ``(3H,)``; without it there is no bias (the book's first form).
    stateful : bool, default False
        Keep ``h`` between calls to :meth:`forward`.

    Attributes
    ----------
    dWx, dWh : ndarray
        The same arrays as ``grads[0]``, ``grads[1]``.
    h, dh : ndarray or None
        Last hidden state; gradient w.r.t. the initial hidden state.
    """

    def __init__(self, Wx, Wh, b=None, stateful=False):
        self.Wx, self.Wh = Wx, Wh
        self.params = [Wx, Wh] + ([] if b is None else [b])
        self.grads = [np.zeros_like(p) for p in self.params]
        self.dWx, self.dWh = self.grads[:2]
        self.layers = None
        self.h, self.dh = None, None
        self.stateful = stateful

    def forward(self, xs):
        """``xs (N, T, D) -> hs (N, T, H)``."""
        xs = _as_float(xs, self.Wx.dtype, "xs", ndim=3)
        N, T, D = xs.shape
        _check_size(D, self.Wx.shape[0], "xs", "feature size D")
        H = self.Wh.shape[0]

        self.layers = []
        hs = np.empty((N, T, H), dtype=self.Wx.dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=self.Wx.dtype)
        else:
            self.h = _as_float(self.h, self.Wx.dtype, "h", ndim=2)

        for t in range(T):
            layer = GRU(*self.params)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        """``dhs (N, T, H) -> dxs (N, T, D)``; sums step grads, leaves ``dh``."""
        dhs = _as_float(dhs, self.Wx.dtype, "dhs", ndim=3)
        N, T, H = dhs.shape
        D = self.Wx.shape[0]

        dxs = np.empty((N, T, D), dtype=self.Wx.dtype)
        sums = [0] * len(self.params)
        dh = 0
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh = layer.backward(dhs[:, t, :] + dh)
            dxs[:, t, :] = dx
            sums = [s + g for s, g in zip(sums, layer.grads)]

        for grad, s in zip(self.grads, sums):
            grad[...] = s
        self.dh = dh
        return dxs

    def set_state(self, h):
        """Set the hidden state ``h (N, H)`` used by the next forward (if stateful)."""
        self.h = h

    def reset_state(self):
        """Forget the hidden state."""
        self.h = None


class TimeBiLSTM:
    """Bidirectional LSTM: forward ``TimeLSTM`` and a second one on the reversed sequence.

    Parameters
    ----------
    Wx1, Wh1, b1 : ndarray
        Left-to-right LSTM (as :class:`TimeLSTM`).
    Wx2, Wh2, b2 : ndarray
        Right-to-left LSTM.
    stateful : bool, default False
        Passed to both LSTMs.

    Notes
    -----
    ``forward(xs (N, T, D)) -> (N, T, 2H)``, the two directions concatenated.
    """

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads

    def forward(self, xs):
        """``xs (N, T, D) -> (N, T, 2H)``."""
        o1 = self.forward_lstm.forward(xs)
        o2 = self.backward_lstm.forward(np.asarray(xs)[:, ::-1])
        o2 = o2[:, ::-1]
        return np.concatenate((o1, o2), axis=2)

    def backward(self, dhs):
        """``dhs (N, T, 2H) -> dxs (N, T, D)`` (split at the forward direction's ``H``)."""
        H = self.forward_lstm.params[1].shape[0]
        do1 = dhs[:, :, :H]
        do2 = dhs[:, :, H:]
        dxs1 = self.forward_lstm.backward(do1)
        dxs2 = self.backward_lstm.backward(do2[:, ::-1])
        return dxs1 + dxs2[:, ::-1]


# --------------------------------------------------------------------------- #
# embedding, affine, loss, dropout over time
# --------------------------------------------------------------------------- #
class TimeEmbedding:
    """``T`` steps of :class:`Embedding`.

    Parameters
    ----------
    W : ndarray
        Embedding matrix ``(V, D)``.
    """

    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.layers = None
        self.W = W

    def forward(self, xs):
        """``xs (N, T)`` integer ids ``-> (N, T, D)``."""
        xs = _as_ids(xs, "xs", ndim=2)
        N, T = xs.shape
        V, D = self.W.shape
        if xs.size and (xs.min() < 0 or xs.max() >= V):
            raise ValueError(f"xs has ids outside [0, {V})")

        out = np.empty((N, T, D), dtype=self.W.dtype)
        self.layers = []
        for t in range(T):
            layer = Embedding(self.W)
            out[:, t, :] = layer.forward(xs[:, t])
            self.layers.append(layer)
        return out

    def backward(self, dout):
        """Sum the step gradients of ``dout (N, T, D)`` into ``grads[0]``; returns None."""
        N, T, D = dout.shape
        grad = 0
        for t in range(T):
            layer = self.layers[t]
            layer.backward(dout[:, t, :])
            grad += layer.grads[0]
        self.grads[0][...] = grad
        return None


class TimeAffine:
    """Affine map applied at every time step, ``out = xs @ W + b``.

    Parameters
    ----------
    W : ndarray
        ``(D, V)``; may be a transposed view (weight tying, ``TimeAffine(embed_W.T, b)``).
    b : ndarray
        ``(V,)``.
    """

    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        """``x (N, T, D) -> (N, T, V)``."""
        W, b = self.params
        x = _as_float(x, W.dtype, "x", ndim=3)
        N, T, D = x.shape
        _check_size(D, W.shape[0], "x", "feature size D")
        rx = x.reshape(N * T, -1)
        out = np.dot(rx, W) + b
        self.x = x
        return out.reshape(N, T, -1)

    def backward(self, dout):
        """``dout (N, T, V) -> dx (N, T, D)``; writes ``dW``, ``db``."""
        x = self.x
        N, T, D = x.shape
        W, b = self.params

        dout = dout.reshape(N * T, -1)
        rx = x.reshape(N * T, -1)
        self.grads[0][...] = np.dot(rx.T, dout)
        self.grads[1][...] = np.sum(dout, axis=0)
        dx = np.dot(dout, W.T)
        return dx.reshape(*x.shape)


class TimeSoftmaxWithLoss:
    """Softmax cross-entropy averaged over all non-ignored positions.

    Attributes
    ----------
    ignore_label : int
        Label id whose positions add nothing to loss or gradient (default -1).

    Notes
    -----
    Unlike the book, if every label is ignored the loss is ``0.0`` and the gradient
    zero (the count of positions is clipped at one).
    """

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None
        self.ignore_label = -1

    def forward(self, xs, ts):
        """``xs (N, T, V)``, ``ts (N, T)`` ids or ``(N, T, V)`` one-hot ``-> loss``."""
        xs = _as_float(xs, _float_dtype(xs), "xs", ndim=3)
        N, T, V = xs.shape
        ts = np.asarray(ts)
        if ts.ndim == 3:  # one-hot labels
            ts = ts.argmax(axis=2)
        ts = _as_ids(ts, "ts", ndim=2)
        if ts.shape != (N, T):
            raise ValueError(f"ts has shape {ts.shape}, expected {(N, T)}")

        mask = ts != self.ignore_label
        xs = xs.reshape(N * T, V)
        ts = ts.reshape(N * T)
        mask = mask.reshape(N * T)
        if np.any((ts[mask] < 0) | (ts[mask] >= V)):
            raise ValueError(f"ts has labels outside [0, {V}) other than ignore_label")
        ts = np.where(mask, ts, 0)  # any valid index at ignored positions

        ys = softmax(xs)  # (N*T, V)
        rows = np.arange(N * T)
        ls = np.log(ys[rows[mask], ts[mask]])
        count = max(int(mask.sum()), 1)
        loss = -np.sum(ls) / count

        self.cache = (ts, ys, mask, count, (N, T, V))
        return float(loss)

    def backward(self, dout=1):
        """``-> dxs (N, T, V)``: ``(y - onehot(t)) * dout / count`` at non-ignored positions."""
        ts, ys, mask, count, (N, T, V) = self.cache
        dx = ys.copy()
        dx[np.arange(N * T), ts] -= 1
        dx *= dout
        dx /= count
        dx *= mask[:, np.newaxis]
        return dx.reshape((N, T, V))


class TimeDropout:
    """Inverted dropout over a whole sequence.

    Parameters
    ----------
    dropout_ratio : float, default 0.5
        Probability of dropping a unit.
    rng : numpy.random.Generator, optional
        Source of the masks (default ``np.random.default_rng()``).

    Attributes
    ----------
    train_flg : bool
        Apply dropout in :meth:`forward` (True) or pass the input through (False).

    Notes
    -----
    The mask is ``(rng.random(xs.shape) > dropout_ratio) * (1 / (1 - dropout_ratio))``
    in the input's dtype: exactly one ``rng.random`` call of float64 draws per forward,
    so any implementation using the same generator draws the same mask.
    """

    def __init__(self, dropout_ratio=0.5, rng=None):
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.rng = np.random.default_rng() if rng is None else rng
        self.mask = None
        self.train_flg = True

    def forward(self, xs):
        """``xs (N, T, D) -> xs * mask`` in training, ``xs`` unchanged otherwise."""
        if not self.train_flg:
            return xs
        xs = np.asarray(xs)
        flg = self.rng.random(xs.shape) > self.dropout_ratio
        scale = 1.0 / (1.0 - self.dropout_ratio)
        self.mask = (flg * scale).astype(_float_dtype(xs))
        return xs * self.mask

    def backward(self, dout):
        """``dout -> dout * mask``."""
        return dout * self.mask


# --------------------------------------------------------------------------- #
# ch08/attention_layer.py
# --------------------------------------------------------------------------- #
class WeightSum:
    """Context vector ``c = sum_t a[:, t] * hs[:, t]`` (no parameters)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        """``hs (N, T, H)``, ``a (N, T) -> c (N, H)``."""
        N, T, H = hs.shape
        ar = a.reshape(N, T, 1)
        c = np.sum(hs * ar, axis=1)
        self.cache = (hs, ar)
        return c

    def backward(self, dc):
        """``dc (N, H) -> (dhs (N, T, H), da (N, T))``."""
        hs, ar = self.cache
        N, T, H = hs.shape
        dt = dc.reshape(N, 1, H).repeat(T, axis=1)  # (N, T, H)
        dhs = dt * ar
        da = np.sum(dt * hs, axis=2)
        return dhs, da


class AttentionWeight:
    """Attention weights ``a = softmax(hs . h)`` over the encoder steps (no parameters)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.softmax = Softmax()
        self.cache = None

    def forward(self, hs, h, lengths=None):
        """``hs (N, T, H)``, ``h (N, H) -> a (N, T)``.

        ``lengths (N,)``: only the first ``lengths[n]`` steps of ``hs[n]`` are
        attended to; the scores of the others are ``-inf``, so their weights
        are 0 (and so are their gradients).
        """
        N, T, H = hs.shape
        hr = h.reshape(N, 1, H)
        s = np.sum(hs * hr, axis=2)  # (N, T)
        if lengths is not None:
            s = np.where(np.arange(T)[None, :] < np.asarray(lengths)[:, None], s, -np.inf)
        a = self.softmax.forward(s)
        self.cache = (hs, hr)
        return a

    def backward(self, da):
        """``da (N, T) -> (dhs (N, T, H), dh (N, H))``."""
        hs, hr = self.cache
        N, T, H = hs.shape
        ds = self.softmax.backward(da)
        dt = ds.reshape(N, T, 1).repeat(H, axis=2)  # (N, T, H)
        dhs = dt * hr
        dh = np.sum(dt * hs, axis=1)
        return dhs, dh


class Attention:
    """:class:`AttentionWeight` followed by :class:`WeightSum` (no parameters)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weight_layer = AttentionWeight()
        self.weight_sum_layer = WeightSum()
        self.attention_weight = None

    def forward(self, hs, h, lengths=None):
        """``hs (N, T, H)``, ``h (N, H) -> c (N, H)``; ``lengths`` as :class:`AttentionWeight`."""
        a = self.attention_weight_layer.forward(hs, h, lengths)
        out = self.weight_sum_layer.forward(hs, a)
        self.attention_weight = a
        return out

    def backward(self, dout):
        """``dout (N, H) -> (dhs (N, T, H), dh (N, H))``."""
        dhs0, da = self.weight_sum_layer.backward(dout)
        dhs1, dh = self.attention_weight_layer.backward(da)
        return dhs0 + dhs1, dh


class TimeAttention:
    """One :class:`Attention` per decoder step.

    Attributes
    ----------
    attention_weights : list of ndarray
        After :meth:`forward`, ``Td`` arrays ``(N, Te)``.
    """

    def __init__(self):
        self.params, self.grads = [], []
        self.layers = None
        self.attention_weights = None

    def forward(self, hs_enc, hs_dec, lengths=None):
        """``hs_enc (N, Te, H)``, ``hs_dec (N, Td, H) -> (N, Td, H)``.

        ``lengths (N,)``, optional: real (unpadded) steps of each ``hs_enc`` row;
        the steps past them get zero attention weight.
        """
        dtype = _float_dtype(hs_dec)
        hs_enc = _as_float(hs_enc, dtype, "hs_enc", ndim=3)
        hs_dec = _as_float(hs_dec, dtype, "hs_dec", ndim=3)
        if hs_enc.shape[0] != hs_dec.shape[0] or hs_enc.shape[2] != hs_dec.shape[2]:
            raise ValueError(
                f"hs_enc {hs_enc.shape} and hs_dec {hs_dec.shape} must agree in N and H"
            )
        N, T, H = hs_dec.shape
        out = np.empty_like(hs_dec)
        self.layers = []
        self.attention_weights = []
        for t in range(T):
            layer = Attention()
            out[:, t, :] = layer.forward(hs_enc, hs_dec[:, t, :], lengths)
            self.layers.append(layer)
            self.attention_weights.append(layer.attention_weight)
        return out

    def backward(self, dout):
        """``dout (N, Td, H) -> (dhs_enc (N, Te, H), dhs_dec (N, Td, H))``."""
        N, T, H = dout.shape
        dhs_enc = 0
        dhs_dec = np.empty_like(dout)
        for t in range(T):
            layer = self.layers[t]
            dhs, dh = layer.backward(dout[:, t, :])
            dhs_enc += dhs
            dhs_dec[:, t, :] = dh
        return dhs_enc, dhs_dec
