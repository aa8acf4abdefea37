"""Work arrays the layers keep between calls.

The LSTM layers (gates, packed weights, states) and the loss layers (the scores
and their gradient) need the same multi-megabyte scratch arrays at every call.
They keep them in a ``_workspace`` dict of their own, never hand them out, and
reallocate one only when its shape or dtype changes.

On Linux, arrays of :data:`HUGE_MIN` bytes or more get memory of their own,
aligned to 2 MB and advised for transparent huge pages: the kernels stream
through them at every step with fewer TLB misses, and they stay out of the
C heap, which then no longer grows and shrinks around them (and page faults
again) at every training iteration. Elsewhere, or if the system refuses, they
are ordinary NumPy arrays. Either way the values computed in them are the same.
"""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["work_array", "HUGE_MIN"]

HUGE_MIN = 1 << 20
"""Arrays of this many bytes or more are placed in huge-page memory where it exists."""

_ALIGN = 1 << 21  # one transparent huge page
_HUGE = hasattr(mmap, "MADV_HUGEPAGE") and hasattr(mmap, "MAP_ANONYMOUS")


def _huge_zeros(nbytes):
    """``nbytes`` zeroed bytes starting on a 2 MB boundary, or None if not available."""
    if not _HUGE:
        return None
    size = -(-nbytes // _ALIGN) * _ALIGN + _ALIGN  # whole pages, and room to align the start
    try:
        region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except OSError:
        return None
    try:
        region.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # huge pages disabled: still aligned, still outside the heap
        pass
    raw = np.frombuffer(region, dtype=np.uint8)  # keeps the mapping alive
    start = -raw.ctypes.data % _ALIGN
    return raw[start : start + nbytes]


def work_array(owner, name, shape, dtype, zero=False):
    """The work array ``name`` of ``owner``, kept while its shape and dtype stay.

    Parameters
    ----------
    owner : object
        The layer; the arrays live in its ``_workspace`` dict.
    name : str
        Which array.
    shape : tuple of int
        Its shape.
    dtype : dtype
        Its dtype.
    zero : bool
        Set every element to zero (a new array is zeroed, a kept one cleared).

    Returns
    -------
    ndarray
        C-contiguous; its contents are left from the previous call unless ``zero``.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    ws = owner.__dict__.setdefault("_workspace", {})
    buf = ws.get(name)
    if buf is not None and buf.shape == shape and buf.dtype == dtype:
        if zero:
            buf[...] = 0
        return buf
    ws.pop(name, None)  # free the old array before making the new one
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = _huge_zeros(nbytes) if nbytes >= HUGE_MIN else None
    if raw is not None:
        buf = raw.view(dtype).reshape(shape)
    else:
        buf = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    ws[name] = buf
    return buf
