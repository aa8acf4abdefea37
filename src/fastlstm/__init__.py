"""fastlstm: the recurrent models of *Deep Learning from Scratch 2* (ch. 5-8), fast on a CPU.

Book-compatible layers live in :mod:`fastlstm.layers`, models in
:mod:`fastlstm.models`, optimizers in :mod:`fastlstm.optim`, training loops in
:mod:`fastlstm.trainer`, data in :mod:`fastlstm.datasets`, and a numerical
gradient check in :func:`fastlstm.gradcheck`.
"""

__version__ = "0.1.0"

from fastlstm.config import KernelCacheWarning  # noqa: E402
from fastlstm.gradcheck import gradcheck  # noqa: E402

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
