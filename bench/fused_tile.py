"""Would a register tile holding all four gates of the same units pay on this CPU?

The LSTM step multiplies ``h @ Wh`` with the register-blocked kernel of
:mod:`fastlstm._kernels.blas` (tiles of up to ``TILE_ROWS`` rows times one panel
of ``2 * lanes`` gate columns), then applies the gate nonlinearities and the cell
update in a pass of its own.  Fusing that pass into the tile needs the four
gates of the same units in registers at once: ``R`` rows times four vectors (f,
g, i, o of ``lanes`` units) on a gate-interleaved panel layout.  That tile keeps
``4R`` running sums plus four panel vectors and a broadcast in registers, so it
holds fewer rows than today's tile: at most 2 rows with AVX2's 16 registers, 6
with AVX-512's 32.

This script times the per-step products alone, both ways, on the states of a
real forward pass, and checks that both give the same bits (the same sums in the
same order).  The fused step can only pay where the gate-interleaved products
cost less than today's products plus the part of the gate pass that fusing
removes (the layer's whole forward is printed beside them for scale)::

    python bench/fused_tile.py                      # the encoder of AttentionSeq2seq
    python bench/fused_tile.py --shape 20 35 650 650  # BetterRnnlm's layers

It prints the CPU and the vector width with the figures (ms per forward pass of
``T`` steps, minimum and median of ``--repeat`` runs after five warm-up runs, beside the sgemm rate
measured before and after).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from numba.core.caching import NullCache

import fastlstm._kernels.blas as kblas
from fastlstm._numba import pjit, prange
from fastlstm.layers import TimeLSTM

LANES = kblas.VECTOR_BYTES // 4  # float32 lanes per vector
#: Rows of the gate-interleaved tile that fit the vector registers (4R sums + 4 + 1).
MAX_ROWS = (32 if kblas.VECTOR_BYTES >= 64 else 16) - 5
MAX_ROWS //= 4


def _uncached(kernel):
    """``kernel``, compiled in every process and never saved.

    fastlstm's kernel cache is for the package's modules: an entry saved from a
    module loaded by path, as the tests load this one, cannot be loaded back by
    another process.
    """
    kernel._cache = NullCache()
    return kernel


@_uncached
@pjit
def products_now(Whp, hs_tm, out, T):
    """Today's per-step products: every block's panels times all rows, ``T`` steps."""
    C = Whp.shape[0]
    for t in range(T):
        for c in prange(C):
            kblas.matmul_panels(hs_tm[t], Whp[c], out[c])


def _products_gates(rows):
    """A kernel ``(Wg, hs_tm, out, T)``: the gate-interleaved products, tiles of ``rows`` rows.

    ``Wg`` (C, G, H, 4L) holds group ``g``'s four gate vectors (f, g, i, o of ``L``
    units) side by side at every ``k``; ``out`` (C, N, G*4L) receives the products
    in that layout.  The rows beyond the last whole tile go one by one.
    """
    tile = kblas._make_tile(rows, 4, False)
    one = kblas._make_tile(1, 4, False)

    @pjit
    def products(Wg, hs_tm, out, T):
        C, G, K, P = Wg.shape
        N = hs_tm.shape[1]
        ldc = out.shape[2]
        whole = N - N % rows
        for t in range(T):
            for c in prange(C):
                A, B, D = hs_tm[t], Wg[c], out[c]
                for g in range(G):
                    for lo in range(0, whole, rows):
                        tile(A, lo * K, K, B, g * K * P, K, D, lo * ldc + g * P, ldc)
                    for lo in range(whole, N):
                        one(A, lo * K, K, B, g * K * P, K, D, lo * ldc + g * P, ldc)

    return _uncached(products)


#: The gate-interleaved products by tile height, up to one row more than the registers hold.
PRODUCTS_GATES = {rows: _products_gates(rows) for rows in range(1, MAX_ROWS + 2)}


def gate_interleaved(Whp, hc):
    """Today's panels (C, npan, H, P) -> (C, G, H, 4L): per group of L units, f|g|i|o."""
    C, npan, H, P = Whp.shape
    full = Whp.transpose(0, 2, 1, 3).reshape(C, H, npan * P)  # (C, H, 4hc) block layout
    G = -(-hc // LANES)
    out = np.zeros((C, G, H, 4 * LANES), dtype=Whp.dtype)
    for g in range(G):
        lo, hi = g * LANES, min(hc, (g + 1) * LANES)
        for q in range(4):
            out[:, g, :, q * LANES : q * LANES + hi - lo] = full[:, :, q * hc + lo : q * hc + hi]
    return out


def _timed(f, repeat):
    for _ in range(5):  # first calls pay first-use costs
        f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times), statistics.median(times)


def measure(N, T, D, H, repeat):
    """Time the per-step products of one forward pass of a ``TimeLSTM`` both ways.

    Returns ``[(label, min_ms, median_ms, same_bits), ...]``: the layer's whole
    forward, today's products, and the gate-interleaved products with tiles of
    1 to ``MAX_ROWS + 1`` rows (``same_bits``: equal to today's products, bit for
    bit; ``None`` where there is nothing to compare).
    """
    rng = np.random.default_rng(0)
    Wx, Wh = (rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((D, 4 * H), (H, 4 * H)))
    layer = TimeLSTM(Wx, Wh, np.zeros(4 * H, np.float32))
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    layer.forward(xs)
    A, hs_tm = layer._cache[3:5]  # (C, T, N, 4hc) gates, (T+1, N, H) states
    Whp = layer._workspace["Whp"]
    C, _, _, hc4 = A.shape
    hc = hc4 // 4
    now = np.zeros((C, N, Whp.shape[1] * Whp.shape[3]), np.float32)  # (C, N, 4hc padded)
    Wg = gate_interleaved(Whp, hc)
    G = Wg.shape[1]
    fused = np.zeros((C, N, G * 4 * LANES), np.float32)
    rows_out = [
        (
            "layer forward (products, projection, gate pass)",
            *_timed(lambda: layer.forward(xs), repeat),
            None,
        )
    ]
    t = _timed(lambda: products_now(Whp, hs_tm, now, T), repeat)
    rows_out.append(
        (f"today's products, tiles of {kblas.TILE_ROWS} rows x {2 * LANES} columns", *t, None)
    )
    ref = now[:, :, : 4 * hc].reshape(C, N, 4, hc)
    for rows in range(1, MAX_ROWS + 2):
        t = _timed(lambda r=rows: PRODUCTS_GATES[r](Wg, hs_tm, fused, T), repeat)
        got = fused.reshape(C, N, G, 4, LANES).transpose(0, 1, 3, 2, 4).reshape(C, N, 4, G * LANES)
        label = f"gate-interleaved, tiles of {rows} rows x 4 x {LANES} columns"
        if rows > MAX_ROWS:
            label += " (more sums than registers)"
        rows_out.append((label, *t, bool(np.array_equal(got[..., :hc], ref))))
    return rows_out, C, hc


def _sgemm_gflops(conftest):
    """GFLOPS of NumPy's 2048^3 float32 product, the benchmarks' yardstick (median of 5)."""
    a, b = conftest.sgemm_operands()
    out = np.empty_like(a)
    _, median = _timed(lambda: np.matmul(a, b, out=out), 5)
    return conftest.sgemm_flops() / median / 1e6


def main(argv=None):
    """Print the CPU, the sgemm rate and the measurements of :func:`measure`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shape", nargs=4, type=int, default=(128, 29, 16, 256), metavar=("N", "T", "D", "H")
    )
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    N, T, D, H = args.shape
    if min(args.shape) < 1 or args.repeat < 1:
        parser.error("--shape sizes and --repeat must be at least 1")

    import conftest  # bench/conftest.py: what the benchmarks record, and their yardstick

    before = _sgemm_gflops(conftest)
    rows, C, hc = measure(N, T, D, H, args.repeat)
    after = _sgemm_gflops(conftest)
    print(
        f"CPU: {conftest.cpu_model()} ({conftest.vector_isa()['vector_isa']}); kernels built "
        f"for vectors of {kblas.VECTOR_BYTES} bytes ({LANES} float32)"
    )
    print(f"sgemm 2048^3: {before:.0f} GFLOPS before, {after:.0f} after")
    print(f"LSTM N={N} T={T} D={D} H={H}: {C} blocks of {hc} units; ms per {T} steps, min / median")
    flops = 2.0 * T * N * H * 4 * H  # the per-step products h @ Wh
    rate = (before + after) / 2
    for label, lo, med, same in rows:
        if same is None and not label.startswith("today"):
            extra = ""
        else:
            extra = f"  {flops / lo / 1e6 / rate:4.0%} of sgemm"
            if same is not None:
                extra += f", same bits: {same}"
        print(f"  {label:76s} {lo:8.2f} / {med:8.2f}{extra}")


if __name__ == "__main__":
    main()
