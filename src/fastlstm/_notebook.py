"""Behaviour under a Jupyter kernel: progress bars, inline figures, caller-facing warnings.

* :func:`in_kernel` tells whether the code runs in a Jupyter (IPython) kernel.
* :func:`progress_bar` is a tqdm bar that is a widget in a notebook when
  ``ipywidgets`` is installed, plain text otherwise (never tqdm's
  ``TqdmWarning: IProgress not found``), and hidden when not wanted.
* :func:`show_png` displays PNG files inline in a notebook.
* :func:`warn` issues a warning attributed to the first line outside the
  package (the user's call), however deep inside fastlstm it is raised.

Nothing here imports IPython, ipywidgets or tqdm at module import time.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (notebook, JupyterLab, VS Code ...)."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001  (a broken IPython is no kernel)
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def widgets_available() -> bool:
    """Whether ``ipywidgets`` imports (tqdm's notebook bars need it)."""
    try:
        import ipywidgets  # noqa: F401
    except Exception:  # noqa: BLE001  (missing or broken: plain text bars)
        return False
    return True


def tqdm_class() -> type:
    """``tqdm.notebook.tqdm`` in a Jupyter kernel with ``ipywidgets``, else ``tqdm.tqdm``.

    What ``tqdm.auto`` would choose, except that a kernel without ipywidgets
    gets text bars instead of ``TqdmWarning: IProgress not found``.

    Returns
    -------
    type
        The tqdm class to instantiate.
    """
    if in_kernel() and widgets_available():
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm
    return tqdm


def progress_bar(iterable=None, *, total=None, initial=0, desc=None, progress=True):
    """A tqdm progress bar suited to where the code runs.

    Parameters
    ----------
    iterable : iterable, optional
        Items to iterate over, as ``tqdm(iterable)``.
    total, initial, desc
        As for ``tqdm``.
    progress : bool, default True
        False: a disabled bar (nothing is shown).

    Returns
    -------
    tqdm.tqdm
        In a Jupyter kernel, a widget bar (``tqdm.notebook``) if ``ipywidgets``
        imports and a text bar otherwise, shown whenever ``progress``; outside
        a kernel, a text bar shown only when its output is a terminal.
    """
    kernel = in_kernel()
    tqdm = tqdm_class()
    if not progress:
        disable = True
    else:
        disable = False if kernel else None  # None: hidden when the output is not a terminal
    return tqdm(
        iterable,
        total=total,
        initial=initial,
        desc=desc,
        unit="it",
        disable=disable,
        dynamic_ncols=True,
    )


def show_png(paths) -> bool:
    """Display PNG files inline when running in a Jupyter kernel.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        The files, displayed in this order.

    Returns
    -------
    bool
        True if they were displayed (in a kernel), False otherwise.
    """
    if not in_kernel():
        return False
    from IPython.display import Image, display

    for path in paths:
        display(Image(filename=str(Path(path))))
    return True


def show_figure(fig) -> bool:
    """Display a matplotlib figure inline (as a PNG) when running in a Jupyter kernel.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure with a canvas (e.g. from :mod:`fastlstm.plot`).

    Returns
    -------
    bool
        True if it was displayed (in a kernel), False otherwise.
    """
    if not in_kernel():
        return False
    import io

    from IPython.display import Image, display

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    display(Image(data=buf.getvalue(), format="png"))
    return True


def caller_stacklevel() -> int:
    """``stacklevel`` for :func:`warnings.warn` that names the first frame outside fastlstm.

    Counted from the caller of this function: ``warnings.warn(msg, stacklevel=
    caller_stacklevel())`` made in a function of the package points at the
    user's line that (indirectly) called it.
    """
    frame = sys._getframe(1)  # the function that will call warnings.warn: level 1
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the user's line, not to the package's internals.

    Parameters
    ----------
    message : str
        The warning's text.
    category : type of Warning, default UserWarning
        Its class.
    """
    warnings.warn(message, category, stacklevel=caller_stacklevel())
