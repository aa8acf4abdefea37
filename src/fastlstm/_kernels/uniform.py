"""NumPy's uniform draws in [0, 1), reproduced bit for bit in compiled code.

A dropout mask is ``rng.random(shape) > ratio``: one float64 per element, which
NumPy draws one at a time through its bit generator's function pointer and
writes to a temporary array that the mask pass then reads.  The helpers here
compute the same numbers from the same generator state, so a kernel can use
each draw where it is made, and advance the state exactly as NumPy would.

* **PCG64** (``np.random.default_rng``): a 128-bit linear congruential
  generator, ``s <- s * MULT + inc``, whose draw is the XSL-RR output of the new
  state and whose double is ``(draw >> 11) * 2**-53``.  The state ``k`` draws
  ahead is an affine map of the current one (the caller computes the blocks'
  first states that way), so blocks of draws can start at once: each element's
  value depends on its index only, never on how the work is split.
* **MT19937** (``np.random.seed`` and ``RandomState``, the book's
  ``np.random.rand``): 624 words regenerated together, here as one stream
  (:func:`mt_stream`), each tempered (:func:`mt_temper`); a double takes two words,
  ``((a >> 5) * 2**26 + (b >> 6)) * 2**-53``.

All arithmetic is on unsigned 64-bit integers (32-bit words are kept in their
low half); the 128-bit products use LLVM's ``i128`` (:func:`mulhi`).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from fastlstm._numba import jit

_U64 = np.uint64
_ZERO = _U64(0)
_ONE = _U64(1)

#: PCG64's multiplier (NumPy's ``PCG_DEFAULT_MULTIPLIER_128``), high and low words.
PCG_MULT = (2549297995355413924, 4865540595714422341)

_MT_N = 624
_MT_M = 397
_MT_MATRIX_A = _U64(0x9908B0DF)
_MT_UPPER = _U64(0x80000000)
_MT_LOWER = _U64(0x7FFFFFFF)
_TWO_26 = 67108864.0
_TWO_M53 = 1.0 / 9007199254740992.0


@intrinsic
def mulhi(typingctx, a, b):
    """The high 64 bits of the 128-bit product of two uint64."""
    if not (a == types.uint64 and b == types.uint64):
        return None

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        p = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(p, ir.Constant(i128, 64)), ir.IntType(64))

    return types.uint64(types.uint64, types.uint64), codegen


@jit
def mul128(ah, al, bh, bl):
    """``(ah:al) * (bh:bl)`` modulo 2**128, as ``(high, low)``."""
    return mulhi(al, bl) + al * bh + ah * bl, al * bl


@jit
def add128(ah, al, bh, bl):
    """``(ah:al) + (bh:bl)`` modulo 2**128, as ``(high, low)``."""
    lo = al + bl
    carry = _ONE if lo < al else _ZERO
    return ah + bh + carry, lo


@jit
def pcg_step(sh, sl, mh, ml, ih, il):
    """The PCG64 state after ``(sh:sl)``: ``s * MULT + inc``, as ``(high, low)``."""
    ph, pl = mul128(sh, sl, mh, ml)
    return add128(ph, pl, ih, il)


@jit
def pcg_double(sh, sl):
    """The double NumPy's ``PCG64`` draws from the state ``(sh:sl)`` it has just stepped to.

    XSL-RR: the two halves' xor rotated right by the state's top six bits; then
    its top 53 bits times 2**-53.
    """
    x = sh ^ sl
    rot = sh >> _U64(58)
    x = (x >> rot) | (x << ((_U64(64) - rot) & _U64(63)))
    return np.float64(x >> _U64(11)) * _TWO_M53


@jit
def mt_stream(s, start):
    """MT19937's words ``s[start:]`` from the 624 before each (``start >= 624``).

    NumPy regenerates the 624 words of the state together (``mt19937_gen``);
    as one stream, word ``k`` is a function of words ``k - 624``, ``k - 623``
    and ``k - 227``: the first 624 words of ``s`` are a state's words, the next
    624 the state's after its regeneration, and so on.  The words go in runs of
    227, each computed from words before the run only, in a loop over separate
    slices that LLVM vectorises (one loop over ``s`` stayed scalar, 30 times
    slower).
    """
    lag = _MT_N - _MT_M
    n = s.shape[0]
    k0 = start
    while k0 < n:
        k1 = min(n, k0 + lag)
        a = s[k0 - _MT_N : k1 - _MT_N]
        b = s[k0 - _MT_N + 1 : k1 - _MT_N + 1]
        c = s[k0 - lag : k1 - lag]
        d = s[k0:k1]
        for i in range(k1 - k0):
            d[i] = _mt_word(a[i], b[i], c[i])
        k0 = k1


@jit
def _mt_word(a, b, c):
    """One regenerated MT19937 word from words ``a`` (its old value), ``b`` and ``c``."""
    y = (_U64(a) & _MT_UPPER) | (_U64(b) & _MT_LOWER)
    return _U64(c) ^ (y >> _ONE) ^ ((y & _ONE) * _MT_MATRIX_A)


@jit
def mt_temper(w):
    """MT19937's tempering of one word (in the low 32 bits of a uint64)."""
    y = _U64(w)
    y ^= y >> _U64(11)
    y ^= (y << _U64(7)) & _U64(0x9D2C5680)
    y ^= (y << _U64(15)) & _U64(0xEFC60000)
    y ^= y >> _U64(18)
    return y


@jit
def mt_double(a, b):
    """The double NumPy's ``MT19937`` makes of two consecutive tempered words."""
    return (np.float64(a >> _U64(5)) * _TWO_26 + np.float64(b >> _U64(6))) * _TWO_M53
