"""The one place where numba compilation options are set.

Every kernel module decorates its functions with :func:`jit` (serial) or
:func:`pjit` (may use ``prange``).  Kernels are compiled lazily on first call
and cached on disk (``cache=True``), so the compile cost is paid once per
machine.

``fastmath`` stays off: the fast path is tested against the NumPy reference
to 1e-10 relative in float64, and reassociation would only buy a few percent.

Environment variables
---------------------
FASTLSTM_NUMBA_PARALLEL : "0" disables ``parallel=True`` kernels (they then
    run serially).
FASTLSTM_CHUNKS : number of blocks parallel kernels split work into
    (default: the number of CPUs).  Results depend on the blocks, never on how
    many threads run them, so they are the same with one numba thread or many.

Threads
-------
Parallel work belongs to numba's thread pool.  The BLAS that numba calls
(SciPy's) is set to one thread at import, and kernels call it from inside
``prange`` on disjoint blocks: two thread pools spinning against each other
on a small machine cost far more than they gain.  NumPy's own BLAS is left
alone.
"""

from __future__ import annotations

import os
import types

# Idle OpenMP threads sleep instead of spinning: the per-time-step parallel
# regions are long enough that the wake-up cost is small, and spinning threads
# starve other work (NumPy's BLAS, other processes) on a machine with few cores.
# Set OMP_WAIT_POLICY yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402

PARALLEL = os.environ.get("FASTLSTM_NUMBA_PARALLEL", "1") != "0"

_COMMON = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")


def jit(*args, **kwargs):
    """``numba.njit`` with the package's options (serial kernels)."""
    opts = dict(_COMMON, **kwargs)
    return numba.njit(*args, **opts)


# Reassociation lets LLVM vectorise sums (softmax normalisers, attention
# scores).  The order is fixed by the compiled code, not by the thread count.
REDUCE_FASTMATH = {"reassoc", "nsz", "contract"}


def pjit(*args, **kwargs):
    """``numba.njit`` with the package's options and ``parallel=True``."""
    opts = dict(_COMMON, parallel=PARALLEL, **kwargs)
    return numba.njit(*args, **opts)


prange = numba.prange

#: Below this much work (roughly, floating-point operations) a kernel runs its
#: serial build: forking threads would cost more than it saves.
PARALLEL_MIN_WORK = int(os.environ.get("FASTLSTM_PARALLEL_MIN_WORK", "500000"))


class Dual:
    """A kernel compiled twice, serial and parallel, from one Python function.

    ``kernel.pick(work)`` returns the parallel build when ``work`` reaches
    :data:`PARALLEL_MIN_WORK`, else the serial one.  The choice depends on the
    problem size only (never on the thread count), and both builds split the
    work into the same blocks.
    """

    def __init__(self, fn, options):
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.parallel = pjit(**options)(fn)
        clone = types.FunctionType(
            fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__
        )
        clone.__qualname__ = fn.__qualname__ + "_serial"
        clone.__module__ = fn.__module__
        clone.__doc__ = fn.__doc__
        self.serial = jit(**options)(clone)

    def pick(self, work):
        """The build to run for ``work`` operations."""
        return self.parallel if work >= PARALLEL_MIN_WORK else self.serial

    def __call__(self, *args):
        return self.parallel(*args)


def dual(fn=None, **options):
    """Decorator: compile ``fn`` as a :class:`Dual` kernel (options as for :func:`jit`)."""
    if fn is None:
        return lambda f: Dual(f, options)
    return Dual(fn, options)


CHUNKS = max(1, int(os.environ.get("FASTLSTM_CHUNKS", "0")) or (os.cpu_count() or 1))


def _single_threaded_scipy_blas() -> bool:
    """Set the BLAS library behind ``scipy.linalg.cython_blas`` to one thread."""
    import ctypes
    import glob

    import scipy
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library)

    root = os.path.dirname(scipy.__file__)
    candidates = glob.glob(os.path.join(root + ".libs", "*openblas*")) + glob.glob(
        os.path.join(root, ".dylibs", "*openblas*")
    )
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in (
            "scipy_openblas_set_num_threads",
            "scipy_openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(1)
                return True
    return False


BLAS_PINNED = _single_threaded_scipy_blas()
