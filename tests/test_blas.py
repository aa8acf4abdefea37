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
    "shape", [(5, 7, 3), (1, 4, 6), (6, 1, 5), (4, 5, 1), (1, 1, 1), (37, 19, 23)]
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
