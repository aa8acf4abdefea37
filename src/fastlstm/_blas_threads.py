"""BLAS threads scoped to kernel calls, and the start of numba's OpenMP pool.

Parallel work belongs to numba's thread pool.  Kernels that call BLAS (SciPy's
OpenBLAS, through ``np.dot`` in compiled code) call it from inside ``prange``
on disjoint blocks, with BLAS set to one thread for the duration of the kernel
call and set back afterwards (:class:`BlasScoped`): two thread pools spinning
against each other on a small machine cost far more than they gain.  numba's
own OpenMP pool starts, with idle threads sleeping, when a parallel kernel is
first compiled, loaded or run (:func:`_start_threads_passive`).  Importing fastlstm changes neither the
environment nor SciPy's BLAS thread count.
"""

from __future__ import annotations

import os
import threading


def _scipy_openblas():
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS behind SciPy's
    ``cython_blas`` (the BLAS numba calls), or None if not found."""
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
        for prefix, suffix in (
            ("scipy_openblas_", ""),
            ("scipy_openblas_", "64_"),
            ("openblas_", ""),
        ):
            get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype = ctypes.c_int
                get.argtypes = []
                put.restype = None
                put.argtypes = [ctypes.c_int]
                return get, put
    return None


_blas = None  # (get, set) once looked up; False if there is none


def _blas_funcs():
    global _blas
    if _blas is None:
        try:
            _blas = _scipy_openblas() or False
        except Exception:  # pragma: no cover - SciPy without OpenBLAS
            _blas = False
    return _blas


class _BlasScope:
    """How many kernel calls are running, and the thread count to restore."""

    lock = threading.Lock()
    depth = 0
    saved = 1


def _blas_enter():
    get, put = _blas
    with _BlasScope.lock:
        if _BlasScope.depth == 0:
            _BlasScope.saved = get()
            if _BlasScope.saved != 1:
                put(1)
        _BlasScope.depth += 1


def _blas_exit():
    get, put = _blas
    with _BlasScope.lock:
        _BlasScope.depth -= 1
        if _BlasScope.depth == 0 and _BlasScope.saved != 1:
            put(_BlasScope.saved)


class BlasScoped:
    """A kernel whose calls run with SciPy's BLAS set to one thread.

    The BLAS thread count is read before the call, set to 1 and restored
    afterwards, so the user's own SciPy code keeps its setting.  Attribute
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


def _start_threads_passive(parallel: bool) -> None:
    """Have numba's thread pool start with ``OMP_WAIT_POLICY=PASSIVE`` for OpenMP,
    read at that moment only, the environment restored afterwards.

    Idle OpenMP threads then sleep instead of spinning: the per-time-step
    parallel regions are long enough that the wake-up cost is small, and
    spinning threads starve other work (BLAS, other processes) on a machine
    with few cores (3-4x slower LSTM steps on a busy 2-core machine).

    The pool is not started here: numba starts it when a parallel kernel is
    first compiled, loaded or run (or its thread count set), and this wraps
    that start.  So importing fastlstm starts no OpenMP threads, and a process
    forked before any parallel kernel ran (``multiprocessing``'s default on
    Linux) can use the kernels; GNU OpenMP cannot continue in a child forked
    after its threads started (use the ``'spawn'`` or ``'forkserver'`` start
    method then).  Nothing is done when ``OMP_WAIT_POLICY`` is set (yours
    wins), or when ``parallel`` is False (no parallel kernels).
    """
    if not parallel:
        return
    try:
        from numba.np.ufunc import parallel as _parallel

        launch = _parallel._launch_threads
        if getattr(launch, "_fastlstm_passive", False):
            return

        def launch_passive():
            if _parallel._is_initialized or "OMP_WAIT_POLICY" in os.environ:
                return launch()
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            try:
                return launch()
            finally:
                os.environ.pop("OMP_WAIT_POLICY", None)

        launch_passive._fastlstm_passive = True
        _parallel._launch_threads = launch_passive  # numba looks it up at each start
    except Exception:  # pragma: no cover - numba internals changed: keep the default
        pass
