"""The LSTM's gate passes over one row of one block of units.

:func:`gates_forward_row` turns a row's gate pre-activations into activations and the new
``c`` and ``h``; :func:`gates_backward_row` gives the gradients of the pre-activations.
Both are compiled once per dtype and linked into every kernel that calls them
(``inline="never"``, see :mod:`fastlstm._numba`).

In float64 they are scalar loops over the units (``tanh`` is the C library's).  In float32
they run on vectors of :data:`~fastlstm._kernels.blas.VECTOR_BYTES`: LLVM vectorised the
scalar loops at 256 bits even on CPUs with 512-bit registers (its cost model prefers the
narrower ones on Intel's AVX-512 cores), and the passes are bound by their arithmetic
(five divisions and about eighty other operations per unit forward).  The intrinsics
here do the scalar code's operations, in the same order (``fadd``, ``fsub``, ``fmul``,
``fdiv`` and the clamp's compares and selects, without fast-math flags, all exact lane
by lane), so every value has the bits of :func:`fastlstm._kernels.fastmath.tanh` and
:func:`~fastlstm._kernels.fastmath.sigmoid` applied element by element.  The last,
partial vector of a row is loaded and stored under a mask, so no scalar loop is compiled
for float32.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from fastlstm._kernels.blas import VECTOR_BYTES
from fastlstm._kernels.fastmath import _ALPHA, _BETA, _CLAMP
from fastlstm._kernels.fastmath import sigmoid as _sig
from fastlstm._kernels.fastmath import tanh as _tanh
from fastlstm._numba import jit


class _Vec:
    """Elementwise float32 operations on one vector type, emitted with ``builder``."""

    def __init__(self, builder, lanes):
        self.b = builder
        self.ty = ir.VectorType(ir.FloatType(), lanes)

    def const(self, x):
        return ir.Constant(self.ty, [float(np.float32(x))] * self.ty.count)

    def add(self, x, y):
        return self.b.fadd(x, y)

    def sub(self, x, y):
        return self.b.fsub(x, y)

    def mul(self, x, y):
        return self.b.fmul(x, y)

    def tanh(self, x):
        """:func:`fastlstm._kernels.fastmath.tanh` (float32), operation for operation."""
        b = self.b
        lo, hi = self.const(-_CLAMP), self.const(_CLAMP)
        x = b.select(b.fcmp_ordered("<", x, lo), lo, x)  # max(x, lo)
        x = b.select(b.fcmp_ordered(">", x, hi), hi, x)  # min(x, hi)
        x2 = self.mul(x, x)
        a1, a3, a5, a7, a9, a11, a13 = (self.const(v) for v in _ALPHA)
        p = a13
        for a in (a11, a9, a7, a5, a3, a1):
            p = self.add(self.mul(p, x2), a)
        p = self.mul(p, x)
        b0, b2, b4, b6 = (self.const(v) for v in _BETA)
        q = b6
        for c in (b4, b2, b0):
            q = self.add(self.mul(q, x2), c)
        return b.fdiv(p, q)

    def sigmoid(self, x):
        """:func:`fastlstm._kernels.fastmath.sigmoid` (float32): ``0.5 + 0.5 * tanh(0.5 * x)``."""
        half = self.const(0.5)
        return self.add(half, self.mul(half, self.tanh(self.mul(half, x))))


LANES32 = VECTOR_BYTES // 4
"""float32 values per vector."""


class _Row:
    """Loads and stores of one vector of a row at element ``k`` (+ a gate's offset), whole
    or, with ``count``, only its first ``count`` lanes (masked; the others read as zero)."""

    def __init__(self, context, builder, signature, args, k, count):
        self.b = builder
        self.v = _Vec(builder, LANES32)
        i64 = ir.IntType(64)
        self.k = k if k.type.width == 64 else builder.sext(k, i64)
        self.ptrs = [
            cgutils.create_struct_proxy(ty)(context, builder, value=v).data
            for ty, v in zip(signature.args, args)
            if isinstance(ty, types.Array)
        ]
        self.mask = None
        if count is not None:
            i32 = ir.IntType(32)
            ity = ir.VectorType(i32, LANES32)
            n = builder.trunc(count, i32) if count.type.width > 32 else count
            n = builder.insert_element(ir.Constant(ity, ir.Undefined), n, i32(0))
            n = builder.shuffle_vector(n, ir.Constant(ity, ir.Undefined), ir.Constant(ity, None))
            self.mask = builder.icmp_signed("<", ir.Constant(ity, list(range(LANES32))), n)

    def _at(self, array, offset):
        p = self.b.gep(self.ptrs[array], [self.b.add(self.k, offset)])
        return self.b.bitcast(p, self.v.ty.as_pointer())

    def _masked(self, op, fty):
        name = f"llvm.masked.{op}.v{LANES32}f32.p0"
        return cgutils.get_or_insert_function(self.b.module, fty, name)

    def load(self, array, offset):
        p = self._at(array, offset)
        if self.mask is None:
            return self.b.load(p, align=4)
        vty = self.v.ty
        fty = ir.FunctionType(vty, [p.type, ir.IntType(32), self.mask.type, vty])
        return self.b.call(self._masked("load", fty), [p, ir.IntType(32)(4), self.mask, vty(None)])

    def store(self, value, array, offset):
        p = self._at(array, offset)
        if self.mask is None:
            self.b.store(value, p, align=4)
            return
        fty = ir.FunctionType(ir.VoidType(), [value.type, p.type, ir.IntType(32), self.mask.type])
        self.b.call(self._masked("store", fty), [value, p, ir.IntType(32)(4), self.mask])


def _gate_offsets(builder, hc):
    i64 = ir.IntType(64)
    hc = hc if hc.type.width == 64 else builder.sext(hc, i64)
    return [builder.mul(hc, i64(gate)) for gate in range(4)]


def _make_forward(masked):
    """An intrinsic ``lanes(a, tm, cprev, cnext, hnext, hc, k[, count])``: the forward pass of
    :func:`gates_forward_row` over units ``k`` to ``k + LANES32`` (the first ``count``)."""

    def codegen(context, builder, signature, args):
        count = args[7] if masked else None
        row = _Row(context, builder, signature, args, args[6], count)
        v, off = row.v, _gate_offsets(builder, args[5])
        zero = off[0].type(0)
        gates = []
        for gate in range(4):  # f, g, i, o
            x = v.add(row.load(0, off[gate]), row.load(1, off[gate]))
            y = v.tanh(x) if gate == 1 else v.sigmoid(x)
            row.store(y, 0, off[gate])
            gates.append(y)
        f, g, i, o = gates
        cn = v.add(v.mul(f, row.load(2, zero)), v.mul(g, i))
        row.store(cn, 3, zero)
        row.store(v.mul(o, v.tanh(cn)), 4, zero)
        return context.get_dummy_value()

    if masked:

        @intrinsic
        def lanes(typingctx, a, tm, cprev, cnext, hnext, hc, k, count):
            return types.void(a, tm, cprev, cnext, hnext, hc, k, count), codegen

    else:

        @intrinsic
        def lanes(typingctx, a, tm, cprev, cnext, hnext, hc, k):
            return types.void(a, tm, cprev, cnext, hnext, hc, k), codegen

    return lanes


def _make_backward(masked):
    """An intrinsic ``lanes(g4, dh, dc, cprev, cnext, da, hc, k[, count])``: the backward pass
    of :func:`gates_backward_row` over units ``k`` to ``k + LANES32`` (the first ``count``)."""

    def codegen(context, builder, signature, args):
        count = args[8] if masked else None
        row = _Row(context, builder, signature, args, args[7], count)
        v, off = row.v, _gate_offsets(builder, args[6])
        zero = off[0].type(0)
        one = v.const(1.0)
        f, g, i, o = (row.load(0, off[gate]) for gate in range(4))
        dh = row.load(1, zero)
        tc = v.tanh(row.load(4, zero))
        ds = v.add(row.load(2, zero), v.mul(v.mul(dh, o), v.sub(one, v.mul(tc, tc))))
        row.store(v.mul(ds, f), 2, zero)
        df = v.mul(v.mul(v.mul(ds, row.load(3, zero)), f), v.sub(one, f))
        dg = v.mul(v.mul(ds, i), v.sub(one, v.mul(g, g)))
        di = v.mul(v.mul(v.mul(ds, g), i), v.sub(one, i))
        do = v.mul(v.mul(v.mul(dh, tc), o), v.sub(one, o))
        for gate, x in enumerate((df, dg, di, do)):
            row.store(x, 5, off[gate])
        return context.get_dummy_value()

    if masked:

        @intrinsic
        def lanes(typingctx, g4, dh, dc, cprev, cnext, da, hc, k, count):
            return types.void(g4, dh, dc, cprev, cnext, da, hc, k, count), codegen

    else:

        @intrinsic
        def lanes(typingctx, g4, dh, dc, cprev, cnext, da, hc, k):
            return types.void(g4, dh, dc, cprev, cnext, da, hc, k), codegen

    return lanes


_forward_lanes, _forward_lanes_masked = _make_forward(False), _make_forward(True)
_backward_lanes, _backward_lanes_masked = _make_backward(False), _make_backward(True)


def _float32(*arrays):
    return all(a.dtype == types.float32 and a.layout == "C" and a.ndim == 1 for a in arrays)


@jit(inline="never")
def _forward_vectors(a, tm, cprev, cnext, hnext, w, hc):
    """:func:`gates_forward_row` in float32, on vectors (the last one masked)."""
    L = LANES32
    n = w // L
    for j in range(n):
        _forward_lanes(a, tm, cprev, cnext, hnext, hc, j * L)
    if n * L < w:
        _forward_lanes_masked(a, tm, cprev, cnext, hnext, hc, n * L, w - n * L)


@jit(inline="never")
def _forward_scalar(a, tm, cprev, cnext, hnext, w, hc):
    """:func:`gates_forward_row` element by element.

    One loop per gate, each reading and writing the same index, so LLVM can
    vectorise them (a single loop writing ``a[k]`` and reading ``a[hc + k]``
    would carry a possible dependence).
    """
    f = a[:w]
    g = a[hc : hc + w]
    i = a[2 * hc : 2 * hc + w]
    o = a[3 * hc : 3 * hc + w]
    tf = tm[:w]
    tg = tm[hc : hc + w]
    ti = tm[2 * hc : 2 * hc + w]
    to = tm[3 * hc : 3 * hc + w]
    for k in range(w):
        f[k] = _sig(f[k] + tf[k])
    for k in range(w):
        g[k] = _tanh(g[k] + tg[k])
    for k in range(w):
        i[k] = _sig(i[k] + ti[k])
    for k in range(w):
        o[k] = _sig(o[k] + to[k])
    for k in range(w):
        cn = f[k] * cprev[k] + g[k] * i[k]
        cnext[k] = cn
        hnext[k] = o[k] * _tanh(cn)


@jit(inline="never")
def _backward_vectors(g4, dh, dc, cprev, cnext, da, w, hc, one):
    """:func:`gates_backward_row` in float32, on vectors (the last one masked)."""
    L = LANES32
    n = w // L
    for j in range(n):
        _backward_lanes(g4, dh, dc, cprev, cnext, da, hc, j * L)
    if n * L < w:
        _backward_lanes_masked(g4, dh, dc, cprev, cnext, da, hc, n * L, w - n * L)
    _zero_padding(da, w, hc)


@jit(inline="never")
def _backward_scalar(g4, dh, dc, cprev, cnext, da, w, hc, one):
    """:func:`gates_backward_row` element by element."""
    f = g4[:w]
    g = g4[hc : hc + w]
    i = g4[2 * hc : 2 * hc + w]
    o = g4[3 * hc : 3 * hc + w]
    df = da[:w]
    dg = da[hc : hc + w]
    di = da[2 * hc : 2 * hc + w]
    do = da[3 * hc : 3 * hc + w]
    for k in range(w):
        tc = _tanh(cnext[k])
        ds = dc[k] + dh[k] * o[k] * (one - tc * tc)
        dc[k] = ds * f[k]
        df[k] = ds * cprev[k] * f[k] * (one - f[k])
        dg[k] = ds * i[k] * (one - g[k] * g[k])
        di[k] = ds * g[k] * i[k] * (one - i[k])
        do[k] = dh[k] * tc * o[k] * (one - o[k])
    _zero_padding(da, w, hc)


@jit
def _zero_padding(da, w, hc):
    """Zeros in the columns of the block's padding units (``w`` to ``hc`` of each gate)."""
    for k in range(w, hc):
        da[k] = 0
        da[hc + k] = 0
        da[2 * hc + k] = 0
        da[3 * hc + k] = 0


def gates_forward_row(a, tm, cprev, cnext, hnext, w, hc):
    """One row of one block: gate activations (written into ``a``), new ``c`` and ``h``
    (compiled code only).

    ``a`` and ``tm`` (4hc,) hold the row's input projections and recurrent products of
    the gates f, g, i, o, ``hc`` apart; the first ``w`` units of each are real.
    ``cprev`` (w,) is the previous ``c``; ``cnext`` and ``hnext`` (w,) receive the new ones.
    """
    raise NotImplementedError("compiled code only")


def gates_backward_row(g4, dh, dc, cprev, cnext, da, w, hc, one):
    """One row of one block: gradients of the gate pre-activations into ``da`` (compiled
    code only).

    ``g4`` (4hc,) holds the gate activations; ``dh`` is the total gradient of this
    step's ``h``; ``dc`` (in/out) the gradient of this step's ``c``, replaced by that of
    the previous ``c``.  The columns of the block's padding units (``w`` to ``hc`` of each
    gate) get zeros: the products after the time loop read them.
    """
    raise NotImplementedError("compiled code only")


# Each build is compiled once per signature and linked into its callers; the dtype picks
# the build at compile time, so a float64 kernel never compiles the vector code, nor a
# float32 one the scalar loops.
@overload(gates_forward_row, inline="always")
def _gates_forward_row_impl(a, tm, cprev, cnext, hnext, w, hc):
    if _float32(a, tm, cprev, cnext, hnext):
        return lambda a, tm, cprev, cnext, hnext, w, hc: _forward_vectors(
            a, tm, cprev, cnext, hnext, w, hc
        )
    return lambda a, tm, cprev, cnext, hnext, w, hc: _forward_scalar(
        a, tm, cprev, cnext, hnext, w, hc
    )


@overload(gates_backward_row, inline="always")
def _gates_backward_row_impl(g4, dh, dc, cprev, cnext, da, w, hc, one):
    if _float32(g4, dh, dc, cprev, cnext, da):
        return lambda g4, dh, dc, cprev, cnext, da, w, hc, one: _backward_vectors(
            g4, dh, dc, cprev, cnext, da, w, hc, one
        )
    return lambda g4, dh, dc, cprev, cnext, da, w, hc, one: _backward_scalar(
        g4, dh, dc, cprev, cnext, da, w, hc, one
    )
