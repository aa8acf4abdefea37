"""The kernels' general matrix product (:func:`fastlstm._kernels.blas.gemm`).

It calls NumPy's OpenBLAS when :mod:`fastlstm._blas_lib` finds it, reading each
operand in place (one of its dimensions has unit stride); it must equal NumPy's
product for every layout the kernels hand it, write only into ``out``, refuse what
it cannot read in place, and fall back to numba's ``np.dot`` when asked to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from fastlstm._kernels import blas

ROOT = Path(__file__).resolve().parent.parent


@njit(cache=False)
def _gemm(a, b, out):
    blas.gemm(a, b, out)


def _layouts(x):
    """``x`` as C and F arrays and as views with a leading dimension, as rows or transposed."""
    rows, cols = x.shape
    wide = np.zeros((rows, cols + 3), x.dtype)
    wide[:, 1 : cols + 1] = x
    tall = np.zeros((cols + 2, rows), x.dtype)
    tall[1 : cols + 1] = x.T
    return {
        "C": x.copy(),
        "F": np.asfortranarray(x),
        "ld": wide[:, 1 : cols + 1],
        "transposed-ld": tall[1 : cols + 1].T,
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape",
    # the last: long enough for the packed tiles where they take the long products
    [(5, 7, 3), (1, 4, 6), (6, 1, 5), (4, 5, 1), (1, 1, 1), (37, 19, 23), (70, 300, 45)],
)
def test_gemm_equals_numpy_for_every_layout(dtype, shape):
    M, K, N = shape
    rng = np.random.default_rng(M * 100 + K * 10 + N)
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for na, av in _layouts(a).items():
        for nb, bv in _layouts(b).items():
            for nc in ("C", "ld"):
                frame = np.full((M, N + 4), 7, dtype)  # "ld": out is frame's middle columns
                out = np.full((M, N), 7, dtype) if nc == "C" else frame[:, 2 : N + 2]
                _gemm(av, bv, out)
                np.testing.assert_allclose(out, want, rtol=tol, atol=tol, err_msg=f"{na} {nb} {nc}")
                assert np.all(frame[:, :2] == 7) and np.all(frame[:, N + 2 :] == 7)


@pytest.mark.skipif(not blas.NUMPY_GEMM, reason="the kernels call numba's np.dot here")
def test_gemm_refuses_what_it_cannot_read_in_place():
    a, b = np.ones((6, 4)), np.ones((4, 3))
    with pytest.raises(ValueError, match="gemm"):
        _gemm(np.ones((12, 8))[::2, ::2], b, np.zeros((6, 3)))  # no unit stride
    with pytest.raises(ValueError, match="gemm"):
        _gemm(a, b, np.zeros((3, 6)).T)  # the result's columns
    with pytest.raises(ValueError, match="gemm"):
        _gemm(a, np.ones((5, 3)), np.zeros((6, 3)))  # shapes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_empty_dimensions(dtype):
    out = np.full((3, 2), 7, dtype)
    _gemm(np.zeros((3, 0), dtype), np.zeros((0, 2), dtype), out)
    assert np.all(out == 0)  # a sum over nothing
    out = np.zeros((0, 2), dtype)
    _gemm(np.zeros((0, 4), dtype), np.ones((4, 2), dtype), out)
    out = np.full((3, 0), 7, dtype)
    _gemm(np.ones((3, 4), dtype), np.ones((4, 0), dtype), out)


def _python(code, **env_extra):
    env = dict(os.environ)
    env.pop("FASTLSTM_BLAS", None)
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **env_extra)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )


_CHOICE = """
import numpy as np
from numba import njit
from fastlstm import _blas_lib
from fastlstm._kernels import blas
from fastlstm._kernel_cache import kernel_cache_dir

@njit
def f(a, b, out):
    blas.gemm(a, b, out)

rng = np.random.default_rng(0)
a = rng.standard_normal((40, 30)).astype(np.float32)
b = rng.standard_normal((30, 20)).astype(np.float32)
out = np.empty((40, 20), np.float32)
f(a.T.copy().T, b, out)
assert np.allclose(out, a @ b, rtol=1e-5, atol=1e-5)
print(blas.NUMPY_GEMM, kernel_cache_dir().name.endswith("-scipyblas"), _blas_lib.describe())
"""

_PACKED = """
import numpy as np
from numba import njit
from fastlstm import _blas_lib, _vectors
from fastlstm._kernels import blas
from fastlstm._kernel_cache import kernel_cache_dir

@njit
def f(a, b, out):
    blas.gemm(a, b, out)

rng = np.random.default_rng(0)
for M, K, N in ((100, 300, 70), (64, 16, 16), (63, 40, 50)):
    a = rng.standard_normal((K, M)).astype(np.float32).T  # transposed, as Z.T
    b = rng.standard_normal((K, N)).astype(np.float32)
    frame = np.full((M, N + 3), 7, np.float32)
    f(a, b, frame[:, 1 : N + 1])
    want = a.astype(np.float64) @ b
    assert np.allclose(frame[:, 1 : N + 1], want, rtol=1e-4, atol=1e-4), (M, K, N)
    assert np.all(frame[:, 0] == 7) and np.all(frame[:, N + 1 :] == 7)

core = _blas_lib.core_name()
wide = core is not None and core.lower() in ("skylakex", "cooperlake", "sapphirerapids")
narrower = core is not None and _vectors.vector_bytes() > (64 if wide else 32)
assert _blas_lib.runs_narrower(_vectors.vector_bytes()) == narrower
print(blas.PACKED_LONG, kernel_cache_dir().name.endswith("-packedgemm"), narrower)
"""


def test_blas_choice(tmp_path):
    cache = str(tmp_path / "cache")
    default = _python(_CHOICE, FASTLSTM_NUMBA_CACHE=cache)
    assert default.returncode == 0, default.stderr
    found = default.stdout.split()[0] == "True"
    if found:  # NumPy's OpenBLAS: kernels kept in the copy's own folder
        assert default.stdout.startswith("True False NumPy's OpenBLAS"), default.stdout
        # the kernels OpenBLAS runs, and why when the environment chose them
        asked = _python(_CHOICE, FASTLSTM_NUMBA_CACHE=cache, OPENBLAS_CORETYPE="Haswell")
        assert "(Haswell kernels, as OPENBLAS_CORETYPE=Haswell asks)" in asked.stdout, asked
        own = _python(_CHOICE, FASTLSTM_NUMBA_CACHE=cache, OPENBLAS_CORETYPE="")
        assert " kernels)" in own.stdout and "asks" not in own.stdout, own.stdout
    scipy = _python(_CHOICE, FASTLSTM_NUMBA_CACHE=cache, FASTLSTM_BLAS="scipy")
    assert scipy.returncode == 0, scipy.stderr
    assert scipy.stdout.startswith("False True SciPy's BLAS"), scipy.stdout  # kept apart
    bad = _python(_CHOICE, FASTLSTM_NUMBA_CACHE=cache, FASTLSTM_BLAS="mkl")
    assert bad.returncode != 0
    assert "FASTLSTM_BLAS must be 'numpy' or 'scipy', not 'mkl'" in bad.stderr


def test_packed_long_products_choice(tmp_path):
    """``FASTLSTM_PACKED_GEMM``: auto (the default: the packed tiles when OpenBLAS's
    kernels are narrower than the CPU's vectors), 0, 1; kernels compiled each way kept
    apart; a bad value named."""
    cache = str(tmp_path / "cache")
    auto = _python(_PACKED, FASTLSTM_NUMBA_CACHE=cache, FASTLSTM_PACKED_GEMM="auto")
    assert auto.returncode == 0, auto.stderr
    on, apart, narrower = auto.stdout.split()
    assert on == apart == narrower, auto.stdout
    for unset in ("", "  "):
        default = _python(_PACKED, FASTLSTM_NUMBA_CACHE=cache, FASTLSTM_PACKED_GEMM=unset)
        assert default.stdout == auto.stdout, default.stdout + default.stderr
    forced = _python(_PACKED, FASTLSTM_NUMBA_CACHE=cache, FASTLSTM_PACKED_GEMM="1")
    assert forced.returncode == 0, forced.stderr
    if blas.NUMPY_GEMM:
        assert forced.stdout.split()[:2] == ["True", "True"], forced.stdout
    off = _python(_PACKED, FASTLSTM_NUMBA_CACHE=cache, FASTLSTM_PACKED_GEMM="0")
    assert off.stdout.split()[:2] == ["False", "False"], off.stdout + off.stderr
    bad = _python(_PACKED, FASTLSTM_NUMBA_CACHE=cache, FASTLSTM_PACKED_GEMM="yes")
    assert bad.returncode != 0
    assert "FASTLSTM_PACKED_GEMM must be 'auto', '0' or '1', not 'yes'" in bad.stderr


_LINKED = """
import hashlib, sys
import numpy as np
from fastlstm import _kernel_cache, _numba
if sys.argv[1] == "compile":
    _numba.set_compile_only()
from fastlstm._kernels import blas, optim

p = np.zeros(5, np.float32)  # a kernel that never calls gemm does not build the C function
optim.sgd(p, np.ones(5, np.float32), np.float32(0.5))
assert blas._LONG_NAME in _kernel_cache._Linked.pending

kernel = blas.matmul.serial  # a cached kernel whose products of 64 rows or more are long
rng = np.random.default_rng(0)
a = rng.standard_normal((100, 300)).astype(np.float32)
b = rng.standard_normal((300, 70)).astype(np.float32)
out = np.empty((100, 70), np.float32)
before = _numba.cache_index_has(blas._LONG_CFUNC, None)
if sys.argv[1] == "compile":  # compiled into the cache, never run
    kernel.compile(tuple(kernel.dispatcher.typeof_pyval(x) for x in (a, b, out, 1)))
    print(before, _numba.cache_index_has(blas._LONG_CFUNC, None), 0, "-")
else:
    kernel(a, b, out, 1)
    assert np.allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    hits = sum(kernel.dispatcher.stats.cache_hits.values())
    print(before, _numba.cache_index_has(blas._LONG_CFUNC, None), hits,
          hashlib.sha256(out.tobytes()).hexdigest())
"""


@pytest.mark.skipif(not blas.NUMPY_GEMM, reason="the long products' route needs NumPy's OpenBLAS")
def test_kernels_compiled_without_the_long_products_link_to_them(tmp_path):
    """A warm-up helper compiles kernels that call the long products' C function without
    building it (a stand-in is registered; compiled code names the symbol); a process that
    loads those kernels builds the C function before it links them (not for a kernel that
    never calls it) and gets the bits of one that compiled everything itself."""

    def run(mode, cache):
        res = subprocess.run(
            [sys.executable, "-c", _LINKED, mode],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "FASTLSTM_NUMBA_CACHE": cache,
                 "FASTLSTM_PACKED_GEMM": "1"},
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        return res.stdout.split()

    shared, own = str(tmp_path / "shared"), str(tmp_path / "own")
    assert run("compile", shared) == ["False", "False", "0", "-"]  # the C function not built
    loaded = run("run", shared)
    assert loaded[:3] == ["False", "True", "1"]  # the kernel loaded, the C function built
    itself = run("run", own)
    assert itself[:3] == ["False", "True", "0"]  # compiled here
    assert loaded[3] == itself[3]


def test_env_choice(monkeypatch):
    """The parser of both variables: unset or empty gives the default, case and spaces are
    ignored, another value is named with the choices."""
    from fastlstm import config

    monkeypatch.delenv("FASTLSTM_PACKED_GEMM", raising=False)
    assert config.env_choice("FASTLSTM_PACKED_GEMM", ("auto", "0", "1"), "0") == "0"
    monkeypatch.setenv("FASTLSTM_PACKED_GEMM", "  ")
    assert config.env_choice("FASTLSTM_PACKED_GEMM", ("auto", "0", "1"), "0") == "0"
    monkeypatch.setenv("FASTLSTM_PACKED_GEMM", " Auto ")
    assert config.env_choice("FASTLSTM_PACKED_GEMM", ("auto", "0", "1"), "0") == "auto"
    monkeypatch.setenv("FASTLSTM_PACKED_GEMM", "2")
    with pytest.raises(
        ValueError, match="FASTLSTM_PACKED_GEMM must be 'auto', '0' or '1', not '2'"
    ):
        config.env_choice("FASTLSTM_PACKED_GEMM", ("auto", "0", "1"), "0")


def _operands(rng, M, K, N, kind, dtype):
    """``(A, B)`` as views ``kind`` asks (``n``: rows contiguous, ``t``: a transposed
    array), and the flat arrays, ops and leading dimensions cblas would read."""
    a = rng.standard_normal((M, K) if kind[0] == "n" else (K, M)).astype(dtype)
    b = rng.standard_normal((K, N) if kind[1] == "n" else (N, K)).astype(dtype)
    A, B = (a if kind[0] == "n" else a.T), (b if kind[1] == "n" else b.T)
    ops = [(111, K) if kind[0] == "n" else (112, M), (111, N) if kind[1] == "n" else (112, K)]
    return A, B, (a.ravel(), *ops[0]), (b.ravel(), *ops[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize(
    # a partial last panel, several blocks of k, of rows and of panels, one row short of a tile
    "shape",
    [(64, 16, 16), (65, 257, 33), (251, 513, 300), (97, 1000, 50), (300, 40, 17)],
)
def test_long_product_has_the_bits_of_the_packed_tiles(dtype, kind, shape):
    """The long products' blocked route (``_long_product``, called directly: the kernels
    take it only under ``FASTLSTM_PACKED_GEMM``) gives the bits of one pass of the packed tiles over all of ``k``
    (``matmul_packed``), so no split of rows, columns or ``k`` changes a value; it writes
    only the result's columns of a wider array."""
    M, K, N = shape
    rng = np.random.default_rng(M + K + N)
    A, B, (fa, ta, lda), (fb, tb, ldb) = _operands(rng, M, K, N, kind, dtype)
    frame = np.full((M, N + 5), 7, dtype)
    blas._long_product(fa, ta, lda, fb, tb, ldb, frame.ravel()[2:], N + 5, M, K, N)
    out = frame[:, 2 : N + 2]
    P = blas.panel_width(dtype)
    npan = (N + P - 1) // P
    Bp = np.empty((npan, K, P), dtype)
    blas.pack_panels(np.ascontiguousarray(B), Bp)
    want = np.zeros((M, npan * P), dtype)
    blas.matmul_packed(np.ascontiguousarray(A), Bp, want)
    np.testing.assert_array_equal(out, want[:, :N])
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(out, A.astype(np.float64) @ B.astype(np.float64), rtol=tol, atol=tol)
    assert np.all(frame[:, :2] == 7) and np.all(frame[:, N + 2 :] == 7)
