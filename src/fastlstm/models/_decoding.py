"""Checks and helpers of greedy decoding shared by the seq2seq models: the book's
one-question ``generate``, the checks of ids and arguments, the greedy choice, the end
symbol and the real lengths of padded questions."""

from __future__ import annotations

import numbers

import numpy as np


def _one_answer(generate_batch, xs, start_id, sample_size, name):
    """The book's one-question ``generate``: ``generate_batch`` on ``(1, ...)`` as a list."""
    if np.ndim(xs) < 2:  # (T,) ids of one question, not a batch of one
        raise ValueError(
            f"generate decodes one question given as a row, {name} of shape (1, ...); got shape "
            f"{np.shape(xs)} (for one question q: {name}=np.array([q]))"
        )
    n = np.shape(xs)[0]
    if n != 1:
        raise ValueError(
            f"generate decodes one question, {name} has {n} rows "
            f"(shape {np.shape(xs)}); use generate_batch for a batch"
        )
    row = generate_batch(xs, start_id, sample_size)[0]
    if isinstance(row, np.ndarray) and row.dtype == np.int64:
        return row.tolist()  # Python ints, as below, without a call per id
    return [int(i) for i in row]


#: Up to this many ids, :func:`_check_ids` finds their range in a list.
_FEW_IDS = 256

# the integer types start_id and sample_size usually come as (the book passes an id
# read from a NumPy array): accepted without the slower test against numbers.Integral
_PLAIN_INTS = frozenset((int, np.int64, np.int32))


def _check_ids(xs, name, vocab_size=None):
    xs = np.asarray(xs)
    if xs.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of ids, got dtype {xs.dtype}")
    if xs.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, T), got shape {xs.shape}")
    if vocab_size is not None and xs.size:
        if xs.size <= _FEW_IDS:  # one question: a list is quicker than two NumPy reductions
            ids = xs.ravel().tolist()
            lo, hi = min(ids), max(ids)
        else:
            lo, hi = xs.min(), xs.max()
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"{name} must hold ids in [0, {vocab_size}), got [{lo}, {hi}]")
    return xs


def _check_generate_args(start_id, sample_size, vocab_size):
    for name, value in (("start_id", start_id), ("sample_size", sample_size)):
        if type(value) not in _PLAIN_INTS and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral)
        ):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= start_id < vocab_size:
        raise ValueError(f"start_id must be in [0, {vocab_size}), got {start_id}")
    if sample_size < 0:
        raise ValueError(f"sample_size must be >= 0, got {sample_size}")
    return int(start_id), int(sample_size)


def _greedy_ids(score):
    """Argmax ids ``(N,)`` of one decoding step's scores ``(N, V)``; NaN or inf is an error.

    ``np.argmax`` skips nothing: a NaN row gives id 0, so diverged parameters
    would decode to all-zero answers without this check.
    """
    if not np.isfinite(score).all():
        raise ValueError(
            "the model's scores contain NaN or inf during decoding (diverged parameters?)"
        )
    return np.argmax(score, axis=1)


def _fill_after_end(sampled, end_id):
    """As the step loop stops: after the first step at which every row of ``sampled (N, S)``
    has produced ``end_id``, the rest holds ``end_id``.  That step, or None."""
    if end_id is None or sampled.shape[1] == 0:
        return None
    every = np.logical_or.accumulate(sampled == end_id, axis=1).all(axis=0)  # (S,)
    if not every.any():
        return None
    t = int(np.argmax(every))
    sampled[:, t + 1 :] = end_id
    return t


def _all_ended(done, ids, end_id) -> bool:
    """Mark the rows whose id ``ids (N,)`` is ``end_id`` in ``done (N,)``; True if all are."""
    if end_id is None:
        return False
    done |= ids == end_id
    return bool(done.all())


def question_lengths(xs, pad_id):
    """Real lengths ``(N,)`` int64 of questions ``xs (N, T)`` padded on the right with ``pad_id``.

    Returns None when ``pad_id`` is None or no question ends with padding.

    Raises
    ------
    ValueError
        If a question holds only padding.
    """
    if pad_id is None:
        return None
    real = np.asarray(xs) != pad_id  # (N, T)
    N, T = real.shape
    if T == 0:
        return None
    lengths = T - np.argmax(real[:, ::-1], axis=1)
    empty = ~real.any(axis=1)
    if empty.any():
        raise ValueError(
            f"xs row {int(np.flatnonzero(empty)[0])} holds only padding (pad_id={pad_id}): "
            "a question needs at least one token"
        )
    if (lengths == T).all():
        return None
    return lengths.astype(np.int64)


def check_states(value, name: str, ndim: int, H: int) -> np.ndarray:
    """Encoder states given to a decoder: ``ndim``-d real numbers, last axis ``H``, steps >= 1.

    Raises
    ------
    TypeError
        If they are not real numbers.
    ValueError
        If the shape does not fit (the compiled decoders would read outside them).
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim or arr.shape[-1] != H:
        want = "(N, H)" if ndim == 2 else "(N, T_enc, H)"
        raise ValueError(f"{name} must be {want} with H={H}, got shape {arr.shape}")
    if ndim == 3 and arr.shape[1] == 0:
        raise ValueError(f"{name} has no time steps to attend to (shape {arr.shape})")
    return arr
