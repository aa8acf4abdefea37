"""The one place where numba compilation options are set.

Every kernel module decorates its functions with :func:`jit` (serial),
:func:`pjit` (may use ``prange``) or :func:`dual` (both builds).  Kernels are
compiled lazily, on the first call with a given signature, and cached on disk
so the compile cost is paid once per machine.

``fastmath`` is off in every kernel: the fast path is tested against the
NumPy reference to 1e-10 relative in float64, and without fast-math flags
LLVM cannot reorder a sum, so every compiled copy of a kernel (serial or
parallel build, compiled in this process or loaded from the cache) gives the
same bits.  Sums that should vectorise are written with eight explicit
partial sums (``fastlstm._kernels.softmax.sum8``).

The compiled-kernel cache
-------------------------
Compiled kernels are kept in a per-user folder, never inside the installed
package (:func:`fastlstm.config.numba_cache_dir`, ``FASTLSTM_NUMBA_CACHE``),
in a sub-folder per fastlstm, numba and Python version and per installed copy
of the package.  The cache is attached to fastlstm's own kernels only:
numba's ``NUMBA_CACHE_DIR`` and the user's own ``cache=True`` functions are
not affected.

* A kernel's entry is fresh while the source of its module, of the kernel
  modules it imports and of this module are unchanged (content hashes).
* Every cache file carries a checksum; a truncated or corrupted entry is
  discarded with a :class:`KernelCacheWarning` and the kernel recompiled.
* When the folder cannot be written, kernels are compiled in memory for this
  process only, with one :class:`KernelCacheWarning`.
* The first compilation in a process says so, once: a warning of the
  ``fastlstm`` logger, one line on stderr unless logging is configured.

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
FASTLSTM_CHUNKS : number of blocks parallel kernels split work into
    (default, or 0: the number of CPUs; anything but an integer >= 0 is an
    error naming the variable).  Results depend on the blocks, never on how
    many threads run them, so they are the same with one numba thread or many.
FASTLSTM_NUMBA_CACHE : folder for compiled kernels (see
    :mod:`fastlstm.config`).

Threads
-------
Parallel work belongs to numba's thread pool.  Kernels that call BLAS (SciPy's
OpenBLAS, through ``np.dot`` in compiled code) call it from inside ``prange``
on disjoint blocks, with BLAS set to one thread for the duration of the kernel
call and set back afterwards (:class:`BlasScoped`): two thread pools spinning
against each other on a small machine cost far more than they gain.  numba's
own OpenMP pool is started at import with idle threads sleeping
(:func:`_start_threads_passive`).  Importing fastlstm changes neither the
environment nor SciPy's BLAS thread count.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import re
import sys
import threading
import types
import warnings
from pathlib import Path

import numba
from numba.core import caching as _caching
from numba.core.cpu import ParallelOptions as _ParallelOptions

from fastlstm import config
from fastlstm.config import KernelCacheWarning

PARALLEL = os.environ.get("FASTLSTM_NUMBA_PARALLEL", "1") != "0"

_COMMON = dict(fastmath=False, nogil=True, error_model="numpy")


#: Below this much work (roughly, floating-point operations) a kernel runs its
#: serial build: forking threads would cost more than it saves.
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


_log = logging.getLogger("fastlstm")


# ----------------------------------------------------------------------------
# the compiled-kernel cache
# ----------------------------------------------------------------------------
_KERNELS_DIR = Path(__file__).resolve().parent / "_kernels"
_IMPORT_RE = re.compile(r"fastlstm\._kernels\.(\w+)")
_MAGIC = b"fastlstm-kernel-cache-1\n"


def _version_tag() -> str:
    from fastlstm import __version__

    py = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    return f"fastlstm{__version__}-numba{numba.__version__}-{py}"


def kernel_cache_dir() -> Path | None:
    """The folder this copy of fastlstm keeps its compiled kernels in, or None.

    ``numba_cache_dir() / <fastlstm, numba and Python versions> / <copy>``,
    where ``<copy>`` names the installed package's folder by a hash, so that
    two installations (or checkouts) never overwrite each other's kernels.
    None when no user folder can be determined.
    """
    root = config.numba_cache_dir()
    if root is None:
        return None
    pkg = str(_KERNELS_DIR.parent)
    copy = hashlib.sha1(pkg.encode()).hexdigest()[:16]
    return root / _version_tag() / copy


class _State:
    """Process-wide cache state (one message, one warning)."""

    lock = threading.Lock()
    announced = False
    checked = False  # the folder was checked for writing
    unwritable = False  # saving failed once: compile in memory from then on
    stamps: dict[str, bytes] = {}


def _module_stamp(py_file: str) -> bytes:
    """Content hash of a kernel module, the kernel modules it imports (transitively)
    and this module: a cache entry is fresh only while all of them are unchanged."""
    stamp = _State.stamps.get(py_file)
    if stamp is not None:
        return stamp
    h = hashlib.sha256()
    seen: set[Path] = set()
    todo = [Path(py_file).resolve(), Path(__file__).resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        h.update(str(path.name).encode() + b"\0" + hashlib.sha256(data).digest())
        for name in _IMPORT_RE.findall(data.decode("utf-8", "replace")):
            todo.append(_KERNELS_DIR / f"{name}.py")
    _State.stamps[py_file] = stamp = h.digest()
    return stamp


def _announce(cache_path: Path | None) -> None:
    """Say once per process that kernels are being compiled."""
    with _State.lock:
        if _State.announced:
            return
        _State.announced = True
    if cache_path is not None and not _State.unwritable:
        where = f"once per machine; cached in {cache_path}"
    else:
        where = "in memory, for this process only"
    # a logging message: one line on stderr when logging is not configured (Python's
    # last-resort handler), and under the user's control when it is
    _log.warning("fastlstm: compiling numba kernels (%s)...", where)


def _warn_unwritable(path, exc) -> None:
    with _State.lock:
        if _State.unwritable:
            return
        _State.unwritable = True
    warnings.warn(
        f"fastlstm cannot write compiled kernels to {path} ({exc}); kernels are compiled "
        "in memory and will be compiled again in every process. Set FASTLSTM_NUMBA_CACHE "
        "to a writable folder to keep them.",
        KernelCacheWarning,
        stacklevel=2,
    )


class _CorruptEntry(Exception):
    """A cache file failed its checksum or could not be read back."""


class _Locator(_caching._CacheLocator):
    """Locate a fastlstm kernel's cache files in :func:`kernel_cache_dir`."""

    def __init__(self, py_func, py_file, options_key):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._options_key = options_key
        path = kernel_cache_dir()
        self._cache_path = str(path) if path is not None else None

    def ensure_cache_path(self):
        if self._cache_path is None:
            raise OSError("no user cache folder (set FASTLSTM_NUMBA_CACHE)")
        super().ensure_cache_path()

    def get_cache_path(self):
        return self._cache_path if self._cache_path is not None else os.devnull

    def get_source_stamp(self):
        return _module_stamp(self._py_file)

    def get_disambiguator(self):
        return f"{self._lineno}-{self._options_key}"

    @classmethod
    def from_function(cls, py_func, py_file):  # pragma: no cover - not used by numba here
        raise NotImplementedError


@contextlib.contextmanager
def _index_lock(index_path):
    """An exclusive lock on ``<index>.lock`` (POSIX), for a read-modify-write of an index."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: entries may be lost, never mixed up
        yield
        return
    with open(index_path + ".lock", "ab") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class _IndexDataFile(_caching.IndexDataCacheFile):
    """numba's index + data files, each written with a checksum and verified on load."""

    def _read_checked(self, path):
        with open(path, "rb") as f:
            raw = f.read()
        head = len(_MAGIC)
        if raw[:head] != _MAGIC or len(raw) < head + 32:
            raise _CorruptEntry(f"{path}: not a fastlstm cache file or truncated")
        digest, payload = raw[head : head + 32], raw[head + 32 :]
        if hashlib.sha256(payload).digest() != digest:
            raise _CorruptEntry(f"{path}: checksum mismatch (truncated or corrupted)")
        return payload

    def _write_checked(self, path, payload):
        with self._open_for_write(path) as f:
            f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)

    def save(self, key, data):
        """Save an entry: its data file first, then the index under a lock.

        The data file is named by a hash of ``key`` and of the source stamp,
        so processes compiling different entries of one kernel at the same
        time never write the same file, nor does a changed source overwrite
        the data an older index names; re-reading the index under the lock
        keeps every entry.
        """
        digest = hashlib.sha1(repr(key).encode() + self._source_stamp).hexdigest()[:16]
        name = f"{self._index_name[: -len('.nbi')]}.{digest}.nbc"
        self._save_data(name, data)
        with _index_lock(self._index_path):
            overloads = self._load_index()
            overloads[key] = name
            self._save_index(overloads)

    def _load_index(self):
        try:
            payload = self._read_checked(self._index_path)
        except OSError:  # no index yet, or the folder cannot be read
            return {}
        try:
            version, stamp, overloads = pickle.loads(payload)
        except Exception as exc:
            raise _CorruptEntry(f"{self._index_path}: {exc!r}") from exc
        if version != self._version or stamp != self._source_stamp:
            return {}  # another numba, or the source changed: entries are stale
        return overloads

    def _save_index(self, overloads):
        payload = self._dump((self._version, self._source_stamp, overloads))
        self._write_checked(self._index_path, payload)

    def _load_data(self, name):
        payload = self._read_checked(self._data_path(name))
        try:
            return pickle.loads(payload)
        except Exception as exc:
            raise _CorruptEntry(f"{self._data_path(name)}: {exc!r}") from exc

    def _save_data(self, name, data):
        self._write_checked(self._data_path(name), self._dump(data))

    def discard(self, key=None):
        """Remove the index and the data file of ``key`` (best effort)."""
        paths = [self._index_path]
        try:
            with open(self._index_path, "rb") as f:
                raw = f.read()
            overloads = pickle.loads(raw[len(_MAGIC) + 32 :])[2]
            if key in overloads:
                paths.append(self._data_path(overloads[key]))
        except Exception:
            pass
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)


class _KernelCache(_caching.FunctionCache):
    """numba's per-function cache, made robust for fastlstm's kernels."""

    def __init__(self, py_func, options_key):
        self._name = repr(py_func)
        self._py_func = py_func
        self._impl = _caching.CompileResultCacheImpl.__new__(_caching.CompileResultCacheImpl)
        self._init_impl(py_func, options_key)
        self._cache_path = self._impl.locator.get_cache_path()
        self._cache_file = _IndexDataFile(
            cache_path=self._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=self._impl.locator.get_source_stamp(),
        )
        self.enable()

    def _init_impl(self, py_func, options_key):
        impl = self._impl
        impl._lineno = py_func.__code__.co_firstlineno
        py_file = py_func.__code__.co_filename
        impl._locator = _Locator(py_func, py_file, options_key)
        modname = os.path.splitext(os.path.basename(py_file))[0]
        fullname = f"{modname}.{py_func.__qualname__}"
        impl._filename_base = impl.get_filename_base(fullname, getattr(sys, "abiflags", ""))

    def load_overload(self, sig, target_context):
        try:
            data = super().load_overload(sig, target_context)
        except Exception as exc:  # a corrupt entry must never be a permanent failure
            key = None
            with contextlib.suppress(Exception):
                key = self._index_key(sig, target_context.codegen())
            self._cache_file.discard(key)
            warnings.warn(
                f"fastlstm discarded a corrupted compiled-kernel cache entry of "
                f"{self._py_func.__qualname__} ({type(exc).__name__}: {exc}); recompiling.",
                KernelCacheWarning,
                stacklevel=2,
            )
            data = None
        if data is None:  # numba compiles it next
            self._check_writable()
            _announce(None if self._impl.locator._cache_path is None else self._cache_path)
        return data

    def _check_writable(self):
        """Before the first compilation: can compiled kernels be saved? (once per process)"""
        with _State.lock:
            if _State.checked:
                return
            _State.checked = True
        try:
            self._impl.locator.ensure_cache_path()
        except OSError as exc:
            _warn_unwritable(self._impl.locator._cache_path, exc)

    def save_overload(self, sig, data):
        if _State.unwritable:
            return
        try:
            super().save_overload(sig, data)
        except OSError as exc:
            _warn_unwritable(self._impl.locator._cache_path, exc)
        except _CorruptEntry:  # the index went bad since it was read: start it afresh
            self._cache_file.discard()
            with contextlib.suppress(OSError, _CorruptEntry):
                super().save_overload(sig, data)


def _option_text(value):
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, _ParallelOptions):
        return value.encode()
    return value


def _options_key(options) -> str:
    text = repr(sorted((k, _option_text(v)) for k, v in options.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:8]


#: Every kernel's dispatcher by ``"module:qualname"`` (a :class:`Dual`'s serial
#: build is ``"module:name_serial"``), for :mod:`fastlstm._warmup`.
KERNELS: dict[str, numba.core.dispatcher.Dispatcher] = {}


def _compile(fn, options):
    """A numba dispatcher for ``fn`` with fastlstm's cache attached."""
    dispatcher = numba.njit(**options)(fn)
    dispatcher._cache = _KernelCache(dispatcher.py_func, _options_key(options))
    KERNELS[f"{fn.__module__}:{fn.__qualname__}"] = dispatcher
    return dispatcher


def cache_index_has(dispatcher, argtypes) -> bool:
    """Whether the kernel cache holds a fresh entry of ``dispatcher`` for ``argtypes``."""
    cache = dispatcher._cache
    if not isinstance(cache, _KernelCache):
        return False
    try:
        key = cache._index_key(tuple(argtypes), dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # unreadable or corrupt: not there (loading will say why)
        return False


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


# ----------------------------------------------------------------------------
# BLAS threads, scoped to kernel calls
# ----------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------
# numba's OpenMP thread pool: idle threads sleep
# ----------------------------------------------------------------------------
def _start_threads_passive() -> None:
    """Start numba's thread pool with ``OMP_WAIT_POLICY=PASSIVE`` for OpenMP
    read at that moment only, then restore the environment.

    Idle OpenMP threads then sleep instead of spinning: the per-time-step
    parallel regions are long enough that the wake-up cost is small, and
    spinning threads starve other work (BLAS, other processes) on a machine
    with few cores (3-4x slower LSTM steps on a busy 2-core machine).  Nothing
    is done when ``OMP_WAIT_POLICY`` is set (yours wins) or the pool is
    already running.
    """
    if not PARALLEL or "OMP_WAIT_POLICY" in os.environ:
        return
    try:
        from numba.np.ufunc import parallel as _parallel

        if _parallel._is_initialized:
            return
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            _parallel._launch_threads()
        finally:
            os.environ.pop("OMP_WAIT_POLICY", None)
    except Exception:  # pragma: no cover - numba internals changed: keep the default
        os.environ.pop("OMP_WAIT_POLICY", None)


_start_threads_passive()


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
        parallel = pjit(**options)(fn)
        clone = types.FunctionType(
            fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__
        )
        clone.__qualname__ = fn.__qualname__ + "_serial"
        clone.__module__ = fn.__module__
        clone.__doc__ = fn.__doc__
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
