"""The book's ``save_params`` files (a pickled list of float16 arrays), read with a
restricted unpickler that can build NumPy arrays and nothing else, so a hostile
file cannot run code.
"""

from __future__ import annotations

import io as _stdio
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np

from fastlstm.io.files import CheckpointError, PathLike, _require_file

__all__ = ["read_book_pkl"]


def _latin1_encode(text: Any, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use to store bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError(f"unexpected _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    core = getattr(np, "_core", None)
    if core is None:  # numpy < 2
        core = np.core
    multiarray = core.multiarray
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{mod}.multiarray", "scalar")] = multiarray.scalar
        frombuffer = getattr(core.numeric, "_frombuffer", None)
        if frombuffer is not None:  # pickle protocol 5 out-of-band arrays
            allowed[(f"{mod}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can only build numpy arrays, dtypes and scalars."""

    def __init__(self, file: IO[bytes], source: str):
        super().__init__(file)
        self._source = source
        self._allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"{self._source}: refusing to load forbidden global '{module}.{name}' "
                "(only numpy arrays are allowed in a parameter pickle)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(
            f"{self._source}: persistent ids are not allowed in a parameter pickle"
        )


def read_book_pkl(path: PathLike) -> list[np.ndarray]:
    """Read a parameter file written by the book's ``BaseModel.save_params``.

    The file is a pickled list of numpy arrays (float16 in the book).  It is read
    with a restricted unpickler that can construct numpy arrays and nothing else:
    no code from the file is ever executed.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pkl`` file.

    Returns
    -------
    list of numpy.ndarray
        The arrays as stored (float16 for the book's files).

    Raises
    ------
    CheckpointError
        If the pickle references anything but numpy arrays, is corrupt or
        truncated, or does not hold a list of numeric arrays.
    """
    path = Path(path)
    _require_file(path)
    data = path.read_bytes()
    try:
        obj = _ArrayUnpickler(_stdio.BytesIO(data), str(path)).load()
    except CheckpointError:
        raise
    except Exception as exc:  # any unpickling failure of untrusted bytes
        raise CheckpointError(
            f"{path} is not a readable pickle of numpy arrays (corrupt or truncated?): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(obj, list | tuple):
        raise CheckpointError(
            f"{path} holds a {type(obj).__name__}, expected a list of numpy arrays"
        )
    out = []
    for i, arr in enumerate(obj):
        if not isinstance(arr, np.ndarray):
            raise CheckpointError(
                f"{path}: item {i} is a {type(arr).__name__}, expected a numpy array"
            )
        if arr.dtype.kind not in "biuf":
            raise CheckpointError(f"{path}: item {i} has non-numeric dtype {arr.dtype}")
        out.append(arr)
    return out
