"""Optimizers, gradient clipping and shared-weight handling (book's ``common/optimizer.py``).

The classes keep the book's names, constructor signatures and attributes
(``lr``, ``momentum``, ``v``, ``h``, ``m``, ``iter``, ...) and apply exactly
the book's update rules, in place, with numba kernels:

=============  ==============================================================
``SGD``        ``W -= lr * dW``
``Momentum``   ``v = momentum * v - lr * dW``; ``W += v``
``Nesterov``   ``v = momentum * v - lr * dW``;
               ``W += momentum**2 * v - (1 + momentum) * lr * dW``
``AdaGrad``    ``h += dW**2``; ``W -= lr * dW / (sqrt(h) + 1e-7)``
``RMSprop``    ``h = decay * h + (1 - decay) * dW**2``;
               ``W -= lr * dW / (sqrt(h) + 1e-7)``
``Adam``       ``lr_t = lr * sqrt(1 - beta2**k) / (1 - beta1**k)``;
               ``m += (1 - beta1) * (dW - m)``; ``v += (1 - beta2) * (dW**2 - v)``;
               ``W -= lr_t * m / (sqrt(v) + 1e-7)``
=============  ==============================================================

Arithmetic stays in the dtype of each parameter (float32 or float64): the
scalar factors are rounded to that dtype first, as NumPy does with Python
floats.  State arrays are allocated on the first :meth:`update` and can be
saved and restored with ``state_dict()`` / ``load_state_dict()``.

:func:`clip_grads` is the book's ``common/util.py`` function and
:func:`unique_params` replaces ``remove_duplicate`` of ``common/trainer.py``.
"""

from __future__ import annotations

import math
import operator
import weakref
from collections import OrderedDict

import numpy as np

from fastlstm._kernels import optim as _k
from fastlstm._validate import check_real, is_real

__all__ = [
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSprop",
    "Adam",
    "clip_grads",
    "unique_params",
    "PlateauDecay",
]

_EPS = 1e-7  # the book's constant in AdaGrad, RMSprop and Adam
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _check_lists(params, grads):
    """Validate the ``params`` / ``grads`` lists (lengths, types, shapes)."""
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of arrays, got {type(params).__name__}")
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a list of arrays, got {type(grads).__name__}")
    if len(params) != len(grads):
        raise ValueError(
            f"params and grads must have the same length, got {len(params)} and {len(grads)}"
        )
    for i, (p, g) in enumerate(zip(params, grads)):
        if not isinstance(p, np.ndarray):
            raise TypeError(f"params[{i}] must be a numpy array, got {type(p).__name__}")
        if not isinstance(g, np.ndarray):
            raise TypeError(f"grads[{i}] must be a numpy array, got {type(g).__name__}")
        if p.shape != g.shape:
            raise ValueError(f"grads[{i}] has shape {g.shape} but params[{i}] has shape {p.shape}")


def _common_order(a, b):
    """``"C"`` or ``"F"`` if ``a`` and ``b`` are both contiguous in that memory order
    (``"C"`` for 1-D arrays), else None."""
    if a.flags.c_contiguous and b.flags.c_contiguous:
        return "C"
    if a.flags.f_contiguous and b.flags.f_contiguous:
        return "F"
    return None


def _flat_views(i, p, g):
    """Return 1-D views of ``p`` and ``g`` in memory order, and that order."""
    if p.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"params[{i}] must be float32 or float64, got {p.dtype}")
    if g.dtype != p.dtype:
        raise TypeError(f"grads[{i}] has dtype {g.dtype} but params[{i}] has dtype {p.dtype}")
    if not p.flags.writeable:
        raise ValueError(f"params[{i}] is read-only; optimizers update parameters in place")
    order = _common_order(p, g)
    if order is None:
        raise ValueError(
            f"params[{i}] and grads[{i}] must be contiguous in the same memory order "
            f"(C or Fortran); a transposed view shared with another parameter must be "
            f"merged first with unique_params(params, grads)"
        )
    return p.reshape(-1, order=order), g.reshape(-1, order=order), order


# ----------------------------------------------------------------------------
# optimizers
# ----------------------------------------------------------------------------
class _Optimizer:
    """Base class: validation, lazy state, ``state_dict`` / ``load_state_dict``.

    Subclasses set ``_hyper`` (names of the float hyperparameters),
    ``_state`` (names of the per-parameter state lists), ``_kernels``
    (serial and parallel kernel, called as ``kernel(p, g, *states, *scalars)``)
    and implement ``_scalars(t)``: the scalar arguments cast with the dtype
    constructor ``t``.

    The flat views of the arrays are prepared once per distinct
    ``(params, grads, state)`` set of arrays and reused while the same array
    objects are passed, so an update costs little more than the kernel calls.
    """

    _hyper: tuple[str, ...] = ("lr",)
    _state: tuple[str, ...] = ()
    _kernels: tuple = ()
    _plan = None  # (params, grads, state lists, [(dtype type, parallel, flat arrays)])

    def update(self, params, grads):
        """Update every array of ``params`` in place from ``grads``.

        Parameters
        ----------
        params : list of ndarray
            Parameters (float32 or float64, contiguous), modified in place.
        grads : list of ndarray
            Gradients of the same shapes, dtypes and memory orders.

        Raises
        ------
        ValueError
            If the lists differ in length, a shape differs, or the lists do not
            match the state allocated by earlier updates.
        TypeError
            If an entry is not a float array or dtypes differ, or a
            hyperparameter (``lr`` ...) is not a real number (ValueError if
            it is NaN or infinite).
        """
        self._check_hyper()
        calls = self._cached_calls(params, grads)
        if calls is None:
            calls = self._prepare(params, grads)
        self._begin_step()
        serial, parallel = self._kernels
        scalars = {}
        for t, par, arrays in calls:
            s = scalars.get(t)
            if s is None:
                s = scalars[t] = self._scalars(t)
            (parallel if par else serial)(*arrays, *s)

    def _check_hyper(self):
        """Refuse a hyperparameter that is not a finite real number.

        Checked at every update: the book's trainers change ``lr`` between them.
        """
        for name in self._hyper:
            check_real(getattr(self, name), f"{type(self).__name__}.{name}")

    def _cached_calls(self, params, grads):
        """The prepared calls if the very same arrays are passed again, else None."""
        plan = self._plan
        if plan is None:
            return None
        p0, g0, s0, calls = plan
        if not (
            len(params) == len(p0)
            and len(grads) == len(g0)
            and all(map(operator.is_, params, p0))
            and all(map(operator.is_, grads, g0))
            and all(p.flags.writeable for p in params)  # made read-only since: checked again
        ):
            return None
        for name, lst in zip(self._state, s0):
            cur = getattr(self, name)
            if cur is None or len(cur) != len(lst) or not all(map(operator.is_, cur, lst)):
                return None
        return calls

    def _prepare(self, params, grads):
        """Validate the lists, allocate or adapt the state, build the flat views."""
        _check_lists(params, grads)
        flats = [_flat_views(i, p, g) for i, (p, g) in enumerate(zip(params, grads))]
        states = self._prepare_state(params)
        calls = []
        for i, (fp, fg, order) in enumerate(flats):
            fs = [st[i].reshape(-1, order=order) for st in states]  # same layout as p
            calls.append((fp.dtype.type, fp.shape[0] > _k.UPDATE_PARALLEL_MIN, (fp, fg, *fs)))
        self._plan = (
            tuple(params),
            tuple(grads),
            tuple(tuple(st) for st in states),
            calls,
        )
        return calls

    # -- state --------------------------------------------------------------
    def _prepare_state(self, params):
        """Allocate the state lists on first use; check (and adapt) them later."""
        if not self._state:
            return []
        lists = [getattr(self, name) for name in self._state]
        if lists[0] is None:
            lists = [[np.zeros_like(p) for p in params] for _ in self._state]
            for name, lst in zip(self._state, lists):
                setattr(self, name, lst)
            return lists
        for name, lst in zip(self._state, lists):
            if len(lst) != len(params):
                raise ValueError(
                    f"{type(self).__name__} state {name!r} holds {len(lst)} arrays but "
                    f"{len(params)} params were given; use one optimizer per parameter list"
                )
            for i, (s, p) in enumerate(zip(lst, params)):
                if s.shape != p.shape:
                    raise ValueError(
                        f"{type(self).__name__} state {name}[{i}] has shape {s.shape} but "
                        f"params[{i}] has shape {p.shape}"
                    )
                same_layout = _common_order(p, s) is not None
                if s.dtype != p.dtype or not same_layout or not s.flags.writeable:
                    # e.g. after load_state_dict: match the parameter once
                    t = np.empty_like(p)
                    t[...] = s
                    lst[i] = t
        return lists

    def _begin_step(self):
        """Hook run once per update, before the arrays are updated."""

    def _scalars(self, t):  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self):
        """Return the optimizer's hyperparameters and state, for exact resumption.

        Returns
        -------
        dict
            ``"name"`` (class name), the float hyperparameters (``"lr"``, ...),
            ``"iter"`` for :class:`Adam`, and for every state list (``"v"``,
            ``"h"``, ``"m"``) a list of array copies, or None before the first
            update.
        """
        d = {"name": type(self).__name__}
        for name in self._hyper:
            d[name] = float(getattr(self, name))
        if hasattr(self, "iter"):
            d["iter"] = int(self.iter)
        for name in self._state:
            lst = getattr(self, name)
            d[name] = None if lst is None else [np.array(a, copy=True) for a in lst]
        return d

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (arrays are copied).

        Parameters
        ----------
        state : dict
            As returned by :meth:`state_dict` of the same optimizer class.

        Raises
        ------
        ValueError
            If ``state`` belongs to another optimizer or is incomplete.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        name = state.get("name", type(self).__name__)
        if name != type(self).__name__:
            raise ValueError(f"state is for optimizer {name!r}, not {type(self).__name__!r}")
        keys = list(self._hyper) + list(self._state)
        if hasattr(self, "iter"):
            keys.append("iter")
        missing = [k for k in keys if k not in state]
        if missing:
            raise ValueError(f"state for {type(self).__name__} lacks {missing}")
        lists = [state[k] for k in self._state]
        if any(lst is None for lst in lists) and not all(lst is None for lst in lists):
            raise ValueError(f"state lists {list(self._state)} must all be set or all be None")
        if lists and lists[0] is not None:
            n = len(lists[0])
            for k, lst in zip(self._state, lists):
                if len(lst) != n:
                    raise ValueError(
                        f"state lists differ in length ({k!r} has {len(lst)}, not {n})"
                    )
        for k in self._hyper:
            setattr(self, k, float(state[k]))
        if hasattr(self, "iter"):
            self.iter = int(state["iter"])
        for k, lst in zip(self._state, lists):
            setattr(self, k, None if lst is None else [np.array(a, copy=True) for a in lst])
        self._plan = None

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyper)
        return f"{type(self).__name__}({args})"


class SGD(_Optimizer):
    """Stochastic gradient descent: ``W -= lr * dW``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    """

    _hyper = ("lr",)

    def __init__(self, lr=0.01):
        self.lr = lr

    _kernels = (_k.sgd, _k.sgd_parallel)

    def _scalars(self, t):
        return (t(self.lr),)


class Momentum(_Optimizer):
    """Momentum SGD: ``v = momentum * v - lr * dW``; ``W += v``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    momentum : float, default 0.9
        Decay of the velocity ``v`` (one array per parameter, ``self.v``).
    """

    _hyper = ("lr", "momentum")
    _state = ("v",)

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    _kernels = (_k.momentum, _k.momentum_parallel)

    def _scalars(self, t):
        return (t(self.momentum), t(self.lr))


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in the book's form (arXiv:1212.0901).

    ``v = momentum * v - lr * dW``;
    ``W += momentum * momentum * v - (1 + momentum) * lr * dW``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    momentum : float, default 0.9
        Decay of the velocity ``v`` (``self.v``).
    """

    _kernels = (_k.nesterov, _k.nesterov_parallel)

    def _scalars(self, t):
        mom, lr = self.momentum, self.lr
        # the book's scalar products are formed in Python floats, then meet the array
        return (t(mom), t(lr), t(mom * mom), t((1 + mom) * lr))


class AdaGrad(_Optimizer):
    """AdaGrad: ``h += dW * dW``; ``W -= lr * dW / (sqrt(h) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    """

    _hyper = ("lr",)
    _state = ("h",)

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    _kernels = (_k.adagrad, _k.adagrad_parallel)

    def _scalars(self, t):
        return (t(self.lr), t(_EPS))


class RMSprop(_Optimizer):
    """RMSprop: ``h = decay_rate * h + (1 - decay_rate) * dW * dW``;
    ``W -= lr * dW / (sqrt(h) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    decay_rate : float, default 0.99
        Decay of the running mean of squared gradients ``h`` (``self.h``).
    """

    _hyper = ("lr", "decay_rate")
    _state = ("h",)

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    _kernels = (_k.rmsprop, _k.rmsprop_parallel)

    def _scalars(self, t):
        d = self.decay_rate
        return (t(d), t(1 - d), t(self.lr), t(_EPS))


class Adam(_Optimizer):
    """Adam in the book's form (arXiv:1412.6980v8).

    With ``k = self.iter`` the number of updates so far (counting this one),
    ``lr_t = lr * sqrt(1 - beta2**k) / (1 - beta1**k)``,
    ``m += (1 - beta1) * (dW - m)``, ``v += (1 - beta2) * (dW**2 - v)``,
    ``W -= lr_t * m / (sqrt(v) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.001
        Learning rate.
    beta1, beta2 : float, default 0.9, 0.999
        Decays of the first (``self.m``) and second (``self.v``) moment estimates.
    """

    _hyper = ("lr", "beta1", "beta2")
    _state = ("m", "v")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def _begin_step(self):
        self.iter += 1
        k = self.iter
        self._lr_t = self.lr * math.sqrt(1.0 - self.beta2**k) / (1.0 - self.beta1**k)

    _kernels = (_k.adam, _k.adam_parallel)

    def _scalars(self, t):
        return (t(1 - self.beta1), t(1 - self.beta2), t(self._lr_t), t(_EPS))


# ----------------------------------------------------------------------------
# gradient clipping
# ----------------------------------------------------------------------------
def clip_grads(grads, max_norm):
    """Scale all gradients in place so that their global L2 norm is at most ``max_norm``.

    As the book's ``common/util.py``: with ``norm = sqrt(sum_i sum(grads[i]**2))``
    and ``rate = max_norm / (norm + 1e-6)``, every gradient is multiplied by
    ``rate`` when ``rate < 1``.  The sum of squares is accumulated in float64
    in a fixed order (the result does not depend on the thread count).

    Parameters
    ----------
    grads : list of ndarray
        Gradients (float32 or float64), modified in place.
    max_norm : float
        Positive threshold.

    Returns
    -------
    float
        The global norm before clipping.

    Raises
    ------
    TypeError
        If ``grads`` is not a list of float32 or float64 arrays, or ``max_norm`` not a number.
    ValueError
        If ``max_norm`` is not positive, or a gradient to be scaled is read-only (then none
        is scaled).
    """
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a list of arrays, got {type(grads).__name__}")
    if not is_real(max_norm):
        raise TypeError(f"max_norm must be a positive number, got {max_norm!r}")
    max_norm = float(max_norm)
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    total = 0.0
    for i, g in enumerate(grads):
        if not isinstance(g, np.ndarray) or g.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"grads[{i}] must be a float32 or float64 array")
        flat = g.ravel(order="K")  # a view for contiguous arrays (read only here)
        if flat.shape[0] > _k.NORM_PARALLEL_MIN:
            total += _k.sum_squares_parallel(flat)
        elif flat.shape[0] > _k.CHUNK:  # the same chunks, summed in the same order
            total += _k.sum_squares_parallel.serial(flat)
        else:
            total += _k.sum_squares(flat)
    norm = math.sqrt(total)
    rate = max_norm / (norm + 1e-6)
    if rate < 1:
        for i, g in enumerate(grads):  # before any is scaled
            if not g.flags.writeable:
                raise ValueError(
                    f"grads[{i}] is read-only: clip_grads scales the gradients in place"
                )
        for g in grads:
            r = g.dtype.type(rate)
            if g.flags.c_contiguous and g.size > _k.NORM_PARALLEL_MIN:  # on both cores
                _k.scale_parallel(g.reshape(-1), r)
            else:
                np.multiply(g, r, out=g)
    return norm


# ----------------------------------------------------------------------------
# shared parameters
# ----------------------------------------------------------------------------
_PLAN_CACHE: OrderedDict = OrderedDict()
_PLAN_CACHE_SIZE = 32


def _memory_key(a):
    """(address, shape, strides, dtype): equal keys mean the very same elements."""
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _make_plan(params):
    """Group the parameters that share memory.

    Returns ``(keep, merges)``: ``keep`` lists the indices kept, in the order
    of first appearance; ``merges`` lists ``(k, j, transposed)``: add
    ``grads[j]`` (transposed if ``transposed``) into ``grads[keep[k]]``.
    """
    groups = []  # list of lists of (index, transposed relative to the first member)
    where = {}  # memory key -> (group number, transposed)
    for j, p in enumerate(params):
        if p.size == 0:
            groups.append([(j, False)])
            continue
        key = _memory_key(p)
        if key in where:
            gno, tr = where[key]
            groups[gno].append((j, tr))
            continue
        gno = len(groups)
        groups.append([(j, False)])
        where[key] = (gno, False)
        if p.ndim >= 2:
            tkey = (key[0], p.shape[::-1], p.strides[::-1], key[3])
            where.setdefault(tkey, (gno, True))
    keep, merges = [], []
    for k, members in enumerate(groups):
        # keep the C-contiguous member (the weight itself, not its transposed view)
        rep_j, rep_tr = next(
            ((j, tr) for j, tr in members if params[j].flags.c_contiguous), members[0]
        )
        keep.append(rep_j)
        for j, tr in members:
            if j != rep_j:
                merges.append((k, j, tr != rep_tr))
    return keep, merges


def unique_params(params, grads):
    """Merge shared parameters and add their gradients (the book's ``remove_duplicate``).

    Sharing is detected by identity of memory, never by comparing values:

    * the same array (or a view with the same address, shape and strides)
      appearing twice keeps one entry and its gradient becomes the sum;
    * an array that is the transposed view of another (weight tying,
      ``TimeAffine(embed_W.T, b)``) is dropped, and the transpose of its
      gradient is added into the gradient of the array it views.

    The kept gradient arrays are added to in place.  The grouping is computed
    once per distinct parameter list and cached, so calling this every
    iteration costs little.

    Parameters
    ----------
    params, grads : list of ndarray
        The model's lists (``model.params``, ``model.grads``); not modified.

    Returns
    -------
    params, grads : list of ndarray
        New lists without the duplicates, in order of first appearance.

    Raises
    ------
    ValueError
        If the lists differ in length or a gradient's shape differs from its parameter's.
    """
    _check_lists(params, grads)
    key = tuple(map(id, params))
    entry = _PLAN_CACHE.get(key)
    if entry is not None and all(r() is p for r, p in zip(entry[0], params)):
        _PLAN_CACHE.move_to_end(key)
        keep, merges = entry[1]
    else:
        keep, merges = _make_plan(params)
        _PLAN_CACHE[key] = (tuple(weakref.ref(p) for p in params), (keep, merges))
        if len(_PLAN_CACHE) > _PLAN_CACHE_SIZE:
            _PLAN_CACHE.popitem(last=False)
    for k, j, transposed in merges:
        dst = grads[keep[k]]
        src = grads[j].T if transposed else grads[j]
        _add(dst, src)
    return [params[i] for i in keep], [grads[i] for i in keep]


def _add(dst, src):
    """``dst += src`` in place: on both cores for large arrays in the same memory order
    (the same bits as ``np.add``, which does the rest: other layouts, dtypes, overlaps)."""
    if (
        dst.size > _k.NORM_PARALLEL_MIN
        and dst.dtype == src.dtype
        and dst.dtype in _FLOAT_DTYPES
        and dst.flags.writeable
        and (src is dst or not np.may_share_memory(dst, src))
    ):
        order = _common_order(dst, src)
        if order is not None:
            _k.add_parallel(dst.reshape(-1, order=order), src.reshape(-1, order=order))
            return
    np.add(dst, src, out=dst)


# ----------------------------------------------------------------------------
# learning-rate decay
# ----------------------------------------------------------------------------
class PlateauDecay:
    """Divide the learning rate when a validation metric stops improving.

    The rule of the book's ``ch06/train_better_rnnlm.py``: after each
    evaluation, if the metric (e.g. validation perplexity) is better than the
    best so far, remember it; otherwise divide ``optimizer.lr`` by ``factor``.

    Parameters
    ----------
    optimizer : object
        Anything with a float attribute ``lr``.
    factor : float, default 4.0
        Divisor applied to ``optimizer.lr`` (> 1).
    mode : {"min", "max"}, default "min"
        Whether a smaller (perplexity, loss) or larger (accuracy) metric is better.

    Attributes
    ----------
    best : float
        Best metric so far (``inf`` / ``-inf`` before the first step).

    Examples
    --------
    >>> decay = PlateauDecay(optimizer)  # doctest: +SKIP
    >>> for epoch in range(max_epoch):  # doctest: +SKIP
    ...     trainer.fit(xs, ts, max_epoch=1)
    ...     if decay.step(eval_perplexity(model, corpus_val)):
    ...         model.save_params()
    """

    def __init__(self, optimizer, factor=4.0, mode="min"):
        if not hasattr(optimizer, "lr"):
            raise TypeError("optimizer must have an attribute 'lr'")
        factor = float(factor)
        if not factor > 1:
            raise ValueError(f"factor must be greater than 1, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.optimizer = optimizer
        self.factor = factor
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf

    def step(self, value):
        """Record a metric; decay the learning rate if it did not improve.

        Parameters
        ----------
        value : float
            The new metric.

        Returns
        -------
        bool
            True if ``value`` is the best so far (e.g. save a checkpoint),
            False if the learning rate was divided.
        """
        value = float(value)
        better = value < self.best if self.mode == "min" else value > self.best
        if better:
            self.best = value
            return True
        self.optimizer.lr /= self.factor
        return False

    def state_dict(self):
        """The schedule's state, for exact resumption.

        Returns
        -------
        dict
            ``{"best", "factor", "mode"}``.
        """
        return {"best": self.best, "factor": self.factor, "mode": self.mode}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
            ``{"best", "factor", "mode"}``.
        """
        self.best = float(state["best"])
        self.factor = float(state["factor"])
        self.mode = str(state["mode"])
