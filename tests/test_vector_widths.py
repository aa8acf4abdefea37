"""The kernels' tests pass when the kernels are built for AVX2 and for AVX-512.

The packed product's panels and tiles follow the vectors numba compiles for
(AVX2: 256-bit, AVX-512: 512-bit; ``fastlstm._kernels.blas.VECTOR_BYTES``).  CI
machines can be either, so the tests of the packed product, the eight-lane
reductions, greedy decoding and the dropout draws run here once per width, each in its own process
with its own scratch kernel cache.  The AVX2 build is a real one: numba compiles
every kernel, the elementwise loops included, for an AVX2 CPU (``NUMBA_CPU_NAME``
``haswell``), and the layout follows.  The AVX-512 layout is forced
(``FASTLSTM_VECTOR_BYTES=64``) and compiled for the host: on an AVX-512 machine that is
the real build, on an AVX2 machine LLVM splits the wider vectors, so it runs there
too.  The width changes the layout, never the order of a product's sums: the packed
product gives the same bits at both widths.  (The LSTM layer's blocks of hidden
units are rounded to whole panels, so its backward pass groups the sums over blocks
by the width: there the widths agree to rounding, not bit for bit.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_PRODUCTS = """
    import hashlib, json
    import numpy as np
    from fastlstm._kernels import blas

    out = {"vector_bytes": blas.VECTOR_BYTES}
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(5)
        P = blas.panel_width(dtype)
        K, M = 45, 96  # 96 columns: whole panels at both widths
        B = rng.standard_normal((K, M)).astype(dtype)
        Bp = np.empty((M // P, K, P), dtype=dtype)
        blas.pack_panels(B, Bp)
        digest = hashlib.sha256()
        for rows in (1, 2, 5, 6, 7, 10, 11, 23):
            A = rng.standard_normal((rows, K)).astype(dtype)
            C = np.empty((rows, M), dtype=dtype)
            blas.matmul_packed(A, Bp, C)
            digest.update(C.tobytes())
        out[np.dtype(dtype).name] = digest.hexdigest()
    print(json.dumps(out))
"""

TESTS = [
    "tests/test_packed_matmul.py",
    "tests/test_lanes.py",
    "tests/test_decode.py",
    "tests/test_gates.py",
    "tests/test_dropout_draws.py",
]
SELECT = (
    "not reference and not large and (float32 or one_row or tie or decoders or numpys or blocks)"
)


#: numba told to compile for an AVX2 CPU (no AVX-512 instructions, whatever the host)
AVX2_CPU = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}


def _host_has(feature):
    from llvmlite import binding

    return bool(binding.get_host_cpu_features().get(feature))


def _env(width, cache):
    """A child's environment: ``width`` 32 the AVX2 build, 64 the AVX-512 layout, None the host's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NUMBA_CACHE", "NUMBA_CPU_")) and k != "FASTLSTM_VECTOR_BYTES"
    }
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    env.update(FASTLSTM_NUMBA_CACHE=str(cache))
    if width == 32:
        env.update(AVX2_CPU)
    elif width is not None:
        env.update(FASTLSTM_VECTOR_BYTES=str(width))
    return env


def _run(argv, width, cache, env=None):
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=_env(width, cache) if env is None else env,
        timeout=3000,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


needs_avx2 = pytest.mark.skipif(
    not _host_has("avx2"), reason="this CPU cannot run code built for AVX2"
)


@pytest.mark.slow
@needs_avx2
def test_the_packed_product_has_the_same_bits_at_both_widths(tmp_path):
    code = textwrap.dedent(_PRODUCTS)
    avx2 = json.loads(_run([sys.executable, "-c", code], 32, tmp_path).splitlines()[-1])
    avx512 = json.loads(_run([sys.executable, "-c", code], 64, tmp_path / "w").splitlines()[-1])
    assert (avx2.pop("vector_bytes"), avx512.pop("vector_bytes")) == (32, 64)
    assert avx2 == avx512


@pytest.mark.slow
@pytest.mark.parametrize("width", [pytest.param(32, marks=needs_avx2), 64], ids=["AVX2", "AVX-512"])
def test_kernel_tests_pass_when_built_for_each_width(tmp_path, width):
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, "-k", SELECT]
    _run(argv, width, tmp_path)


_WIDTH = "from fastlstm._kernels import blas; print(blas.VECTOR_BYTES, blas.TILE_ROWS)"


@pytest.mark.parametrize(
    ("numba_cpu", "expected"),
    [
        ({"NUMBA_CPU_NAME": "generic"}, "16 6"),
        (AVX2_CPU, "32 6"),
        ({"NUMBA_CPU_NAME": "skylake-avx512", "NUMBA_CPU_FEATURES": ""}, "64 10"),
    ],
    ids=["generic", "haswell", "skylake-avx512"],
)
def test_the_layout_follows_the_cpu_numba_compiles_for(tmp_path, numba_cpu, expected):
    """Kernels built for another CPU than the host (numba's ``NUMBA_CPU_NAME``, e.g. for a
    cache shared by several machines) get that CPU's vector width, not the host's.
    Only the layout is read here, nothing is run."""
    env = _env(None, tmp_path)
    env.update(numba_cpu)
    out = _run([sys.executable, "-c", _WIDTH], None, tmp_path, env=env)
    assert out.split() == expected.split()


def test_the_host_layout_matches_the_host_cpu(tmp_path):
    out = _run([sys.executable, "-c", _WIDTH], None, tmp_path)
    expected = 64 if _host_has("avx512f") else 32 if _host_has("avx2") else 16
    assert int(out.split()[0]) == expected


_PACKED = """
    import numpy as np
    from fastlstm._kernels import blas

    P = blas.panel_width(np.float32)
    B = np.arange(8 * 2 * P, dtype=np.float32).reshape(8, 2 * P)
    Bp = np.empty((2, 8, P), np.float32)
    blas.pack_panels(B, Bp)
    A = np.ones((3, 8), np.float32)
    C = np.empty((3, 2 * P), np.float32)
    blas.matmul_packed(A, Bp, C)
    assert (C == A @ B).all()
    print(blas.VECTOR_BYTES)
"""


@needs_avx2
def test_kernels_for_another_cpu_and_for_the_host_share_one_cache(tmp_path):
    """Built for an AVX2 CPU, then for the host, then loaded again for the AVX2 CPU, in one
    cache folder: each process gets the kernel built for its own layout (a kernel laid out
    for the other width would refuse the panels)."""
    code = textwrap.dedent(_PACKED)
    avx2 = _env(32, tmp_path)
    host = _env(None, tmp_path)
    widths = [
        _run([sys.executable, "-c", code], None, tmp_path, env=env).split()[-1]
        for env in (avx2, host, avx2)
    ]
    assert widths[0] == widths[2] == "32"
    assert widths[1] == str(64 if _host_has("avx512f") else 32)
