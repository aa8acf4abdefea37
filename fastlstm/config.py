"""Where fastlstm finds data and keeps its cache.

One setting each:

``FASTLSTM_DATA``
    A directory laid out as ``ptb/ptb.{train,valid,test}.txt``,
    ``sequence/{addition,date}.txt`` and ``book-weights/*.pkl``.  Every loader,
    test and example reads the book's files through this setting.
``FASTLSTM_CACHE``
    Where downloads and preprocessed corpora are cached (default
    ``~/.cache/fastlstm``).
"""

from __future__ import annotations

import os
from pathlib import Path

#: The book's ``common/config.py`` switch: fastlstm computes on the CPU only, so
#: this is always False (``from common import config`` becomes
#: ``from fastlstm import config``; the book's ``if config.GPU:`` branches are skipped).
GPU = False


def data_dir() -> Path | None:
    """Return the data directory named by ``FASTLSTM_DATA``, or None if unset or missing."""
    value = os.environ.get("FASTLSTM_DATA")
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def data_file(*parts: str) -> Path | None:
    """Return ``data_dir()/parts...`` if that file exists, else None."""
    root = data_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.is_file() else None


def cache_dir() -> Path:
    """Return (and create) the cache directory."""
    value = os.environ.get("FASTLSTM_CACHE")
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "fastlstm"
    path.mkdir(parents=True, exist_ok=True)
    return path
