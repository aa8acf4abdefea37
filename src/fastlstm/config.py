"""Where fastlstm finds data and keeps its cache, and which BLAS its kernels call.

One setting each:

``FASTLSTM_DATA``
    A directory laid out as ``ptb/ptb.{train,valid,test}.txt``,
    ``sequence/{addition,date}.txt`` and ``book-weights/*.pkl``.  Every loader,
    test and example reads the book's files through this setting.  Set to a
    path that is not a folder, or to an empty folder, it is an error
    (``FileNotFoundError``), never a reason to use other data.
``FASTLSTM_CACHE``
    Where downloads and preprocessed corpora are cached (default
    ``~/.cache/fastlstm``; see :func:`user_cache_dir`).
``FASTLSTM_NUMBA_CACHE``
    Where compiled numba kernels are kept (default: ``numba`` in the default
    cache folder above, e.g. ``~/.cache/fastlstm/numba``; it does not follow
    ``FASTLSTM_CACHE``).  Kernels are never written into the installed
    package.  Inside it every fastlstm, numba and Python version and every
    installed copy of the package has its own sub-folder; deleting the folder
    is always safe (kernels are compiled again on next use).  When it cannot
    be written, kernels are compiled in memory, with one warning.
``FASTLSTM_BLAS``
    Which BLAS the kernels' matrix products call: ``numpy`` (the default: the
    OpenBLAS NumPy's wheels bring, when found; else SciPy's) or ``scipy``
    (SciPy's, through numba's ``np.dot``).  Any other value is an error
    (``ValueError``).  Each choice has its own compiled kernels.
``FASTLSTM_PACKED_GEMM``
    Who computes the kernels' float32 matrix products of 64 rows or more when they
    call NumPy's OpenBLAS: ``auto`` (the default) fastlstm's own packed tiles when
    OpenBLAS runs kernels narrower than the CPU's vectors (its 256-bit kernels on an
    AVX-512 CPU, e.g. under ``OPENBLAS_CORETYPE=Haswell``), else OpenBLAS; ``0``
    always OpenBLAS; ``1`` always the tiles.  Any other value is an error
    (``ValueError``).  The tiles sum in another order than OpenBLAS (the last bits of
    float32 results differ), and compiling them adds about 3 s of CPU time to a first
    run; each choice has its own compiled kernels.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "GPU",
    "KernelCacheWarning",
    "data_dir",
    "data_file",
    "env_flag",
    "env_choice",
    "user_cache_dir",
    "cache_dir",
    "numba_cache_dir",
]

#: The book's ``common/config.py`` switch: fastlstm computes on the CPU only, so
#: this is always False (``from common import config`` becomes
#: ``from fastlstm import config``; the book's ``if config.GPU:`` branches are skipped).
GPU = False


class KernelCacheWarning(UserWarning):
    """The compiled-kernel cache could not be used as it is (a corrupt entry, or no
    writable folder): kernels are compiled again."""


def data_dir() -> Path | None:
    """Return the data directory named by ``FASTLSTM_DATA``, or None if it is not set.

    Returns
    -------
    pathlib.Path or None
        The folder; None if ``FASTLSTM_DATA`` is unset or empty.

    Raises
    ------
    FileNotFoundError
        If ``FASTLSTM_DATA`` names something that is not a folder (a mistyped
        path) or an empty folder: a setting the user gave that cannot be
        honoured is an error, never a reason to use other data.
    """
    value = os.environ.get("FASTLSTM_DATA")
    if not value:
        return None
    path = Path(value).expanduser()
    check_data_folder(path, f"FASTLSTM_DATA={value}", ", or unset it")
    return path


def check_data_folder(path: Path, named: str, tail: str = "") -> None:
    """Refuse a data directory that is not a folder, or is empty.

    Parameters
    ----------
    path : pathlib.Path
        The folder.
    named : str
        How the user gave it (``FASTLSTM_DATA=...``, ``data_dir (--data-dir) ...``).
    tail : str, optional
        Advice appended to the message.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder or holds nothing.
    """
    if not path.is_dir():
        # a file here is often a text or pairs of one's own, given to the data folder's option
        # (or to ``--data``, which argparse takes as short for ``--data-dir`` where there is
        # no ``--data``)
        own = (
            " (your own text is given with text= (--text), your own pairs with data= (--data))"
            if path.is_file()
            else ""
        )
        raise FileNotFoundError(
            f"{named} (not a directory): it must be the folder holding ptb/, sequence/ and "
            f"book-weights/{own}{tail}"
        )
    if next(path.iterdir(), None) is None:
        raise FileNotFoundError(
            f"{named} is an empty folder: put ptb/, sequence/ or book-weights/ in it{tail}"
        )


def data_file(*parts: str) -> Path | None:
    """Return a file of the data directory if it exists.

    Parameters
    ----------
    *parts : str
        Path components below the data directory, e.g. ``"ptb", "ptb.train.txt"``.

    Returns
    -------
    pathlib.Path or None
        ``data_dir()/parts...`` if that file exists, else None.
    """
    root = data_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.is_file() else None


_YES = ("1", "true", "yes", "on")
_NO = ("", "0", "false", "no", "off")


def env_flag(name: str, default: bool = False) -> bool:
    """A yes/no environment variable: ``1/true/yes/on`` or ``0/false/no/off`` (any case).

    Parameters
    ----------
    name : str
        The variable.
    default : bool, default False
        Its value when unset.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        Naming the variable, for any other value.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _YES or value in _NO:
        return value in _YES
    raise ValueError(
        f"environment variable {name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}"
    )


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices`` read from an environment variable (case and spaces ignored).

    Parameters
    ----------
    name : str
        The variable.
    choices : tuple of str
        The values it may take, lower case.
    default : str
        Its value when unset or empty.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Naming the variable and its choices, for any other value.
    """
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        names = [repr(c) for c in choices]
        listed = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
        raise ValueError(f"{name} must be {listed}, not {value!r}")
    return value


def user_cache_dir() -> Path | None:
    """The platform's per-user cache folder for fastlstm, or None if there is no home.

    ``$XDG_CACHE_HOME/fastlstm`` or ``~/.cache/fastlstm`` on Linux and other
    Unix systems, ``~/Library/Caches/fastlstm`` on macOS and
    ``%LOCALAPPDATA%\\fastlstm\\Cache`` on Windows.

    Returns
    -------
    pathlib.Path or None
        The folder (not created here).
    """
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no HOME and no password entry
        home = None
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        if base:
            return Path(base) / "fastlstm" / "Cache"
        return None if home is None else home / "AppData" / "Local" / "fastlstm" / "Cache"
    if sys.platform == "darwin":
        return None if home is None else home / "Library" / "Caches" / "fastlstm"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "fastlstm"
    return None if home is None else home / ".cache" / "fastlstm"


def cache_path() -> Path | None:
    """The cache directory, not created: ``FASTLSTM_CACHE`` if set, else :func:`user_cache_dir`.

    Returns
    -------
    pathlib.Path or None
        The directory; None if ``FASTLSTM_CACHE`` is unset and there is no home folder.
    """
    value = os.environ.get("FASTLSTM_CACHE", "").strip()
    return Path(value).expanduser() if value else user_cache_dir()


def cache_dir() -> Path:
    """Return (and create) the cache directory, :func:`cache_path`.

    Returns
    -------
    pathlib.Path
        The directory (created if missing).

    Raises
    ------
    OSError
        If there is no cache directory (no home folder, ``FASTLSTM_CACHE``
        unset) or it cannot be created (read-only, a file of that name); the
        message names ``FASTLSTM_CACHE``.
    """
    path = cache_path()
    if path is None:
        raise OSError("no home folder for the cache: set FASTLSTM_CACHE")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot create the cache folder {path} ({exc.strerror or exc}): set "
            "FASTLSTM_CACHE to a writable folder"
        ) from None
    return path


def numba_cache_dir() -> Path | None:
    """The folder for compiled numba kernels (``FASTLSTM_NUMBA_CACHE``), not created here.

    Returns
    -------
    pathlib.Path or None
        ``FASTLSTM_NUMBA_CACHE`` if set, else ``numba/`` in :func:`user_cache_dir`; None
        when neither exists (kernels are then compiled in memory).
    """
    value = os.environ.get("FASTLSTM_NUMBA_CACHE", "").strip()
    if value:  # blank is unset
        return Path(value).expanduser().absolute()
    base = user_cache_dir()
    return None if base is None else base / "numba"
