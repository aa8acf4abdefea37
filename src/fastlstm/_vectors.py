"""The width of the vector registers the kernels are compiled for.

The packed kernels (:mod:`fastlstm._kernels.blas`) lay matrices out in panels of two
vectors; the kernel cache keeps kernels compiled for a forced width apart, and the
choice of who multiplies long matrices (:func:`fastlstm._blas_lib.packed_long_products`)
compares this width with OpenBLAS's.
"""

from __future__ import annotations

import functools
import os


@functools.cache
def vector_bytes() -> int:
    """64 with AVX-512, 32 with AVX2, 16 otherwise: see :func:`_detect`."""
    return _detect()


def _detect():
    """Width of the vector registers numba compiles for (64 with AVX-512, 32 with AVX2).

    That is the host CPU's, unless numba is told to compile for another CPU
    (``NUMBA_CPU_NAME`` and ``NUMBA_CPU_FEATURES``, e.g. ``generic`` for kernels
    that run on any x86-64): :func:`_compiled_vector_bytes` asks LLVM, under
    numba's CPU settings, which registers a 512-bit addition uses.
    ``FASTLSTM_VECTOR_BYTES`` (16, 32 or 64) overrides it, e.g. to test the
    narrower layouts on a wider machine (LLVM splits wider vectors, so every
    value is correct everywhere; only speed depends on the match).  Kernels
    compiled under a forced width are cached in a folder of their own
    (:func:`fastlstm._kernel_cache.kernel_cache_dir`).
    """
    forced = os.environ.get("FASTLSTM_VECTOR_BYTES")
    if forced:
        if forced not in ("16", "32", "64"):
            raise ValueError(f"FASTLSTM_VECTOR_BYTES must be 16, 32 or 64, got {forced!r}")
        return int(forced)
    try:
        return _compiled_vector_bytes()
    except Exception:  # noqa: BLE001 - the host's features, then a safe default
        pass
    try:
        from llvmlite import binding

        features = binding.get_host_cpu_features()
        if features.get("avx512f"):
            return 64
        if features.get("avx2"):
            return 32
    except Exception:  # noqa: BLE001
        pass
    return 16


# one 512-bit addition, its operand and result in registers (no pointer syntax, which
# differs between LLVM versions)
_PROBE_IR = """
define <16 x float> @probe(<16 x float> %v) {
  %w = fadd <16 x float> %v, %v
  ret <16 x float> %w
}
"""


def _compiled_vector_bytes():
    """64, 32 or 16: the registers (zmm, ymm, xmm) of one 512-bit addition compiled by LLVM
    for the CPU numba targets (its ``CPU_NAME`` and ``CPU_FEATURES``, else the host's)."""
    from llvmlite import binding
    from numba.core import config as numba_config

    binding.initialize_native_target()
    binding.initialize_native_asmprinter()
    cpu = numba_config.CPU_NAME or binding.get_host_cpu_name()
    features = numba_config.CPU_FEATURES
    if features is None:
        features = binding.get_host_cpu_features().flatten()
    target = binding.Target.from_default_triple()
    machine = target.create_target_machine(cpu=cpu, features=features, opt=2)
    module = binding.parse_assembly(_PROBE_IR)
    module.triple = machine.triple
    asm = machine.emit_assembly(module)
    return 64 if "zmm" in asm else 32 if "ymm" in asm else 16
