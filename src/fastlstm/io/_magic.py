"""The two parameter formats told apart by a file's first bytes (a zip archive
is the package's ``.npz``, a pickle protocol byte the book's ``.pkl``).
"""

from __future__ import annotations

from pathlib import Path

from fastlstm.io.files import CheckpointError, _require_file

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

_PICKLE_PROTO = 0x80


def _sniff(path: Path) -> str:
    _require_file(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:4] in _ZIP_MAGIC:
        return "npz"
    if head[:1] == bytes([_PICKLE_PROTO]):
        return "pkl"
    if not head:
        return "empty"
    return "unknown"


def _check_magic(path: Path, want: str) -> None:
    kind = _sniff(path)
    if kind == want:
        return
    if kind == "pkl":
        raise CheckpointError(
            f"{path} is a pickle (the book's format), not a fastlstm .npz file; "
            "read it with fastlstm.io.read_book_pkl or load_any"
        )
    if kind == "empty":
        raise CheckpointError(f"{path} is empty")
    raise CheckpointError(f"{path} is not a fastlstm .npz file (unrecognised content)")
