"""The one place where numba compilation options are set.

Every kernel module decorates its functions with :func:`jit` (serial),
:func:`pjit` (may use ``prange``) or :func:`dual` (both builds);
:func:`inlined` gives a dual kernel's code to the kernels that run it inside
(the decoding kernels).  Kernels are compiled lazily, on the first call with
a given signature, and cached on disk so the compile cost is paid once per
machine.

``fastmath`` is off in every kernel: the fast path is tested against the
NumPy reference to 1e-10 relative in float64, and without fast-math flags
LLVM cannot reorder a sum, so every compiled copy of a kernel (serial or
parallel build, compiled in this process or loaded from the cache) gives the
same bits.  Sums that should vectorise are written with eight explicit
partial sums (``fastlstm._kernels.softmax.sum8``).

Serial helpers called from other kernels are inlined at numba's IR level
(``inline="always"``, the default of :func:`jit`), so every compiled kernel
is self-contained machine code.  Without this, a call to a helper resolved
to whichever copy of it was loaded first in the process (the helper compiled
on its own, or the copy optimised into the caller), and float64 results of a
run that compiled differed in the last bits from a run that loaded the cache.
An inlined helper takes its caller's ``fastmath`` flags.

A few large helpers (the LSTM gate rows, the packed product, the pieces of
the sampling step) are ``inline="never"``: compiled once and linked into
every kernel that calls them, which saves seconds of compile time per
caller.  Each is compiled with one set of options only (its own, whatever
its caller's), so every copy of it is the same machine code and the bits do
not depend on which copy runs (``tests/test_cache.py`` checks float64 models
cold against warm).

Environment variables
---------------------
FASTLSTM_NUMBA_PARALLEL : "0" disables ``parallel=True`` kernels (they then
    run serially).
FASTLSTM_TBB : "1" runs numba's thread pool on Intel's TBB (``pip install
    fastlstm[tbb]``): the ``tbb`` package's library is loaded for numba when the pool
    starts (:func:`fastlstm._blas_threads._load_tbb`).  Off by default: faster for the
    small models, slower for kernels with a parallel region per time step.
FASTLSTM_CHUNKS : number of blocks parallel kernels split work into
    (default, or 0: the number of CPUs; anything but an integer >= 0 is an
    error naming the variable).  Results depend on the blocks, never on how
    many threads run them, so they are the same with one numba thread or many.
FASTLSTM_NUMBA_CACHE : folder for compiled kernels (see
    :mod:`fastlstm.config`).

The compile machinery lives apart: the on-disk kernel cache in
:mod:`fastlstm._kernel_cache`, BLAS thread scoping and the start of numba's
thread pool in :mod:`fastlstm._blas_threads`.
"""

from __future__ import annotations

import os
import types

import numba
from numba.core.cpu import ParallelOptions as _ParallelOptions

from fastlstm import config
from fastlstm._blas_threads import BlasScoped, _start_pool
from fastlstm._kernel_cache import _KernelCache, _options_key

# re-exported: the warm-up reads the cache through this module
from fastlstm._kernel_cache import _State as _State
from fastlstm._kernel_cache import before_linking as before_linking
from fastlstm._kernel_cache import cache_index_has as cache_index_has
from fastlstm._kernel_cache import compile_only as compile_only
from fastlstm._kernel_cache import kernel_cache_dir as kernel_cache_dir
from fastlstm._kernel_cache import link_pending as link_pending
from fastlstm._kernel_cache import link_symbol as link_symbol
from fastlstm._kernel_cache import set_compile_only as set_compile_only

if numba.config.DISABLE_JIT:
    raise ImportError(
        "fastlstm's kernels are built with numba's compiler (they use its intrinsics) and do "
        "not run as plain Python: unset NUMBA_DISABLE_JIT"
    )

PARALLEL = config.env_flag("FASTLSTM_NUMBA_PARALLEL", default=True)


_COMMON = dict(fastmath=False, nogil=True, error_model="numpy")


def _env_int(name: str, default: int, what: str) -> int:
    """The integer >= 0 in environment variable ``name`` (``default`` if unset or blank).

    Raises
    ------
    ValueError
        Naming the variable, if its value is not an integer >= 0.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"environment variable {name} must be {what}, got {raw!r}")
    return value


#: Below this much work (roughly, floating-point operations) a kernel runs its
#: serial build: forking threads would cost more than it saves.
PARALLEL_MIN_WORK = _env_int("FASTLSTM_PARALLEL_MIN_WORK", 500000, "an integer >= 0")

CHUNKS = _env_int("FASTLSTM_CHUNKS", 0, "an integer >= 1 (or 0 for one block per CPU)") or (
    os.cpu_count() or 1
)


prange = numba.prange


# Only explicit ``prange`` loops become parallel regions: numba's automatic
# parallelisation of array expressions is off, which saves compile time.  (An
# options object, not a dict: numba empties a dict it is given.)
_PARALLEL_OPTS = _ParallelOptions(
    {
        "prange": True,
        "comprehension": False,
        "setitem": False,
        "reduction": False,
        "numpy": False,
        "stencil": False,
        "fusion": False,
        "inplace_binop": False,
    }
)


#: Whether numba's pool may run on TBB (``FASTLSTM_TBB=1``: the ``tbb`` package's library
#: loaded for numba).
TBB = config.env_flag("FASTLSTM_TBB", default=False)

# numba's pool will start on OpenMP with idle threads spinning briefly, or on TBB when asked
# (at its first use, not now)
_start_pool(PARALLEL, TBB)


#: Every kernel's dispatcher by ``"module:qualname"`` (a :class:`Dual`'s serial
#: build is ``"module:name_serial"``), for :mod:`fastlstm._warmup`.
KERNELS: dict[str, numba.core.dispatcher.Dispatcher] = {}


def _compile(fn, options):
    """A numba dispatcher for ``fn`` with fastlstm's cache attached."""
    dispatcher = numba.njit(**options)(fn)
    dispatcher._cache = _KernelCache(
        dispatcher.py_func, _options_key(options), parallel=bool(options.get("parallel"))
    )
    KERNELS[f"{fn.__module__}:{fn.__qualname__}"] = dispatcher
    return dispatcher


def c_callable(fn, sig):
    """``fn`` as a C function of signature ``sig``, kept in fastlstm's cache; not compiled
    (or loaded) until its ``compile()`` is called.

    Returns numba's ``CFunc`` (its ``address`` after ``compile()``).  Kernels call it
    through a symbol registered with LLVM, as they call BLAS, so its code is not
    compiled into each of them (a ``jit`` helper, even ``inline="never"``, is linked and
    optimised again in every kernel that calls it).
    """
    from numba.core.ccallback import CFunc

    cfunc = CFunc(fn, (sig.args, sig.return_type), locals={}, options=dict(_COMMON))
    cfunc._cache = _KernelCache(fn, _options_key(_COMMON))
    return cfunc


def jit(fn=None, **options):
    """``numba.njit`` with the package's options (serial kernels and helpers).

    ``inline="always"`` is the default: a helper called from another kernel is
    compiled into it (see the module notes); called from Python it is an
    ordinary kernel.
    """
    opts = dict(_COMMON, inline="always")
    opts.update(options)
    if fn is None:
        return lambda f: _compile(f, opts)
    return _compile(fn, opts)


def pjit(fn=None, **options):
    """``numba.njit`` with the package's options and ``parallel=True``."""
    opts = dict(_COMMON, parallel=_PARALLEL_OPTS if PARALLEL else False)
    opts.update(options)
    if fn is None:
        return lambda f: _compile(f, opts)
    return _compile(fn, opts)


#: The serial build of every :class:`Dual` kernel by the name of its parallel
#: build (names as in :data:`KERNELS`).
TWINS: dict[str, str] = {}


class _SerialBuilds:
    """Process-wide switch: every :class:`Dual` kernel runs its serial build."""

    on = False


def serial_builds(on: bool) -> None:
    """Run the serial build of every :class:`Dual` kernel (``on``), or choose by size again.

    Both builds split the work into the same blocks and give the same bits,
    so this changes the speed only (:mod:`fastlstm._warmup` uses it while the
    parallel builds are compiled in the background).
    """
    _SerialBuilds.on = bool(on)


def _clone(fn, suffix):
    """A copy of function ``fn`` named with ``suffix`` added (its own dispatcher and cache entries)."""
    clone = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__
    )
    clone.__qualname__ = fn.__qualname__ + suffix
    clone.__module__ = fn.__module__
    clone.__doc__ = fn.__doc__
    return clone


class Dual:
    """A kernel compiled twice, serial and parallel, from one Python function.

    ``kernel.pick(work)`` returns the parallel build when ``work`` reaches
    :data:`PARALLEL_MIN_WORK`, else the serial one; calling the kernel runs
    the parallel build; both run the serial one while :func:`serial_builds`
    is on.  The choice depends on the problem size only (never on the thread
    count), and both builds split the work into the same blocks, so they give
    the same bits (``tests/test_threads.py``).  Each build is compiled on its
    first call only.  With ``blas=True`` (the kernel calls BLAS) both builds
    are :class:`BlasScoped`.
    """

    def __init__(self, fn, options, blas=False):
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.py_func = fn
        parallel = pjit(**options)(fn)
        clone = _clone(fn, "_serial")
        serial = _compile(clone, dict(_COMMON, **options))
        if blas:
            parallel, serial = BlasScoped(parallel), BlasScoped(serial)
        self.parallel = parallel
        self.serial = serial
        TWINS[f"{fn.__module__}:{fn.__qualname__}"] = f"{fn.__module__}:{clone.__qualname__}"

    def pick(self, work):
        """The build to run for ``work`` operations."""
        if work >= PARALLEL_MIN_WORK and not _SerialBuilds.on:
            return self.parallel
        return self.serial

    def __call__(self, *args):
        return (self.serial if _SerialBuilds.on else self.parallel)(*args)


def dual(fn=None, *, blas=False, **options):
    """Decorator: compile ``fn`` as a :class:`Dual` kernel (options as for :func:`pjit`).

    ``blas=True`` marks a kernel that calls BLAS (``np.dot``), directly or
    through its helpers.
    """
    if fn is None:
        return lambda f: Dual(f, options, blas)
    return Dual(fn, options, blas)


def inlined(kernel: Dual):
    """``kernel``'s code as a :func:`jit` helper ``<name>_rows``, compiled into the kernels that call it.

    For a kernel that another kernel runs as one of its steps (the decoding
    kernels call the products and the attention this way): one source for both.
    Its ``prange`` loops become parallel in a parallel caller.
    """
    return jit(_clone(kernel.py_func, "_rows"))
