"""Matrix products through BLAS, parallel over fixed blocks.

All of fastlstm's matrix products go through these helpers (or through
:func:`gemm` inside other kernels), so they share one BLAS library (NumPy's
OpenBLAS when found, :mod:`fastlstm._blas_lib`; else SciPy's, through numba's
``np.dot``), used single-threaded from inside ``prange`` (see
:mod:`fastlstm._numba`).  The
blocks depend only on ``nch`` (``fastlstm._numba.CHUNKS``), not on the thread
count, so results are reproducible with any number of threads.

Operands are 2-D float arrays; ``a`` in :func:`matmul` and ``x``/``y`` in
:func:`matmul_tn` must be C-contiguous, ``b`` C- or F-contiguous, ``out``
C-contiguous.

The one exception is the per-step product of the recurrent kernels, a few
rows times the same large matrix at every time step: :func:`matmul_packed`
multiplies by a matrix laid out once in panels (:func:`pack_panels`,
:func:`pack_panels_t`) with a register-blocked kernel, where a BLAS call
would repack the whole matrix at every step (see ``docs/design.md``).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
from numba import types
from numba.extending import overload

from fastlstm import _blas_lib, _vectors
from fastlstm._numba import (
    before_linking,
    c_callable,
    compile_only,
    dual,
    inlined,
    jit,
    link_symbol,
    prange,
)

# BLAS's gemm as numba binds it for np.dot (numba's helper library, SciPy's BLAS), called
# directly where a product reads a strided block that np.dot would copy first.  numba does
# not document this binding: without it (HAVE_GEMM False) the block is copied as before.
try:
    from numba.np.linalg import _BLAS

    HAVE_GEMM = callable(getattr(_BLAS, "numba_xxgemm", None))
except ImportError:
    HAVE_GEMM = False

#: True when the kernels' products call NumPy's OpenBLAS (:mod:`fastlstm._blas_lib`)
#: through :func:`gemm`, False when they call numba's ``np.dot`` (SciPy's BLAS).
NUMPY_GEMM = _blas_lib.register()

_I64 = types.int64
_PTR = types.uintp  # an array's address, as ``a.ctypes.data`` gives it
_FLOATS = (types.float32, types.float64)  # the dtypes of every BLAS call below


def _cblas_gemm(dt, name):
    """NumPy's OpenBLAS ``cblas_?gemm`` for ``dt``, called by the name :mod:`fastlstm._blas_lib`
    registered."""
    # fmt: off
    return types.ExternalFunction(
        name,
        types.void(
            types.intc, types.intc, types.intc,  # order, op(A), op(B)
            _I64, _I64, _I64,  # M, N, K
            dt, _PTR, _I64, _PTR, _I64,  # alpha, A, lda, B, ldb
            dt, _PTR, _I64,  # beta, C, ldc
        ),
    )
    # fmt: on


_SGEMM = _cblas_gemm(types.float32, _blas_lib.SGEMM)
_DGEMM = _cblas_gemm(types.float64, _blas_lib.DGEMM)
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@jit(inline="never")
def _operand(rows, cols, s0, s1, size):
    """How cblas reads a ``(rows, cols)`` array of strides ``(s0, s1)`` in place:
    ``(op, ld)``, row-major, as its own rows or transposed; ``(0, 0)`` when it cannot
    (no dimension of unit stride)."""
    if (cols <= 1 or s1 == size) and (rows <= 1 or (s0 % size == 0 and s0 >= cols * size)):
        return _NO_TRANS, max(s0 // size if rows > 1 else cols, cols, 1)
    if (rows <= 1 or s0 == size) and (cols <= 1 or (s1 % size == 0 and s1 >= rows * size)):
        return _TRANS, max(s1 // size if cols > 1 else rows, rows, 1)
    return 0, 0


@jit(inline="never")
def _gemm_call(M, K, N, Kb, Mc, Nc, as0, as1, bs0, bs1, cs0, cs1, size, pa, pb, pc):
    """The cblas call of :func:`gemm`, from shapes, strides and addresses: compiled once,
    whatever the arrays' types."""
    if M == 0 or N == 0:
        return
    ta, lda = _operand(M, K, as0, as1, size)
    tb, ldb = _operand(K, N, bs0, bs1, size)
    tc, ldc = _operand(M, N, cs0, cs1, size)
    if Kb != K or Mc != M or Nc != N or ta * tb == 0 or tc != _NO_TRANS:
        raise ValueError("gemm: shapes that do not match, or an operand with no unit stride")
    _cblas_or_tiles(M, K, N, ta, lda, tb, ldb, ldc, size, pa, pb, pc)


@jit
def _cblas(M, K, N, ta, lda, tb, ldb, ldc, size, pa, pb, pc):
    """NumPy's OpenBLAS ``cblas_?gemm`` of row-major operands."""
    if size == 4:
        _SGEMM(
            _ROW_MAJOR, ta, tb, M, N, K,
            np.float32(1), pa, lda, pb, ldb, np.float32(0), pc, ldc,
        )  # fmt: skip
    else:
        _DGEMM(
            _ROW_MAJOR, ta, tb, M, N, K,
            np.float64(1), pa, lda, pb, ldb, np.float64(0), pc, ldc,
        )  # fmt: skip


def gemm(a, b, out):
    """``out[...] = a @ b`` for 2-D float arrays of one dtype (compiled code only).

    Through NumPy's OpenBLAS when :data:`NUMPY_GEMM`, reading each operand in place:
    ``a`` and ``b`` need one dimension of unit stride (rows of a C array, or a
    transposed view), ``out`` rows of unit stride; anything else is a ``ValueError``
    (no copies).  Else numba's ``np.dot``.
    """
    raise NotImplementedError("compiled code only")


@overload(gemm)
def _gemm_impl(a, b, out):
    dt = out.dtype
    if not NUMPY_GEMM or dt not in _FLOATS or a.dtype != dt or b.dtype != dt:

        def by_numba(a, b, out):
            np.dot(a, b, out)

        return by_numba

    def by_cblas(a, b, out):
        _gemm_call(
            a.shape[0], a.shape[1], b.shape[1], b.shape[0], out.shape[0], out.shape[1],
            a.strides[0], a.strides[1], b.strides[0], b.strides[1],
            out.strides[0], out.strides[1], out.itemsize,
            a.ctypes.data, b.ctypes.data, out.ctypes.data,
        )  # fmt: skip

    return by_cblas


def tn_block(x, y, lo, hi, out):
    """``out[lo:hi] = x[:, lo:hi].T @ y`` (compiled code only)."""
    raise NotImplementedError("compiled code only")


@overload(tn_block)
def _tn_block_impl(x, y, lo, hi, out):
    if NUMPY_GEMM and out.dtype in _FLOATS:

        def by_gemm(x, y, lo, hi, out):
            gemm(x[:, lo:hi].T, y, out[lo:hi])

        return by_gemm
    if not HAVE_GEMM or out.dtype not in _FLOATS:

        def copied(x, y, lo, hi, out):
            xb = np.ascontiguousarray(x[:, lo:hi])  # (M, hi-lo)
            np.dot(xb.T, y, out[lo:hi])

        return copied
    dtype = out.dtype
    kind = ord("s") if dtype == types.float32 else ord("d")
    gemm_ = _BLAS().numba_xxgemm(dtype)  # bound when a kernel using it compiles

    def in_place(x, y, lo, hi, out):
        # column-major: out[lo:hi] is (K2, hi-lo) with leading dimension K2, y is (K2, M)
        # with K2, and x[:, lo:hi] is (hi-lo, M) with K1, used transposed.  The binding
        # returns non-zero only when SciPy's BLAS cannot be loaded, which _BLAS() refuses
        # when this compiles.
        M, K1 = x.shape
        K2 = y.shape[1]
        one = np.ones(1, dtype)
        zero = np.zeros(1, dtype)
        gemm_(
            kind, ord("n"), ord("t"), K2, hi - lo, M,
            one.ctypes, y.ctypes, K2, x[:, lo:].ctypes, K1, zero.ctypes, out[lo:].ctypes, K2,
        )  # fmt: skip

    return in_place


@jit(inline="always")
def product_blocks(M, nch):
    """How many blocks the products split ``M`` rows into: ``nch``, at most one per row."""
    return max(1, min(nch, M))


@jit(inline="always")
def block_bounds(c, M, nblocks):
    """Rows ``(lo, hi)`` of block ``c`` of ``nblocks`` over ``M`` rows: equal steps, rounded
    up, so the last blocks may be shorter or empty (``lo >= hi``)."""
    step = (M + nblocks - 1) // nblocks
    lo = c * step
    return lo, min(M, lo + step)


@dual(blas=True)
def matmul(a, b, out, nch):
    """``out[...] = a @ b``, blocks of rows of ``a`` in parallel."""
    M = a.shape[0]
    C = product_blocks(M, nch)
    for c in prange(C):
        lo, hi = block_bounds(c, M, C)
        if lo < hi:
            gemm(a[lo:hi], b, out[lo:hi])


@dual(blas=True)
def matmul_bias(a, b, bias, out, nch):
    """``out[...] = a @ b + bias`` (bias broadcast over rows)."""
    M = a.shape[0]
    K = out.shape[1]
    C = product_blocks(M, nch)
    for c in prange(C):
        lo, hi = block_bounds(c, M, C)
        if lo < hi:
            gemm(a[lo:hi], b, out[lo:hi])
            for i in range(lo, hi):
                for k in range(K):
                    out[i, k] += bias[k]


# its code compiled into the kernels that call it (the decoding kernels)
matmul_bias_rows = inlined(matmul_bias)


@dual(blas=True)
def matmul_tn(x, y, out, nch):
    """``out[...] = x.T @ y`` for ``x`` (M, K1), ``y`` (M, K2); blocks of rows of ``out``.

    Each block is one BLAS product reading its columns of ``x`` in place (a copy of
    them without numba's gemm binding: 28 MB for the tied output weight's gradient
    at 700 x 10000, whose product comes here through the transposes).
    """
    K1 = x.shape[1]
    K2 = y.shape[1]
    C = product_blocks(K1, nch)
    for c in prange(C):
        lo, hi = block_bounds(c, K1, C)
        if lo < hi and K2 > 0:
            tn_block(x, y, lo, hi, out)


@dual(blas=True)
def matmul_tn_rows(x, y, out, part, nch):
    """``out[...] = x.T @ y`` split over the rows of ``x`` and ``y`` (the summed dimension).

    Block ``c`` computes ``x[blk].T @ y[blk]`` into ``out`` (block 0) or
    ``part[c - 1]``; the parts are then added to ``out`` in block order.  For
    a short, wide ``out`` (the weight gradient of an output layer, 100 x 10000
    from 700 rows) this reads ``y`` once, where :func:`matmul_tn` has every
    block pack all of ``y``.  ``part`` is ``(nblocks - 1, K1, K2)``.
    """
    M = x.shape[0]
    K1, K2 = out.shape
    C = product_blocks(M, nch)
    for c in prange(C):
        lo, hi = block_bounds(c, M, C)
        dst = out if c == 0 else part[c - 1]
        if lo < hi:
            gemm(x[lo:hi].T, y[lo:hi], dst)
        else:
            for i in range(K1):
                for j in range(K2):
                    dst[i, j] = 0
    for c in range(1, C):
        src = part[c - 1]
        for i in prange(K1):
            for j in range(K2):
                out[i, j] += src[i, j]


@jit
def _add_row(acc, row):
    """``acc += row`` element by element (vectorised)."""
    for j in range(acc.shape[0]):
        acc[j] += row[j]


@jit
def add_rows(a, first, out):
    """``out += a[first:].sum(axis=0)`` for a C-contiguous ``a`` (M, V), rows added in order.

    Each column's rows are added one after the other, in ``a``'s precision.
    Columns go in blocks of 256, in parallel in a parallel caller; a block's
    running sums (1 KB in float32) stay in the L1 cache while the rows stream
    past.
    """
    M, V = a.shape
    W = 256
    for b in prange((V + W - 1) // W):
        lo = b * W
        hi = min(V, lo + W)
        acc = out[lo:hi]
        for i in range(first, M):
            _add_row(acc, a[i, lo:hi])


@dual
def column_sums(a, out):
    """``out[:] = a.sum(axis=0)`` for a C-contiguous ``a`` (M, V), with NumPy's bits.

    Every column is summed over the rows in order, starting from the first row,
    in ``a``'s precision: as NumPy sums a C-contiguous array over its first
    axis (:func:`add_rows`).  The bias gradient of an output layer
    (700 x 10000) takes about 60% of the time of NumPy's single-threaded sum.
    """
    M, V = a.shape
    for j in range(V):
        out[j] = a[0, j] if M > 0 else 0
    add_rows(a, 1, out)


# --------------------------------------------------------------------------- #
# pack once, multiply many times: a register-blocked kernel over packed panels
#
# The recurrent product of an LSTM step, ``h @ Wh`` with a few rows ``h``
# (N = 20 at the book's language-model shapes) and a large ``Wh``, is called
# at every time step with the same ``Wh``.  A BLAS call packs all of ``Wh``
# into its internal layout each time; here ``Wh`` is laid out once per
# sequence in *panels*: ``Bp[p, k, :]`` holds columns ``p*P:(p+1)*P`` of row
# ``k``, contiguous over ``k``, zero-padded to whole panels.  The kernel
# below walks one panel for a tile of up to ``TILE_ROWS`` rows of ``A``,
# keeping the ``rows x P`` tile of the product in vector registers (LLVM
# vectors generated directly, so the compiler cannot spill or reorder them),
# one fused multiply-add per row, vector and ``k``.  Every output element is
# a sum over ``k`` in order, computed by one call: results do not depend on
# how tiles are spread over threads.
# --------------------------------------------------------------------------- #
VECTOR_BYTES = _vectors.vector_bytes()
#: Vectors per panel: a panel is ``PANEL_VECTORS * VECTOR_BYTES`` bytes wide.
PANEL_VECTORS = 2
#: Most rows of ``A`` a tile keeps in registers (``TILE_ROWS * PANEL_VECTORS`` accumulators,
#: plus the panel's vectors and a broadcast: 23 of AVX-512's 32 registers, 15 of AVX2's 16).
TILE_ROWS = 10 if VECTOR_BYTES >= 64 else 6


def panel_width(dtype):
    """Columns of one panel for ``dtype`` (32 float32 or 16 float64 with AVX-512)."""
    return PANEL_VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize


def _vectors(context, builder, aty, nvec):
    """``(lanes, P, vty, fma)`` of the tiles: values per vector register of ``aty``'s dtype,
    per panel of ``nvec`` vectors, the vector type and ``llvm.fmuladd`` on it."""
    from llvmlite import ir
    from numba.core import cgutils

    fty = context.get_value_type(aty.dtype)
    lanes = VECTOR_BYTES // (aty.dtype.bitwidth // 8)
    vty = ir.VectorType(fty, lanes)
    suffix = "f32" if aty.dtype.bitwidth == 32 else "f64"
    fma = cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(vty, [vty, vty, vty]),
        f"llvm.fmuladd.v{lanes}{suffix}",
    )
    return lanes, nvec * lanes, vty, fma


def _data(context, builder, ty, value):
    """The data pointer of the array ``value`` of numba type ``ty``."""
    from numba.core import cgutils

    return cgutils.create_struct_proxy(ty)(context, builder, value=value).data


def _begin_loop(builder, K, init, vty, name):
    """Open a tile's loop over ``k`` (skipped if ``K`` is 0): ``(pre, loop, done, k, acc)``,
    ``acc`` the running sums, starting from ``init``."""
    from llvmlite import ir

    i64 = ir.IntType(64)
    pre = builder.block
    loop = builder.append_basic_block(f"{name}_loop")
    done = builder.append_basic_block(f"{name}_done")
    builder.cbranch(builder.icmp_signed(">", K, i64(0)), loop, done)

    builder.position_at_end(loop)
    k = builder.phi(i64)
    k.add_incoming(i64(0), pre)
    acc = []
    for x in init:
        phi = builder.phi(vty)
        phi.add_incoming(x, pre)
        acc.append(phi)
    return pre, loop, done, k, acc


def _end_loop(builder, k, K, acc, new, init, pre, loop, done, vty):
    """Close a tile's loop over ``k`` (the running sums ``acc`` become ``new``) and return
    the sums after it: ``init`` if ``K`` is 0, else the last ``new``."""
    from llvmlite import ir

    k1 = builder.add(k, ir.IntType(64)(1))
    end = builder.block
    k.add_incoming(k1, end)
    for phi, x in zip(acc, new):
        phi.add_incoming(x, end)
    builder.cbranch(builder.icmp_signed("<", k1, K), loop, done)

    builder.position_at_end(done)
    outs = []
    for i, x in enumerate(init):
        out = builder.phi(vty)
        out.add_incoming(x, pre)
        out.add_incoming(new[i], end)
        outs.append(out)
    return outs


def _make_tile(rows, nvec, accumulate, a_columns=False):
    """An intrinsic ``tile(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)``.

    ``C[r, :P] (+)= sum_k A[r, k] * Bp[k, :P]`` for ``r < rows``, where row
    ``r`` of ``A`` starts at element ``a_off + r*lda`` of ``A``'s data (with
    ``a_columns``, ``A[r, k]`` is at ``a_off + r + k*lda``: ``A`` transposed), the
    panel at ``b_off`` of ``Bp``'s (``P`` contiguous values per ``k``), and
    row ``r`` of ``C`` at ``c_off + r*ldc``.  With ``accumulate`` the sums
    start from ``C``'s values, else from zero.  Arrays must be contiguous;
    nothing is bounds-checked.
    """
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def tile(typingctx, A, a_off, lda, Bp, b_off, K, C, c_off, ldc):
        sig = types.void(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)

        def codegen(context, builder, signature, args):
            aty, bty, cty = signature.args[0], signature.args[3], signature.args[6]
            i64 = ir.IntType(64)
            i32 = ir.IntType(32)

            def as64(v):
                return builder.sext(v, i64) if v.type.width < 64 else v

            A_, B_, C_ = args[0], args[3], args[6]
            a_off_, lda_, b_off_, K_, c_off_, ldc_ = (as64(args[i]) for i in (1, 2, 4, 5, 7, 8))
            lanes, P, vty, fma = _vectors(context, builder, aty, nvec)
            a0, b0, c0 = (
                builder.gep(_data(context, builder, t, v), [off])
                for t, v, off in ((aty, A_, a_off_), (bty, B_, b_off_), (cty, C_, c_off_))
            )
            if a_columns:
                arows = [builder.gep(a0, [i64(r)]) for r in range(rows)]
            else:
                arows = [builder.gep(a0, [builder.mul(lda_, i64(r))]) for r in range(rows)]
            crows = [builder.gep(c0, [builder.mul(ldc_, i64(r))]) for r in range(rows)]

            def vptr(p, v):
                return builder.bitcast(builder.gep(p, [i64(v * lanes)]), vty.as_pointer())

            if accumulate:
                init = [
                    builder.load(vptr(crows[r], v), align=4)
                    for r in range(rows)
                    for v in range(nvec)
                ]
            else:
                init = [ir.Constant(vty, None)] * (rows * nvec)
            pre, loop, done, k, acc = _begin_loop(builder, K_, init, vty, "tile")
            bp = builder.gep(b0, [builder.mul(k, i64(P))])
            bv = [builder.load(vptr(bp, v), align=4) for v in range(nvec)]
            undef = ir.Constant(vty, ir.Undefined)
            splat = ir.Constant(ir.VectorType(i32, lanes), [0] * lanes)
            new = []
            ka = builder.mul(k, lda_) if a_columns else k
            for r in range(rows):
                a = builder.load(builder.gep(arows[r], [ka]), align=4)
                av = builder.shuffle_vector(builder.insert_element(undef, a, i32(0)), undef, splat)
                for v in range(nvec):
                    new.append(builder.call(fma, [av, bv[v], acc[r * nvec + v]]))
            outs = _end_loop(builder, k, K_, acc, new, init, pre, loop, done, vty)
            for i, out in enumerate(outs):
                builder.store(out, vptr(crows[i // nvec], i % nvec), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return tile


def _make_row_tile(npanels, nvec, strided=False, accumulate=False):
    """An intrinsic ``row_tile(A, a_off, Bp, b_off, K, C, c_off)`` for one row and several panels.

    ``C[j*P : (j+1)*P] = sum_k A[k] * Bp[j, k, :P]`` for ``j < npanels`` (panels
    ``K*P`` values apart from ``b_off``, row of ``A`` at ``a_off``, row of ``C``
    at ``c_off``): the same sums, in the same order, as ``npanels`` calls of the
    one-row tile of :func:`_make_tile`, but with ``npanels * nvec`` running sums
    in flight, so a single row is not held up by the latency of each
    multiply-add.

    With ``strided``, ``row_tile(A, a_off, B, b_off, ldb, K, C, c_off)`` reads a
    matrix in its own layout instead of panels: ``C[:npanels*P] = sum_k A[k] *
    B[k, :npanels*P]``, row ``k`` of ``B`` at ``b_off + k*ldb`` (the same sums
    again, column by column).  With ``accumulate`` the sums start from ``C``'s
    values instead of zero: a sum split over blocks of ``k`` is then the same
    chain of multiply-adds, so it has the same bits.
    """
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    def codegen(context, builder, signature, args):
        if strided:  # (A, a_off, B, b_off, ldb, K, C, c_off)
            A_, a_off_, B_, b_off_, ldb_, K_, C_, c_off_ = args
            aty, bty, cty = signature.args[0], signature.args[2], signature.args[6]
        else:  # (A, a_off, Bp, b_off, K, C, c_off)
            A_, a_off_, B_, b_off_, K_, C_, c_off_ = args
            aty, bty, cty = signature.args[0], signature.args[2], signature.args[5]
            ldb_ = None
        i64 = ir.IntType(64)
        i32 = ir.IntType(32)

        def as64(v):
            return builder.sext(v, i64) if v.type.width < 64 else v

        a_off_, b_off_, K_, c_off_ = (as64(v) for v in (a_off_, b_off_, K_, c_off_))
        lanes, P, vty, fma = _vectors(context, builder, aty, nvec)
        a0, b0, c0 = (
            builder.gep(_data(context, builder, t, v), [off])
            for t, v, off in ((aty, A_, a_off_), (bty, B_, b_off_), (cty, C_, c_off_))
        )
        if strided:  # row k at k*ldb, panels P apart
            row_step, panel = as64(ldb_), i64(P)
        else:  # row k at k*P, panels K*P apart
            row_step, panel = i64(P), builder.mul(K_, i64(P))

        def vptr(p, v):
            return builder.bitcast(builder.gep(p, [i64(v * lanes)]), vty.as_pointer())

        nacc = npanels * nvec
        if accumulate:  # the sums go on from C's values
            init = [builder.load(vptr(c0, i), align=4) for i in range(nacc)]
        else:
            init = [ir.Constant(vty, None)] * nacc
        pre, loop, done, k, acc = _begin_loop(builder, K_, init, vty, "row_tile")
        undef = ir.Constant(vty, ir.Undefined)
        splat = ir.Constant(ir.VectorType(i32, lanes), [0] * lanes)
        a = builder.load(builder.gep(a0, [k]), align=4)
        av = builder.shuffle_vector(builder.insert_element(undef, a, i32(0)), undef, splat)
        kp = builder.mul(k, row_step)
        new = []
        for j in range(npanels):
            bp = builder.gep(b0, [builder.add(builder.mul(panel, i64(j)), kp)])
            for v in range(nvec):
                bv = builder.load(vptr(bp, v), align=4)
                new.append(builder.call(fma, [av, bv, acc[j * nvec + v]]))
        outs = _end_loop(builder, k, K_, acc, new, init, pre, loop, done, vty)
        for i, out in enumerate(outs):  # (the phi nodes first)
            builder.store(out, vptr(c0, i), align=4)
        return context.get_dummy_value()

    if strided:

        @intrinsic
        def row_tile(typingctx, A, a_off, B, b_off, ldb, K, C, c_off):
            return types.void(A, a_off, B, b_off, ldb, K, C, c_off), codegen

    else:

        @intrinsic
        def row_tile(typingctx, A, a_off, Bp, b_off, K, C, c_off):
            return types.void(A, a_off, Bp, b_off, K, C, c_off), codegen

    return row_tile


#: Panels one row is multiplied with at once (``ROW_PANELS * PANEL_VECTORS`` running sums:
#: enough to cover the latency of a multiply-add on both AVX2 and AVX-512).
ROW_PANELS = 4
_ROW4 = _make_row_tile(ROW_PANELS, PANEL_VECTORS)
# (for matmul_row, whose sums run over blocks of rows of B: they go on from C's values)
_ROW4_STRIDED = _make_row_tile(ROW_PANELS, PANEL_VECTORS, strided=True, accumulate=True)
_ROW1_STRIDED = _make_row_tile(1, PANEL_VECTORS, strided=True, accumulate=True)


def _l1_ways(root="/sys/devices/system/cpu/cpu0/cache"):
    """Ways of the first CPU's level-1 data cache, from Linux's ``sysfs``; 0 if unknown."""
    try:
        for entry in sorted(os.listdir(root)):
            if not entry.startswith("index"):
                continue
            path = os.path.join(root, entry)
            with open(os.path.join(path, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(path, "type")) as f:
                kind = f.read().strip()
            if level == "1" and kind in ("Data", "Unified"):
                with open(os.path.join(path, "ways_of_associativity")) as f:
                    return int(f.read().strip())
    except (OSError, ValueError):
        pass
    return 0


def _row_block(ways):
    """Rows of ``B`` :func:`matmul_row` reads at a time, for an L1 data cache of ``ways`` ways.

    Rows of a large ``B`` are a multiple of 4 KB apart, so they share a set of the L1
    cache: read together with the running sums, 8 of them fit a 12-way cache (Zen 5,
    recent Xeons), 4 an 8-way one (Zen 4, Skylake).  Only the speed depends on it: every
    column's sum is the same chain of multiply-adds whatever the block.
    """
    return 8 if ways >= 12 else 4


#: Rows of ``B`` that :func:`matmul_row` takes through all its columns before the next ones.
ROW_BLOCK = _row_block(_l1_ways())

_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10 = (
    _make_tile(r, PANEL_VECTORS, False) for r in range(1, 11)
)


# the long products' tiles (10 rows, or TILE_ROWS), sums going on from C's values: A's rows,
# and A transposed (A[r, k] at a_off + r + k*lda)
_ADD, _ADD_T = (_make_tile(TILE_ROWS, PANEL_VECTORS, True, cols) for cols in (False, True))


@jit
def _tile(rows, A, a_off, lda, Bp, b_off, K, C, c_off, ldc):
    """One tile of ``rows`` (1 to 10) rows of ``A`` times one panel."""
    if rows == 10:
        _T10(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 9:
        _T9(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 8:
        _T8(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 7:
        _T7(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 6:
        _T6(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 5:
        _T5(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 4:
        _T4(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 3:
        _T3(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 2:
        _T2(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)
    elif rows == 1:
        _T1(A, a_off, lda, Bp, b_off, K, C, c_off, ldc)


# --------------------------------------------------------------------------- #
# long products with the packed tiles
#
# When NumPy's OpenBLAS runs kernels narrower than the CPU's vectors (its 256-bit
# kernels on an AVX-512 CPU, as OPENBLAS_CORETYPE=Haswell asks), float32 products of 64
# rows or more run faster through the tiles above (1.7-1.8x for the H = 650 models'
# products on one Zen 5 core), when FASTLSTM_PACKED_GEMM asks for them: ``B`` is packed
# a block at a time and every tile of rows of ``A`` is multiplied by it while it is in
# cache (``docs/design.md``, *Long products through the tiles, when OpenBLAS runs
# narrower kernels*).  Each value is one multiply-add per ``k``, in order, from zero, so the bits
# do not depend on how rows are split into tiles, blocks or threads, and are those of
# :func:`matmul_packed`.
# --------------------------------------------------------------------------- #
#: True when :func:`gemm` multiplies long matrices with the packed tiles
#: (:func:`fastlstm._blas_lib.packed_long_products`).
PACKED_LONG = _blas_lib.packed_long_products(VECTOR_BYTES)
# The products that go that way: at least LONG_MIN_M rows (with fewer, packing B costs
# more than it saves: 0.7-0.9x OpenBLAS's Haswell kernels at 20-48 rows) and some width.
LONG_MIN_M, LONG_MIN_KN = 64, 16
# The blocks: LONG_K values of k (a panel's block of 32 KB of float32 with AVX-512 stays in
# L1), LONG_ROWS rows of A (240 KB of float32 in L2), LONG_PANELS panels of B packed at once.
LONG_K, LONG_ROWS, LONG_PANELS = 256, 240, 8


@jit
def _is_long(M, K, N):
    return M >= LONG_MIN_M and K >= LONG_MIN_KN and N >= LONG_MIN_KN


def _make_link_long():
    """An intrinsic ``link_long()`` that emits nothing: while a function that calls it is
    compiled, it has :data:`_LONG_NAME` registered (:func:`_register_long`), before that
    function is linked (a kernel loaded from fastlstm's cache has it registered when its
    code names it: :func:`fastlstm._numba.before_linking`)."""
    from numba.extending import intrinsic

    @intrinsic
    def link_long(typingctx):
        def codegen(context, builder, signature, args):
            link_symbol(_LONG_NAME)
            return context.get_dummy_value()

        return types.none(), codegen

    return link_long


if PACKED_LONG:
    _link_long = _make_link_long()

    @jit
    def _cblas_or_tiles(M, K, N, ta, lda, tb, ldb, ldc, size, pa, pb, pc):
        """:func:`_cblas`, or the packed tiles for a long float32 product."""
        if size == 4 and _is_long(M, K, N):
            _link_long()
            _LONG(M, K, N, ta, lda, tb, ldb, ldc, pa, pb, pc)
        else:
            _cblas(M, K, N, ta, lda, tb, ldb, ldc, size, pa, pb, pc)

else:
    _cblas_or_tiles = _cblas


def _make_address_array():
    """An intrinsic ``floats(addr, n, like)``: the ``n`` values of ``like``'s dtype at the
    address ``addr``, as a 1-D C array (no copy, no ownership)."""
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def floats(typingctx, addr, n, like):
        dt = like.dtype if isinstance(like, types.NumberClass) else like
        aty = types.Array(dt, 1, "C")
        sig = aty(addr, n, like)

        def codegen(context, builder, signature, args):
            ary = context.make_array(aty)(context, builder)
            ptr = builder.inttoptr(args[0], context.get_data_type(dt).as_pointer())
            itemsize = context.get_constant(
                types.intp, context.get_abi_sizeof(context.get_data_type(dt))
            )
            n_ = context.cast(builder, args[1], signature.args[1], types.intp)
            context.populate_array(
                ary, data=ptr, shape=cgutils.pack_array(builder, [n_]),
                strides=cgutils.pack_array(builder, [itemsize]), itemsize=itemsize,
                meminfo=None,
            )  # fmt: skip
            return ary._getvalue()

        return sig, codegen

    return floats


_address_array = _make_address_array()


@jit
def _floats(addr, op, ld, rows, cols, like):
    """The values of a ``(rows, cols)`` operand that cblas reads as ``(op, ld)`` at ``addr``."""
    n = (rows - 1) * ld + cols if op == _NO_TRANS else (cols - 1) * ld + rows
    return _address_array(addr, n, like)


@jit
def _aligned(n, like):
    """An empty 1-D array of ``n`` values of ``like``'s dtype starting on a 64-byte boundary
    (a panel's vectors then never straddle two cache lines)."""
    size = like.itemsize
    raw = np.empty(n + 64 // size, dtype=like.dtype)
    skip = (-raw.ctypes.data) % 64 // size
    return raw[skip : skip + n]


# Compile time (the C function is compiled on a cold first run): _long_product is inlined
# into the C function, so it is not also compiled as a function of its own; its three helpers
# are not (numba's inlining copies their code at a cost of seconds), and their loops are kept
# simple (a condition inside _pad_rows' copy loop cost 1 s of LLVM's time).
@jit(inline="always")
def _long_product(A, ta, lda, B, tb, ldb, C, ldc, M, K, N):
    """``C = A @ B`` with the packed tiles; the operands as :func:`_gemm_call` reads them
    (flat arrays, ``ta``/``tb`` telling whether their rows or their columns are contiguous).

    Blocked for the caches: ``LONG_K`` values of ``k`` of up to ``LONG_PANELS`` panels of
    ``B`` are packed at a time (one panel's block, 32 KB of float32 with AVX-512, stays in
    the L1 cache while it meets every tile of a block of ``LONG_ROWS`` rows of ``A``, which
    stays in L2).  Every sum goes on from where the previous block of ``k`` left it.
    """
    P = panel_width_of(C)
    full = N // P  # whole panels; a narrower last one is computed into `part`, below
    KB = min(K, LONG_K)
    MB = min(M, LONG_ROWS)
    NBP = max(1, min(full, LONG_PANELS))
    Bp = _aligned(NBP * KB * P, C)  # (NBP, KB, P): panels of a block of B
    Ap = _aligned(TILE_ROWS * KB, C)  # (TILE_ROWS, KB): the last rows of a block, padded
    Cp = _aligned(TILE_ROWS * P, C)  # (TILE_ROWS, P): their tile of the product
    for q0 in range(0, full, NBP):
        q1 = min(full, q0 + NBP)
        for k0 in range(0, K, KB):
            kk = min(KB, K - k0)
            _pack_blocks(B, tb, ldb, N, k0, kk, q0, q1, Bp, P)
            for m0 in range(0, M, MB):
                mm = min(MB, M - m0)
                _pad_rows(A, ta, lda, k0, kk, m0, mm, Ap)
                for q in range(q0, q1):
                    b0 = (q - q0) * kk * P
                    _sweep(A, ta, lda, k0, kk, m0, mm, Bp, b0, C, m0 * ldc + q * P, ldc, Ap, Cp)
    if full * P < N:
        part = _aligned(MB * P, C)  # (MB, P): the last panel for a block of rows
        at0 = np.int64(0)  # not the literal 0, for which _sweep would be compiled again
        for m0 in range(0, M, MB):
            mm = min(MB, M - m0)
            for k0 in range(0, K, KB):
                kk = min(KB, K - k0)
                _pack_blocks(B, tb, ldb, N, k0, kk, full, full + 1, Bp, P)
                _pad_rows(A, ta, lda, k0, kk, m0, mm, Ap)
                _sweep(A, ta, lda, k0, kk, m0, mm, Bp, at0, part, at0, P, Ap, Cp)
            for r in range(mm):
                for j in range(N - full * P):
                    C[(m0 + r) * ldc + full * P + j] = part[r * P + j]


@jit(inline="never")
def _pad_rows(A, ta, lda, k0, kk, m0, mm, Ap):
    """The rows of the block ``m0:m0+mm`` after its last whole tile, ``k0:k0+kk`` of each,
    into ``Ap`` (``(TILE_ROWS, kk)``), zeros after them: one more tile of whole rows."""
    r0 = m0 + mm // TILE_ROWS * TILE_ROWS
    rem = m0 + mm - r0
    if rem == 0:
        return
    for i in range(rem * kk, TILE_ROWS * kk):
        Ap[i] = 0
    for r in range(rem):
        if ta == _NO_TRANS:
            src = (r0 + r) * lda + k0
            for k in range(kk):
                Ap[r * kk + k] = A[src + k]
        else:
            for k in range(kk):
                Ap[r * kk + k] = A[(k0 + k) * lda + r0 + r]


@jit(inline="never")
def _sweep(A, ta, lda, k0, kk, m0, mm, Bp, b0, C, c0, ldc, Ap, Cp):
    """Rows ``m0:m0+mm`` of ``A`` times the block of ``kk`` values of ``k`` from ``k0`` of
    one panel (at ``Bp[b0:]``), a tile at a time, into ``C`` from ``c0`` (row ``m0``); the
    sums start from zero at ``k0 == 0`` and go on from ``C``'s values after.  The rows
    after the last whole tile are read from ``Ap`` (:func:`_pad_rows`) through ``Cp``.

    Only the tiles that go on from ``C``'s values are used (a tile's rows are set to zero
    first at ``k0 == 0``): a tile that starts from zero also runs its first multiply-add onto
    zeros, so the bits are the same, and only two tiles are compiled, not six.
    """
    R = TILE_ROWS
    P = Cp.size // R
    nfull = mm // R
    rem = mm - nfull * R
    for i in range(nfull + (rem > 0)):
        c_off = c0 + i * R * ldc
        whole = i < nfull
        rows = R if whole else rem
        out, o_off, ldo = (C, c_off, ldc) if whole else (Cp, 0, P)
        if k0 == 0:
            for r in range(rows):
                out[o_off + r * ldo : o_off + r * ldo + P] = 0
        elif not whole:
            for r in range(rows):
                for j in range(P):
                    Cp[r * P + j] = C[c_off + r * ldc + j]
        if whole and ta != _NO_TRANS:
            _ADD_T(A, k0 * lda + m0 + i * R, lda, Bp, b0, kk, out, o_off, ldo)
        else:
            src, s_off, lds = (A, (m0 + i * R) * lda + k0, lda) if whole else (Ap, 0, kk)
            _ADD(src, s_off, lds, Bp, b0, kk, out, o_off, ldo)
        if not whole:
            for r in range(rem):
                for j in range(P):
                    C[c_off + r * ldc + j] = Cp[r * P + j]


@jit(inline="never")
def _pack_blocks(B, tb, ldb, N, k0, kk, q0, q1, Bp, P):
    """Rows ``k0:k0+kk`` of panels ``q0:q1`` of ``B`` into ``Bp`` (``(q1-q0, kk, P)``,
    zero-padded), reading ``B`` along its contiguous dimension (a walk down one panel's
    rows, 10 KB apart at ``N = 2600``, outran the prefetchers)."""
    hi = min(N, q1 * P)
    if tb == _NO_TRANS:
        for k in range(kk):
            src = (k0 + k) * ldb
            for q in range(q0, q1):
                lo = q * P
                w = min(hi - lo, P)
                dst = ((q - q0) * kk + k) * P
                to, fro = Bp[dst : dst + w], B[src + lo : src + lo + w]
                for n in range(w):
                    to[n] = fro[n]
    else:
        for n in range(q0 * P, hi):
            src = n * ldb + k0
            q = n // P
            dst = (q - q0) * kk * P + n - q * P
            to, fro = Bp[dst : dst + kk * P], B[src : src + kk]
            for k in range(kk):
                to[k * P] = fro[k]
    if hi < q1 * P:  # the last panel is narrower: zeros after its columns
        q = q1 - 1
        for k in range(kk):
            for j in range(hi - q * P, P):
                Bp[((q - q0) * kk + k) * P + j] = 0


def _long_float32(M, K, N, ta, lda, tb, ldb, ldc, pa, pb, pc):
    """:func:`_long_product` of float32 operands at addresses (a C function)."""
    _long_product(
        _floats(pa, ta, lda, M, K, np.float32), ta, lda,
        _floats(pb, tb, ldb, K, N, np.float32), tb, ldb,
        _floats(pc, _NO_TRANS, ldc, M, N, np.float32), ldc, M, K, N,
    )  # fmt: skip


# M, K, N, op(A), lda, op(B), ldb, ldc and the three addresses
_LONG_SIG = types.void(*([_I64] * 8), _PTR, _PTR, _PTR)
_LONG_NAME = "fastlstm_long_product32"


def _register_long(cfunc):
    """Compile (or load) the long float32 products as a C function and register it with LLVM
    under :data:`_LONG_NAME`, as :mod:`fastlstm._blas_lib` registers OpenBLAS's gemm:
    its code is then compiled once, not into every kernel that calls :func:`gemm`.

    A process that only compiles kernels into the cache (a warm-up helper) registers a
    stand-in instead: compiled code refers to the symbol by name, and the process that
    loads the kernels links them to its own C function.
    """
    from llvmlite import binding

    if compile_only():
        address = ctypes.cast(_STAND_IN, ctypes.c_void_p).value
    else:
        cfunc.compile()
        address = cfunc.address
    binding.add_symbol(_LONG_NAME, address)


def _never_called(*args):
    """What the stand-in of :func:`_register_long` does if a kernel ever calls it."""
    os.write(2, b"fastlstm: a kernel ran in a process that only compiles kernels\n")
    os._exit(70)


@jit
def check_panel_width(P, itemsize):
    """Raise unless ``P`` is the panel width compiled into the tiles for ``itemsize``.

    A kernel compiled under another ``FASTLSTM_VECTOR_BYTES`` has another
    width compiled in (each setting has its own cache folder); the panels must
    be laid out with the width the tiles use.
    Call it once before a parallel loop: a ``raise`` inside a ``prange`` body
    would keep numba from running the loop in parallel.
    """
    if P != PANEL_VECTORS * VECTOR_BYTES // itemsize:
        raise ValueError("panel width differs from the compiled kernel's")


@jit(inline="never")
def matmul_panels(A, Bp, C):
    """:func:`matmul_packed` without the panel-width check (for ``prange`` bodies)."""
    M, K = A.shape
    npan, _, P = Bp.shape
    lda = A.shape[1]
    ldc = C.shape[1]
    ntiles = (M + TILE_ROWS - 1) // TILE_ROWS
    for p in range(npan):
        for i in range(ntiles):
            lo = i * M // ntiles
            hi = (i + 1) * M // ntiles
            _tile(hi - lo, A, lo * lda, lda, Bp, p * K * P, K, C, lo * ldc + p * P, ldc)


@jit(inline="never")
def matmul_panels_wide(A, Bp, C):
    """:func:`matmul_panels`, with a single row multiplied by several panels at once.

    The same sums in the same order, so the same bits; one row's tile keeps only
    ``PANEL_VECTORS`` running sums, each waiting for the previous multiply-add, and
    ``ROW_PANELS`` panels at once keep more of them in flight.  For the decoding
    kernels, whose steps are one row for one question.
    """
    M, K = A.shape
    npan, _, P = Bp.shape
    lda = A.shape[1]
    ldc = C.shape[1]
    ntiles = (M + TILE_ROWS - 1) // TILE_ROWS
    p0 = 0
    if M == 1:
        p0 = npan - npan % ROW_PANELS
        for p in range(0, p0, ROW_PANELS):
            _ROW4(A, 0, Bp, p * K * P, K, C, p * P)
    for p in range(p0, npan):
        for i in range(ntiles):
            lo = i * M // ntiles
            hi = (i + 1) * M // ntiles
            _tile(hi - lo, A, lo * lda, lda, Bp, p * K * P, K, C, lo * ldc + p * P, ldc)


@jit(inline="always")
def panel_width_of(a):
    """:func:`panel_width` of ``a``'s dtype, in compiled code."""
    return PANEL_VECTORS * VECTOR_BYTES // a.itemsize


@jit(inline="always")
def matmul_row(a, B, c):
    """``c = a @ B`` for one row ``a`` (K,) and ``B`` (K, M) in its own (C-contiguous) layout.

    ``M`` must be a whole number of panels (:func:`panel_width`).  Every column is
    the sum :func:`matmul_panels_wide` computes for it from ``B``'s panels (one
    multiply-add per ``k``, in order, from zero), so the bits are the same; the
    panels' copy of ``B`` is not needed.  For decoding one question, whose steps
    are one row.

    ``B`` is read ``ROW_BLOCK`` rows at a time across all columns, each column's
    sum going on from where the previous rows left it, rather than one group of
    columns down all ``K`` rows: a 1 MB ``B`` (``H = 256``) whose rows are 4 KB
    apart was read 1.2-1.35x faster this way on a Zen 4 EPYC, 4 rows at a time, and
    1.25x faster again on a Zen 5 EPYC, 8 at a time (:func:`_row_block`; see
    ``docs/design.md``).
    """
    K, M = B.shape
    P = panel_width_of(a)
    npan = M // P
    p0 = npan - npan % ROW_PANELS
    for j in range(npan * P):
        c[j] = 0  # every sum starts from zero, as in the panels' tiles
    for k0 in range(0, K, ROW_BLOCK):
        kk = min(ROW_BLOCK, K - k0)
        for p in range(0, p0, ROW_PANELS):
            _ROW4_STRIDED(a, k0, B, k0 * M + p * P, M, kk, c, p * P)
        for p in range(p0, npan):
            _ROW1_STRIDED(a, k0, B, k0 * M + p * P, M, kk, c, p * P)


@jit
def matmul_packed(A, Bp, C):
    """``C[:, :npan*P] = A @ B`` for ``B`` laid out in panels by :func:`pack_panels`.

    ``A`` (M, K) and ``C`` (M, >= npan*P) are C-contiguous 2-D arrays (views
    of whole rows are fine); ``Bp`` is (npan, K, P).  Rows are split into
    tiles of at most ``TILE_ROWS``, as equal as possible; each panel is
    multiplied by every tile while it is in cache.
    """
    check_panel_width(Bp.shape[2], A.itemsize)
    matmul_panels(A, Bp, C)


@jit
def pack_panels(B, out):
    """``B`` (K, M) -> ``out`` (npan, K, P): column panels, contiguous over ``k``, zero-padded."""
    K, M = B.shape
    npan, _, P = out.shape
    for p in range(npan):
        lo = p * P
        w = min(P, M - lo)
        for k in range(K):
            row = out[p, k]
            for j in range(w):
                row[j] = B[k, lo + j]
            for j in range(max(w, 0), P):
                row[j] = 0


@jit
def pack_panels_t(B, out):
    """``B.T`` in panels: ``B`` (M, K) -> ``out`` (npan, K, P) with ``out[p, k, j] = B[p*P + j, k]``."""
    M, K = B.shape
    npan, _, P = out.shape
    out[...] = 0
    for p in range(npan):
        lo = p * P
        w = min(P, M - lo)
        for j in range(w):
            src = B[lo + j]
            for k in range(K):
                out[p, k, j] = src[k]


# last: the long products call helpers defined above.  Compiled (about 2 s cold) or loaded
# when the process first loads or compiles a kernel that calls it, not at import: a warm-up
# starts its helper processes first, which then compile beside it (and need only the
# stand-in), and a process whose kernels never call it (text generation) never builds it.
if PACKED_LONG:
    _LONG_CFUNC = c_callable(_long_float32, _LONG_SIG)
    _STAND_IN = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 8), *([ctypes.c_void_p] * 3))(
        _never_called
    )
    before_linking(_LONG_NAME, lambda: _register_long(_LONG_CFUNC))
_LONG = types.ExternalFunction(_LONG_NAME, _LONG_SIG)
