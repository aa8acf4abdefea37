"""Book-compatible layers backed by numba kernels.

The classes here have the names, constructor signatures, attributes and
parameter layouts of the book's ``common/layers.py`` and
``common/time_layers.py``: each holds ``params`` and ``grads`` lists, exposes
``forward`` and ``backward``, and writes gradients in place into arrays that
are allocated once and never rebound.  Code written for the book runs on them
by changing its imports.

What differs is how the work is done: recurrent layers run the whole sequence
in one compiled kernel, input projections and weight gradients are
whole-sequence matrix products, and embedding, softmax-loss and attention use
fused kernels.  Every layer is tested against the plain NumPy
:mod:`reference` for outputs and every gradient.

The dtype of a layer is the dtype of its parameters (float32, as in the book,
or float64).  Float inputs are cast to it; ids must be integer arrays.
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np

from fastlstm._kernels import attention as _katt
from fastlstm._kernels import blas as _kblas
from fastlstm._kernels import dropout as _kdrop
from fastlstm._kernels import embedding as _kemb
from fastlstm._kernels import lstm as _klstm
from fastlstm._kernels import softmax as _ksm
from fastlstm._numba import CHUNKS, PARALLEL_MIN_WORK

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
# validation helpers
# --------------------------------------------------------------------------- #
def _param(p, name, ndim):
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(p).__name__}")
    if p.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {p.dtype}")
    if p.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {p.shape}")
    return p


def _same_dtype(*arrays):
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1:
        raise TypeError(f"parameters must share one dtype, got {sorted(map(str, dtypes))}")
    return arrays[0].dtype


def _floats(x, dtype, name, ndim=None, shape=None):
    """Return ``x`` as a C-contiguous array of ``dtype``, checking ndim and shape."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if shape is not None:
        for axis, (got, want) in enumerate(zip(x.shape, shape)):
            if want is not None and got != want:
                raise ValueError(
                    f"{name} has shape {x.shape}, expected "
                    f"{tuple('*' if s is None else s for s in shape)} (axis {axis} differs)"
                )
    return np.ascontiguousarray(x, dtype=dtype)


def _work_dtype(x, name, default=np.float32):
    """The dtype a layer without parameters computes in for the input ``x``.

    float32 and float64 (in either byte order) keep their precision, in native
    byte order; float16 is computed in float32 and wider floats
    (``longdouble``) in float64; integers in ``default``.  Anything else (complex,
    objects, strings) is refused.
    """
    dt = np.asarray(x).dtype
    if dt.kind in "iub":
        return np.dtype(default)
    if dt.kind != "f":
        raise TypeError(f"{name} must hold real numbers, got dtype {dt}")
    if dt.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _ids(idx, vocab_size, name, allow=None):
    """Return ``idx`` as contiguous intp ids in ``[0, vocab_size)`` (or equal to ``allow``)."""
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of ids, got dtype {idx.dtype}")
    if idx.size:
        if allow is None:
            lo, hi = idx.min(), idx.max()
        else:
            valid = idx[idx != allow]
            lo, hi = (valid.min(), valid.max()) if valid.size else (0, 0)
        if lo < 0 or hi >= vocab_size:
            bad = lo if lo < 0 else hi
            extra = "" if allow is None else f" (or {allow} to ignore)"
            raise ValueError(f"{name} contains id {bad}; ids must be in [0, {vocab_size}){extra}")
    return np.ascontiguousarray(idx, dtype=np.intp)


def _operand(a):
    """``a`` as a 2-D array BLAS can take (C- or F-contiguous)."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return a
    return np.ascontiguousarray(a)


def _matmul_into(out, a, b, bias=None):
    """``out[...] = a @ b (+ bias)`` through the package's BLAS, without a temporary when possible."""
    a, b = _operand(a), _operand(b)
    if not (out.dtype == a.dtype == b.dtype):
        out[...] = _mm(a.astype(out.dtype), b.astype(out.dtype), bias)
    elif not out.flags.c_contiguous:
        if bias is not None or not out.flags.f_contiguous:
            out[...] = _mm(a, b, bias)
        else:
            _matmul_into(out.T, b.T, a.T)
    elif bias is not None:
        _kblas.matmul_bias.pick(_flops(a, b))(np.ascontiguousarray(a), b, bias, out, CHUNKS)
    elif a.flags.c_contiguous:
        _kblas.matmul.pick(_flops(a, b))(a, b, out, CHUNKS)
    elif 4 * a.shape[0] <= a.shape[1] and CHUNKS > 1:  # short, wide out: split the sum
        x, y = a.T, np.ascontiguousarray(b)
        blocks = max(1, min(CHUNKS, x.shape[0]))
        part = np.empty((blocks - 1, *out.shape), dtype=out.dtype)
        _kblas.matmul_tn_rows.pick(_flops(a, b))(x, y, out, part, CHUNKS)
    else:
        _kblas.matmul_tn.pick(_flops(a, b))(a.T, np.ascontiguousarray(b), out, CHUNKS)


def _column_sums(a, out):
    """``out[...] = a.sum(axis=0)`` for 2-D ``a``, NumPy's bits.

    Large C-contiguous arrays go to the parallel kernel; below the size at which
    threads pay off NumPy's own sum is as fast and needs no compiled kernel.
    """
    if (
        a.size >= PARALLEL_MIN_WORK
        and a.flags.c_contiguous
        and out.flags.c_contiguous
        and a.dtype == out.dtype
    ):
        _kblas.column_sums(a, out)
    else:
        out[...] = a.sum(axis=0)


def _flops(a, b):
    return 2 * a.shape[0] * a.shape[1] * b.shape[1]


def _mm(a, b, bias=None):
    """Return ``a @ b (+ bias)`` computed through the package's BLAS."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    _matmul_into(out, a, b, bias)
    return out


def _panels(W, transpose=False):
    """``W`` (K, M) (or ``W.T`` for ``transpose``) in column panels for ``matmul_packed``.

    Returns ``(npan, K, P)`` (``(npan, M, P)`` of ``W.T``), zero-padded to whole panels.
    """
    W = np.ascontiguousarray(W)
    P = _kblas.panel_width(W.dtype)
    K, M = W.shape[::-1] if transpose else W.shape
    out = np.empty((-(-M // P), K, P), dtype=W.dtype)
    (_kblas.pack_panels_t if transpose else _kblas.pack_panels)(W, out)
    return out


def _state(value, shape, dtype, name):
    if value is None:
        return np.zeros(shape, dtype=dtype)
    value = np.asarray(value)
    if value.shape != shape:
        raise ValueError(f"state {name} has shape {value.shape}, but this batch needs {shape}")
    return value.astype(dtype, copy=False)


def _nonempty(xs, name):
    """Refuse a batch without sequences (N = 0) or without time steps (T = 0)."""
    N, T = xs.shape[:2]
    if N == 0 or T == 0:
        raise ValueError(
            f"{name} has shape {xs.shape}: a batch needs at least one sequence (N >= 1) "
            "of at least one time step (T >= 1)"
        )


def _forward_first(layer, cached):
    """Raise if ``backward`` is called before ``forward`` (``cached`` is what forward keeps)."""
    if cached is None:
        raise RuntimeError(f"{type(layer).__name__}.backward: call forward first")


def _scalar(dout, name="dout"):
    """The upstream gradient of a loss: a scalar."""
    if np.ndim(dout) != 0:
        raise ValueError(
            f"{name} must be a scalar (gradient of the loss), got shape {np.shape(dout)}"
        )
    return dout


def _like(dout, ref, name="dout"):
    """``dout`` cast to ``ref``'s dtype after checking it has ``ref``'s shape."""
    return _floats(dout, ref.dtype, name, ndim=ref.ndim, shape=ref.shape)


def _scatter_blocks(D):
    return max(1, min(D, 4 * numba.get_num_threads()))


# --------------------------------------------------------------------------- #
# plain layers (common/layers.py)
# --------------------------------------------------------------------------- #
class MatMul:
    """``out = x @ W``.

    Parameters
    ----------
    W : ndarray, (D, H)
    """

    def __init__(self, W):
        self.params = [_param(W, "W", 2)]
        self.grads = [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        (W,) = self.params
        x = _floats(x, W.dtype, "x", ndim=2, shape=(None, W.shape[0]))
        self.x = x
        return _mm(x, W)

    def backward(self, dout):
        _forward_first(self, self.x)
        (W,) = self.params
        dout = _floats(dout, W.dtype, "dout", ndim=2, shape=(self.x.shape[0], W.shape[1]))
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
        self.x = None

    def forward(self, x):
        W, b = self.params
        x = _floats(x, W.dtype, "x", ndim=2, shape=(None, W.shape[0]))
        self.x = x
        return _mm(x, W, b)

    def backward(self, dout):
        _forward_first(self, self.x)
        W, b = self.params
        dout = _floats(dout, W.dtype, "dout", ndim=2, shape=(self.x.shape[0], W.shape[1]))
        _matmul_into(self.grads[0], self.x.T, dout)
        _column_sums(dout, self.grads[1])
        return _mm(dout, W.T)


class Softmax:
    """Softmax over the last axis of a 2-D input (stable)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        x = _floats(x, _work_dtype(x, "x"), "x", ndim=2)
        self.out = np.empty_like(x)
        _ksm.softmax_rows.pick(8 * x.size)(x, self.out)
        return self.out

    def backward(self, dout):
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
        from fastlstm.functions import sigmoid

        self.out = sigmoid(_floats(x, _work_dtype(x, "x"), "x"))
        return self.out

    def backward(self, dout):
        _forward_first(self, self.out)
        return _like(dout, self.out) * (1.0 - self.out) * self.out


class _SoftmaxCE:
    """Shared fused softmax + cross-entropy over rows ``(M, V)``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.ignore_label = -1
        self._cache = None

    def _forward2d(self, x, t, name_x, name_t):
        x = np.asarray(x)
        dtype = _work_dtype(x, name_x, np.float64)
        M, V = x.shape
        if V == 0:
            raise ValueError(f"{name_x} has no classes (last axis of size 0)")
        x2 = np.ascontiguousarray(x, dtype=dtype)
        t = _ids(t, V, name_t, allow=self.ignore_label)
        ignore = -1 if self.ignore_label is None else self.ignore_label
        e = self._buffer(x2.shape, dtype)  # (M, V) softmax numerators
        sums = np.empty(M, dtype=np.float64)
        losses = np.empty(M, dtype=np.float64)
        _ksm.softmax_ce_forward.pick(4 * x2.size)(x2, t, ignore, e, sums, losses)
        self._losses = losses
        if M and not np.isfinite(losses).all():
            raise ValueError(f"{name_x} contains NaN or inf")
        count = int(np.count_nonzero(t != ignore))
        self._cache = (e, t, sums, count, ignore)
        return float(losses.sum() / max(count, 1))

    def _buffer(self, shape, dtype):
        """Work array for the numerators, reused while shape and dtype stay the same."""
        buf = getattr(self, "_e", None)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._e = np.empty(shape, dtype=dtype)
        return buf

    def _backward2d(self, dout):
        _forward_first(self, self._cache)
        e, t, sums, count, ignore = self._cache
        dx = np.empty_like(e)
        scale = e.dtype.type(float(dout) / max(count, 1))
        _ksm.softmax_ce_backward.pick(2 * e.size)(e, t, ignore, sums, scale, dx)
        return dx


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
        _check_ratio(dropout_ratio)
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.rng = np.random.mtrand._rand if rng is None else rng  # None: the global state
        self.mask = None
        self.train_flg = True

    def forward(self, x, train_flg=True):
        self.train_flg = train_flg
        x = _floats(x, _work_dtype(x, "x"), "x")
        if not train_flg:
            return x * x.dtype.type(1.0 - self.dropout_ratio)
        out, self.mask = _dropout(x, self.rng, self.dropout_ratio, 1.0)
        return out

    def backward(self, dout):
        if self.train_flg:
            _forward_first(self, self.mask)
        if not self.train_flg:
            return np.asarray(dout) * (1.0 - self.dropout_ratio)
        return _like(dout, self.mask) * self.mask


def _check_ratio(dropout_ratio):
    if not 0.0 <= dropout_ratio < 1.0:
        raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")


def _dropout(xs, rng, ratio, scale):
    """Draw ``rng.random(xs.shape) > ratio`` and apply it with ``scale``: return (out, mask)."""
    u = rng.random(xs.shape)
    out = np.empty(xs.shape, dtype=xs.dtype)
    mask = np.empty(xs.shape, dtype=xs.dtype)
    _kdrop.dropout_apply.pick(4 * xs.size)(
        np.ascontiguousarray(xs).reshape(-1),
        u.reshape(-1),
        ratio,
        scale,
        out.reshape(-1),
        mask.reshape(-1),
    )
    return out, mask


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
        _check_ratio(dropout_ratio)
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.rng = np.random.mtrand._rand if rng is None else rng  # None: the global state
        self.train_flg = True
        self.mask = None

    def forward(self, xs):
        xs = _floats(xs, _work_dtype(xs, "xs"), "xs")
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


class Embedding:
    """Row lookup ``out = W[idx]`` for a batch of ids ``(N,)``.

    Parameters
    ----------
    W : ndarray, (V, D)
    """

    def __init__(self, W):
        self.params = [_param(W, "W", 2)]
        self.grads = [np.zeros_like(W)]
        self.idx = None
        self._out_shape = None

    _ids_name = "idx"

    def forward(self, idx):
        (W,) = self.params
        idx = np.asarray(idx)
        shape = idx.shape
        flat = _ids(idx, W.shape[0], self._ids_name).reshape(-1)
        out = np.empty((flat.shape[0], W.shape[1]), dtype=W.dtype)
        _kemb.embedding_gather.pick(out.size)(W, flat, out)
        self.idx = flat
        self._out_shape = shape + (W.shape[1],)
        return out.reshape(self._out_shape)

    def backward(self, dout):
        _forward_first(self, self.idx)
        (W,) = self.params
        M, D = self.idx.shape[0], W.shape[1]
        shape = self._out_shape
        dout = _floats(dout, W.dtype, "dout", ndim=len(shape), shape=shape).reshape(M, D)
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


# --------------------------------------------------------------------------- #
# recurrent layers
# --------------------------------------------------------------------------- #
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
        xs = _floats(xs, self.dtype, "xs", ndim=3, shape=(None, None, self.D))
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
        return _floats(dhs, self.dtype, "dhs", ndim=3, shape=(N, T, self.H))

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
        """xs (N, T, D) -> hs (N, T, H)."""
        N, T, xs_tm = self._inputs(xs)
        return self._forward(N, T, xs_tm, None)

    def _forward_peeky(self, xs, static):
        """``forward(concat(static at every step, xs))`` with ``static @ Wx[:S]`` computed once.

        ``static`` is ``(N, S)`` and ``xs`` ``(N, T, D - S)``: the input of every
        step is ``concat(static, xs[:, t])``, as in the book's ``PeekyDecoder``.
        ``backward`` returns the gradient of ``xs`` and leaves that of ``static``
        (summed over the steps) in ``dstatic``.
        """
        static = _floats(static, self.dtype, "static", ndim=2)
        N, S = static.shape
        if not 0 < S < self.D:
            raise ValueError(
                f"static must have 1 to {self.D - 1} columns, got shape {static.shape}"
            )
        xs = _floats(xs, self.dtype, "xs", ndim=3, shape=(N, None, self.D - S))
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
        """dhs (N, T, H) -> dxs (N, T, D); fills ``grads`` and ``dh``."""
        _forward_first(self, self._cache)
        T1, N, H = self._cache[4].shape
        dhs = self._dhs(dhs, N, T1 - 1)
        dh = np.zeros((N, H), dtype=self.dtype)
        dc = np.zeros((N, H), dtype=self.dtype)
        dxs = self._sequence_backward(dhs, dh, dc)
        self.dh = dh
        return dxs

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h, self.c = None, None


class LSTM(_LSTMKernels):
    """One LSTM step: ``forward(x, h_prev, c_prev) -> (h_next, c_next)``.

    Parameters are as for :class:`TimeLSTM`.
    """

    def __init__(self, Wx, Wh, b):
        self._init_params(Wx, Wh, b)
        self._cache = None

    def forward(self, x, h_prev, c_prev):
        x = _floats(x, self.dtype, "x", ndim=2, shape=(None, self.D))
        N, H = x.shape[0], self.H
        h0 = _state(h_prev, (N, H), self.dtype, "h_prev")
        c0 = _state(c_prev, (N, H), self.dtype, "c_prev")
        self._sequence_forward(x.reshape(1, N, self.D), h0, c0)
        hs_tm, cs_tm = self._cache[4], self._cache[5]
        return hs_tm[1].copy(), cs_tm[1].copy()

    def backward(self, dh_next, dc_next):
        _forward_first(self, self._cache)
        N, H = self._cache[4].shape[1], self.H
        dhs = _floats(dh_next, self.dtype, "dh_next", ndim=2, shape=(N, H)).reshape(N, 1, H)
        dc = _floats(dc_next, self.dtype, "dc_next", ndim=2, shape=(N, H)).copy()
        dh = np.zeros((N, H), dtype=self.dtype)
        dx = self._sequence_backward(dhs, dh, dc)
        return dx.reshape(N, self.D), dh, dc


class _HiddenStateSequence:
    """``forward``/``backward`` and state handling of a recurrent layer with one state ``h``.

    Subclasses provide ``_run(xs_tm, h0) -> hs`` and ``_back(dhs, dh) -> dxs``.
    """

    def forward(self, xs):
        """xs (N, T, D) -> hs (N, T, H)."""
        N, T, xs_tm = self._inputs(xs)
        if not self.stateful:
            self.h = None
        hs = self._run(xs_tm, _state(self.h, (N, self.H), self.dtype, "h"))
        self.h = hs[:, -1].copy() if T else self.h
        return hs

    def backward(self, dhs):
        """dhs (N, T, H) -> dxs (N, T, D)."""
        _forward_first(self, self._cache)
        T, N, _ = self._cache[0].shape
        dh = np.zeros((N, self.H), dtype=self.dtype)
        dxs = self._back(self._dhs(dhs, N, T), dh)
        self.dh = dh
        return dxs

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None


class _HiddenStateStep:
    """One step ``forward(x, h_prev) -> h_next``, ``backward(dh_next) -> (dx, dh_prev)``."""

    def forward(self, x, h_prev):
        x = _floats(x, self.dtype, "x", ndim=2, shape=(None, self.D))
        N = x.shape[0]
        hs = self._run(x.reshape(1, N, self.D), _state(h_prev, (N, self.H), self.dtype, "h_prev"))
        return hs[:, 0]

    def backward(self, dh_next):
        _forward_first(self, self._cache)
        N = self._cache[0].shape[1]
        dhs = _floats(dh_next, self.dtype, "dh_next", ndim=2, shape=(N, self.H))
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
    """One RNN step: ``forward(x, h_prev) -> h_next``; ``backward(dh_next) -> (dx, dh_prev)``."""

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
    """One GRU step: ``forward(x, h_prev) -> h_next``; ``backward(dh_next) -> (dx, dh_prev)``."""

    def __init__(self, Wx, Wh):
        super().__init__(Wx, Wh)


class TimeBiLSTM:
    """Bidirectional LSTM: a forward and a time-reversed :class:`TimeLSTM`, outputs concatenated.

    Parameters
    ----------
    Wx1, Wh1, b1 : forward-direction LSTM parameters.
    Wx2, Wh2, b2 : backward-direction LSTM parameters.
    stateful : bool
    """

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads
        self._out_shape = None

    def forward(self, xs):
        """xs (N, T, D) -> (N, T, 2H)."""
        o1 = self.forward_lstm.forward(xs)
        o2 = self.backward_lstm.forward(np.asarray(xs)[:, ::-1])
        self._out_shape = o1.shape[:2] + (2 * self.forward_lstm.H,)
        return np.concatenate((o1, o2[:, ::-1]), axis=2)

    def backward(self, dhs):
        """dhs (N, T, 2H) -> dxs (N, T, D)."""
        _forward_first(self, self._out_shape)
        H = self.forward_lstm.H
        dhs = _floats(dhs, self.forward_lstm.dtype, "dhs", ndim=3, shape=self._out_shape)
        dxs1 = self.forward_lstm.backward(dhs[:, :, :H])
        dxs2 = self.backward_lstm.backward(dhs[:, ::-1, H:])
        return dxs1 + dxs2[:, ::-1]


# --------------------------------------------------------------------------- #
# output layers
# --------------------------------------------------------------------------- #
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
        x = _floats(x, W.dtype, "x", ndim=3, shape=(None, None, W.shape[0]))
        N, T, D = x.shape
        _nonempty(x, "x")
        self.x = x
        return _mm(x.reshape(N * T, D), W, b).reshape(N, T, -1)

    def backward(self, dout):
        _forward_first(self, self.x)
        W, b = self.params
        N, T, D = self.x.shape
        dout = _floats(dout, W.dtype, "dout", ndim=3, shape=(N, T, W.shape[1]))
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


# --------------------------------------------------------------------------- #
# attention (ch. 8)
# --------------------------------------------------------------------------- #
class WeightSum:
    """Context vector ``c = sum_t a[:, t] * hs[:, t]``: ``forward(hs (N,T,H), a (N,T)) -> (N,H)``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        dtype = _work_dtype(hs, "hs")
        hs = _floats(hs, dtype, "hs")
        a = _floats(a, dtype, "a")
        if hs.ndim != 3 or a.shape != hs.shape[:2]:
            raise ValueError(f"expected hs (N, T, H) and a (N, T), got {hs.shape} and {a.shape}")
        self.cache = (hs, a)
        return (a[:, :, None] * hs).sum(axis=1)  # (N, H)

    def backward(self, dc):
        _forward_first(self, self.cache)
        hs, a = self.cache
        dc = _floats(dc, hs.dtype, "dc", ndim=2, shape=(hs.shape[0], hs.shape[2]))
        dhs = a[:, :, None] * np.asarray(dc)[:, None, :]  # (N, T, H)
        da = (hs * np.asarray(dc)[:, None, :]).sum(axis=2)  # (N, T)
        return dhs, da


class AttentionWeight:
    """Attention weights ``a = softmax(hs @ h)``: ``forward(hs (N,T,H), h (N,H)) -> (N,T)``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, h):
        dtype = _work_dtype(hs, "hs")
        hs = _floats(hs, dtype, "hs")
        h = _floats(h, dtype, "h")
        if hs.ndim != 3 or h.shape != (hs.shape[0], hs.shape[2]):
            raise ValueError(f"expected hs (N, T, H) and h (N, H), got {hs.shape} and {h.shape}")
        s = (hs * h[:, None, :]).sum(axis=2)  # (N, T)
        a = np.empty_like(s)
        _ksm.softmax_rows.pick(8 * s.size)(np.ascontiguousarray(s), a)
        self.cache = (hs, h, a)
        return a

    def backward(self, da):
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

    def _forward3d(self, hs_enc, hs_dec, lengths=None):
        hs_enc = np.asarray(hs_enc)
        if hs_enc.ndim != 3:
            raise ValueError(f"hs_enc must be 3-D (N, T_enc, H), got shape {hs_enc.shape}")
        dtype = _work_dtype(hs_enc, "hs_enc")
        N, Te, H = hs_enc.shape
        hs_enc = _floats(hs_enc, dtype, "hs_enc")
        hs_dec = _floats(hs_dec, dtype, "hs_dec", ndim=3, shape=(N, None, H))
        if Te == 0:
            raise ValueError("hs_enc has no time steps to attend to")
        Td = hs_dec.shape[1]
        a = np.empty((N, Td, Te), dtype=dtype)
        out = np.empty((N, Td, H), dtype=dtype)
        work = 4 * hs_enc.size * Td
        if lengths is None:
            _katt.attention_forward.pick(work)(hs_enc, hs_dec, a, out)
        else:
            lengths = _check_lengths(lengths, N, Te)
            _katt.attention_forward_len.pick(work)(hs_enc, hs_dec, lengths, a, out)
        self._cache = (hs_enc, hs_dec, a, lengths)
        return out, a

    def _backward3d(self, dout):
        _forward_first(self, self._cache)
        hs_enc, hs_dec, a, lengths = self._cache
        dout = _floats(dout, hs_enc.dtype, "dout", ndim=3, shape=hs_dec.shape)
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
        _forward_first(self, self._cache)
        hs_dec = self._cache[1]  # (N, 1, H)
        dout = _floats(dout, hs_dec.dtype, "dout", ndim=2, shape=(hs_dec.shape[0], hs_dec.shape[2]))
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
        out, a = self._forward3d(hs_enc, hs_dec, lengths)
        self.weights = a
        self.attention_weights = [a[:, t] for t in range(a.shape[1])]
        return out

    def backward(self, dout):
        return self._backward3d(dout)
