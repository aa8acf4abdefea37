"""Shared set-up of the examples: fastlstm from this checkout, output files, the one argument."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if (ROOT / "src" / "fastlstm").is_dir():  # this checkout's fastlstm, as the book's
    sys.path.insert(0, str(ROOT / "src"))  # sys.path.append('..') takes its common/

OUT = Path("runs") / "examples"  # plots and parameters, relative to the working directory


def out(name):
    """``OUT / name`` for a file the example writes; the folder is created first."""
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT / name


def _usage(message=None):
    doc = (sys.modules["__main__"].__doc__ or "").strip()
    if message is None:
        print(doc)
        sys.exit(0)
    sys.exit(f"{message}\n\n{doc}")


def no_arguments():
    """For an example that takes none: ``--help`` prints its usage, anything else is refused."""
    if sys.argv[1:]:
        _usage() if sys.argv[1] in ("-h", "--help") else _usage("error: takes no arguments")


def arg(i, default, lowest=1):
    """The optional integer ``sys.argv[i]`` (e.g. a smaller max_epoch for a quick run), at least
    ``lowest``; ``--help`` prints the example's usage."""
    args = sys.argv[1:]
    if any(a in ("-h", "--help") for a in args):
        _usage()
    if len(args) > i:
        _usage(f"error: one optional argument, got {len(args)}: {' '.join(args)}")
    if len(sys.argv) <= i:
        return default
    try:
        value = int(sys.argv[i])
    except ValueError:
        value = None
    if value is None or value < lowest:
        _usage(f"error: expected an integer >= {lowest}, got {sys.argv[i]!r}")
    return value


def _missing_file(kind, exc, tb):
    """A file not found (the data, say) ends the example with the loader's message, which names
    the folders looked in and where to put the files; other errors keep their traceback."""
    if issubclass(kind, FileNotFoundError):
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.__excepthook__(kind, exc, tb)


sys.excepthook = _missing_file
