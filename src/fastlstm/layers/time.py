"""The book's time-distributed layers (``common/time_layers.py``): TimeEmbedding,
TimeAffine, TimeSoftmaxWithLoss and TimeDropout.
"""

from __future__ import annotations

import numpy as np

from fastlstm._validate import as_floats, check_ratio
from fastlstm.layers._checks import (
    _forward_first,
    _like,
    _nonempty,
    _scalar,
    _work_dtype,
)
from fastlstm.layers._products import _column_sums, _matmul_into, _mm
from fastlstm.layers.basic import Embedding, _affine_params, _dropout, _SoftmaxCE

__all__ = ["TimeDropout", "TimeEmbedding", "TimeAffine", "TimeSoftmaxWithLoss"]


class TimeDropout:
    """Inverted dropout over a whole sequence (the book's ``TimeDropout``).

    While ``train_flg`` is True, ``out = xs * mask / (1 - dropout_ratio)``;
    otherwise ``xs`` passes unchanged.

    Parameters
    ----------
    dropout_ratio : float
        Probability of zeroing an element while ``train_flg`` is True.
    rng : numpy.random.Generator or numpy.random.RandomState, optional
        Source of the mask (``rng.random(xs.shape) > dropout_ratio``); the same
        generator state gives the same mask here and in :mod:`reference`.
        Default: NumPy's global random state, as the book's ``np.random.rand``.
    """

    def __init__(self, dropout_ratio=0.5, rng=None):
        check_ratio(dropout_ratio)
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.rng = np.random.mtrand._rand if rng is None else rng  # None: the global state
        self.train_flg = True
        self.mask = None

    def forward(self, xs):
        xs = as_floats(xs, _work_dtype(xs, "xs"), "xs")
        if not self.train_flg:
            return xs
        out, self.mask = _dropout(
            xs, self.rng, self.dropout_ratio, 1.0 / (1.0 - self.dropout_ratio)
        )
        return out

    def backward(self, dout):
        if self.train_flg:
            _forward_first(self, self.mask)
        if not self.train_flg:
            return dout
        return _like(dout, self.mask) * self.mask


class TimeEmbedding(Embedding):
    """Embedding of a batch of id sequences ``(N, T)`` -> ``(N, T, D)``.

    Backward accumulates repeated ids deterministically in one scatter-add
    over all time steps.
    """

    _ids_name = "xs"

    def forward(self, xs):
        xs = np.asarray(xs)
        if xs.ndim != 2:
            raise ValueError(f"xs must be 2-D (N, T) ids, got shape {xs.shape}")
        _nonempty(xs, "xs")
        return super().forward(xs)


class TimeAffine:
    """Affine map at every time step: ``(N, T, D) @ W + b -> (N, T, V)``.

    Parameters
    ----------
    W : ndarray, (D, V)
        May be a transposed view of another parameter (weight tying,
        ``TimeAffine(embed_W.T, b)``); its gradient array is ``zeros_like(W)``.
    b : ndarray, (V,)
    """

    def __init__(self, W, b):
        self.params, self.grads = _affine_params(W, b)
        self.x = None

    def forward(self, x):
        W, b = self.params
        x = as_floats(x, W.dtype, "x", ndim=3, shape=(None, None, W.shape[0]))
        N, T, D = x.shape
        _nonempty(x, "x")
        self.x = x
        return _mm(x.reshape(N * T, D), W, b).reshape(N, T, -1)

    def backward(self, dout):
        _forward_first(self, self.x)
        W, b = self.params
        N, T, D = self.x.shape
        dout = as_floats(dout, W.dtype, "dout", ndim=3, shape=(N, T, W.shape[1]))
        dout2 = dout.reshape(N * T, -1)  # (N*T, V)
        _matmul_into(self.grads[0], self.x.reshape(N * T, D).T, dout2)
        _column_sums(dout2, self.grads[1])
        return _mm(dout2, W.T).reshape(N, T, D)


class TimeSoftmaxWithLoss(_SoftmaxCE):
    """Softmax + cross-entropy averaged over all (non-ignored) time steps.

    ``forward(xs (N, T, V), ts)`` with ``ts`` ids ``(N, T)`` or one-hot
    ``(N, T, V)`` returns the mean loss over positions whose label is not
    ``ignore_label`` (-1).  If every label is ignored the loss is 0 and the
    gradient zero.  Scores containing NaN or inf raise ``ValueError``.
    """

    def forward(self, xs, ts):
        xs = np.asarray(xs)
        if xs.ndim != 3:
            raise ValueError(f"xs must be 3-D (N, T, V), got shape {xs.shape}")
        N, T, V = xs.shape
        ts = np.asarray(ts)
        if ts.ndim == 3:
            if ts.shape != xs.shape:
                raise ValueError(f"one-hot ts has shape {ts.shape}, expected {xs.shape}")
            ts = ts.argmax(axis=2)
        if ts.shape != (N, T):
            raise ValueError(f"ts has shape {ts.shape}, expected {(N, T)} to match xs {xs.shape}")
        self._shape = xs.shape
        return self._forward2d(xs.reshape(N * T, V), ts.reshape(N * T), "xs", "ts")

    def backward(self, dout=1):
        return self._backward2d(_scalar(dout)).reshape(self._shape)
