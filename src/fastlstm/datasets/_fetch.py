"""Downloads of the data sets that never keep an offline user waiting.

Before a download, :func:`fetch` checks within ``PROBE_TIMEOUT`` seconds that
the server accepts a connection: name resolution and the TCP connection run in
a helper thread, so a resolver that hangs (a machine without network) costs at
most that long.  ``FASTLSTM_OFFLINE=1`` skips downloads altogether.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

from fastlstm import config
from fastlstm.io.files import PathLike, atomic_write

__all__ = ["fetch", "download", "offline_reason", "PROBE_TIMEOUT", "READ_TIMEOUT"]

#: seconds allowed to resolve the server's name and connect to it
PROBE_TIMEOUT = 3.0
#: socket timeout of the download itself (a stalled transfer fails after this)
READ_TIMEOUT = 15.0


def _connect(host: str, port: int, timeout: float) -> None:
    """Open and close a TCP connection (tests replace this)."""
    with socket.create_connection((host, port), timeout=timeout):
        pass


def offline_reason(url: str, timeout: float | None = None) -> str | None:
    """Why ``url`` cannot be downloaded now, or None if its server answers.

    Parameters
    ----------
    url : str
        The address to be downloaded.
    timeout : float, optional
        Seconds to wait at most (default :data:`PROBE_TIMEOUT`), name
        resolution included.

    Returns
    -------
    str or None
        A short reason (``"FASTLSTM_OFFLINE is set"``, ``"no answer from
        raw.githubusercontent.com within 3 s"``, the connection error), or None.
    """
    if config.env_flag("FASTLSTM_OFFLINE"):
        return "FASTLSTM_OFFLINE is set"
    timeout = PROBE_TIMEOUT if timeout is None else float(timeout)
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result: list[BaseException | None] = []

    def probe() -> None:
        try:
            _connect(host, port, timeout)
            result.append(None)
        except BaseException as exc:  # reported to the caller below
            result.append(exc)

    thread = threading.Thread(target=probe, name="fastlstm-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return f"no answer from {host} within {timeout:g} s"
    if result[0] is not None:
        return f"cannot reach {host}: {result[0]}"
    return None


def fetch(url: str, dest: Path) -> Path:
    """Download ``url`` to ``dest`` (atomic, progress bar) after a quick reachability check.

    Raises
    ------
    OSError
        At once when the server cannot be reached (see :func:`offline_reason`),
        or when the download fails.
    """
    reason = offline_reason(url)
    if reason is not None:
        raise OSError(reason)
    return download(url, dest, timeout=READ_TIMEOUT)


def download(url: str, path: PathLike, *, desc: str | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``path`` atomically, with a progress bar.

    Parameters
    ----------
    url : str
        Address to fetch.
    path : str or os.PathLike
        Destination file; its directory is created if needed.
    desc : str, optional
        Label of the progress bar (default: the file name).
    timeout : float, default 30
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    OSError
        If the download fails (``urllib.error.URLError`` is an ``OSError``).
    """
    from fastlstm._notebook import tqdm_class

    tqdm = tqdm_class()  # widgets in a notebook that has ipywidgets, text otherwise
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(f: IO[bytes]) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            total = response.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                desc=desc or path.name,
                leave=False,
            ) as bar:
                while chunk := response.read(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))

    return atomic_write(path, write)
