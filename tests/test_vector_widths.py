"""The kernels' tests pass when the kernels are built for AVX2 and for AVX-512.

The packed product's panels and tiles follow the CPU's vectors (AVX2: 256-bit,
AVX-512: 512-bit; ``fastlstm._kernels.blas.VECTOR_BYTES``).  CI machines can be
either, so the tests of the packed product, the eight-lane reductions and greedy
decoding run here once per width (``FASTLSTM_VECTOR_BYTES``, each in its own
process with its own scratch kernel cache; LLVM splits vectors wider than the
machine's, so both run on either CPU family).  The width changes the layout, never
the order of a product's sums: the packed product gives the same bits at both
widths.  (The LSTM layer's blocks of hidden units are rounded to whole panels, so
its backward pass groups the sums over blocks by the width: there the widths agree
to rounding, not bit for bit.)
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

TESTS = ["tests/test_packed_matmul.py", "tests/test_lanes.py", "tests/test_decode.py"]
SELECT = "not reference and not large and (float32 or one_row or tie or decoders)"


def _env(width, cache):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        FASTLSTM_NUMBA_CACHE=str(cache),
        FASTLSTM_VECTOR_BYTES=str(width),
    )
    return env


def _run(argv, width, cache):
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=_env(width, cache), timeout=3000, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_the_packed_product_has_the_same_bits_at_both_widths(tmp_path):
    code = textwrap.dedent(_PRODUCTS)
    avx2 = json.loads(_run([sys.executable, "-c", code], 32, tmp_path).splitlines()[-1])
    avx512 = json.loads(_run([sys.executable, "-c", code], 64, tmp_path / "w").splitlines()[-1])
    assert (avx2.pop("vector_bytes"), avx512.pop("vector_bytes")) == (32, 64)
    assert avx2 == avx512


@pytest.mark.slow
@pytest.mark.parametrize("width", [32, 64], ids=["AVX2", "AVX-512"])
def test_kernel_tests_pass_when_built_for_each_width(tmp_path, width):
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, "-k", SELECT]
    _run(argv, width, tmp_path)
