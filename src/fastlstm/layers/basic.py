"""The book's plain layers (``common/layers.py``): MatMul, Affine, Softmax, Sigmoid,
SoftmaxWithLoss, Dropout and Embedding.
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels import dropout as _kdrop
from fastlstm._kernels import embedding as _kemb
from fastlstm._kernels import softmax as _ksm
from fastlstm._numba import CHUNKS
from fastlstm._validate import as_floats, as_ids, check_ratio
from fastlstm.layers._checks import (
    NonFiniteScores,
    _check_params,
    _eval_dout,
    _forward_first,
    _like,
    _param,
    _record_params,
    _rng,
    _same_dtype,
    _scalar,
    _train_mask,
    _work_dtype,
)
from fastlstm.layers._draws import dropout_into
from fastlstm.layers._products import _column_sums, _matmul_into, _mm, _scatter_blocks
from fastlstm.layers._workspace import work_array

__all__ = ["MatMul", "Affine", "Softmax", "Sigmoid", "SoftmaxWithLoss", "Dropout", "Embedding"]


class MatMul:
    """``out = x @ W``.

    Parameters
    ----------
    W : ndarray, (D, H)
    """

    def __init__(self, W):
        self.params = [_param(W, "W", 2)]
        self.grads = [np.zeros_like(W)]
        _record_params(self, ["W"])
        self.x = None

    def forward(self, x):
        """Multiply by the weight: ``out = x @ W``.

        Parameters
        ----------
        x : ndarray, (N, D)
            Input rows; cast to the dtype of ``W``.

        Returns
        -------
        ndarray, (N, H)
            ``x @ W``.

        Raises
        ------
        ValueError
            If ``x`` is not 2-D with ``D`` columns.
        """
        _check_params(self)
        (W,) = self.params
        x = as_floats(x, W.dtype, "x", ndim=2, shape=(None, W.shape[0]))
        self.x = x
        return _mm(x, W)

    def backward(self, dout):
        """Gradients of ``x @ W``: writes ``dW = x.T @ dout`` into ``grads[0]``.

        Parameters
        ----------
        dout : ndarray, (N, H)
            Gradient of the loss with respect to the output.

        Returns
        -------
        ndarray, (N, D)
            Gradient with respect to ``x``: ``dout @ W.T``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dout`` does not have the shape of the forward output.
        """
        _forward_first(self, self.x)
        _check_params(self)
        (W,) = self.params
        dout = as_floats(dout, W.dtype, "dout", ndim=2, shape=(self.x.shape[0], W.shape[1]))
        _matmul_into(self.grads[0], self.x.T, dout)
        return _mm(dout, W.T)


def _affine_params(W, b):
    """Checked ``params`` ``[W, b]`` and zero ``grads`` of an affine layer."""
    _param(W, "W", 2)
    _param(b, "b", 1)
    _same_dtype(W, b)
    if b.shape[0] != W.shape[1]:
        raise ValueError(f"b has shape {b.shape}, expected ({W.shape[1]},) to match W {W.shape}")
    return [W, b], [np.zeros_like(W), np.zeros_like(b)]


class Affine:
    """``out = x @ W + b``.

    Parameters
    ----------
    W : ndarray, (D, H)
    b : ndarray, (H,)
    """

    def __init__(self, W, b):
        self.params, self.grads = _affine_params(W, b)
        _record_params(self, ["W", "b"])
        self.x = None

    def forward(self, x):
        """Affine map: ``out = x @ W + b``.

        Parameters
        ----------
        x : ndarray, (N, D)
            Input rows; cast to the dtype of ``W``.

        Returns
        -------
        ndarray, (N, H)
            ``x @ W + b``.

        Raises
        ------
        ValueError
            If ``x`` is not 2-D with ``D`` columns.
        """
        _check_params(self)
        W, b = self.params
        x = as_floats(x, W.dtype, "x", ndim=2, shape=(None, W.shape[0]))
        self.x = x
        return _mm(x, W, b)

    def backward(self, dout):
        """Gradients of ``x @ W + b``: writes ``dW`` and ``db`` into ``grads``.

        Parameters
        ----------
        dout : ndarray, (N, H)
            Gradient of the loss with respect to the output.

        Returns
        -------
        ndarray, (N, D)
            Gradient with respect to ``x``: ``dout @ W.T``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dout`` does not have the shape of the forward output.
        """
        _forward_first(self, self.x)
        _check_params(self)
        W, b = self.params
        dout = as_floats(dout, W.dtype, "dout", ndim=2, shape=(self.x.shape[0], W.shape[1]))
        _matmul_into(self.grads[0], self.x.T, dout)
        _column_sums(dout, self.grads[1])
        return _mm(dout, W.T)


class Softmax:
    """Softmax over the last axis of a 2-D input (stable)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        """Softmax of every row, computed stably (the row maximum subtracted first).

        Parameters
        ----------
        x : ndarray, (N, V)
            Scores.

        Returns
        -------
        ndarray, (N, V)
            Probabilities; every row sums to 1.

        Raises
        ------
        ValueError
            If ``x`` is not 2-D.
        """
        x = as_floats(x, _work_dtype(x, "x"), "x", ndim=2)
        self.out = np.empty_like(x)
        _ksm.softmax_rows.pick(8 * x.size)(x, self.out)
        return self.out

    def backward(self, dout):
        """Gradient through the softmax: ``y * (dout - sum(y * dout))`` per row.

        Parameters
        ----------
        dout : ndarray, (N, V)
            Gradient of the loss with respect to the probabilities.

        Returns
        -------
        ndarray, (N, V)
            Gradient with respect to the scores ``x``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dout`` does not have the shape of the forward output.
        """
        _forward_first(self, self.out)
        dx = self.out * _like(dout, self.out)
        dx -= self.out * dx.sum(axis=1, keepdims=True)
        return dx


class Sigmoid:
    """Logistic sigmoid."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        """Logistic sigmoid ``1 / (1 + exp(-x))``, elementwise.

        Parameters
        ----------
        x : ndarray
            Input of any shape.

        Returns
        -------
        ndarray
            The sigmoid of ``x``, same shape.

        Raises
        ------
        TypeError
            If ``x`` is not an array of real numbers.
        """
        from fastlstm.functions import sigmoid

        self.out = sigmoid(as_floats(x, _work_dtype(x, "x"), "x"))
        return self.out

    def backward(self, dout):
        """Gradient through the sigmoid: ``dout * (1 - y) * y``.

        Parameters
        ----------
        dout : ndarray
            Gradient of the loss with respect to the output, same shape as ``x``.

        Returns
        -------
        ndarray
            Gradient with respect to ``x``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dout`` does not have the shape of the forward output.
        """
        _forward_first(self, self.out)
        return _like(dout, self.out) * (1.0 - self.out) * self.out


class _SoftmaxCE:
    """Shared fused softmax + cross-entropy over rows ``(M, V)``.

    A training loop calls ``backward`` after every ``forward``; once it has, the
    output layer's forward (``bias`` given) writes the gradient for ``dout = 1``
    while each row is in cache, and ``backward`` finds it there.  An evaluation
    loop (forward after forward) keeps the numerators.  The bits are the same
    either way.
    """

    def __init__(self):
        self.params, self.grads = [], []
        self.ignore_label = -1
        self._cache = None
        self._backward_follows = False  # a backward came after the last forward

    def _forward2d(self, x, t, name_x, name_t, bias=None, t_shape=None):
        """Mean loss of the rows of ``x`` (M, V) against ids ``t`` (M,).

        ``t_shape`` is the shape of the caller's ids before they were flattened, for
        the index in the message about an id out of range.

        With ``bias`` (V,), ``x`` is this layer's own :meth:`_buffer` holding the
        scores without their bias: the kernel adds it and turns ``x`` into the
        numerators in place (the same bits as adding it first), or into the
        gradient for ``dout = 1`` when a backward followed the last forward (and
        the gradient's column sums, the bias gradient, into a work array).
        """
        self._cache = None
        x = np.asarray(x)
        dtype = _work_dtype(x, name_x, np.float64)
        M, V = x.shape
        if V == 0:
            raise ValueError(f"{name_x} has no classes (last axis of size 0)")
        t = as_ids(t, V, name_t, allow=self.ignore_label, shape=t_shape)
        ignore = -1 if self.ignore_label is None else self.ignore_label
        count = int(np.count_nonzero(t != ignore))
        sums = np.empty(M, dtype=np.float64)
        losses = np.empty(M, dtype=np.float64)
        grad = False
        if bias is None:
            x2 = np.ascontiguousarray(x, dtype=dtype)
            e = self._buffer(x2.shape, dtype)  # (M, V) softmax numerators
            _ksm.softmax_ce_forward.pick(4 * x2.size)(x2, t, ignore, e, sums, losses)
        else:
            e = x  # (M, V) scores, then numerators (or their gradient)
            db = self._buffer((V,), dtype, "db")  # (V,) the gradient's column sums
            grad = self._backward_follows
            _ksm.softmax_ce_forward_bias.pick(5 * x.size)(
                x, bias, t, ignore, sums, losses, grad, _unit_scale(e, count), db, CHUNKS
            )
        self._backward_follows = False
        self._losses = losses
        if M and not np.isfinite(losses).all():
            raise NonFiniteScores(f"{name_x} contains NaN or inf")
        self._cache = (e, t, sums, count, ignore, db if grad else None)
        return float(losses.sum() / max(count, 1))

    def _buffer(self, shape, dtype, name="e"):
        """Work array ``name`` (the numerators by default), reused while shape and dtype stay."""
        return work_array(self, name, shape, dtype)

    def _backward2d(self, dout, db=None):
        """Gradient of the scores (M, V); with ``db`` (V,), also its column sums into ``db``.

        The gradient for ``dout = 1`` is ``(softmax - onehot) / count``; another
        ``dout`` multiplies it.  With ``db`` the gradient is a work array of this
        layer, overwritten by the next call.
        """
        _forward_first(self, self._cache)
        e, t, sums, count, ignore, sums_ahead = self._cache
        self._backward_follows = True
        if sums_ahead is not None and dout == 1:  # e holds the gradient, sums_ahead its sums
            if db is None:
                return e.copy()
            db[...] = sums_ahead
            return e
        dx = np.empty_like(e) if db is None else self._buffer(e.shape, e.dtype, "dx")
        if sums_ahead is not None:
            np.multiply(e, e.dtype.type(dout), out=dx)
        else:
            _ksm.softmax_ce_backward.pick(2 * e.size)(e, t, ignore, sums, _unit_scale(e, count), dx)
            if dout != 1:
                dx *= e.dtype.type(dout)
        if db is not None:
            _column_sums(dx, db)
        return dx


def _unit_scale(e, count):
    """The gradient's factor for ``dout = 1``: one over the rows that count, in ``e``'s dtype."""
    return e.dtype.type(1.0 / max(count, 1))


class SoftmaxWithLoss(_SoftmaxCE):
    """Softmax + cross-entropy for a batch of rows (the book's ``SoftmaxWithLoss``).

    ``forward(x (N, V), t)`` with ``t`` ids ``(N,)`` or one-hot ``(N, V)``
    returns the book's mean loss ``-log(y[t] + 1e-7)``; ``backward(dout=1)``
    returns ``dx = (y - onehot(t)) / N``.  Every id must be in ``[0, V)``.
    """

    def __init__(self):
        super().__init__()
        self.ignore_label = None

    def forward(self, x, t):
        """Mean cross-entropy of the softmax of ``x`` against the labels ``t``.

        Parameters
        ----------
        x : ndarray, (N, V)
            Scores.
        t : ndarray of int, (N,), or one-hot ndarray, (N, V)
            Correct class of every row, in ``[0, V)``.

        Returns
        -------
        float
            The book's mean loss ``-log(y[t] + 1e-7)`` over the ``N`` rows.

        Raises
        ------
        ValueError
            If the shapes disagree, an id is out of range (``-1`` included), or ``x`` contains NaN
            or inf.
        TypeError
            If ``t`` is not an integer (or one-hot) array.
        """
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"x must be 2-D (N, V), got shape {x.shape}")
        t = np.asarray(t)
        if t.shape == x.shape:
            t = t.argmax(axis=1)
        if t.shape != x.shape[:1]:
            raise ValueError(f"t has shape {t.shape}, expected ({x.shape[0]},) or {x.shape}")
        self._forward2d(x, t, "x", "t")
        # the book's cross_entropy_error adds 1e-7 inside the log
        y_t = np.exp(-self._losses)
        return float(-np.log(y_t + 1e-7).sum() / max(len(y_t), 1))

    def backward(self, dout=1):
        """Gradient of the mean loss: ``dx = (y - onehot(t)) * dout / N``.

        Parameters
        ----------
        dout : float, default 1
            Gradient of the final loss with respect to this loss.

        Returns
        -------
        ndarray, (N, V)
            Gradient with respect to the scores ``x``.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called.
        """
        return self._backward2d(_scalar(dout))


class Dropout:
    """Dropout of the book's ``common/layers.py`` (no rescaling in training).

    In training ``out = x * mask`` with ``mask = rng.random(x.shape) > dropout_ratio``;
    at test time ``out = x * (1 - dropout_ratio)``.

    Parameters
    ----------
    dropout_ratio : float
        Probability of dropping a unit.
    rng : numpy.random.Generator or numpy.random.RandomState, optional
        Source of the masks; the same generator state gives the same mask here
        and in :mod:`reference`.  Default: NumPy's global random state, whose
        ``rng.random(shape)`` is the book's ``np.random.rand(*shape)``.
    """

    def __init__(self, dropout_ratio=0.5, rng=None):
        check_ratio(dropout_ratio)
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.rng = _rng(rng)  # None: the global state
        self.mask = None
        self.train_flg = True
        self._last = None  # shape and dtype of the last forward's x

    def forward(self, x, train_flg=True):
        """Apply the book's dropout.

        Parameters
        ----------
        x : ndarray
            Input of any shape.
        train_flg : bool, default True
            In training, multiply by a fresh mask ``rng.random(x.shape) > dropout_ratio``;
            otherwise scale by ``1 - dropout_ratio``.

        Returns
        -------
        ndarray
            Same shape as ``x``.

        Raises
        ------
        TypeError
            If ``x`` is not an array of real numbers.
        """
        self.train_flg = train_flg
        x = as_floats(x, _work_dtype(x, "x"), "x")
        self._last = (x.shape, x.dtype)
        if not train_flg:
            self.mask = None  # a training backward now has no mask to use
            return x * x.dtype.type(1.0 - self.dropout_ratio)
        out, self.mask = _dropout(self, x, self.rng, self.dropout_ratio, 1.0)
        return out

    def backward(self, dout):
        """Gradient through the dropout of the last ``forward``.

        Parameters
        ----------
        dout : ndarray
            Gradient of the loss with respect to the output, shape of ``x``.

        Returns
        -------
        ndarray
            ``dout * mask`` in training, ``dout * (1 - dropout_ratio)`` otherwise.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (in training mode, when training).
        ValueError
            If ``dout`` does not have the shape of the last ``forward``'s output.
        """
        if not self.train_flg:
            dout = _eval_dout(self, dout)
            return dout * dout.dtype.type(1.0 - self.dropout_ratio)
        _train_mask(self)
        return _like(dout, self.mask) * self.mask


def _dropout(owner, xs, rng, ratio, scale):
    """Draw ``rng.random(xs.shape) > ratio`` and apply it with ``scale``: return (out, mask).

    The draws are made by the kernels from ``rng``'s state where they can be
    (:mod:`fastlstm.layers._draws`); ``owner`` (the layer) keeps their work array.
    """
    out = np.empty(xs.shape, dtype=xs.dtype)
    mask = np.empty(xs.shape, dtype=xs.dtype)
    flat = np.ascontiguousarray(xs).reshape(-1)
    if not dropout_into(owner, rng, flat, ratio, scale, out.reshape(-1), mask.reshape(-1)):
        u = rng.random(xs.shape)
        _kdrop.dropout_apply.pick(4 * xs.size)(
            flat, u.reshape(-1), ratio, scale, out.reshape(-1), mask.reshape(-1)
        )
    return out, mask


class Embedding:
    """Row lookup ``out = W[idx]`` for a batch of ids ``(N,)``.

    Parameters
    ----------
    W : ndarray, (V, D)
    """

    def __init__(self, W):
        self.params = [_param(W, "W", 2)]
        self.grads = [np.zeros_like(W)]
        _record_params(self, ["W"])
        self.idx = None
        self._out_shape = None

    _ids_name = "idx"

    def forward(self, idx):
        """Look up the rows of ``W`` for a batch of ids.

        Parameters
        ----------
        idx : ndarray of int, (N,)
            Word ids in ``[0, V)`` (any shape is accepted; the output adds an axis ``D``).

        Returns
        -------
        ndarray, (N, D)
            ``W[idx]``.

        Raises
        ------
        ValueError
            If an id is out of range.
        TypeError
            If ``idx`` is not an integer array.
        """
        _check_params(self)
        (W,) = self.params
        idx = np.asarray(idx)
        shape = idx.shape
        flat = as_ids(idx, W.shape[0], self._ids_name).reshape(-1)
        out = np.empty((flat.shape[0], W.shape[1]), dtype=W.dtype)
        _kemb.embedding_gather.pick(out.size)(W, flat, out)
        self.idx = flat
        self._out_shape = shape + (W.shape[1],)
        return out.reshape(self._out_shape)

    def backward(self, dout):
        """Scatter-add ``dout`` into the rows of ``dW`` (``grads[0]``) that were looked up.

        Repeated ids accumulate in a fixed order, whatever the number of threads.

        Parameters
        ----------
        dout : ndarray, (N, D)
            Gradient of the loss with respect to the output (shape of the forward output).

        Returns
        -------
        None
            As the book's: ids have no gradient.

        Raises
        ------
        RuntimeError
            If ``forward`` has not been called (``"call forward first"``).
        ValueError
            If ``dout`` does not have the shape of the forward output.
        """
        _forward_first(self, self.idx)
        _check_params(self)
        (W,) = self.params
        M, D = self.idx.shape[0], W.shape[1]
        shape = self._out_shape
        dout = as_floats(dout, W.dtype, "dout", ndim=len(shape), shape=shape).reshape(M, D)
        dW = self.grads[0]
        if dW.flags.c_contiguous:
            _kemb.embedding_scatter_add.pick(dout.size + dW.size)(
                dW, self.idx, dout, _scatter_blocks(D)
            )
        else:
            tmp = np.empty(dW.shape, dtype=dW.dtype)
            _kemb.embedding_scatter_add.pick(dout.size + dW.size)(
                tmp, self.idx, dout, _scatter_blocks(D)
            )
            dW[...] = tmp
        return None
