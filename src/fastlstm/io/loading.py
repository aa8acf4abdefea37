"""Parameters from a file of either format (told apart by its first bytes), and
their copy into a model's ``params``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastlstm.io._magic import _sniff
from fastlstm.io.book_pickle import read_book_pkl
from fastlstm.io.files import CheckpointError, PathLike
from fastlstm.io.npz import load_params

__all__ = ["load_into", "load_any"]


def load_into(
    params: Sequence[np.ndarray], arrays: Sequence[np.ndarray], source: Any = "<arrays>"
) -> None:
    """Copy loaded arrays into a model's parameters, in place.

    Parameters
    ----------
    params : list of numpy.ndarray
        The model's ``params`` list, as the model holds it (tied weights may
        appear more than once, as the same object or as views).
    arrays : list of numpy.ndarray
        Arrays in the same order, e.g. from :func:`load_any`.  They are cast to
        each parameter's dtype (``param[...] = array``).
    source : str or os.PathLike, optional
        Name of the file, used in error messages.

    Raises
    ------
    CheckpointError
        If the number of arrays or any shape differs from the model's, or if a
        parameter listed twice (tied) receives two different arrays.  Nothing
        is copied in that case.
    """
    if len(arrays) != len(params):
        raise CheckpointError(
            f"{source}: holds {len(arrays)} arrays but the model has {len(params)} parameters"
        )
    first: dict[int, int] = {}
    todo: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (param, arr) in enumerate(zip(params, arrays, strict=True)):
        if not isinstance(param, np.ndarray):
            raise TypeError(f"params[{i}] must be a numpy array, got {type(param).__name__}")
        arr = np.asarray(arr)
        if arr.shape != param.shape:
            raise CheckpointError(
                f"{source}: parameter {i} has shape {arr.shape}, the model expects {param.shape}"
            )
        j = first.get(id(param))
        if j is not None and params[j] is param:
            if not np.array_equal(np.asarray(arrays[j]), arr):
                raise CheckpointError(
                    f"{source}: parameters {j} and {i} are tied in the model but differ in the file"
                )
            continue
        j = first.get(id(param.base))
        if j is not None and params[j] is param.base and param.shape == params[j].T.shape:
            # weight tying by a transposed view (BetterRnnlm's output W = embedding.T)
            if not np.array_equal(np.asarray(arrays[j]).T, arr):
                raise CheckpointError(
                    f"{source}: parameter {i} is tied to parameter {j} (its transpose) in the "
                    "model but differs in the file"
                )
            continue
        first[id(param)] = i
        todo.append((param, arr))
    for param, arr in todo:
        param[...] = arr


def load_any(path: PathLike) -> list[np.ndarray]:
    """Load parameter arrays from either format, chosen by the file's content.

    Parameters
    ----------
    path : str or os.PathLike
        A fastlstm ``.npz`` (parameters or checkpoint) or a book ``.pkl``.

    Returns
    -------
    list of numpy.ndarray
        The parameter arrays (float16 for the book's files; cast them with
        :func:`load_into`).

    Raises
    ------
    CheckpointError
        If the content is neither format, or is corrupt.
    """
    path = Path(path)
    kind = _sniff(path)
    if kind == "npz":
        return load_params(path)
    if kind == "pkl":
        return read_book_pkl(path)
    if kind == "empty":
        raise CheckpointError(f"{path} is empty")
    raise CheckpointError(
        f"{path} is neither a fastlstm .npz file nor a pickle of numpy arrays "
        "(unrecognised content)"
    )
