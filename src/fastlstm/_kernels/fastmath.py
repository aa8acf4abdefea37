"""Elementary functions for the fused kernels.

``tanh`` and ``sigmoid`` dispatch on the dtype at compile time: float64 uses
the C library (``math.tanh``, ``math.exp``), accurate to an ulp, so the float64
path agrees with the NumPy reference to ~1e-15; float32 uses a clamped
rational approximation of ``tanh`` (odd degree-13 over even degree-6
polynomial, the form used by Eigen), with a maximum error of 3.6e-7 over
the real line.  It has no calls and no branches, so LLVM vectorises the
loops that use it.

The overloads are compiled as functions of their own (numba's default), not
inlined into their callers' IR: LLVM inlines them into the loops that call
them (the same machine code), and numba's IR inlining of each call site had
cost about 0.8 s of the forward gate pass's 1.5 s of compile time.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_CLAMP = 7.90531110763549805
_ALPHA = (
    4.89352455891786e-03,
    6.37261928875436e-04,
    1.48572235717979e-05,
    5.12229709037114e-08,
    -8.60467152213735e-11,
    2.00018790482477e-13,
    -2.76076847742355e-16,
)
_BETA = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)


def tanh(x):
    """Hyperbolic tangent (see module docstring)."""
    return math.tanh(x)


def sigmoid(x):
    """Logistic sigmoid (see module docstring)."""
    return 1.0 / (1.0 + math.exp(-x))


@overload(tanh)
def _tanh_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        lo, hi = np.float32(-_CLAMP), np.float32(_CLAMP)
        a1, a3, a5, a7, a9, a11, a13 = (np.float32(v) for v in _ALPHA)
        b0, b2, b4, b6 = (np.float32(v) for v in _BETA)

        def impl(x):
            x = min(max(x, lo), hi)
            x2 = x * x
            p = a13
            p = p * x2 + a11
            p = p * x2 + a9
            p = p * x2 + a7
            p = p * x2 + a5
            p = p * x2 + a3
            p = p * x2 + a1
            p = p * x
            q = b6
            q = q * x2 + b4
            q = q * x2 + b2
            q = q * x2 + b0
            return p / q

        return impl

    def impl64(x):
        return math.tanh(x)

    return impl64


@overload(sigmoid)
def _sigmoid_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        half = np.float32(0.5)

        def impl(x):
            return half + half * tanh(half * x)

        return impl

    def impl64(x):
        # exp(-x) overflows to inf for very negative x, giving exactly 0: no NaN.
        return 1.0 / (1.0 + math.exp(-x))

    return impl64


def exp(x):
    """Exponential (see module docstring)."""
    return math.exp(x)


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret an int32 as float32 (no conversion)."""
    if not (isinstance(bits, types.Integer) and bits.bitwidth == 32):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(bits), codegen


@overload(exp)
def _exp_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        lo, hi = np.float32(-87.3), np.float32(88.3)
        log2e = np.float32(1.44269504088896341)
        half = np.float32(0.5)
        c1, c2 = np.float32(0.693359375), np.float32(-2.12194440e-4)
        p0, p1, p2 = (
            np.float32(1.9875691500e-4),
            np.float32(1.3981999507e-3),
            np.float32(8.3334519073e-3),
        )
        p3, p4, p5 = (
            np.float32(4.1665795894e-2),
            np.float32(1.6666665459e-1),
            np.float32(5.0000001201e-1),
        )
        one = np.float32(1.0)

        def impl(x):
            x = hi if x > hi else x
            x = lo if x < lo else x
            y = log2e * x
            # round to nearest with conversions only (vectorises; no floorf call)
            n = np.int32(y + half) if y >= 0 else -np.int32(half - y)
            z = np.float32(n)
            r = x - z * c1
            r = r - z * c2
            r2 = r * r
            p = p0 * r + p1
            p = p * r + p2
            p = p * r + p3
            p = p * r + p4
            p = p * r + p5
            p = p * r2 + r + one
            scale = _f32_from_bits(np.int32((n + 127) << 23))
            return p * scale

        return impl

    def impl64(x):
        return math.exp(x)

    return impl64


def cast_like(a, x):
    """``x`` converted to the dtype of array ``a`` (float32 or float64).

    In compiled code float32 combined with a float64 scalar gives float64;
    this keeps a loop in the arrays' own precision.
    """
    return a.dtype.type(x)


@overload(cast_like, inline="always")
def _cast_like_impl(a, x):
    if isinstance(a, types.Array) and a.dtype == types.float32:

        def impl32(a, x):
            return np.float32(x)

        return impl32

    def impl64(a, x):
        return np.float64(x)

    return impl64
