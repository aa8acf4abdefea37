"""BLAS threads scoped to kernel calls, and the start of numba's OpenMP pool.

Parallel work belongs to numba's thread pool.  Kernels that call BLAS (NumPy's
OpenBLAS, :mod:`fastlstm._blas_lib`, and SciPy's, through ``np.dot`` in compiled code)
call it from inside ``prange``
on disjoint blocks, with BLAS set to one thread for the duration of the kernel
call and set back afterwards (:class:`BlasScoped`): two thread pools spinning
against each other on a small machine cost far more than they gain.  numba's
thread pool starts when a parallel kernel is first compiled, loaded or run
(:func:`_start_pool`): on OpenMP with idle threads spinning briefly before they sleep, or
on Intel's TBB with ``FASTLSTM_TBB=1`` and the ``tbb`` package (:func:`_load_tbb`).
Importing fastlstm changes neither the environment nor a BLAS thread count.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
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


#: numba's threading layers for which fastlstm makes TBB loadable (its ``NUMBA_THREADING_LAYER``
#: settings that may pick TBB).
_TBB_LAYERS = ("default", "tbb", "safe", "threadsafe", "forksafe")


def _load_tbb() -> bool:
    """Load the TBB library of the ``tbb`` package, so that numba's ``tbb`` layer finds it.

    The ``tbb`` wheel puts ``libtbb.so.12`` in the environment's ``lib`` folder, which the
    dynamic loader does not search in a venv, so numba's ``tbb`` layer cannot load there
    without help.
    Loaded here (``RTLD_GLOBAL``, before numba starts its pool), numba prefers it to OpenMP.
    Its idle workers spin while yielding the core, so a kernel called again microseconds or
    milliseconds later finds them awake, and they give the core away when other processes
    need it: on a 2-core Xeon an iteration of the small seq2seq models took a quarter less
    time than on OpenMP with a short spin, and two trainings sharing the cores ran within 5%
    of their time with sleeping threads.  But a kernel with a parallel region per time step
    (the LSTM for few rows, one question at a time) ran up to a third slower, so TBB
    is used only when asked (``FASTLSTM_TBB=1``; see the design notes, *The idle threads'
    spin*).  Nothing is loaded (False) off Linux, without the package, or when you chose
    another layer (``NUMBA_THREADING_LAYER``).
    """
    if not sys.platform.startswith("linux"):
        return False
    import numba

    if str(numba.config.THREADING_LAYER).lower() not in _TBB_LAYERS:
        return False
    path = _tbb_library()
    if path is None:
        return False
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:  # a broken install: numba falls back to OpenMP
        return False
    return True


def _tbb_library() -> str | None:
    """The path of the ``tbb`` package's ``libtbb.so.12``, or None without the package."""
    try:
        dist = importlib.metadata.distribution("tbb")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == "libtbb.so.12":
            return str(dist.locate_file(file))
    return None


#: numba's default threading layer, tried in this order unless ``FASTLSTM_TBB=1``.
_OMP_FIRST = ["omp", "tbb", "workqueue"]


def _start_pool(parallel: bool, tbb: bool = False) -> None:
    """Have numba's thread pool start with ``GOMP_SPINCOUNT=1000`` for GNU OpenMP, read at
    that moment only, the environment restored afterwards; or on TBB when ``tbb`` is True
    (``FASTLSTM_TBB=1``, see :func:`_load_tbb`) and the ``tbb`` package is installed.
    Otherwise numba's default layer tries OpenMP before TBB (``_OMP_FIRST``, for that start
    only), as numba would take a TBB library the loader finds on its own (a system one, or
    the ``tbb`` package in a Python's own prefix); your ``NUMBA_THREADING_LAYER`` or
    ``NUMBA_THREADING_LAYER_PRIORITY`` wins.

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
    that start.  So importing fastlstm starts no threads, and a process
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
        if getattr(launch, "_fastlstm_start", False):
            return

        def launch_with_spin():
            if any(k in os.environ for k in _USER_WAIT):
                return launch()
            os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
            try:
                return launch()
            finally:
                os.environ.pop("GOMP_SPINCOUNT", None)

        def launch_as_fastlstm():
            if _parallel._is_initialized:
                return launch()
            if tbb:
                _load_tbb()
                return launch_with_spin()
            config = _parallel.config
            if (str(config.THREADING_LAYER).lower() != "default"
                    or "NUMBA_THREADING_LAYER_PRIORITY" in os.environ):  # fmt: skip
                return launch_with_spin()
            # numba's default layer takes TBB first whenever the loader finds it (a TBB
            # library on the system, or the ``tbb`` package where its ``lib`` folder is
            # searched): OpenMP first unless asked, as without TBB.
            priority = config.THREADING_LAYER_PRIORITY
            config.THREADING_LAYER_PRIORITY = _OMP_FIRST
            try:
                return launch_with_spin()
            finally:
                config.THREADING_LAYER_PRIORITY = priority

        launch_as_fastlstm._fastlstm_start = True
        _parallel._launch_threads = launch_as_fastlstm  # numba looks it up at each start
    except Exception:  # pragma: no cover - numba internals changed: keep the default
        pass
