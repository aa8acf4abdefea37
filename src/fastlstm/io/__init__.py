"""Parameter files and training checkpoints.

Two formats are read:

* the package's own format, a NumPy ``.npz`` archive written by :func:`save_params`
  or :func:`save_checkpoint`: one array per parameter (``param_000``,
  ``param_001``, ...) plus a JSON metadata entry.  It is loaded with
  ``allow_pickle=False`` and keeps the full precision of the parameters;
* the book's ``save_params`` files (a pickled list of float16 arrays), read by
  :func:`read_book_pkl` with a restricted unpickler that can build NumPy arrays
  and nothing else, so a hostile file cannot run code.

Every write goes through :func:`atomic_write`: a crash never leaves a half-written
file behind and never destroys the previous version, and the temporary file of a
save that was killed is removed by the next save to the same folder.  Problems with a file's
content raise :class:`CheckpointError` (a :class:`ValueError`) with a message
naming the file and what is wrong.

The modules: :mod:`~fastlstm.io.files` (atomic writes, clean-up of temporary
files), :mod:`~fastlstm.io.npz` (the package's parameters and checkpoints),
:mod:`~fastlstm.io.book_pickle` (the book's pickles), :mod:`~fastlstm.io.loading`
(either format, :func:`load_any`, :func:`load_into`).  :func:`download` lives
in :mod:`fastlstm.datasets._fetch` and is reachable here as before.

Examples
--------
>>> from fastlstm import io                                        # doctest: +SKIP
>>> io.save_params(model.params, "rnnlm.npz", model_class="Rnnlm")  # doctest: +SKIP
>>> io.load_into(model.params, io.load_any("Rnnlm.pkl"), "Rnnlm.pkl")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from fastlstm.io.book_pickle import read_book_pkl
from fastlstm.io.files import (
    STALE_TEMP_AGE as STALE_TEMP_AGE,
)
from fastlstm.io.files import (
    TEMP_SUFFIX as TEMP_SUFFIX,
)
from fastlstm.io.files import (
    CheckpointError,
    atomic_write,
    remove_stale_temp_files,
)
from fastlstm.io.files import (
    PathLike as PathLike,
)
from fastlstm.io.loading import load_any, load_into
from fastlstm.io.npz import (
    CHECKPOINT_FORMAT as CHECKPOINT_FORMAT,
)
from fastlstm.io.npz import (
    FORMAT_VERSION as FORMAT_VERSION,
)
from fastlstm.io.npz import (
    PARAMS_FORMAT as PARAMS_FORMAT,
)
from fastlstm.io.npz import (
    Checkpoint,
    load_checkpoint,
    load_params,
    read_params_meta,
    save_checkpoint,
    save_params,
)

__all__ = [
    "CheckpointError",
    "Checkpoint",
    "atomic_write",
    "remove_stale_temp_files",
    "save_params",
    "load_params",
    "read_book_pkl",
    "load_into",
    "save_checkpoint",
    "load_checkpoint",
    "load_any",
    "read_params_meta",
    "download",
]


def __getattr__(name: str) -> Any:
    # ``download`` is the data sets' (an HTTP fetch, not a file format); imported
    # on first use so that ``fastlstm.io`` does not import ``fastlstm.datasets``.
    if name == "download":
        from fastlstm.datasets._fetch import download

        return download
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
