"""The BLAS libraries the kernels call, and their thread controls.

numba's ``np.dot`` calls the BLAS behind SciPy's ``cython_blas``.  NumPy's wheels bring
their own OpenBLAS (``scipy_openblas64_``, 64-bit integers, every symbol prefixed), often a
newer release whose kernels run faster on some products (``docs/design.md``, *On Zen 4 the
BLAS inside the kernels is the older one*).  When that library is found, its
``cblas_sgemm`` and ``cblas_dgemm`` are registered with LLVM under names of fastlstm's own
(:data:`SGEMM`, :data:`DGEMM`), and the kernels call them by those names
(:func:`fastlstm._kernels.blas.gemm`); compiled kernels kept on disk then stay valid, as the
address is looked up again in every process.  Otherwise the kernels keep numba's ``np.dot``.

``FASTLSTM_BLAS=scipy`` asks for SciPy's BLAS even when NumPy's is found (``numpy``, the
default, takes NumPy's when found).  The kernels compiled for each choice are kept apart
(:func:`fastlstm._kernel_cache.kernel_cache_dir`).  :func:`thread_controls` gives the
thread count of each library the kernels call, which :mod:`fastlstm._blas_threads` holds at
one during kernel calls.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import threading

from fastlstm import config

#: The names the kernels call ``cblas_sgemm`` and ``cblas_dgemm`` by (64-bit integers).
SGEMM = "fastlstm_cblas_sgemm64"
DGEMM = "fastlstm_cblas_dgemm64"

#: The symbols of NumPy's OpenBLAS that fastlstm uses.
_NAMES = {
    "sgemm": "scipy_cblas_sgemm64_",
    "dgemm": "scipy_cblas_dgemm64_",
    "get_threads": "scipy_openblas_get_num_threads64_",
    "set_threads": "scipy_openblas_set_num_threads64_",
    "config": "scipy_openblas_get_config64_",
    "core": "scipy_openblas_get_corename64_",
}


class _Found:
    lock = threading.Lock()
    done = False
    lib = None  # NumPy's OpenBLAS (ctypes.CDLL) when the kernels call it


def _libraries(package, pattern: str) -> list[str]:
    """The shared libraries matching ``pattern`` that ``package``'s wheel bundles."""
    root = os.path.dirname(package.__file__)
    return sorted(
        glob.glob(os.path.join(root + ".libs", pattern))
        + glob.glob(os.path.join(root, ".dylibs", pattern))
    )


def _open(paths: list[str], names) -> ctypes.CDLL | None:
    """The first library of ``paths`` that exports all of ``names``, or None."""
    for path in paths:
        try:
            lib = ctypes.CDLL(path)  # already loaded by its package: this returns its handle
        except OSError:
            continue
        if all(hasattr(lib, n) for n in names):
            return lib
    return None


def _load():
    """NumPy's OpenBLAS with the symbols the kernels need, or None."""
    import numpy

    return _open(_libraries(numpy, "*scipy_openblas64_*"), _NAMES.values())


def numpy_openblas():
    """NumPy's OpenBLAS (a ``ctypes.CDLL``) when the kernels call it, else None."""
    with _Found.lock:
        if not _Found.done:
            choice = config.env_choice("FASTLSTM_BLAS", ("numpy", "scipy"), "numpy")
            try:
                _Found.lib = _load() if choice == "numpy" else None
            except Exception:  # pragma: no cover - an unusual NumPy build: keep SciPy's
                _Found.lib = None
            _Found.done = True
        return _Found.lib


def register() -> bool:
    """Register :data:`SGEMM` and :data:`DGEMM` with LLVM; True when the kernels call them."""
    lib = numpy_openblas()
    if lib is None:
        return False
    from llvmlite import binding

    for name, fn in ((SGEMM, "sgemm"), (DGEMM, "dgemm")):
        sym = getattr(lib, _NAMES[fn])
        binding.add_symbol(name, ctypes.cast(sym, ctypes.c_void_p).value)
    return True


def _controls(lib, get_name: str, set_name: str):
    """``(get_num_threads, set_num_threads)`` of an OpenBLAS."""
    get = getattr(lib, get_name)
    put = getattr(lib, set_name)
    get.restype = ctypes.c_int
    get.argtypes = []
    put.restype = None
    put.argtypes = [ctypes.c_int]
    return get, put


def _scipy_controls():
    """The thread controls of the OpenBLAS behind SciPy's ``cython_blas`` (numba's
    ``np.dot``), or None if not found."""
    import scipy
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library)

    paths = _libraries(scipy, "*openblas*")
    for prefix, suffix in (("scipy_openblas_", ""), ("scipy_openblas_", "64_"), ("openblas_", "")):
        names = (f"{prefix}get_num_threads{suffix}", f"{prefix}set_num_threads{suffix}")
        lib = _open(paths, names)
        if lib is not None:
            return _controls(lib, *names)
    return None


def thread_controls() -> tuple:
    """``((get_num_threads, set_num_threads), ...)`` of the BLAS libraries the kernels call:
    SciPy's (numba's ``np.dot``) and NumPy's when :func:`numpy_openblas` found it."""
    found = []
    try:
        found.append(_scipy_controls())
    except Exception:  # pragma: no cover - SciPy without OpenBLAS
        pass
    lib = numpy_openblas()
    if lib is not None:
        found.append(_controls(lib, _NAMES["get_threads"], _NAMES["set_threads"]))
    return tuple(c for c in found if c is not None)


#: OpenBLAS's x86 kernels that use 512-bit vectors; the others it picks use at most 256 bits.
_WIDE_CORES = ("skylakex", "cooperlake", "sapphirerapids")


def core_name() -> str | None:
    """The kernels NumPy's OpenBLAS runs (``"Haswell"``, ``"SkylakeX"``...), or None when the
    kernels do not call it."""
    lib = numpy_openblas()
    if lib is None:
        return None
    core = getattr(lib, _NAMES["core"])
    core.restype = ctypes.c_char_p
    return core().decode()


@functools.cache  # read once: the kernels' route and their cache folder must agree
def packed_long_products(vector_bytes: int) -> bool:
    """Whether the kernels multiply float32 matrices of 64 rows or more with their own packed
    tiles rather than NumPy's OpenBLAS.

    ``FASTLSTM_PACKED_GEMM``: ``auto`` (the default, also when unset) when NumPy's
    OpenBLAS runs kernels narrower than the ``vector_bytes`` the tiles are compiled for
    (OpenBLAS held to its 256-bit kernels on an AVX-512 CPU, as
    ``OPENBLAS_CORETYPE=Haswell`` asks); ``0`` never; ``1`` always (where the kernels call
    NumPy's OpenBLAS).  Kernels compiled each way are kept apart
    (:func:`fastlstm._kernel_cache.kernel_cache_dir`).
    """
    choice = config.env_choice("FASTLSTM_PACKED_GEMM", ("auto", "0", "1"), "auto")
    if core_name() is None or choice == "0":
        return False
    return choice == "1" or runs_narrower(vector_bytes)


def runs_narrower(vector_bytes: int) -> bool:
    """Whether NumPy's OpenBLAS runs kernels narrower than ``vector_bytes`` (what
    ``FASTLSTM_PACKED_GEMM=auto`` asks); False when the kernels do not call it."""
    core = core_name()
    return core is not None and vector_bytes > (64 if core.lower() in _WIDE_CORES else 32)


def describe() -> str:
    """Which BLAS the kernels' products call, for reports (``bench/``)."""
    lib = numpy_openblas()
    if lib is None:
        return "SciPy's BLAS (numba's np.dot)"
    conf = getattr(lib, _NAMES["config"])
    conf.restype = ctypes.c_char_p
    words = conf().decode().split()  # "OpenBLAS 0.3.31.188.0 USE64BITINT DYNAMIC_ARCH ..."
    version = ".".join(words[1].split(".")[:3]) if len(words) > 1 else "?"
    asked = os.environ.get("OPENBLAS_CORETYPE", "").strip()
    why = f", as OPENBLAS_CORETYPE={asked} asks" if asked else ""
    return f"NumPy's OpenBLAS {version} ({core_name()} kernels{why})"
