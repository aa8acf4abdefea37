"""Shared fixtures.

Tests that need the book's files take one of the fixtures below; they skip with
a reason naming what is missing when ``FASTLSTM_DATA`` is unset or incomplete.
The book's own scripts (``ch05``-``ch08``, ``common/``, ``dataset/``) are found
through ``FASTLSTM_BOOK``, else in ``../shared/book`` beside the checkout
(:func:`book_dir`).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from fastlstm import config
from tests._runs import date_file, isolated_run, offline_run, tiny_ptb  # noqa: F401  (fixtures of the run tests)

_NO_DATA = (
    "data directory not set: export FASTLSTM_DATA=/path/to/data "
    "(with ptb/, sequence/, book-weights/)"
)


def _require(directory: Path, names: tuple[str, ...]) -> Path:
    if not directory.is_dir():
        pytest.skip(f"missing data directory {directory}")
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        pytest.skip(f"missing data file(s) in {directory}: {', '.join(missing)}")
    return directory


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The ``FASTLSTM_DATA`` directory (skips if unset)."""
    path = config.data_dir()
    if path is None:
        pytest.skip(_NO_DATA)
    return path


@pytest.fixture(scope="session")
def ptb_dir(data_dir: Path) -> Path:
    """``$FASTLSTM_DATA/ptb`` with the three PTB text files."""
    return _require(data_dir / "ptb", ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"))


@pytest.fixture(scope="session")
def sequence_dir(data_dir: Path) -> Path:
    """``$FASTLSTM_DATA/sequence`` with ``addition.txt`` and ``date.txt``."""
    return _require(data_dir / "sequence", ("addition.txt", "date.txt"))


@pytest.fixture(scope="session")
def book_weights_dir(data_dir: Path) -> Path:
    """``$FASTLSTM_DATA/book-weights`` with the book's ``Rnnlm.pkl`` and ``AttentionSeq2seq.pkl``."""
    return _require(data_dir / "book-weights", ("Rnnlm.pkl", "AttentionSeq2seq.pkl"))


REPO_ROOT = Path(__file__).resolve().parent.parent


def find_book_dir() -> tuple[Path | None, str]:
    """The book's folder (``FASTLSTM_BOOK``, else ``../shared/book``) and, if absent, why."""
    value = os.environ.get("FASTLSTM_BOOK")
    if value:
        path = Path(value).expanduser()
        if not (path / "common").is_dir():
            return None, f"FASTLSTM_BOOK={value} is not the book's folder (no common/ in it)"
        return path, ""
    path = REPO_ROOT.parent / "shared" / "book"
    if (path / "common").is_dir():
        return path, ""
    return None, (
        "the book's scripts are not available: export FASTLSTM_BOOK=/path/to/book "
        f"(the folder with ch05 ... ch08, common/, dataset/), or put them in {path}"
    )


@pytest.fixture(scope="session")
def book_dir() -> Path:
    """The book's own code: ``ch05``-``ch08``, ``common/``, ``dataset/`` (skips if absent)."""
    path, reason = find_book_dir()
    if path is None:
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True)
def _ctrl_c_raises():
    """Ctrl-C raises ``KeyboardInterrupt`` in every test, as in a terminal, also when the test
    run was started with SIGINT ignored (a background job of a non-interactive shell); the
    tests that raise SIGINT themselves rely on it."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
