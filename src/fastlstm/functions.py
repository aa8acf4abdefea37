"""Activation and loss functions of the book's ``common/functions.py``."""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, stable for large ``|x|``.

    Parameters
    ----------
    x : array_like
        Input of any shape.

    Returns
    -------
    ndarray or numpy scalar
        Same shape as ``x``, float32 or wider (a NumPy scalar for a scalar
        ``x``, as the book's).
    """
    x = np.asarray(x)
    out = np.empty_like(x, dtype=np.result_type(x.dtype, np.float32))
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out[()] if out.ndim == 0 else out


def relu(x):
    """Rectified linear unit ``max(0, x)`` (the book's ``np.maximum(0, x)``).

    Parameters
    ----------
    x : array_like
        Input of any shape.

    Returns
    -------
    ndarray or numpy scalar
        Same shape and dtype as ``x``.
    """
    return np.maximum(0, x)


def softmax(x):
    """Softmax over the last axis, with the maximum subtracted for stability.

    Parameters
    ----------
    x : array_like, (..., V)

    Returns
    -------
    ndarray, same shape, rows summing to one.
    """
    x = np.asarray(x)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    """Mean cross-entropy of probabilities against labels (the book's, with ``1e-7``).

    Parameters
    ----------
    y : ndarray, (N, V) or (V,)
        Probabilities.
    t : ndarray of int, (N,), or one-hot ndarray, (N, V)
        Correct classes.

    Returns
    -------
    float
        ``-sum(log(y[n, t[n]] + 1e-7)) / N``.
    """
    y = np.asarray(y)
    t = np.asarray(t)
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size
