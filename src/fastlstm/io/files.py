"""Files that are never half written: atomic writes and the clean-up of the
temporary files that killed saves leave behind.

Every write of the package goes through :func:`atomic_write`: a crash never
leaves a half-written file behind and never destroys the previous version, and
the temporary file of a save that was killed is removed by the next save to the
same folder.  Problems with a file's content raise :class:`CheckpointError`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PathLike",
    "CheckpointError",
    "TEMP_SUFFIX",
    "STALE_TEMP_AGE",
    "remove_stale_temp_files",
    "atomic_write",
]

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A parameter or checkpoint file is corrupt, truncated, foreign or does not fit the model."""


def _require_file(path: Path) -> None:
    """Raise ``FileNotFoundError`` / ``IsADirectoryError`` unless ``path`` is a regular file."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a parameter or checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")


#: Suffix of the temporary files of :func:`atomic_write`; their names are
#: ``.<name>.<host>-<pid>.<random>`` followed by it.
TEMP_SUFFIX = ".fastlstm-tmp"

#: A temporary file older than this (seconds) is stale even if its process id
#: is in use (process ids are reused).
STALE_TEMP_AGE = 24 * 3600.0

_TEMP_RE = re.compile(r"^\..+\.([A-Za-z0-9-]*)-(\d+)\.[^.]+" + re.escape(TEMP_SUFFIX) + "$")


def decode_utf8(raw: bytes, path, what: str) -> str:
    """UTF-8 text of a file's bytes (a leading BOM is not data); a ValueError names the file,
    the line and the byte, and says that ``what`` (e.g. "PTB files") must be UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ValueError(
            f"{path}, line {line}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}); {what} must be UTF-8"
        ) from None


def _writer_tag() -> str:
    """``<host>-<pid>`` of this process, for the names of temporary files."""
    import socket

    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]
    return f"{host}-{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine may still be running.

    Parameters
    ----------
    pid : int
        A process id.

    Returns
    -------
    bool
        False only when the system says there is no such process
        (``ProcessLookupError``, ``ESRCH``).  Any other ``OSError`` of the probe,
        e.g. ``PermissionError`` (``EPERM``: the process exists but belongs to
        another user), means the process exists.  This process is alive.  Where
        processes cannot be probed without side effects (not POSIX; on Windows
        ``os.kill`` would end the process) the answer is True: callers then go by
        a file's age or ask the user.
    """
    if os.name != "posix":
        return True  # cannot tell: rely on the age
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists
        return True
    return True


def remove_stale_temp_files(directory: PathLike) -> list[Path]:
    """Remove the temporary files that killed saves left in ``directory``.

    A save that is killed (``SIGKILL``, power loss) cannot remove its
    temporary file.  :func:`atomic_write` calls this before every save: a
    temporary file of :func:`atomic_write` is removed when the process that
    wrote it (on this host) no longer runs, or when it is older than
    :data:`STALE_TEMP_AGE`.  Temporary files of running saves, and recent ones
    written from other hosts (a shared file system), are left alone.

    Parameters
    ----------
    directory : str or os.PathLike
        The folder to clean.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    this_host = _writer_tag().rsplit("-", 1)[0]
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_AGE
            here = match.group(1) == this_host
            if old or (here and not pid_alive(int(match.group(2)))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # removed meanwhile, or not ours to remove
    return removed


def atomic_write(path: PathLike, write_fn: Callable[[IO[bytes]], Any]) -> Path:
    """Write a file atomically.

    ``write_fn`` receives a binary file object opened on a temporary file in the
    same directory as ``path``.  When it returns, the data are flushed and
    ``fsync``-ed and the temporary file replaces ``path`` with :func:`os.replace`.
    If ``write_fn`` raises, the temporary file is removed and ``path`` (if it
    existed) is left untouched.  Temporary files left in the directory by
    saves that were killed are removed first (:func:`remove_stale_temp_files`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.  Its directory must exist.
    write_fn : callable
        ``write_fn(f)`` writes the content to the binary file object ``f``.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    OSError
        If writing fails (e.g. a full disk); the message names ``path``
        (``IsADirectoryError`` if ``path`` is a directory).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory, not a file")
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    remove_stale_temp_files(directory)
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix=f".{path.name}.{_writer_tag()}.", suffix=TEMP_SUFFIX
    )
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if exc.errno is None or exc.filename is not None:
            raise
        # e.g. a full disk: "[Errno 28] No space left on device" would not say where
        raise OSError(
            exc.errno,
            f"{exc.strerror} (writing {path}; the previous file, if any, is kept)",
            str(path),
        ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # make the rename itself durable (best effort: not every platform allows it)
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path
