"""In-place optimizer updates and the gradient norm, on flat contiguous arrays.

Every update kernel takes 1-D views (``p.reshape(-1)``) of a parameter, its
gradient and the optimizer's state arrays, all of the same dtype, and scalars
already cast to that dtype by the caller, so float32 arithmetic stays float32
(a float64 scalar would silently promote every element).  The operations are
written in the same order as the book's NumPy expressions, so each element is
rounded the same way.

Updates are elementwise: a ``prange`` loop is deterministic whatever the
thread count.  The only reduction, :func:`sum_squares_parallel`, sums fixed-size chunks
in parallel and adds the partial sums serially in chunk order.
"""

from __future__ import annotations

import numpy as np

from fastlstm._kernels.lanes import squares8_lanes
from fastlstm._numba import dual, jit, prange

CHUNK = 1 << 14
"""Elements per parallel task (and per partial sum in :func:`sum_squares_parallel`)."""

UPDATE_PARALLEL_MIN = 1 << 16
"""Arrays of at most this many elements are updated by the serial kernels: waking the
idle threads (75-100 µs where they sleep) costs more than the work (an Adam update of
65,536 float32 elements took 23 µs serially, 18 µs in parallel on awake threads, 94 µs
on sleeping ones, on a 2-core Xeon)."""

NORM_PARALLEL_MIN = 1 << 20
"""Arrays of at most this many elements have their squares summed and are scaled by
the serial builds (:func:`sum_squares_parallel` keeps its chunks and their order, so
the bits do not change): 262,144 elements took 39 µs serially, 76 µs in parallel on
awake threads and 114 µs on sleeping ones; 1,048,576 took 156, 102 and 238 µs."""


# Each update has a serial kernel over a whole 1-D array (a plain
# ``range(n)`` loop, which LLVM vectorises) and a parallel driver that cuts the
# arrays into chunks of CHUNK elements and runs the serial kernel on each slice.


# SGD: p -= lr * g
@jit
def sgd(p, g, lr):
    """SGD: ``p -= lr * g``."""
    for i in range(p.shape[0]):
        p[i] -= lr * g[i]


@dual
def sgd_parallel(p, g, lr):
    """:func:`sgd`, chunks in parallel."""
    n = p.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        sgd(p[lo:hi], g[lo:hi], lr)


# Momentum: v = momentum * v - lr * g ; p += v
@jit
def momentum(p, g, v, mom, lr):
    """Momentum: ``v = mom * v - lr * g; p += v``."""
    for i in range(p.shape[0]):
        vi = mom * v[i] - lr * g[i]
        v[i] = vi
        p[i] += vi


@dual
def momentum_parallel(p, g, v, mom, lr):
    """:func:`momentum`, chunks in parallel."""
    n = p.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        momentum(p[lo:hi], g[lo:hi], v[lo:hi], mom, lr)


# Nesterov: v *= mom ; v -= lr * g ; p += c1 * v ; p -= c2 * g
# with c1 = mom * mom and c2 = (1 + mom) * lr, computed by the caller
@jit
def nesterov(p, g, v, mom, lr, c1, c2):
    """Nesterov: ``v = v * mom - lr * g; p = (p + c1 * v) - c2 * g``."""
    for i in range(p.shape[0]):
        vi = v[i] * mom
        vi -= lr * g[i]
        v[i] = vi
        pi = p[i] + c1 * vi
        p[i] = pi - c2 * g[i]


@dual
def nesterov_parallel(p, g, v, mom, lr, c1, c2):
    """:func:`nesterov`, chunks in parallel."""
    n = p.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        nesterov(p[lo:hi], g[lo:hi], v[lo:hi], mom, lr, c1, c2)


# AdaGrad: h += g * g ; p -= lr * g / (sqrt(h) + eps)
@jit
def adagrad(p, g, h, lr, eps):
    """AdaGrad: ``h += g * g; p -= lr * g / (sqrt(h) + eps)``."""
    for i in range(p.shape[0]):
        gi = g[i]
        hi = h[i] + gi * gi
        h[i] = hi
        p[i] -= lr * gi / (np.sqrt(hi) + eps)


@dual
def adagrad_parallel(p, g, h, lr, eps):
    """:func:`adagrad`, chunks in parallel."""
    n = p.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        adagrad(p[lo:hi], g[lo:hi], h[lo:hi], lr, eps)


# RMSprop: h *= decay ; h += (1 - decay) * g * g ; p -= lr * g / (sqrt(h) + eps)
@jit
def rmsprop(p, g, h, decay, one_minus_decay, lr, eps):
    """RMSprop: ``h = h * d + (1 - d) * g * g; p -= lr * g / (sqrt(h) + eps)``."""
    for i in range(p.shape[0]):
        gi = g[i]
        hi = h[i] * decay
        hi += one_minus_decay * gi * gi
        h[i] = hi
        p[i] -= lr * gi / (np.sqrt(hi) + eps)


@dual
def rmsprop_parallel(p, g, h, decay, one_minus_decay, lr, eps):
    """:func:`rmsprop`, chunks in parallel."""
    n = p.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        rmsprop(p[lo:hi], g[lo:hi], h[lo:hi], decay, one_minus_decay, lr, eps)


# Adam: m += (1 - beta1) * (g - m) ; v += (1 - beta2) * (g**2 - v)
#       p -= lr_t * m / (sqrt(v) + eps)
@jit
def adam(p, g, m, v, one_minus_beta1, one_minus_beta2, lr_t, eps):
    """Adam with the bias-corrected step ``lr_t``:
    ``m += (1-b1) * (g - m); v += (1-b2) * (g*g - v); p -= lr_t * m / (sqrt(v) + eps)``."""
    for i in range(p.shape[0]):
        gi = g[i]
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = v[i] + one_minus_beta2 * (gi * gi - v[i])
        m[i] = mi
        v[i] = vi
        p[i] -= lr_t * mi / (np.sqrt(vi) + eps)


@dual
def adam_parallel(p, g, m, v, one_minus_beta1, one_minus_beta2, lr_t, eps):
    """:func:`adam`, chunks in parallel."""
    n = p.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        adam(
            p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi],
            one_minus_beta1, one_minus_beta2, lr_t, eps,
        )  # fmt: skip


# scale (for clip_grads): g *= rate
@jit
def scale(g, rate):
    """``g *= rate`` (``rate`` of ``g``'s dtype)."""
    for i in range(g.shape[0]):
        g[i] *= rate


@dual
def scale_parallel(g, rate):
    """:func:`scale`, chunks in parallel."""
    n = g.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        scale(g[lo:hi], rate)


# add (for unique_params): d += s
@jit
def add(d, s):
    """``d += s``, element by element."""
    for i in range(d.shape[0]):
        d[i] += s[i]


@dual
def add_parallel(d, s):
    """:func:`add`, chunks in parallel."""
    n = d.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        add(d[lo:hi], s[lo:hi])


# --------------------------------------------------------------------------
# sum of squares (for clip_grads)
# --------------------------------------------------------------------------
@jit
def sum_squares(a):
    """Return ``sum(a**2)`` of a 1-D array, accumulated in float64 in a fixed order.

    Eight interleaved running sums (element ``i`` goes to ``i % 8``, each square
    taken in float64) as one vector (:func:`~fastlstm._kernels.lanes.squares8_lanes`),
    the tail added to the first, then the eight added pairwise: the order never
    changes, only the dependency chain is shortened.
    """
    n = a.shape[0]
    n8 = n - n % 8
    s = squares8_lanes(a, n8)
    s0 = s[0]
    for i in range(n8, n):
        x = np.float64(a[i])
        s0 += x * x
    return ((s0 + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))


@dual
def sum_squares_parallel(a):
    """:func:`sum_squares` of chunks of :data:`CHUNK` elements in parallel,
    partial sums added serially in chunk order (independent of the thread count)."""
    n = a.shape[0]
    nchunks = (n + CHUNK - 1) // CHUNK
    partial = np.empty(nchunks, dtype=np.float64)
    for c in prange(nchunks):
        lo, hi = c * CHUNK, min(n, (c + 1) * CHUNK)
        partial[c] = sum_squares(a[lo:hi])
    total = 0.0
    for c in range(nchunks):
        total += partial[c]
    return total
