"""Reductions in eight interleaved lanes, written as LLVM vector code.

:func:`fastlstm._kernels.softmax.sum8`, ``dot8`` and ``row_max`` reduce a
vector in eight lanes (element ``i`` goes to lane ``i % 8``), combined
pairwise at the end: a fixed order, so every compiled copy of a kernel gives
the same bits.  Written as eight scalar running values, LLVM left them
scalar.  The heads here do the same operations lane by lane on one
``<8 x float>`` (or ``<8 x double>``) value: ``fadd``, ``fmul`` and
``fcmp ogt`` + ``select`` without fast-math flags are exact per lane, so the
results are bit for bit those of the scalar code.

Each head handles the first ``n8`` elements (a multiple of 8) of C-contiguous
arrays and returns the combined value; the callers add the tail.  Arrays of
another layout are copied first (:func:`sum8_head` and the others dispatch on
the layout at compile time).

:func:`squares8_lanes` does the same for the float64 sum of squares of
:func:`fastlstm._kernels.optim.sum_squares` (the gradient norm of
``clip_grads``), whose eight scalar running values LLVM also left scalar
(12 ms for 6.5 million float32 on one core of a Xeon, 1 ms as one vector);
it returns the eight lanes uncombined, because that kernel adds the tail to
the first lane before combining them.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import errors, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from fastlstm._numba import jit

LANES = 8


def _lane_loop(builder, start, n8, init, step):
    """Emit ``acc = init; for i in range(start, n8, LANES): acc = step(acc, i)``; returns the
    final ``acc`` (``init`` when the loop does not run).  ``start`` and ``n8`` are i64."""
    i64 = ir.IntType(64)
    pre = builder.block
    loop = builder.append_basic_block("lanes_loop")
    done = builder.append_basic_block("lanes_done")
    builder.cbranch(builder.icmp_signed("<", start, n8), loop, done)

    builder.position_at_end(loop)
    i = builder.phi(i64)
    i.add_incoming(start, pre)
    acc = builder.phi(init.type)
    acc.add_incoming(init, pre)
    new = step(acc, i)
    i1 = builder.add(i, i64(LANES))
    end = builder.block
    i.add_incoming(i1, end)
    acc.add_incoming(new, end)
    builder.cbranch(builder.icmp_signed("<", i1, n8), loop, done)

    builder.position_at_end(done)
    out = builder.phi(init.type)
    out.add_incoming(init, pre)
    out.add_incoming(new, end)
    return out


def _make_head(kind):
    """An intrinsic ``head(x, y, n8)``: the lanes of ``x`` (``kind`` 'sum' or
    'max') or of ``x * y`` ('dot') over ``[0, n8)``, combined pairwise.

    'sum' and 'dot' start from zero; 'max' from the first eight elements
    (``n8 >= 8``), and combines as ``gt(gt(gt(m1, m0), gt(m3, m2)),
    gt(gt(m5, m4), gt(m7, m6)))`` with ``gt(x, m) = x if x > m else m``.
    """

    @intrinsic
    def head(typingctx, x, y, n8):
        sig = x.dtype(x, y, n8)

        def codegen(context, builder, signature, args):
            xty, yty = signature.args[0], signature.args[1]
            i64 = ir.IntType(64)
            fty = context.get_value_type(xty.dtype)
            vty = ir.VectorType(fty, LANES)
            align = xty.dtype.bitwidth // 8
            n8_ = args[2]
            if n8_.type.width < 64:
                n8_ = builder.sext(n8_, i64)

            def data(ty, v):
                return cgutils.create_struct_proxy(ty)(context, builder, value=v).data

            xp = data(xty, args[0])
            yp = data(yty, args[1])

            def load(p, i):
                return builder.load(
                    builder.bitcast(builder.gep(p, [i]), vty.as_pointer()), align=align
                )

            def gt(a, m):  # a if a > m else m
                return builder.select(builder.fcmp_ordered(">", a, m), a, m)

            if kind == "max":
                init = load(xp, i64(0))
                start = i64(LANES)
            else:
                init = ir.Constant(vty, None)  # zeros
                start = i64(0)

            def step(acc, i):
                xv = load(xp, i)
                if kind == "sum":
                    return builder.fadd(acc, xv)
                if kind == "dot":
                    return builder.fadd(acc, builder.fmul(xv, load(yp, i)))
                return gt(xv, acc)

            out = _lane_loop(builder, start, n8_, init, step)
            s = [builder.extract_element(out, ir.IntType(32)(j)) for j in range(LANES)]
            if kind == "max":
                return gt(gt(gt(s[1], s[0]), gt(s[3], s[2])), gt(gt(s[5], s[4]), gt(s[7], s[6])))
            add = builder.fadd
            return add(add(add(s[0], s[1]), add(s[2], s[3])), add(add(s[4], s[5]), add(s[6], s[7])))

        return sig, codegen

    return head


_sum_head = _make_head("sum")
_dot_head = _make_head("dot")
_max_head = _make_head("max")


def _make_square_lanes():
    """An intrinsic ``lanes(x, n8)``: the eight float64 running sums of ``x[i] ** 2``
    over ``[0, n8)`` (element ``i`` in lane ``i % 8``), each square taken in float64,
    returned as a tuple so that the caller adds the tail to lane 0 before combining."""

    @intrinsic
    def lanes(typingctx, x, n8):
        sig = types.UniTuple(types.float64, LANES)(x, n8)

        def codegen(context, builder, signature, args):
            xty = signature.args[0]
            i64 = ir.IntType(64)
            fty = context.get_value_type(xty.dtype)
            dty = ir.DoubleType()
            vty = ir.VectorType(fty, LANES)
            dvty = ir.VectorType(dty, LANES)
            align = xty.dtype.bitwidth // 8
            n8_ = args[1]
            if n8_.type.width < 64:
                n8_ = builder.sext(n8_, i64)
            xp = cgutils.create_struct_proxy(xty)(context, builder, value=args[0]).data

            def step(acc, i):
                ptr = builder.bitcast(builder.gep(xp, [i]), vty.as_pointer())
                xv = builder.load(ptr, align=align)
                if fty != dty:
                    xv = builder.fpext(xv, dvty)
                return builder.fadd(acc, builder.fmul(xv, xv))

            out = _lane_loop(builder, i64(0), n8_, ir.Constant(dvty, None), step)  # from zeros
            parts = [builder.extract_element(out, ir.IntType(32)(j)) for j in range(LANES)]
            return context.make_tuple(builder, signature.return_type, parts)

        return sig, codegen

    return lanes


_square_lanes = _make_square_lanes()


@jit
def gt(x, m):
    """``max(m, x)`` as a select: ``x if x > m else m`` (``m`` when either is NaN)."""
    return x if x > m else m


def _contiguous(*arrays):
    return all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in arrays)


def _check_same_dtype(x, y):
    if x.dtype != y.dtype:
        raise errors.TypingError(f"dot8 needs arrays of one dtype, got {x.dtype} and {y.dtype}")


def sum8_head(x, n8):
    """Lanes of ``x[:n8]`` summed, combined pairwise (see the module docstring)."""
    raise NotImplementedError("compiled code only")


def dot8_head(x, y, n8):
    """Lanes of ``x[:n8] * y[:n8]`` summed, combined pairwise."""
    raise NotImplementedError("compiled code only")


def squares8_lanes(x, n8):
    """The eight float64 lanes of ``x[:n8] ** 2`` summed (each square in float64), not combined."""
    raise NotImplementedError("compiled code only")


def max8_head(x, n8):
    """Lane maxima of ``x[:n8]`` (``n8 >= 8``), combined pairwise."""
    raise NotImplementedError("compiled code only")


# Strided views are copied first: the same lanes, the same bits.  The package's
# kernels pass rows of C-contiguous arrays, which take the vector code directly.
@overload(sum8_head, inline="always")
def _sum8_head_impl(x, n8):
    if _contiguous(x):
        return lambda x, n8: _sum_head(x, x, n8)
    return lambda x, n8: _sum_head(np.ascontiguousarray(x), np.ascontiguousarray(x), n8)


@overload(dot8_head, inline="always")
def _dot8_head_impl(x, y, n8):
    _check_same_dtype(x, y)
    if _contiguous(x, y):
        return lambda x, y, n8: _dot_head(x, y, n8)
    return lambda x, y, n8: _dot_head(np.ascontiguousarray(x), np.ascontiguousarray(y), n8)


@overload(max8_head, inline="always")
def _max8_head_impl(x, n8):
    if _contiguous(x):
        return lambda x, n8: _max_head(x, x, n8)
    return lambda x, n8: _max_head(np.ascontiguousarray(x), np.ascontiguousarray(x), n8)


@overload(squares8_lanes, inline="always")
def _squares8_lanes_impl(x, n8):
    if _contiguous(x):
        return lambda x, n8: _square_lanes(x, n8)
    return lambda x, n8: _square_lanes(np.ascontiguousarray(x), n8)
