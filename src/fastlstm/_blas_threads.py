"""BLAS threads scoped to kernel calls, and the start of numba's OpenMP pool.

Parallel work belongs to numba's thread pool.  Kernels that call BLAS (NumPy's
OpenBLAS, :mod:`fastlstm._blas_lib`, and SciPy's, through ``np.dot`` in compiled code)
call it from inside ``prange``
on disjoint blocks, with BLAS set to one thread for the duration of the kernel
call and set back afterwards (:class:`BlasScoped`): two thread pools spinning
against each other on a small machine cost far more than they gain.  numba's
own OpenMP pool starts, with idle threads spinning briefly before they sleep, when a
parallel kernel is first compiled, loaded or run (:func:`_start_threads_short_spin`).
Importing fastlstm changes neither the environment nor a BLAS thread count.
"""

from __future__ import annotations

import os
import threading

_blas = None  # ((get, set), ...) once looked up; () if there is none


def _blas_funcs():
    """The thread controls of the BLAS libraries the kernels call
    (:func:`fastlstm._blas_lib.thread_controls`), looked up once."""
    global _blas
    if _blas is None:
        from fastlstm import _blas_lib

        _blas = _blas_lib.thread_controls()
    return _blas


class _BlasScope:
    """How many kernel calls are running, and the thread counts to restore."""

    lock = threading.Lock()
    depth = 0
    saved: tuple = ()


def _blas_enter():
    with _BlasScope.lock:
        if _BlasScope.depth == 0:
            saved = []
            for get, put in _blas:
                n = get()
                saved.append(n)
                if n != 1:
                    put(1)
            _BlasScope.saved = tuple(saved)
        _BlasScope.depth += 1


def _blas_exit():
    with _BlasScope.lock:
        _BlasScope.depth -= 1
        if _BlasScope.depth == 0:
            for (_get, put), n in zip(_blas, _BlasScope.saved):
                if n != 1:
                    put(n)


class BlasScoped:
    """A kernel whose calls run with the kernels' BLAS libraries set to one thread.

    Each library's thread count is read before the call, set to 1 and restored
    afterwards, so the user's own NumPy and SciPy code keeps its setting.  Attribute
    access is forwarded to the numba dispatcher (``.py_func``, ``.signatures``).
    """

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.__doc__ = dispatcher.__doc__
        self.__name__ = dispatcher.__name__

    def __call__(self, *args):
        if not _blas_funcs():
            return self.dispatcher(*args)
        _blas_enter()
        try:
            return self.dispatcher(*args)
        finally:
            _blas_exit()

    def __getattr__(self, name):
        return getattr(self.dispatcher, name)


#: Environment variables through which you choose how GNU OpenMP's idle threads wait; fastlstm
#: sets none of them when one is set.
_USER_WAIT = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

#: How long numba's idle OpenMP threads spin before they sleep (GNU OpenMP's ``GOMP_SPINCOUNT``:
#: iterations of a pause loop, some 15-25 µs).
SPIN_COUNT = 1000


def _start_threads_short_spin(parallel: bool) -> None:
    """Have numba's thread pool start with ``GOMP_SPINCOUNT=1000`` for GNU OpenMP, read at
    that moment only, the environment restored afterwards.

    An idle OpenMP thread then spins for a few microseconds and sleeps after that.  A kernel
    with a parallel region per time step needs its threads again within microseconds: a
    sleeping thread took about 65 µs to wake on a 2-core virtual machine (a whole forward
    pass of the date model's encoder, 29 steps, lost 2 ms to it), a spinning one about 2 µs.
    Longer spins starve other work when the cores are shared: with two processes training
    at once on those 2 cores, spins of 3,000 made an iteration 9-35% slower than sleeping
    threads and 10,000 22-95% slower; 1,000 stayed within 5%.  (GNU OpenMP's default,
    300,000, made LSTM steps 3-4 times slower on a busy 2-core machine.)

    The pool is not started here: numba starts it when a parallel kernel is
    first compiled, loaded or run (or its thread count set), and this wraps
    that start.  So importing fastlstm starts no OpenMP threads, and a process
    forked before any parallel kernel ran (``multiprocessing``'s default on
    Linux) can use the kernels; GNU OpenMP cannot continue in a child forked
    after its threads started (use the ``'spawn'`` or ``'forkserver'`` start
    method then).  Nothing is done when ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``
    is set (yours wins) or when ``parallel`` is False (no parallel kernels); the setting
    has no effect when another library (such as PyTorch) loaded GNU OpenMP first, as
    GNU OpenMP reads it once, when loaded: that library's setting holds for both.
    """
    if not parallel:
        return
    try:
        from numba.np.ufunc import parallel as _parallel

        launch = _parallel._launch_threads
        if getattr(launch, "_fastlstm_short_spin", False):
            return

        def launch_short_spin():
            if _parallel._is_initialized or any(k in os.environ for k in _USER_WAIT):
                return launch()
            os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
            try:
                return launch()
            finally:
                os.environ.pop("GOMP_SPINCOUNT", None)

        launch_short_spin._fastlstm_short_spin = True
        _parallel._launch_threads = launch_short_spin  # numba looks it up at each start
    except Exception:  # pragma: no cover - numba internals changed: keep the default
        pass
