"""Checks of the arguments the package is given: the one home of its generic validators.

Each check either returns a predicate's answer (``is_*``) or returns the
value normalised and raises a ``TypeError`` (wrong kind) or ``ValueError``
(wrong value or shape) whose message names the argument and what was expected,
before any kernel sees the data.  Checks specific to one idea (a layer's
parameters, a run's settings) stay beside it and build on these.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "is_positive_int",
    "is_nonneg_int",
    "is_positive_number",
    "check_int",
    "check_ratio",
    "as_floats",
    "as_ids",
    "id_array",
    "positive_int",
    "optional_positive_int",
    "max_grad",
]


def is_positive_int(v) -> bool:
    """Whether ``v`` is an integer >= 1 (``bool`` is not an integer here)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1


def is_nonneg_int(v) -> bool:
    """Whether ``v`` is an integer >= 0 (``bool`` is not an integer here)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0


def is_real(v) -> bool:
    """Whether ``v`` is a real number (``bool`` and ``numpy.bool_`` are not; ``'2'`` is not)."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def is_positive_number(v) -> bool:
    """Whether ``v`` is a finite real number > 0 (``bool`` is not a number here)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 < v < math.inf


def check_int(value, name, lo=None, hi=None):
    """Return ``value`` as an ``int`` in ``[lo, hi)`` (either bound may be None).

    Parameters
    ----------
    value : int
        The argument.
    name : str
        Its name, for the messages.
    lo, hi : int, optional
        Smallest allowed value and the first value past the allowed ones.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a ``bool`` is not).
    ValueError
        If it is out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if lo is not None and value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    if hi is not None and value >= hi:
        raise ValueError(f"{name} must be < {hi}, got {value}")
    return value


def check_flag(name: str, value, none_ok: bool = False) -> None:
    """TypeError unless ``value`` is a bool (or None if ``none_ok``): ``'False'`` is not false."""
    if (value is None and none_ok) or isinstance(value, (bool, np.bool_)):
        return
    raise TypeError(f"{name} must be True or False, got {value!r}")


def check_real(value, name, lowest=None):
    """Return ``value`` as a finite ``float``, above 0 (``lowest='positive'``) or at least 0 (``0``).

    Raises
    ------
    TypeError
        If ``value`` is not a real number (a ``bool`` is not).
    ValueError
        If it is NaN, infinite, or below the bound.
    """
    if not is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    bad = not math.isfinite(value) or (
        (lowest == "positive" and value <= 0) or (lowest == 0 and value < 0)
    )
    if bad:
        need = {"positive": "positive and ", 0: ">= 0 and "}.get(lowest, "")
        raise ValueError(f"{name} must be {need}finite, got {value:g}")
    return value


def check_ratio(dropout_ratio):
    """Raise ``ValueError`` unless ``0 <= dropout_ratio < 1``."""
    if not 0.0 <= dropout_ratio < 1.0:
        raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")


def as_floats(x, dtype, name, ndim=None, shape=None):
    """Return ``x`` as a C-contiguous array of ``dtype``, checking ndim and shape.

    Parameters
    ----------
    x : array_like
        Real numbers (floats or integers).
    dtype : numpy.dtype
        The dtype of the result.
    name : str
        The argument's name, for the messages.
    ndim : int, optional
        Required number of dimensions.
    shape : tuple of int or None, optional
        Required shape; None entries match any length.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    TypeError
        If ``x`` does not hold real numbers.
    ValueError
        If its number of dimensions or its shape differ.
    """
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
    out = np.ascontiguousarray(x, dtype=dtype)
    return out.reshape(()) if x.ndim == 0 else out  # ascontiguousarray makes 0-d 1-d


def as_ids(idx, vocab_size, name, allow=None, shape=None):
    """Return ``idx`` as contiguous intp ids in ``[0, vocab_size)`` (or equal to ``allow``).

    Parameters
    ----------
    idx : array_like of int
        Word ids, any shape.
    vocab_size : int
        The number of words V.
    name : str
        The argument's name, for the messages.
    allow : int, optional
        One more value allowed anywhere (an id to ignore, e.g. ``-1``).
    shape : tuple of int, optional
        The shape the caller's ids had (``idx`` is their reshaped copy), for the
        index in the message.

    Returns
    -------
    numpy.ndarray of intp

    Raises
    ------
    TypeError
        If ``idx`` is not an integer array.
    ValueError
        If an id is outside ``[0, vocab_size)`` (and not ``allow``); the message gives
        the first such id and its index.
    """
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
            out = (idx < 0) | (idx >= vocab_size)
            if allow is not None:
                out &= idx != allow
            first = int(np.argmax(out))  # the first bad id
            value = idx.reshape(-1)[first]
            shape = idx.shape if shape is None else shape
            where = np.unravel_index(first, shape)
            at = f" at [{', '.join(str(int(i)) for i in where)}]" if len(shape) else ""
            outside = allow is not None and not 0 <= allow < vocab_size
            extra = f" (or {allow} to ignore)" if outside else ""
            raise ValueError(
                f"{name} contains id {value}{at}; ids must be in [0, {vocab_size}){extra}"
            )
    return np.ascontiguousarray(idx, dtype=np.intp)


def first_out_of_range(ids, vocab_size=None):
    """Index (a tuple) of the first id of ``ids`` below 0 or, if ``vocab_size`` is given, at
    least ``vocab_size``; None if there is none.

    Parameters
    ----------
    ids : numpy.ndarray of int
        Ids, any shape.
    vocab_size : int, optional
        The number of words V.

    Returns
    -------
    tuple of int or None
    """
    bad = ids < 0 if vocab_size is None else (ids < 0) | (ids >= vocab_size)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))


#: What :func:`id_array` calls an array of each number of dimensions, for its messages.
_ID_SHAPES = {1: ("1-D array", "word ids"), 2: ("2-D array (N, T)", "ids")}


def id_array(a, name, ndim):
    """Return ``a`` as an array after checking it is a 1-D ``(T,)`` or 2-D ``(N, T)`` array
    of integer ids.

    Parameters
    ----------
    a : array_like
        The argument.
    name : str
        Its name, for the messages.
    ndim : {1, 2}
        The number of dimensions it must have.

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        If ``a`` does not have ``ndim`` dimensions.
    TypeError
        If it does not hold integers.
    """
    shape_text, ids_text = _ID_SHAPES[ndim]
    a = np.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {shape_text} of {ids_text}, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must hold integer {ids_text}, got dtype {a.dtype}")
    return a


def positive_int(value, name):
    """Return ``value`` as an ``int`` after checking it is an integer >= 1.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a ``bool`` is not).
    ValueError
        If it is not positive.
    """
    value = check_int(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def optional_positive_int(value, name):
    """None, or ``value`` through :func:`positive_int`."""
    return None if value is None else positive_int(value, name)


def max_grad(value):
    """None (no clipping), or the clipping norm ``value`` as a positive ``float``.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (a ``str`` is not).
    ValueError
        If ``value`` is not positive (NaN is not).
    """
    if value is None:
        return None
    if not is_real(value):
        raise TypeError(f"max_grad must be a positive number or None, got {value!r}")
    value = float(value)
    if not value > 0:
        raise ValueError(f"max_grad must be positive or None, got {value}")
    return value
