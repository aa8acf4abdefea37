"""The one place where numba compilation options are set.

Every kernel module decorates its functions with :func:`jit` (serial) or
:func:`pjit` (may use ``prange``).  Kernels are compiled lazily on first call
and cached on disk (``cache=True``), so the compile cost is paid once per
machine.

``fastmath`` stays off: the fast path is tested against the NumPy reference
to 1e-10 relative in float64, and reassociation would only buy a few percent.

Environment variables
---------------------
FASTLSTM_NUMBA_PARALLEL : "0" disables ``parallel=True`` kernels (they then
    run serially); results are identical either way, since no kernel reduces
    across threads.
"""

from __future__ import annotations

import os

import numba

PARALLEL = os.environ.get("FASTLSTM_NUMBA_PARALLEL", "1") != "0"

_COMMON = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")


def jit(*args, **kwargs):
    """``numba.njit`` with the package's options (serial kernels)."""
    opts = dict(_COMMON, **kwargs)
    return numba.njit(*args, **opts)


def pjit(*args, **kwargs):
    """``numba.njit`` with the package's options and ``parallel=True``."""
    opts = dict(_COMMON, parallel=PARALLEL, **kwargs)
    return numba.njit(*args, **opts)


prange = numba.prange
