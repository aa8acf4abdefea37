"""Work arrays the layers keep between calls.

The LSTM layers (gates, packed weights, states) and the loss layers (the scores
and their gradient) need the same multi-megabyte scratch arrays at every call.
They keep them in a ``_workspace`` dict of their own, never return them to the
user, and keep the memory under each: an array of another shape or dtype is a
view of the same bytes while they suffice (batches whose padding is trimmed
change their length from one batch to the next), and new memory is taken only
for a larger one.

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
        Set every element to zero (new memory is zero; kept memory is cleared).

    Returns
    -------
    ndarray
        C-contiguous; its contents are what earlier calls left in its memory
        unless ``zero``.
    """
    ws = owner.__dict__.setdefault("_workspace", {})
    buf = ws.get(name)
    fresh = False  # new memory, zero already
    if buf is None or buf.shape != shape or buf.dtype != dtype:  # (the usual case skips this)
        buf, fresh = _take(owner, ws, name, tuple(int(n) for n in shape), np.dtype(dtype))
    if zero and not fresh:
        buf[...] = 0
    return buf


def _take(owner, ws, name, shape, dtype):
    """The array ``name`` as ``shape`` and ``dtype``: the kept one, a view of the kept memory
    if it suffices, or new memory; ``(array, whether the memory is new)``."""
    buf = ws.get(name)
    if buf is not None and buf.shape == shape and buf.dtype == dtype:
        return buf, False
    raws = owner.__dict__.setdefault("_workspace_bytes", {})
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = raws.get(name)
    fresh = raw is None or raw.size < nbytes
    if fresh:
        ws.pop(name, None)  # free the old memory before taking more
        raws.pop(name, None)
        raw = _huge_zeros(nbytes) if nbytes >= HUGE_MIN else None
        if raw is None:
            raw = np.zeros(nbytes, np.uint8)
        raws[name] = raw
    buf = ws[name] = raw[:nbytes].view(dtype).reshape(shape)
    return buf, fresh
