"""Activation and loss functions of the book's ``common/functions.py`` in plain NumPy."""

import numpy as np

__all__ = ["sigmoid", "softmax", "cross_entropy_error"]


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, element-wise.

    Parameters
    ----------
    x : ndarray
        Input of any shape.

    Returns
    -------
    ndarray
        Same shape and dtype as ``x``.
    """
    return 1 / (1 + np.exp(-x))


def softmax(x):
    """Numerically stable softmax over the last axis.

    Parameters
    ----------
    x : ndarray
        Scores, 1-D ``(V,)``, 2-D ``(N, V)`` or any shape ``(..., V)``.

    Returns
    -------
    ndarray
        Probabilities of the same shape that sum to one along the last axis.
    """
    x = np.asarray(x)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    """Mean cross-entropy of probabilities ``y`` against labels ``t``.

    Parameters
    ----------
    y : ndarray
        Probabilities ``(N, V)`` or ``(V,)``.
    t : ndarray
        Label ids ``(N,)`` or one-hot ``(N, V)`` (converted with ``argmax``).

    Returns
    -------
    float
        ``-sum(log(y[n, t[n]] + 1e-7)) / N``, as the book.
    """
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:  # one-hot labels
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size
