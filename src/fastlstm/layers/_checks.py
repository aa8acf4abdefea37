"""Checks of the layers' parameters, inputs, states and upstream gradients.

Each raises a ``TypeError`` or ``ValueError`` naming the argument and what was
expected, before any kernel sees the data.
"""

from __future__ import annotations

import numpy as np

from fastlstm._validate import as_floats


def _param(p, name, ndim):
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(p).__name__}")
    if p.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {p.dtype}")
    if p.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {p.shape}")
    return p


def _record_params(layer, names):
    """Remember the shapes and dtypes ``layer`` was built with (see :func:`_check_params`)."""
    layer._spec = tuple((p.shape, p.dtype) for p in layer.params)
    layer._spec_names = tuple(names)


class NonFiniteScores(ValueError):
    """Scores reaching a loss layer hold NaN or inf (diverged parameters, or bad input)."""


def _check_params(layer):
    """Refuse parameters (or gradients) rebound to another shape or dtype than built with.

    One check per ``forward``/``backward`` call, a few attribute reads per
    parameter: ``layer.params[0] = np.load(...)`` of the wrong shape would
    otherwise make the kernels read and write outside the arrays.

    Raises
    ------
    TypeError
        If an entry is not a numpy array, has another dtype, or a gradient is read-only.
    ValueError
        If an entry has another shape, or the lists another length.
    """
    spec = layer.__dict__.get("_spec")
    if spec is None:
        return
    params, grads = layer.params, layer.grads
    if len(params) == len(spec) == len(grads):
        for (shape, dtype), p, g in zip(spec, params, grads, strict=True):
            if not (
                isinstance(p, np.ndarray)
                and isinstance(g, np.ndarray)
                and p.shape == shape
                and g.shape == shape
                and p.dtype == dtype
                and g.dtype == dtype
                and g.flags.writeable
            ):
                break
        else:
            return
    _param_error(layer, spec)


def _param_error(layer, spec):
    cls = type(layer).__name__
    names = layer.__dict__.get("_spec_names", ())
    fix = (
        "assign values in place (layer.params[i][...] = array) or build a new layer "
        "with the new arrays"
    )
    for which, arrays in (("params", layer.params), ("grads", layer.grads)):
        if len(arrays) != len(spec):
            raise ValueError(
                f"{cls}.{which} has {len(arrays)} arrays, the layer was built with {len(spec)}"
            )
        for i, ((shape, dtype), a) in enumerate(zip(spec, arrays, strict=True)):
            name = f" ({names[i]})" if i < len(names) else ""
            where = f"{cls}.{which}[{i}]{name}"
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{where} must be a numpy array, got {type(a).__name__}")
            if a.shape != shape:
                raise ValueError(
                    f"{where} has shape {a.shape}, the layer was built with {shape}; {fix}"
                )
            if a.dtype != dtype:
                raise TypeError(
                    f"{where} has dtype {a.dtype}, the layer was built with {dtype}; {fix}"
                )
            if which == "grads" and not a.flags.writeable:
                raise TypeError(f"{where} is read-only; gradients are written into it")
    raise AssertionError("unreachable")  # pragma: no cover


def _check_bi_params(layer):
    """The lists of a :class:`TimeBiLSTM` must still hold its two LSTMs' arrays."""
    inner = (layer.forward_lstm, layer.backward_lstm)
    for which in ("params", "grads"):
        mine = getattr(layer, which)
        theirs = getattr(inner[0], which) + getattr(inner[1], which)
        if len(mine) != len(theirs) or any(a is not b for a, b in zip(mine, theirs, strict=False)):
            raise ValueError(
                f"TimeBiLSTM.{which} was rebound: it must hold the arrays of forward_lstm and "
                "backward_lstm; assign values in place (layer.params[i][...] = array)"
            )


def _same_dtype(*arrays):
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1:
        raise TypeError(f"parameters must share one dtype, got {sorted(map(str, dtypes))}")
    return arrays[0].dtype


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


def _state(value, shape, dtype, name):
    if value is None:
        return np.zeros(shape, dtype=dtype)
    value = np.asarray(value)
    if value.dtype.kind not in "fiu":
        raise TypeError(f"state {name} must hold real numbers, got dtype {value.dtype}")
    _check_state_shape(value, shape, name)
    return value.astype(dtype, copy=False)


def _check_state_shape(value, shape, name):
    if np.shape(value) != shape:
        raise ValueError(f"state {name} has shape {np.shape(value)}, but this batch needs {shape}")


def _check_kept_states(layer, N):
    """Raise as ``layer.forward`` would if a state it keeps does not fit a batch of ``N`` rows.

    Nothing is changed: a model checks every layer before any of them runs.
    """
    if not getattr(layer, "stateful", False):
        return
    for name in ("h", "c"):
        value = getattr(layer, name, None)
        if value is not None:
            _check_state_shape(value, (N, layer.H), name)


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
    return as_floats(dout, ref.dtype, name, ndim=ref.ndim, shape=ref.shape)


def _eval_dout(layer, dout):
    """``dout`` of a dropout layer's backward outside training, checked against the last
    ``forward`` (``layer._last``: its shape and dtype)."""
    last = getattr(layer, "_last", None)
    _forward_first(layer, last)
    shape, dtype = last
    return as_floats(dout, dtype, "dout", ndim=len(shape), shape=shape)


def _train_mask(layer):
    """Raise unless the last ``forward`` of a dropout layer drew a mask (ran in training)."""
    if layer.mask is None:
        if getattr(layer, "_last", None) is None:
            _forward_first(layer, None)
        raise RuntimeError(
            f"{type(layer).__name__}.backward in training mode, but the last forward ran "
            "outside training (train_flg=False): run forward in training mode first"
        )


def _rng(rng):
    """The mask source of a dropout layer: ``rng`` itself, or NumPy's global state for None.

    Raises
    ------
    TypeError
        If ``rng`` has no ``random(shape)`` method (an int seed, say).
    """
    if rng is None:
        return np.random.mtrand._rand  # the global state, as the book's np.random.rand
    if not callable(getattr(rng, "random", None)):
        raise TypeError(
            "rng must be a numpy.random.Generator or RandomState, got "
            f"{type(rng).__name__} (for a seed: rng=np.random.default_rng(seed))"
        )
    return rng
