"""fastlstm: the recurrent models of *Deep Learning from Scratch 2* (ch. 5-8), fast on a CPU.

Book-compatible layers live in :mod:`fastlstm.layers`, models in
:mod:`fastlstm.models`, optimizers in :mod:`fastlstm.optim`, the book's trainers
in :mod:`fastlstm.trainer` (on the one training loop, :mod:`fastlstm.engine`),
data in :mod:`fastlstm.datasets`, and a numerical gradient check in
:func:`fastlstm.gradcheck`.
"""

from fastlstm._version import __version__
from fastlstm.config import KernelCacheWarning
from fastlstm.gradcheck import gradcheck

# the run API (fastlstm.api), imported on first use so that `import fastlstm` stays light
_API = (
    "train",
    "Run",
    "TrainingInterrupted",
    "last_run",
    "evaluate",
    "translate",
    "generate_text",
    "load_model",
    "RunError",
)

__all__ = ["KernelCacheWarning", "gradcheck", "__version__", *_API]


def __getattr__(name):
    if name in _API:
        from fastlstm import api

        return getattr(api, name)
    raise AttributeError(f"module 'fastlstm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
