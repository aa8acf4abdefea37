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
    return as_floats(dout, ref.dtype, name, ndim=ref.ndim, shape=ref.shape)
