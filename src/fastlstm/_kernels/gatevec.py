"""The LSTM's float32 gate passes on whole vector registers.

LLVM vectorises the gate loops of :mod:`fastlstm._kernels.lstm` at 256 bits even on
CPUs with 512-bit registers (its cost model prefers the narrower ones on Intel's
AVX-512 cores), and the passes are bound by their arithmetic: five divisions and
about eighty other operations per hidden unit forward.  The intrinsics here do the
same operations as the scalar code, in the same order, on vectors of
:data:`~fastlstm._kernels.blas.VECTOR_BYTES` (``fadd``, ``fsub``, ``fmul``, ``fdiv``
and the clamping compares and selects, without fast-math flags, all exact lane by
lane), so every value has the bits of :func:`fastlstm._kernels.fastmath.tanh` and
:func:`~fastlstm._kernels.fastmath.sigmoid` applied element by element.

:func:`forward_head` and :func:`backward_head` take the first elements of a row of
gates that fill whole vectors and return how many they took; the callers finish the
row with the scalar code.  In float64 they take none (the scalar ``tanh`` is the C
library's there).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from fastlstm._kernels.blas import VECTOR_BYTES
from fastlstm._kernels.fastmath import _ALPHA, _BETA, _CLAMP


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


def _lanes():
    return VECTOR_BYTES // 4


def _pointers(context, builder, sig, args, k):
    """Each array argument's data pointer advanced by ``k`` elements (i64)."""
    out = []
    for ty, v in zip(sig.args, args):
        if isinstance(ty, types.Array):
            data = cgutils.create_struct_proxy(ty)(context, builder, value=v).data
            out.append(builder.gep(data, [k]))
    return out


def _as64(builder, v):
    i64 = ir.IntType(64)
    return builder.sext(v, i64) if v.type.width < 64 else v


@intrinsic
def _forward_lanes(typingctx, a, tm, cprev, cnext, hnext, hc, k):
    """One vector of units ``k:k+L`` of a row: :func:`fastlstm._kernels.lstm._gates_forward_row`."""
    sig = types.void(a, tm, cprev, cnext, hnext, hc, k)

    def codegen(context, builder, signature, args):
        v = _Vec(builder, _lanes())
        hc_, k_ = _as64(builder, args[5]), _as64(builder, args[6])
        pa, pt, pcp, pcn, phn = _pointers(context, builder, signature, args, k_)
        vptr = v.ty.as_pointer()

        def at(p, gate):
            return builder.bitcast(builder.gep(p, [builder.mul(hc_, ir.IntType(64)(gate))]), vptr)

        def load(p):
            return builder.load(p, align=4)

        gates = []
        for gate in range(4):  # f, g, i, o
            x = v.add(load(at(pa, gate)), load(at(pt, gate)))
            y = v.tanh(x) if gate == 1 else v.sigmoid(x)
            builder.store(y, at(pa, gate), align=4)
            gates.append(y)
        f, g, i, o = gates
        cn = v.add(v.mul(f, load(builder.bitcast(pcp, vptr))), v.mul(g, i))
        builder.store(cn, builder.bitcast(pcn, vptr), align=4)
        builder.store(v.mul(o, v.tanh(cn)), builder.bitcast(phn, vptr), align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _backward_lanes(typingctx, g4, dh, dc, cprev, cnext, da, hc, k):
    """One vector of units ``k:k+L`` of a row: :func:`fastlstm._kernels.lstm._gates_backward_row`."""
    sig = types.void(g4, dh, dc, cprev, cnext, da, hc, k)

    def codegen(context, builder, signature, args):
        v = _Vec(builder, _lanes())
        hc_, k_ = _as64(builder, args[6]), _as64(builder, args[7])
        pg, pdh, pdc, pcp, pcn, pda = _pointers(context, builder, signature, args, k_)
        vptr = v.ty.as_pointer()

        def at(p, gate):
            return builder.bitcast(builder.gep(p, [builder.mul(hc_, ir.IntType(64)(gate))]), vptr)

        def load(p, gate=0):
            return builder.load(at(p, gate), align=4)

        one = v.const(1.0)
        f, g, i, o = (load(pg, gate) for gate in range(4))
        dh_ = load(pdh)
        tc = v.tanh(load(pcn))
        ds = v.add(load(pdc), v.mul(v.mul(dh_, o), v.sub(one, v.mul(tc, tc))))
        builder.store(v.mul(ds, f), at(pdc, 0), align=4)
        df = v.mul(v.mul(v.mul(ds, load(pcp)), f), v.sub(one, f))
        dg = v.mul(v.mul(ds, i), v.sub(one, v.mul(g, g)))
        di = v.mul(v.mul(v.mul(ds, g), i), v.sub(one, i))
        do = v.mul(v.mul(v.mul(dh_, tc), o), v.sub(one, o))
        for gate, x in enumerate((df, dg, di, do)):
            builder.store(x, at(pda, gate), align=4)
        return context.get_dummy_value()

    return sig, codegen


def forward_head(a, tm, cprev, cnext, hnext, w, hc):
    """The forward gate pass over the first units of a row that fill whole vectors
    (compiled code only); returns how many it took (none in float64)."""
    raise NotImplementedError("compiled code only")


def backward_head(g4, dh, dc, cprev, cnext, da, w, hc):
    """The backward gate pass over the first units of a row that fill whole vectors
    (compiled code only); returns how many it took (none in float64)."""
    raise NotImplementedError("compiled code only")


def _float32(*arrays):
    return all(a.dtype == types.float32 and a.layout == "C" and a.ndim == 1 for a in arrays)


@overload(forward_head, inline="always")
def _forward_head_impl(a, tm, cprev, cnext, hnext, w, hc):
    if not _float32(a, tm, cprev, cnext, hnext):
        return lambda a, tm, cprev, cnext, hnext, w, hc: 0
    L = _lanes()

    def impl(a, tm, cprev, cnext, hnext, w, hc):
        n = w - w % L
        for k in range(0, n, L):
            _forward_lanes(a, tm, cprev, cnext, hnext, hc, k)
        return n

    return impl


@overload(backward_head, inline="always")
def _backward_head_impl(g4, dh, dc, cprev, cnext, da, w, hc):
    if not _float32(g4, dh, dc, cprev, cnext, da):
        return lambda g4, dh, dc, cprev, cnext, da, w, hc: 0
    L = _lanes()

    def impl(g4, dh, dc, cprev, cnext, da, w, hc):
        n = w - w % L
        for k in range(0, n, L):
            _backward_lanes(g4, dh, dc, cprev, cnext, da, hc, k)
        return n

    return impl
