"""The pack-once product of the recurrent kernels (:mod:`fastlstm._kernels.blas`).

``matmul_packed`` must equal a float64 product to the dtype's rounding for
every row count (tiles of 1 to ``TILE_ROWS`` rows) and widths that are not
whole panels, and ``pack_recurrent`` must lay ``Wh`` out exactly as the
blocked gate layout of :mod:`fastlstm._kernels.lstm` says.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from fastlstm._kernels import blas
from fastlstm._kernels import lstm as klstm

EPS = {np.float32: 1e-6, np.float64: 1e-14}


def _panels(B, P):
    K, M = B.shape
    npan = -(-M // P)
    out = np.empty((npan, K, P), dtype=B.dtype)
    blas.pack_panels(B, out)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [1, 2, 5, blas.TILE_ROWS, blas.TILE_ROWS + 1, 20, 33])
def test_matmul_packed_equals_the_product(dtype, M):
    rng = np.random.default_rng(M)
    P = blas.panel_width(dtype)
    K, N = 37, 2 * P + 3  # a partial last panel
    A = rng.standard_normal((M, K)).astype(dtype)
    B = rng.standard_normal((K, N)).astype(dtype)
    Bp = _panels(B, P)
    assert np.all(Bp[-1, :, 3:] == 0)  # padding
    C = np.full((M, Bp.shape[0] * P), np.nan, dtype=dtype)
    blas.matmul_packed(A, Bp, C)
    expected = A.astype(np.float64) @ B.astype(np.float64)
    scale = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64)
    assert np.all(np.abs(C[:, :N] - expected) <= K * EPS[dtype] * scale)
    assert np.all(C[:, N:] == 0)  # zero panels give zero columns


def test_matmul_packed_rejects_a_foreign_panel_width():
    A = np.ones((2, 3), np.float32)
    Bp = np.ones((1, 3, blas.panel_width(np.float32) // 2), np.float32)
    with pytest.raises(ValueError, match="panel width"):
        blas.matmul_packed(A, Bp, np.empty((2, Bp.shape[2]), np.float32))


def test_panels_of_the_transpose():
    B = np.arange(5 * 40, dtype=np.float32).reshape(5, 40)
    P = blas.panel_width(np.float32)
    out = np.empty((-(-5 // P), 40, P), np.float32)
    blas.pack_panels_t(B, out)
    np.testing.assert_array_equal(out, _panels(np.ascontiguousarray(B.T), P))


@pytest.mark.parametrize("build", ["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H", [5, 13, 64, 100])
def test_pack_recurrent_layout(H, dtype, build):
    """Every element of both layouts, written over NaN: panels that are one run of ``Wh``'s
    columns, panels that straddle two gates or reach the padding, ``H`` over several groups
    of rows."""
    rng = np.random.default_rng(H)
    Wh = rng.standard_normal((H, 4 * H)).astype(dtype)
    P = blas.panel_width(dtype)
    C, hc = klstm.split_units(H, 2, P // 4)
    assert (4 * hc) % P == 0 and (C - 1) * hc < H <= C * hc
    cols = klstm.gate_columns(H, C, hc)  # (C, 4hc) book column of every blocked column
    Whc = np.where(cols[:, None] >= 0, Wh[:, np.maximum(cols, 0)].transpose(1, 0, 2), 0).astype(
        dtype
    )
    Whp = np.full((C, 4 * hc // P, H, P), np.nan, dtype)
    WhTp = np.full((C, -(-H // P), 4 * hc, P), np.nan, dtype)
    getattr(klstm.pack_recurrent, build)(Wh, klstm.gate_columns(H, C, hc), Whp, WhTp)
    for c in range(C):
        np.testing.assert_array_equal(Whp[c], _panels(Whc[c], P))
        np.testing.assert_array_equal(WhTp[c], _panels(np.ascontiguousarray(Whc[c].T), P))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nch", [1, 2, 3, 500])
def test_matmul_tn_rows(dtype, nch):
    """``x.T @ y`` split over the summed rows: the blocks' parts added in order, the same
    bits from the serial and the parallel build, and through the layers' product helper."""
    from fastlstm.layers._products import _matmul_into

    rng = np.random.default_rng(nch)
    x = rng.standard_normal((203, 9)).astype(dtype)
    y = rng.standard_normal((203, 31)).astype(dtype)
    want = x.T.astype(np.float64) @ y.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    blocks = min(nch, x.shape[0])
    outs = []
    for build in (blas.matmul_tn_rows.serial, blas.matmul_tn_rows.parallel):
        out = np.full((9, 31), np.nan, dtype=dtype)
        build(x, y, out, np.full((blocks - 1, 9, 31), np.nan, dtype=dtype), nch)
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * 10)
        outs.append(out)
    assert outs[0].tobytes() == outs[1].tobytes()
    out = np.empty((9, 31), dtype=dtype)
    _matmul_into(out, x.T, y)
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("M", "K1", "K2"), [(203, 9, 31), (5, 1, 1), (0, 4, 6), (40, 700, 3)])
@pytest.mark.parametrize("nch", [1, 2, 3, 500])
def test_matmul_tn(dtype, M, K1, K2, nch):
    """``x.T @ y`` in blocks of rows of the result, each one BLAS call reading its columns
    of ``x`` in place: right, every element written, the same bits from both builds, and
    through the layers' product helper into a row-major and a column-major result (a tied
    weight's gradient is column-major and comes here through the transposes)."""
    from fastlstm.layers._products import _matmul_into

    rng = np.random.default_rng(M + K1)
    x = rng.standard_normal((M, K1)).astype(dtype)
    y = rng.standard_normal((M, K2)).astype(dtype)
    want = x.T.astype(np.float64) @ y.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    outs = []
    for build in (blas.matmul_tn.serial, blas.matmul_tn.parallel):
        out = np.full((K1, K2), np.nan, dtype=dtype)
        build(x, y, out, nch)
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * 10)
        outs.append(out)
    assert outs[0].tobytes() == outs[1].tobytes()
    for out in (np.full((K1, K2), np.nan, dtype=dtype), np.full((K2, K1), np.nan, dtype=dtype).T):
        _matmul_into(out, x.T, y)
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * 10)


@pytest.mark.skipif(not blas.HAVE_GEMM, reason="numba's gemm binding is not available")
def test_tied_output_layer_backward_copies_no_scores():
    """The gradient of a weight tied to an embedding (``TimeAffine(embed_W.T, b)``) is
    computed from the score gradient in place: no temporary of the scores' size."""
    import tracemalloc

    from fastlstm.layers import TimeAffine

    rng = np.random.default_rng(0)
    N, T, D, V = 8, 10, 16, 5000
    embed_W = rng.standard_normal((V, D)).astype(np.float32)
    layer = TimeAffine(embed_W.T, np.zeros(V, np.float32))
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    dout = rng.standard_normal((N, T, V)).astype(np.float32)
    layer.forward(x)
    layer.backward(dout)  # compiled and warm
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        dx = layer.backward(dout)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < dout.nbytes / 4, f"{peak} bytes allocated for {dout.nbytes} bytes of scores"
    want = x.reshape(N * T, D).T.astype(np.float64) @ dout.reshape(N * T, V)
    np.testing.assert_allclose(layer.grads[0], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, dout @ embed_W, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(7, 3, 5, 20), (13, 2, 4, 32)])
def test_fused_tile_study_compares_the_same_sums(shape):
    """``bench/fused_tile.py`` times a gate-interleaved tile against today's; its
    products must be today's, bit for bit, for every tile height (units padded to
    whole vectors at H=20, none at H=32)."""
    path = Path(__file__).resolve().parent.parent / "bench" / "fused_tile.py"
    spec = importlib.util.spec_from_file_location("_bench_fused_tile", path)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    rows, _, _ = study.measure(*shape, repeat=1)
    gate_rows = [r for r in rows if r[3] is not None]
    assert len(gate_rows) == study.MAX_ROWS + 1
    assert all(same for _, _, _, same in gate_rows)
