"""The on-disk cache of fastlstm's compiled kernels.

Compiled kernels are kept in a per-user folder, never inside the installed
package (:func:`fastlstm.config.numba_cache_dir`, ``FASTLSTM_NUMBA_CACHE``),
in a sub-folder per fastlstm, numba and Python version and per installed copy
of the package.  The cache is attached to fastlstm's own kernels only:
numba's ``NUMBA_CACHE_DIR`` and the user's own ``cache=True`` functions are
not affected.

* A kernel's entry is fresh while the source of its module, of the kernel
  modules it imports and of the compile machinery (:mod:`fastlstm._numba`, this module) are
  unchanged (content hashes).
* Every cache file carries a checksum; a truncated or corrupted entry is
  discarded with a :class:`KernelCacheWarning` and the kernel recompiled.
* When the folder cannot be written, kernels are compiled in memory for this
  process only, with one :class:`KernelCacheWarning`.
* The first compilation in a process says so, once: a warning of the
  ``fastlstm`` logger, one line on stderr unless logging is configured.

It subclasses numba's caching internals (``numba.core.caching``); the kernel
decorators of :mod:`fastlstm._numba` attach it to every kernel.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import re
import stat
import sys
import threading
import warnings
from pathlib import Path

import numba
from numba.core import caching as _caching
from numba.core.cpu import ParallelOptions as _ParallelOptions

from fastlstm import _blas_lib, _vectors, config
from fastlstm.config import KernelCacheWarning

_log = logging.getLogger("fastlstm")


_KERNELS_DIR = Path(__file__).resolve().parent / "_kernels"


_IMPORT_RE = re.compile(r"fastlstm\._kernels\.(\w+)")


_MAGIC = b"fastlstm-kernel-cache-1\n"


def _version_tag() -> str:
    from fastlstm._version import __version__

    py = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    return f"fastlstm{__version__}-numba{numba.__version__}-{py}"


def kernel_cache_dir() -> Path | None:
    """The folder this copy of fastlstm keeps its compiled kernels in, or None.

    ``numba_cache_dir() / <fastlstm, numba and Python versions> / <copy>``,
    where ``<copy>`` names the installed package's folder by a hash, so that
    two installations (or checkouts) never overwrite each other's kernels,
    a forced ``FASTLSTM_VECTOR_BYTES`` (kernels laid out for another
    vector width) adds ``-vectorN``, and kernels calling SciPy's BLAS instead of
    NumPy's (:mod:`fastlstm._blas_lib`) add ``-scipyblas``, kernels multiplying long
    matrices with their own tiles (:func:`fastlstm._blas_lib.packed_long_products`) add
    ``-packedgemm``.  None when no user folder can be determined.
    """
    root = config.numba_cache_dir()
    if root is None:
        return None
    pkg = str(_KERNELS_DIR.parent)
    copy = hashlib.sha1(pkg.encode()).hexdigest()[:16]
    forced = os.environ.get("FASTLSTM_VECTOR_BYTES", "").strip()
    if forced:
        copy += f"-vector{forced}"
    if _blas_lib.numpy_openblas() is None:
        copy += "-scipyblas"
    elif _blas_lib.packed_long_products(_vectors.vector_bytes()):
        copy += "-packedgemm"
    return root / _version_tag() / copy


class _State:
    """Process-wide cache state (one message, one warning)."""

    lock = threading.Lock()
    announced = False
    checked = False  # the folder was checked for writing
    unwritable = False  # saving failed once: compile in memory from then on
    stamps: dict[str, bytes] = {}


class _Linked:
    """Symbols that compiled code may name, registered only before such code is linked."""

    pending: dict = {}  # {symbol: register}
    compile_only = False


def before_linking(symbol: str, register) -> None:
    """Run ``register()`` before this process links compiled code that names ``symbol``.

    For a C function that kernels call through a symbol and that need not be built when
    no kernel that calls it is loaded (the long products' C function of
    :mod:`fastlstm._kernels.blas`): it is registered before a kernel whose cached code names
    the symbol is loaded (:class:`_IndexDataFile` finds the name in the entry: :func:`link_pending`), and while a
    function that calls it is compiled (the caller's code runs :func:`link_symbol`).
    """
    _Linked.pending[symbol] = register


def link_symbol(symbol: str) -> None:
    """Register ``symbol`` now if it is pending (:func:`before_linking`); one that fails
    stays pending.  Called under numba's compiler lock, as every load and compile."""
    register = _Linked.pending.pop(symbol, None)
    if register is None:
        return
    try:
        register()
    except BaseException:
        _Linked.pending[symbol] = register
        raise


def link_pending(named_in: bytes | None = None) -> None:
    """Register every pending symbol now, or those that ``named_in`` (a cache entry's code,
    about to be loaded) names.  A warm-up, whose run will load kernels that name them,
    registers them all while its helper processes compile."""
    for symbol in list(_Linked.pending):
        if named_in is None or symbol.encode() in named_in:
            link_symbol(symbol)


def set_compile_only() -> None:
    """This process compiles kernels into the cache and never runs them (a warm-up helper):
    see :func:`compile_only`."""
    _Linked.compile_only = True


def compile_only() -> bool:
    """Whether this process only compiles kernels into the cache and never runs them:
    what they link to need not be built (compiled code refers to it by name; the process
    that loads them links them to its own)."""
    return _Linked.compile_only


def _module_stamp(py_file: str) -> bytes:
    """Content hash of a kernel module, the kernel modules it imports (transitively),
    this module and :mod:`fastlstm._numba` (the options): a cache entry is fresh only while all of them are unchanged."""
    stamp = _State.stamps.get(py_file)
    if stamp is not None:
        return stamp
    h = hashlib.sha256()
    seen: set[Path] = set()
    todo = [
        Path(py_file).resolve(),
        Path(__file__).resolve(),
        _KERNELS_DIR.parent / "_numba.py",
        _KERNELS_DIR.parent / "_blas_lib.py",
    ]
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


_OWN_DIRS = tuple(os.path.dirname(os.path.realpath(f)) + os.sep for f in (numba.__file__, __file__))


def _outside_stacklevel() -> int:
    """The ``stacklevel`` of :func:`warnings.warn`, called from here, that names the first
    caller outside fastlstm and numba (the line of the user's code that needed the kernel)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        _import_machinery(frame) or os.path.realpath(frame.f_code.co_filename).startswith(_OWN_DIRS)
    ):
        frame = frame.f_back
        if frame is not None and not _import_machinery(frame):
            level += 1  # warnings.warn does not count the import machinery's frames
    return level


def _import_machinery(frame) -> bool:
    """Whether ``frame`` is importlib's bootstrap (a kernel compiled while a module imports)."""
    name = frame.f_code.co_filename
    return "importlib" in name and "_bootstrap" in name


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
        stacklevel=_outside_stacklevel(),
    )


class _CorruptEntry(Exception):
    """A cache file failed its checksum or could not be read back."""


#: Largest kernel-cache file read (bytes).  Compiled kernels take up to about
#: 1 MB, an index a few kB; anything larger is not a cache file of this package.
MAX_CACHE_FILE_BYTES = 64 << 20


def _read_bounded(path, limit: int = MAX_CACHE_FILE_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    A symlink to ``/dev/zero``, a FIFO or a 3 GB sparse file put in place of a
    cache file is refused without reading it (opened non-blocking, so a FIFO
    without a writer does not hang).

    Raises
    ------
    OSError
        If the file cannot be opened (e.g. it does not exist).
    _CorruptEntry
        If it is not a regular file or is larger than ``limit``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _CorruptEntry(f"{path}: not a regular file")
        if st.st_size > limit:
            raise _CorruptEntry(f"{path}: {st.st_size} bytes, larger than any cache file")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while being read
                raise _CorruptEntry(f"{path}: larger than any cache file")
        return b"".join(chunks)
    finally:
        os.close(fd)


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
        raw = _read_bounded(path)
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
        if _Linked.pending:
            link_pending(named_in=payload)
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
            raw = _read_bounded(self._index_path)
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

    def __init__(self, py_func, options_key, parallel=False):
        self._parallel = parallel
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
        if self._parallel:  # needed to load the entry too: a failure here is not the entry's
            from numba.np.ufunc.parallel import _launch_threads

            _launch_threads()  # e.g. NUMBA_THREADING_LAYER=tbb without tbb: the entry is kept
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
                stacklevel=_outside_stacklevel(),
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


def cache_index_has(dispatcher, argtypes) -> bool:
    """Whether the kernel cache holds a fresh entry of ``dispatcher`` for ``argtypes``
    (a C function's own signature when ``argtypes`` is None)."""
    cache = dispatcher._cache
    if not isinstance(cache, _KernelCache):
        return False
    try:
        if argtypes is None:  # numba's CFunc
            sig, codegen = dispatcher._sig, dispatcher._targetdescr.target_context.codegen()
        else:
            sig, codegen = tuple(argtypes), dispatcher.targetctx.codegen()
        key = cache._index_key(sig, codegen)
        return key in cache._cache_file._load_index()
    except Exception:  # unreadable or corrupt: not there (loading will say why)
        return False
