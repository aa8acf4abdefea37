"""Shared set-up of the examples: import fastlstm from this checkout, output directory."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # like the book's sys.path.append('..')

OUT = Path("runs") / "examples"  # plots and parameters, relative to the working directory
OUT.mkdir(parents=True, exist_ok=True)


def arg(i, default, type=int):
    """Optional command-line knob ``sys.argv[i]`` (e.g. a smaller max_epoch for a quick run)."""
    return type(sys.argv[i]) if len(sys.argv) > i else default
