"""How fast does each BLAS on this machine run the products fastlstm's kernels hand it?

The kernels multiply through NumPy's own OpenBLAS when NumPy ships one
(:func:`fastlstm._kernels.blas.gemm`), else through numba's ``np.dot``, which calls the
BLAS SciPy ships (``scipy.linalg.cython_blas``), often a different OpenBLAS release.
This script times, on one thread, the products of the
benchmark's models (the LSTM's whole-sequence products and weight gradients, the
output layers' forward, ``dx`` and ``dW``) in numba's ``np.dot``, in NumPy's
``np.dot`` and, when the ``scipy-openblas32`` wheel is installed, in the OpenBLAS
it carries (through its ``cblas_sgemm``), with the 2048³ sgemm of each as the
yardstick::

    python bench/blas_shapes.py
    python bench/blas_shapes.py --repeat 40

It prints the CPU, each library's version, GFLOPS per product (the best of
``--repeat`` calls after a warm-up call) and whether each library's result has the
bits of numba's.  ``OPENBLAS_NUM_THREADS`` is set to 1 before NumPy loads (unless
set already), so every library runs on one thread, as the kernels run BLAS.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

#: ``(name, shape of a, shape of b, transposed)``: the product is ``a @ b``, or with
#: ``transposed`` ``a.T @ b`` (a transposed view, as the weight gradients read it).
SHAPES = [
    ("2048^3 (yardstick)", (2048, 2048), (2048, 2048), False),
    ("LSTM dW, AttentionSeq2seq encoder block: Z.T @ dA", (3712, 273), (3712, 512), True),
    ("LSTM dW, BetterRnnlm layer block: Z.T @ dA", (700, 1301), (700, 1312), True),
    ("LSTM input projection, BetterRnnlm block: X @ Wx", (700, 651), (651, 1312), False),
    ("Rnnlm output layer forward: x @ W", (700, 100), (100, 10000), False),
    ("Rnnlm output layer dW, one thread's rows: x.T @ ds", (350, 100), (350, 10000), True),
    ("Rnnlm output layer dx, one thread's rows: ds @ W.T", (350, 10000), (10000, 100), False),
    ("BetterRnnlm output layer forward, one thread's rows: x @ W", (350, 650), (650, 10000), False),
]


@njit(cache=False)
def _numba_dot(a, b, out):
    np.dot(a, b, out)


def _cblas():
    """``(sgemm(a, b, out), version)`` of the ``scipy-openblas32`` wheel, or ``(None, None)``."""
    try:
        import scipy_openblas32
    except ImportError:
        return None, None
    lib = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(), "libscipy_openblas.so"))
    lib.scipy_openblas_set_num_threads(1)
    lib.scipy_openblas_get_config.restype = ctypes.c_char_p
    version = lib.scipy_openblas_get_config().decode().split()[1]
    gemm = lib.scipy_cblas_sgemm
    gemm.restype = None
    gemm.argtypes = [ctypes.c_int] * 6 + [
        ctypes.c_float,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_float,
        ctypes.c_void_p,
        ctypes.c_int,
    ]
    row_major, no_trans, trans = 101, 111, 112

    def sgemm(a, b, out):
        # row-major out = op(a) @ b; a is C-contiguous or the transpose of a C-contiguous array
        m, k = a.shape
        n = b.shape[1]
        ta, lda = (no_trans, k) if a.flags.c_contiguous else (trans, m)
        gemm(row_major, ta, no_trans, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, n, 0.0,
             out.ctypes.data, n)  # fmt: skip

    return sgemm, version


def _blas_version(module):
    try:
        blas = module.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '?')}"
    except Exception:  # noqa: BLE001 - only a label
        return "?"


def _best(fn, repeat):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure(shapes=SHAPES, repeat=20, seed=0):
    """Rows ``(name, {library: (GFLOPS, same bits as numba, largest difference)})`` and the
    library labels; the difference is relative to numba's largest element."""
    import scipy

    # numba binds SciPy's BLAS at its first product: before the wheel's library is
    # loaded (it exports the same symbol names; loaded first, numba's products ran at its speed)
    small = np.ones((2, 2), np.float32)
    _numba_dot(small, small, np.empty_like(small))
    cblas, cblas_version = _cblas()
    labels = {
        "numba": f"numba's np.dot ({_blas_version(scipy)}, SciPy's)",
        "numpy": f"NumPy's np.dot ({_blas_version(np)})",
    }
    if cblas is not None:
        labels["openblas32"] = f"scipy-openblas32 (OpenBLAS {cblas_version})"
    rng = np.random.default_rng(seed)
    rows = []
    for name, sa, sb, transposed in shapes:
        a = rng.standard_normal(sa, dtype=np.float32)
        a = a.T if transposed else a
        b = rng.standard_normal(sb, dtype=np.float32)
        flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]
        ref = np.empty((a.shape[0], b.shape[1]), np.float32)
        _numba_dot(a, b, ref)
        calls = {"numba": _numba_dot, "numpy": np.dot}
        if cblas is not None:
            calls["openblas32"] = cblas
        rates = {}
        for lib, call in calls.items():
            out = np.empty_like(ref)
            seconds = _best(lambda call=call, a=a, b=b, out=out: call(a, b, out), repeat)
            err = float(np.max(np.abs(out - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
            rates[lib] = (flops / seconds / 1e9, bool(np.array_equal(out, ref)), err)
        rows.append((name, rates))
    return rows, labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per product")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    rows, labels = measure(repeat=args.repeat)
    import conftest  # bench/conftest.py: what the benchmarks record

    threads = os.environ["OPENBLAS_NUM_THREADS"]
    print(f"CPU: {conftest.cpu_model()}; one thread (OPENBLAS_NUM_THREADS={threads})")
    for lib, label in labels.items():
        print(f"  {lib}: {label}")
    libs = list(labels)
    print("\n| product | " + " | ".join(f"{lib} GFLOPS" for lib in libs) + " |")
    print("| --- | " + " | ".join("---:" for _ in libs) + " |")
    for name, rates in rows:
        cells = []
        for lib in libs:
            rate, same, _ = rates[lib]
            cells.append(f"{rate:.1f}" + ("" if same or lib == "numba" else " (other bits)"))
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
