"""Training runs: the book's models trained with checkpoints, curves, resume and the best kept.

:func:`train` is what ``fastlstm train MODEL`` runs.  A run writes into its
output folder (``runs/<model>`` by default, see :mod:`fastlstm.api.folder` for
the rules that keep runs apart):

``best.npz``
    parameters of the best epoch (validation perplexity or test accuracy), with
    the model's class, constructor arguments, vocabulary and data source;
``last.ckpt.npz``
    the state after the last epoch, or at the last completed iteration of an
    interrupted one (parameters, optimizer, random generators, history,
    position); ``resume=`` continues from it exactly;
``*.png``, ``summary.json``
    curves (and the attention map) and the final numbers.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastlstm import _notebook
from fastlstm import io as fio
from fastlstm.api import _util as u
from fastlstm.api import owndata
from fastlstm.api.data import BOOK_DATA, data_file
from fastlstm.api.folder import RunFolder
from fastlstm.api.plots import write_plots
from fastlstm.api.specs import (
    ALL_MODELS,
    BEST_FILE,
    LAST_FILE,
    LM_MODELS,
    RESUME_MAY_CHANGE,
    RunError,
    check_setting,
    settings,
)

__all__ = ["train", "Run", "TrainingInterrupted", "last_run"]

_last_run: Run | None = None  # what last_run() returns


def last_run() -> Run | None:
    """The run that :func:`train` (or :meth:`Run.resume`) made last in this process.

    Also a run stopped by Ctrl-C or "interrupt kernel": its cell raised
    :class:`TrainingInterrupted` and never assigned ``run = fastlstm.train(...)``,
    so ``run = fastlstm.last_run()`` gets it (``run.interrupted`` is True,
    ``run.resume()`` continues it).

    Returns
    -------
    Run or None
        The latest run, finished or interrupted; None before the first.

    Examples
    --------
    >>> run = fastlstm.train("attention", epochs=10)  # doctest: +SKIP
    KeyboardInterrupt ... (interrupt kernel)
    >>> run = fastlstm.last_run()                     # doctest: +SKIP
    >>> run = run.resume()                            # doctest: +SKIP
    """
    return _last_run


def _remember(run: Run) -> None:
    global _last_run
    _last_run = run


# --------------------------------------------------------------------------- #
# results
# --------------------------------------------------------------------------- #
@dataclass(repr=False)
class Run:
    """What a training run made.

    Attributes
    ----------
    name : str
        The model's name (``'attention'``, ``'rnnlm'`` ...).
    model : object
        The trained model, with the parameters of the best epoch (those of the
        last completed iteration if the run was interrupted).
    history : dict of str to list of float
        Curves: ``loss`` and ``accuracy`` (seq2seq), or ``train_ppl``,
        ``val_ppl`` and ``lr`` (language models).
    out : pathlib.Path
        The output folder.
    config : dict
        Every setting of the run (book defaults filled in).
    best : float or None
        Best validation perplexity or test accuracy; None before the first
        epoch was evaluated (a run interrupted in its first epoch).
    summary : dict
        The numbers written to ``summary.json``.
    interrupted : bool
        The run was stopped by Ctrl-C (see :class:`TrainingInterrupted`).
    sample : tuple or None
        For seq2seq runs, a test question ``(x, t, chars, reverse)`` whose attention map
        :meth:`plot` draws.
    iterations_per_epoch : int or None
        Training iterations per epoch: where the curves' points lie (a mean is
        recorded every 20 iterations, counted from each epoch's first).
    """

    name: str
    model: Any
    history: dict
    out: Path
    config: dict
    best: float | None
    summary: dict = field(default_factory=dict)
    interrupted: bool = False
    sample: Any = field(default=None, repr=False)  # (x, t, chars, reverse) for the attention map
    iterations_per_epoch: int | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        curve = self.history.get("accuracy", self.history.get("val_ppl", []))
        state = ", interrupted" if self.interrupted else ""
        return (
            f"Run({self.name!r}, out={str(self.out)!r}, epochs={len(curve)}, "
            f"best={'None' if self.best is None else format(self.best, '.6g')}{state})"
        )

    @property
    def best_path(self) -> Path | None:
        """``best.npz`` of the run, or None if no epoch was completed."""
        p = self.out / BEST_FILE
        return p if p.is_file() else None

    @property
    def last_path(self) -> Path | None:
        """``last.ckpt.npz`` (resumable), or None if nothing was saved."""
        p = self.out / LAST_FILE
        return p if p.is_file() else None

    @property
    def resume_command(self) -> str:
        """The shell command that continues this run."""
        return u.resume_command(self.name, self.out)

    @property
    def resume_call(self) -> str:
        """The Python call that continues this run (what a notebook cell would run)."""
        return u.resume_call(self.name, self.out)

    def plot(self, out=None, *, show: bool = True) -> dict[str, Path]:
        """Write the curves (and the attention map) as PNG files; show them in a notebook.

        Parameters
        ----------
        out : str or os.PathLike, optional
            Folder of the files (default: the run's folder).
        show : bool, default True
            Display the figures inline when running in a Jupyter kernel (a
            notebook); elsewhere nothing is displayed.

        Returns
        -------
        dict of str to pathlib.Path
            The files written, by name (``'loss'``, ``'accuracy'`` ...).
        """
        written = write_plots(self, Path(out) if out is not None else self.out)
        if show:
            _notebook.show_png(written.values())
        return written

    def resume(self, epochs: int | None = None, **settings) -> Run:
        """Continue the run from its last checkpoint (see :func:`train`).

        Parameters
        ----------
        epochs : int, optional
            Total number of epochs (default: the run's).
        **settings
            Other keyword arguments of :func:`train` (``progress``, ``verbose`` ...).

        Returns
        -------
        Run
            The continued run.

        Raises
        ------
        RunError
            If the run's folder holds no ``last.ckpt.npz``.
        """
        if self.last_path is None:
            raise RunError(f"{self.out} holds no {LAST_FILE} to resume from")
        return train(self.name, resume=self.last_path, epochs=epochs, **settings)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or "interrupt kernel" in a notebook) stopped a run; what could be saved was saved.

    The message says how to continue: the ``fastlstm train ... --resume``
    command, or in a notebook the ``fastlstm.train(..., resume=...)`` call.
    The interrupted run is ``exc.run``, and :func:`last_run` returns it too
    (a notebook cell that was interrupted never assigned its ``run``).

    In a notebook, "interrupt kernel" raises it too; catch it to keep the run::

        try:
            run = fastlstm.train("attention")
        except fastlstm.TrainingInterrupted as stop:
            run = stop.run  # run.resume() continues it

    Parameters
    ----------
    run : Run
        The run so far.
    saved : bool
        Whether a resumable checkpoint was written.
    message : str
        What was saved and how to continue.

    Attributes
    ----------
    run : Run
        The run so far (``run.interrupted`` is True).
    saved : bool
        A resumable checkpoint was written.
    message : str
        What was saved and how to continue.
    """

    def __init__(self, run: Run, saved: bool, message: str):
        super().__init__(message)
        self.run = run
        self.saved = saved
        self.message = message

    def _render_traceback_(self) -> list[str]:
        """What IPython shows: the message, not a traceback of the training loop."""
        return [f"{type(self).__name__}: {self.message}"]


# --------------------------------------------------------------------------- #
# settings
# --------------------------------------------------------------------------- #
def _load_resume(path, model_name: str):
    try:
        ckpt = fio.load_checkpoint(u.existing_file(path, "checkpoint"))
    except fio.CheckpointError as exc:
        raise RunError(str(exc)) from None
    extra = ckpt.extra or {}
    if extra.get("model") != model_name or "config" not in extra:
        what = extra.get("model") or ckpt.model_class or "an unknown model"
        raise RunError(f"{path} is a checkpoint of {what}, not of {model_name}")
    if not ckpt.optimizer_state:
        raise RunError(f"{path} has no optimizer state (resume from {LAST_FILE}, not {BEST_FILE})")
    return ckpt


def resolve_settings(name: str, given: dict, saved: dict | None, source=None) -> dict:
    """Settings of a run: book defaults, then the resumed run's, then those ``given``.

    Every value, given or read from a checkpoint, goes through the same check
    (:func:`fastlstm.api.specs.check_setting`): a saved ``time_size`` of -1 or
    ``batch_size`` of 0 is refused as a given one would be.

    Parameters
    ----------
    name : str
        The model.
    given : dict
        Settings given by the user (None: not given).
    saved : dict or None
        Settings saved in the checkpoint resumed (None: not resuming).
    source : str or os.PathLike, optional
        The checkpoint, named in errors about its settings.

    Raises
    ------
    ValueError
        If a given setting does not apply to model ``name`` or is out of range.
    RunError
        If a resumed run would change a setting that cannot change, or the
        checkpoint's saved settings are not valid.
    """
    cfg = settings(name)
    unknown = sorted(set(given) - set(cfg))
    if unknown:
        raise TypeError(
            f"{', '.join(unknown)}: not a setting of {name} (its settings: {', '.join(cfg)})"
        )
    if saved is not None:
        where = source if source is not None else "the checkpoint"
        if not isinstance(saved, dict):
            raise RunError(f"{where}: its saved settings are not a mapping (corrupt?)")
        for key in cfg:
            if key in saved:
                try:
                    cfg[key] = _checked_setting(name, key, saved[key], cfg[key])
                except ValueError as exc:
                    raise RunError(
                        f"{where}: its saved settings are not valid (corrupt or edited?): {exc}"
                    ) from None
    for key, value in given.items():
        if value is None:
            continue
        value = _checked_setting(name, key, value, None)
        if key == "data":
            value = value if value in BOOK_DATA else data_file(value)  # absolute: resumable
        elif key in ("text", "valid", "test"):
            value = str(u.existing_file(value, f"{key} file").resolve())
        if saved is not None and key not in RESUME_MAY_CHANGE and value != saved.get(key):
            flag = "--" + key.replace("_", "-")
            raise RunError(
                f"{key}={value!r} ({flag}) differs from the resumed training's "
                f"{saved.get(key)!r}; it cannot change when resuming"
            )
        cfg[key] = value
    _check_own_data(name, given, cfg)
    if cfg["seed"] is None:
        cfg["seed"] = int(np.random.SeedSequence().generate_state(1)[0])
    return cfg


def _checked_setting(name, key, value, default):
    """``value`` through :func:`check_setting`; None only where the default is None."""
    if value is None and default is None:
        return None
    return check_setting(name, key, value)


def _check_own_data(name: str, given: dict, cfg: dict) -> None:
    """Refuse settings of one's own data given without such data (they would be ignored)."""
    if name in LM_MODELS:
        needs, data = ("level", "vocab_size", "valid", "test", "encoding"), cfg.get("text")
        what = "text= (--text PATH)"
    else:
        needs, data = ("level", "encoding", "max_length"), owndata.is_pairs_file(cfg["data"])
        what = "data= (--data) a tab-separated file of pairs"
    unused = [k for k in needs if given.get(k) is not None]
    if unused and not data:
        flags = ", ".join(f"{k}= (--{k.replace('_', '-')})" for k in unused)
        raise ValueError(f"{flags}: only for training on your own data; give {what}")
    if name in LM_MODELS and data and given.get("max_words") is not None:
        raise ValueError(
            "--max-words (max_words=) takes the first words of the PTB files; a text file "
            "given with --text (text=) is used whole (shorten the file instead)"
        )
    if name in LM_MODELS and data and (cfg.get("valid") is None) != (cfg.get("test") is None):
        raise ValueError(
            "valid= and test= (--valid, --test) go together: give both files, or neither"
        )


def _out_folder(name, out, resume) -> tuple[Path, bool]:
    """The output folder, and whether it is the folder of the run resumed."""
    if out is not None:
        path = u.as_path(out, "out")
    elif resume is not None:
        path = Path(resume).expanduser().parent
    else:
        path = Path("runs") / name
    # the checkpoint's own folder (a symlink to it names another): never the one to clear
    same = resume is not None and Path(resume).expanduser().resolve().parent == path.resolve()
    return path, same


def _resumed_data_dir(data_dir, ckpt):
    """When resuming without ``data_dir`` or $FASTLSTM_DATA, use the data directory saved."""
    saved = (ckpt.extra.get("data_dir") if ckpt is not None else None) or None
    if saved is None or data_dir is not None or os.environ.get("FASTLSTM_DATA"):
        return contextlib.nullcontext()
    if not Path(saved).is_dir():
        return contextlib.nullcontext()
    return u.data_dir(saved)


# --------------------------------------------------------------------------- #
# train
# --------------------------------------------------------------------------- #
_SETTINGS = (
    "epochs", "batch_size", "wordvec", "hidden", "lr", "max_grad", "seed", "time_size",
    "dropout", "lr_decay", "max_words", "data", "reverse", "target_accuracy", "limit", "show",
    "text", "level", "vocab_size", "valid", "test", "encoding", "max_length",
)  # fmt: skip


# fmt: off
def train(
    model: str,
    *,
    out=None,
    resume=None,
    overwrite: bool = False,
    epochs: int | None = None, batch_size: int | None = None, wordvec: int | None = None,
    hidden: int | None = None, lr: float | None = None, max_grad: float | None = None,
    seed: int | str | None = None,
    time_size: int | None = None, dropout: float | None = None, lr_decay: float | None = None,
    max_words: int | None = None,
    data=None, reverse: bool | None = None, target_accuracy: float | None = None,
    limit: int | None = None, show: int | None = None,
    text=None, level: str | None = None, vocab_size: int | None = None, valid=None, test=None,
    encoding: str | None = None, max_length: int | None = None,
    data_dir=None,
    threads: int | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> Run:
    # fmt: on
    """Train one of the book's models, as ``fastlstm train MODEL`` does.

    Settings left as None take the value of the book's script for the model
    (``fastlstm train MODEL --help`` lists them); a resumed run keeps its own.
    After every epoch ``last.ckpt.npz`` is written, and ``best.npz`` if best.

    Parameters
    ----------
    model : str
        ``'simple-rnnlm'``, ``'rnnlm'``, ``'better-rnnlm'`` (PTB), ``'seq2seq'``,
        ``'peeky'``, ``'attention'`` or ``'attention-bi'`` (addition / dates).
    out : str or os.PathLike, optional
        Output folder (default ``runs/<model>``, or the folder of ``resume``);
        one holding files is refused unless ``resume`` or ``overwrite``.
    resume : str or os.PathLike, optional
        A ``last.ckpt.npz`` to continue exactly (only ``epochs``,
        ``target_accuracy`` and ``show`` may change).
    overwrite : bool, default False
        Allow replacing the files of an earlier run in ``out``.
    epochs, batch_size, wordvec, hidden, lr, max_grad, seed : optional
        Total epochs, mini-batch size, ``D``, ``H``, learning rate, gradient
        clipping norm (0: none), seed (``'seq2seq'``, ``'peeky'`` and ``'attention'``
        also take ``'book'``, the book script's random stream, their default; else a
        random seed is drawn and recorded).
    time_size, dropout, lr_decay, max_words : optional
        Language models: BPTT length, dropout ratio, learning-rate divisor on a
        worse validation perplexity (0: none), PTB words per split (0: all).
    data, reverse, target_accuracy, limit, show : optional
        Seq2seq models: ``'addition'``, ``'date'`` or a file path (the book's
        format, or ``source<TAB>target`` lines: :mod:`fastlstm.datasets.pairs`);
        reversed questions; accuracy at which to stop; first ``limit`` training
        and test questions only; test questions printed after each epoch.
    text, level, vocab_size, valid, test, encoding, max_length : optional
        A text file instead of PTB, ``'word'`` or ``'char'``, vocabulary size,
        validation and test files (:mod:`fastlstm.datasets.text`); level (char
        default), encoding and longest pair of a file of pairs.
    data_dir, threads : optional
        Data directory (instead of ``FASTLSTM_DATA``); numba kernel threads.
    progress : bool, default True
        Progress bars (widgets in a notebook with ipywidgets, else text).
    verbose : bool, default True
        Print a line per epoch and the results; False prints nothing.

    Returns
    -------
    Run
        Model, history, checkpoint paths, ``plot()`` and ``resume()``.

    Raises
    ------
    TrainingInterrupted
        On Ctrl-C, "interrupt kernel" or SIGTERM, a :class:`KeyboardInterrupt` raised after
        saving a resumable checkpoint and the curves (run so far: :func:`last_run`); after
        the last epoch the run is saved whole and the message gives the :func:`evaluate` call.
    RunError
        For a folder in use or holding another run, or data that do not fit.
    ValueError, TypeError
        For settings out of range or not those of ``model``.

    Examples
    --------
    >>> run = fastlstm.train("attention", epochs=3)       # doctest: +SKIP
    >>> run.history["accuracy"], run.best_path            # doctest: +SKIP
    >>> run = run.resume(epochs=5)                        # doctest: +SKIP
    """
    given = {k: v for k, v in locals().items() if k in _SETTINGS and v is not None}
    _check_call(model, overwrite=overwrite, progress=progress, verbose=verbose)
    with u.data_dir(data_dir), u.numba_threads(threads):
        ckpt = _load_resume(resume, model) if resume is not None else None
        cfg = resolve_settings(model, given, ckpt.extra["config"] if ckpt else None, resume)
        _check_epochs_left(ckpt, cfg["epochs"], resume)
        folder = RunFolder(*_out_folder(model, out, resume), overwrite=overwrite)
        with folder, _resumed_data_dir(data_dir, ckpt):
            # numba loads only now: `import fastlstm.api` and `fastlstm --help` stay quick
            from fastlstm.api.session import LMSession, SeqSession

            cls = LMSession if model in LM_MODELS else SeqSession
            printer = u.Printer(verbose)
            return _run(cls(model, cfg, folder.path, printer, progress, folder), ckpt, resume)


def _check_call(model: str, **flags) -> None:
    """ValueError for an unknown model, TypeError for a flag that is not a bool.

    (``overwrite='False'`` would otherwise count as true.)
    """
    if model not in ALL_MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of: {', '.join(ALL_MODELS)}")
    for key, flag in flags.items():
        u.check_flag(key, flag)


def _check_epochs_left(ckpt, epochs: int, resume) -> None:
    """RunError when a resumed run has no epoch left to train (it would only rewrite its summary)."""
    if ckpt is not None and epochs <= ckpt.epoch:
        raise RunError(
            f"{resume} already holds {ckpt.epoch} epoch(s) of the {epochs} asked for; give "
            f"epochs= (--epochs) above {ckpt.epoch} to train further"
        )


def _run(session, ckpt, resume) -> Run:
    """Run ``session`` (resumed from ``ckpt``); its :class:`Run`, or :class:`TrainingInterrupted`.

    The run, also an interrupted one, is kept for :func:`last_run`.
    """
    from fastlstm.api.session import RunStopped

    try:
        summary = session.run(ckpt, resume)
    except RunStopped as s:
        run = _run_of(session, interrupted=True)
        _remember(run)  # reachable although the caller's assignment never ran
        raise TrainingInterrupted(run, s.saved, s.message) from None
    run = _run_of(session)
    run.summary = summary
    _remember(run)
    return run


def _evaluated(history) -> bool:
    """Whether an epoch was evaluated (before, ``best`` is a placeholder: -1 or inf)."""
    return bool(history.get("accuracy") or history.get("val_ppl"))


def _run_of(session, interrupted: bool = False) -> Run:
    """The :class:`Run` of a session (trained, or stopped by Ctrl-C)."""
    return Run(
        name=session.name,
        model=session.model,
        history=session.history,
        out=session.out,
        config=dict(session.cfg),
        best=session.best if _evaluated(session.history) else None,
        interrupted=interrupted,
        sample=session.sample,
        iterations_per_epoch=session.iterations_per_epoch,
    )
