"""Downloads of the data sets that never keep an offline user waiting.

Before a download, :func:`fetch` checks within ``PROBE_TIMEOUT`` seconds that
the server accepts a connection: name resolution and the TCP connection run in
a helper thread, so a resolver that hangs (a machine without network) costs at
most that long.  ``FASTLSTM_OFFLINE=1`` skips downloads altogether.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
from pathlib import Path

from fastlstm import io as fio

__all__ = ["fetch", "offline_reason", "PROBE_TIMEOUT", "READ_TIMEOUT"]

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
    if os.environ.get("FASTLSTM_OFFLINE", "").strip() not in ("", "0"):
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
    return fio.download(url, dest, timeout=READ_TIMEOUT)
