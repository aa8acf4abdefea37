"""The book's time-distributed layers (``common/time_layers.py``): TimeEmbedding,
TimeAffine, TimeSoftmaxWithLoss and TimeDropout.
"""

from __future__ import annotations

import numpy as np

from fastlstm._validate import as_floats, check_ratio
from fastlstm.layers._checks import (
    _check_params,
    _eval_dout,
    _forward_first,
    _like,
    _nonempty,
    _record_params,
    _rng,
    _scalar,
    _train_mask,
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
        self.rng = _rng(rng)  # None: the global state
        self.train_flg = True
        self.mask = None
        self._last = None  # shape and dtype of the last forward's xs

    def forward(self, xs):
        """Apply inverted dropout to a whole sequence while ``train_flg`` is True.

        Parameters
        ----------
        xs : ndarray, (N, T, D)
            Input sequence (any shape works).

        Returns
        -------
        ndarray
            ``xs * mask / (1 - dropout_ratio)`` in training, ``xs`` otherwise.

        Raises
        ------
        TypeError
            If ``xs`` is not an array of real numbers.
        """
        xs = as_floats(xs, _work_dtype(xs, "xs"), "xs")
        self._last = (xs.shape, xs.dtype)
        if not self.train_flg:
            self.mask = None  # a training backward now has no mask to use
            return xs
        out, self.mask = _dropout(
            self, xs, self.rng, self.dropout_ratio, 1.0 / (1.0 - self.dropout_ratio)
        )
        return out

    def backward(self, dout):
        """Gradient through the dropout of the last ``forward``.

        Parameters
        ----------
        dout : ndarray, (N, T, D)
            Gradient of the loss with respect to the output.

        Returns
        -------
        ndarray, (N, T, D)
            ``dout * mask`` (the mask holds the ``1 / (1 - dropout_ratio)`` scale) in training,
            ``dout`` otherwise.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (in training mode, when training).
        ValueError
            If ``dout`` does not have the shape of the last ``forward``'s output.
        """
        if not self.train_flg:
            return _eval_dout(self, dout)
        _train_mask(self)
        return _like(dout, self.mask) * self.mask


class TimeEmbedding(Embedding):
    """Embedding of a batch of id sequences ``(N, T)`` -> ``(N, T, D)``.

    Backward accumulates repeated ids deterministically in one scatter-add
    over all time steps.

    Parameters
    ----------
    W : ndarray, (V, D)
        The word vectors.
    """

    _ids_name = "xs"

    def forward(self, xs):
        """Look up the word vectors of a batch of id sequences.

        Parameters
        ----------
        xs : ndarray of int, (N, T)
            Word ids in ``[0, V)``.

        Returns
        -------
        ndarray, (N, T, D)
            ``W[xs]``.

        Raises
        ------
        ValueError
            If ``xs`` is not 2-D, is empty, or holds an id out of range.
        TypeError
            If ``xs`` is not an integer array.
        """
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
        _record_params(self, ["W", "b"])
        self.x = None

    def forward(self, x):
        """Affine map at every time step.

        Parameters
        ----------
        x : ndarray, (N, T, D)
            Input sequence.

        Returns
        -------
        ndarray, (N, T, V)
            ``x @ W + b``.

        Raises
        ------
        ValueError
            If ``x`` is not 3-D with ``D`` features, or is empty.
        """
        x = self._input(x)
        N, T, D = x.shape
        W, b = self.params
        return _mm(x.reshape(N * T, D), W, b).reshape(N, T, -1)

    def _input(self, x):
        """Check the parameters and ``x`` (N, T, D); keep ``x`` for backward and return it."""
        _check_params(self)
        W = self.params[0]
        x = as_floats(x, W.dtype, "x", ndim=3, shape=(None, None, W.shape[0]))
        _nonempty(x, "x")
        self.x = x
        return x

    def backward(self, dout):
        """Gradients of the affine map: writes ``dW`` and ``db`` into ``grads``.

        Parameters
        ----------
        dout : ndarray, (N, T, V)
            Gradient of the loss with respect to the output.

        Returns
        -------
        ndarray, (N, T, D)
            Gradient with respect to ``x``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dout`` does not have the shape of the forward output.
        """
        _forward_first(self, self.x)
        _check_params(self)
        W = self.params[0]
        N, T, D = self.x.shape
        dout = as_floats(dout, W.dtype, "dout", ndim=3, shape=(N, T, W.shape[1]))
        dout2 = dout.reshape(N * T, -1)  # (N*T, V)
        _column_sums(dout2, self.grads[1])
        return self._backward_products(dout2)

    def _backward_products(self, dout2):
        """``dW`` into ``grads`` and the returned ``dx`` (N, T, D) from ``dout2`` (N*T, V)."""
        N, T, D = self.x.shape
        _matmul_into(self.grads[0], self.x.reshape(N * T, D).T, dout2)
        return _mm(dout2, self.params[0].T).reshape(N, T, D)


class TimeSoftmaxWithLoss(_SoftmaxCE):
    """Softmax + cross-entropy averaged over all (non-ignored) time steps.

    ``forward(xs (N, T, V), ts)`` with ``ts`` ids ``(N, T)`` or one-hot
    ``(N, T, V)`` returns the mean loss over positions whose label is not
    ``ignore_label`` (-1).  If every label is ignored the loss is 0 and the
    gradient zero.  Scores containing NaN or inf raise ``ValueError``.
    """

    def forward(self, xs, ts):
        """Mean cross-entropy over every time step whose label is not ``ignore_label``.

        Parameters
        ----------
        xs : ndarray, (N, T, V)
            Scores.
        ts : ndarray of int, (N, T), or one-hot ndarray, (N, T, V)
            Correct ids, in ``[0, V)`` or ``ignore_label`` (-1).

        Returns
        -------
        float
            The mean loss over the positions not ignored; 0.0 if every label is ignored.

        Raises
        ------
        ValueError
            If the shapes disagree, an id is out of range, or ``xs`` contains NaN or inf.
        TypeError
            If ``ts`` is not an integer (or one-hot) array.
        """
        xs = np.asarray(xs)
        if xs.ndim != 3:
            raise ValueError(f"xs must be 3-D (N, T, V), got shape {xs.shape}")
        N, T, V = xs.shape
        ts = self._targets(ts, xs.shape)
        self._shape = xs.shape
        return self._forward2d(xs.reshape(N * T, V), ts.reshape(N * T), "xs", "ts", t_shape=(N, T))

    @staticmethod
    def _targets(ts, shape):
        """``ts`` as ids (N, T) for scores of ``shape`` (N, T, V): one-hot rows become ids."""
        ts = np.asarray(ts)
        if ts.ndim == 3:
            if ts.shape != shape:
                raise ValueError(f"one-hot ts has shape {ts.shape}, expected {shape}")
            ts = ts.argmax(axis=2)
        if ts.shape != shape[:2]:
            raise ValueError(f"ts has shape {ts.shape}, expected {shape[:2]} to match xs {shape}")
        return ts

    def backward(self, dout=1):
        """Gradient of the mean loss with respect to the scores.

        Parameters
        ----------
        dout : float, default 1
            Gradient of the final loss with respect to this loss.

        Returns
        -------
        ndarray, (N, T, V)
            ``(y - onehot(ts)) * dout / count`` at positions not ignored, zero elsewhere.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called.
        """
        return self._backward2d(_scalar(dout)).reshape(self._shape)


# --------------------------------------------------------------------------- #
# the output layer and its loss in fewer passes
# --------------------------------------------------------------------------- #
def _fusable(affine, loss):
    return type(affine) is TimeAffine and type(loss) is TimeSoftmaxWithLoss


def _affine_loss_forward(affine, loss, x, ts):
    """``loss.forward(affine.forward(x), ts)`` with the bias added inside the softmax pass.

    The scores of a language model's output layer, ``(N, T, V)`` with
    ``V = 10000``, are the largest array of an iteration; written without the
    bias into the loss layer's own buffer and given the bias by the softmax
    kernel, they are read and written once less.  Both layers keep what their
    ``backward`` needs, and the loss and both layers' gradients have the same
    bits as the two calls (``tests/test_layers.py`` compares them).  Other layer
    types take the two calls.
    """
    if not _fusable(affine, loss):
        return loss.forward(affine.forward(x), ts)
    x = affine._input(x)
    N, T, D = x.shape
    W, b = affine.params
    V = W.shape[1]
    ts = loss._targets(ts, (N, T, V))
    scores = loss._buffer((N * T, V), W.dtype)  # (N*T, V), the bias added by the loss kernel
    _matmul_into(scores, x.reshape(N * T, D), W)
    loss._shape = (N, T, V)
    return loss._forward2d(
        scores, ts.reshape(N * T), "the scores x @ W + b", "ts", bias=b, t_shape=(N, T)
    )


def _affine_loss_backward(affine, loss, dout=1):
    """``affine.backward(loss.backward(dout))`` with the bias gradient summed in the softmax pass.

    The bias gradient, the column sums of the score gradient, is added up while
    that gradient is written (where ``TimeAffine.backward`` would read it all
    again); the gradient itself is a work array of ``loss``.  Returns ``dx``
    (N, T, D) with the bits of the two calls.
    """
    if (
        not _fusable(affine, loss)
        or loss._cache is None
        or affine.x is None
        or loss._shape != (*affine.x.shape[:2], affine.params[0].shape[1])
        or loss._cache[0].dtype != affine.params[0].dtype
    ):  # not the pair of one forward: the two calls, whose checks name the problem
        return affine.backward(loss.backward(dout))
    _check_params(affine)
    dscores = loss._backward2d(_scalar(dout), db=affine.grads[1])  # (N*T, V)
    return affine._backward_products(dscores)
