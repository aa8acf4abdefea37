"""Dropout masks drawn in compiled code from a NumPy generator's own state.

A mask is ``rng.random(shape) > ratio``.  For the two bit generators NumPy
seeds by default, PCG64 (``np.random.default_rng``) and MT19937
(``np.random.seed``, ``RandomState``: the book's ``np.random.rand``), the
kernels of :mod:`fastlstm._kernels.dropout` make the same draws from the
generator's state, apply them while they are made, and hand back the state
NumPy would have after ``rng.random(shape)``: the same mask, output and later
draws, without NumPy's float64 temporary (``tests/test_dropout_draws.py``
compares them).  Any other generator is asked for ``rng.random(shape)`` as before.
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels import dropout as _kdrop
from fastlstm._kernels.uniform import PCG_MULT
from fastlstm._numba import CHUNKS
from fastlstm.layers._workspace import work_array

__all__ = ["dropout_into"]

_M64 = (1 << 64) - 1
_M128 = (1 << 128) - 1
_PCG_MULT = (PCG_MULT[0] << 64) | PCG_MULT[1]


def _bit_generator(rng):
    """The bit generator under ``rng`` when the kernels reproduce its draws, else None."""
    if type(rng) is np.random.Generator:
        bg = rng.bit_generator
    elif type(rng) is np.random.RandomState:
        bg = getattr(rng, "_bit_generator", None)
    else:
        return None
    return bg if type(bg) in (np.random.PCG64, np.random.MT19937) else None


def _words(values):
    """128-bit integers as uint64 rows ``[high, low]``."""
    return np.array([[v >> 64, v & _M64] for v in values], dtype=np.uint64)


def _pcg_jump(steps, inc):
    """``(A, C)``: ``steps`` PCG64 steps take a state ``s`` to ``(A * s + C) mod 2**128``.

    The LCG's jump ahead (F. Brown, "Random number generation with arbitrary
    strides", 1994), as NumPy's ``pcg_advance_lcg_128``.
    """
    acc_mult, acc_plus, mult, plus = 1, 0, _PCG_MULT, inc
    while steps > 0:
        if steps & 1:
            acc_mult = acc_mult * mult & _M128
            acc_plus = (acc_plus * mult + plus) & _M128
        plus = (mult + 1) * plus & _M128
        mult = mult * mult & _M128
        steps >>= 1
    return acc_mult, acc_plus


def _pcg64(rng_state, x, ratio, scale, out, mask):
    """Dropout from a PCG64 state dict's ``state`` part; advances it in place."""
    n = x.shape[0]
    state, inc = rng_state["state"], rng_state["inc"]
    S = -(-n // CHUNKS)  # blocks of draws, each block's first state by a jump ahead
    A, C = _pcg_jump(S, inc)
    starts = [state]
    while len(starts) * S < n:
        starts.append((A * starts[-1] + C) & _M128)
    _kdrop.dropout_pcg64.pick(8 * n)(
        x, ratio, scale, out, mask, _words(starts), _words([inc])[0], S
    )
    A, C = _pcg_jump(n, inc)
    rng_state["state"] = (A * state + C) & _M128


def dropout_into(owner, rng, x, ratio, scale, out, mask):
    """``mask = (rng.random(x.shape) > ratio) * scale`` and ``out = x * mask`` by the kernels.

    Parameters
    ----------
    owner : object
        The layer, which keeps the MT19937 kernel's work array.
    rng : numpy.random.Generator or numpy.random.RandomState
        Advanced as ``rng.random(x.shape)`` advances it.
    x, out, mask : ndarray
        Flat, C-contiguous, one float dtype.
    ratio, scale : float

    Returns
    -------
    bool
        False, with nothing drawn or written, when ``rng``'s bit generator is not
        one the kernels reproduce.
    """
    bg = _bit_generator(rng)
    if bg is None:
        return False
    n = x.shape[0]
    with bg.lock:  # the generator's own lock: no draw of another thread in between
        state = bg.state
        inner = state["state"]
        if type(bg) is np.random.PCG64:
            if n:
                _pcg64(inner, x, ratio, scale, out, mask)
        else:
            key = np.array(inner["key"], dtype=np.uint32)
            pos = np.array([inner["pos"]], dtype=np.int64)
            stream = work_array(owner, "mt_stream", (2 * n + 2 * key.shape[0],), np.uint32)
            _kdrop.dropout_mt19937.pick(4 * n)(x, ratio, scale, out, mask, key, pos, stream, CHUNKS)
            inner["key"] = key
            inner["pos"] = int(pos[0])
        bg.state = state
    return True
