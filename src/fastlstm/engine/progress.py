"""The one tqdm progress-bar builder of the package."""

from __future__ import annotations


def progress_bar(total, *, initial=0, progress=True, desc="train", widgets=False):
    """A tqdm progress bar, shown when ``progress`` and the output can show it.

    Parameters
    ----------
    total : int
        Iterations of the bar.
    initial : int, default 0
        Iterations already done (a resumed epoch).
    progress : bool, default True
        False hides the bar.
    desc : str, default ``'train'``
        Label of the bar.
    widgets : bool, default False
        Use ``tqdm.auto``: a widget in a notebook (shown whenever
        ``progress``, as a notebook's output is never a terminal), text in a
        terminal.  Otherwise plain text tqdm.  Either way, text bars are hidden
        when the output is not a terminal.

    Returns
    -------
    tqdm.tqdm
        The bar (a context manager).
    """
    if widgets:
        from tqdm import auto

        tqdm = auto.tqdm
        notebook = any(c.__module__.startswith("tqdm.notebook") for c in tqdm.__mro__)
    else:
        from tqdm import tqdm

        notebook = False
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="it",
        disable=(not progress) if notebook else (None if progress else True),
        dynamic_ncols=True,
    )
