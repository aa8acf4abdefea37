"""Helpers shared by the tests that compare :mod:`fastlstm.layers` with :mod:`reference.layers`.

One error measure is used everywhere: the relative error of an array is
``max|fast - ref| / max(max|ref|, 1e-30)``, and it must not exceed ``1e-10``
in float64 or ``1e-4`` in float32.
"""

from __future__ import annotations

import functools

import numpy as np

TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
"""Largest relative error allowed, by the dtype the layer computes in."""


def rel_error(fast, ref) -> float:
    """``max|fast - ref| / max(max|ref|, 1e-30)`` in float64 (NaN if ``fast`` holds NaN)."""
    fast = np.asarray(fast, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if fast.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    return float(np.max(np.abs(fast - ref))) / scale


def assert_close(fast, ref, dtype, name="array"):
    """Assert that ``fast`` matches the reference ``ref`` to the tolerance of ``dtype``.

    Parameters
    ----------
    fast, ref : array_like or float
        Result of the fast layer and of the reference layer.
    dtype : numpy dtype
        The dtype the layer computes in; fixes the tolerance, and array
        results of the fast layer must have it.
    name : str
        What is compared (layer and array), used in the assertion message.
    """
    dtype = np.dtype(dtype)
    tol = TOLERANCE[dtype]
    fast_a = np.asarray(fast)
    ref_a = np.asarray(ref)
    assert fast_a.shape == ref_a.shape, (
        f"{name}: shape {fast_a.shape} differs from the reference's {ref_a.shape}"
    )
    if fast_a.ndim:
        assert fast_a.dtype == dtype, f"{name}: dtype {fast_a.dtype}, expected {dtype}"
    err = rel_error(fast_a, ref_a)
    assert err <= tol, f"{name}: relative error {err:.3e} exceeds {tol:g} ({dtype})"


def assert_results_close(fast, ref, dtype, name):
    """:func:`assert_close` on a result that may be a tuple, a list, ``None`` or an array."""
    if ref is None:
        assert fast is None, f"{name}: expected None like the reference, got {type(fast)}"
        return
    if isinstance(ref, (tuple, list)):
        assert isinstance(fast, (tuple, list)) and len(fast) == len(ref), (
            f"{name}: expected a sequence of {len(ref)} like the reference, got {type(fast)}"
        )
        for k, (f, r) in enumerate(zip(fast, ref)):
            assert_close(f, r, dtype, f"{name}[{k}]")
        return
    assert_close(fast, ref, dtype, name)


def assert_bitwise_equal(a, b, name):
    """Assert that two arrays have the same shape, dtype and bytes."""
    a = np.asarray(a)
    b = np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (
        f"{name}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
    )
    if a.tobytes() != b.tobytes():
        diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        raise AssertionError(f"{name}: not bitwise identical (max abs difference {diff:.3e})")


def snapshot_arrays(layer):
    """Record the identity of ``layer.params``/``layer.grads`` and a copy of the params' values."""
    return (
        [id(p) for p in layer.params],
        [id(g) for g in layer.grads],
        [p.copy() for p in layer.params],
    )


def assert_arrays_kept(layer, snapshot, name):
    """Assert params and grads are the same objects as in ``snapshot`` and params are unchanged."""
    param_ids, grad_ids, values = snapshot
    assert [id(p) for p in layer.params] == param_ids, f"{name}: a params array was rebound"
    assert [id(g) for g in layer.grads] == grad_ids, f"{name}: a grads array was rebound"
    for k, (p, v) in enumerate(zip(layer.params, values)):
        assert np.array_equal(p, v), f"{name}: params[{k}] was modified by forward/backward"


def assert_same_bits(a, b, name="array"):
    """Assert that ``a`` and ``b`` hold the same bytes (the same bits, -0.0 and NaNs included)."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8), err_msg=str(name))


@functools.lru_cache(maxsize=None)
def blas_rounds_rows_alike() -> bool:
    """Whether the kernels' BLAS gives a row of a float32 product the same bits whatever rows
    come with it.

    OpenBLAS's AVX-512 kernels do; its Haswell kernels (``OPENBLAS_CORETYPE=Haswell``) round
    the last rows of a product apart from the same rows among more.  Where they do not, the rows of
    a batch agree with the same rows alone or in other blocks to float rounding only.
    """
    from fastlstm.layers._products import _mm

    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 64)).astype(np.float32)
    b = rng.standard_normal((64, 256)).astype(np.float32)
    full = _mm(a, b)
    blocks = [(0, 1), (0, 16), (16, 45), (45, 300)]
    return all(np.array_equal(_mm(a[lo:hi], b), full[lo:hi]) for lo, hi in blocks)


def assert_rows_alike(got, want, name="array", rtol=1e-5, atol=1e-6):
    """``got`` (rows computed in other batches or blocks) equals ``want``: bit for bit where
    :func:`blas_rounds_rows_alike`, else to float32 rounding (``rtol``, ``atol``)."""
    got, want = np.asarray(got), np.asarray(want)
    if blas_rounds_rows_alike():
        assert got.dtype == want.dtype, f"{name}: {got.dtype} against {want.dtype}"
        assert_same_bits(got, want, name)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)
