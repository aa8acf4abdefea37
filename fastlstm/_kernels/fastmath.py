"""Elementary functions for the fused gate kernels.

``tanh`` and ``sigmoid`` dispatch on the dtype at compile time: float64 uses
the C library (``math.tanh``, ``math.exp``), accurate to an ulp, so the float64
path agrees with the NumPy reference to ~1e-15; float32 uses a clamped
rational approximation of ``tanh`` (odd degree-13 over even degree-6
polynomial, the form used by Eigen), with a maximum error of 3.6e-7 over
the real line.  It has no calls and no branches, so LLVM vectorises the
loops that use it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

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


@overload(tanh, inline="always")
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


@overload(sigmoid, inline="always")
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
