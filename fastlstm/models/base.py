"""``BaseModel``: parameter lists, saving and loading (the book's ``common/base_model.py``).

Models keep the book's ``params`` / ``grads`` lists.  :meth:`BaseModel.save_params`
writes fastlstm's own ``.npz`` format (full precision, no pickle, written
atomically) with the model's class name and constructor arguments, so
:meth:`BaseModel.from_checkpoint` can rebuild the model from the file alone.
:meth:`BaseModel.load_params` reads that format or the book's ``.pkl`` files
(through a reader that builds NumPy arrays and never runs code from the file).
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np

from fastlstm import io

__all__ = ["BaseModel", "model_class"]

_REGISTRY: dict[str, type] = {}


def _check_sizes(**sizes):
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def global_random_state() -> np.random.RandomState:
    """NumPy's global random state: what ``np.random.randn`` and ``np.random.seed`` use.

    The book's code draws everything (initial weights, shuffles, dropout masks,
    sampled words) from it; ``np.random.seed(n)`` reseeds this very object, so
    holding it and drawing from it later draws what the book's calls draw.
    """
    return np.random.mtrand._rand


def as_rng(seed):
    """The source of draws for a ``seed`` / ``rng`` argument (models, trainers, layers).

    * ``None``: NumPy's global random state (:func:`global_random_state`), as the
      book's ``np.random.randn`` / ``np.random.permutation`` / ``np.random.rand``
      calls, so ``np.random.seed(n)`` beforehand repeats a run;
    * a :class:`numpy.random.RandomState` or :class:`numpy.random.Generator`:
      used as is (a ``RandomState`` draws exactly what the book's calls draw
      from the same state, see :func:`fastlstm.datasets.sequence.book_random_state`);
    * anything else (an int, a ``SeedSequence`` ...): ``np.random.default_rng(seed)``.
    """
    if seed is None:
        return global_random_state()
    if isinstance(seed, np.random.RandomState):
        return seed
    return np.random.default_rng(seed)


def _randn(rng, shape, scale, dtype):
    """``rng.standard_normal(shape) / scale`` cast to ``dtype`` (the book's initialisation)."""
    return (rng.standard_normal(shape) / scale).astype(dtype)


def _collect(layers):
    """The book's ``params`` / ``grads`` lists: every layer's lists, in layer order."""
    params, grads = [], []
    for layer in layers:
        params += layer.params
        grads += layer.grads
    return params, grads


def model_class(name):
    """Return the model class registered under ``name`` (e.g. ``"Rnnlm"``).

    Raises
    ------
    KeyError
        If no model class has that name.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown model class {name!r}; known: {known}") from None


class BaseModel:
    """Base class of the models: ``params``, ``grads``, saving and loading.

    Attributes
    ----------
    params : list of ndarray
        Parameters in the book's order (tied weights appear as the book has them).
    grads : list of ndarray
        Gradient arrays, same order and shapes, written in place by ``backward``.
    """

    params: list
    grads: list
    _config: dict

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    # ------------------------------------------------------------------ #
    def forward(self, *args):
        raise NotImplementedError

    def backward(self, *args):
        raise NotImplementedError

    @property
    def dtype(self):
        """The dtype of the parameters."""
        return self.params[0].dtype

    @property
    def config(self):
        """Constructor arguments (without the seed) that rebuild this model; JSON-friendly."""
        return dict(self._config)

    def _set_config(self, **kwargs):
        cfg = {}
        for key, value in kwargs.items():
            if key == "dtype":
                value = np.dtype(value).name
            cfg[key] = value
        self._config = cfg

    def _default_path(self, suffixes):
        for suffix in suffixes:
            path = Path(type(self).__name__ + suffix)
            if path.exists():
                return path
        return Path(type(self).__name__ + suffixes[0])

    # ------------------------------------------------------------------ #
    def save_params(self, path=None):
        """Save the parameters in fastlstm's format (atomic, full precision, no pickle).

        The file is an ``.npz`` archive whatever its name; the default name is
        the book's, so the book's scripts find what they wrote
        (:meth:`load_params` tells the formats apart by their content).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Destination; default ``"<ClassName>.pkl"`` in the working directory,
            as the book's ``save_params()``.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        path = Path(type(self).__name__ + ".pkl") if path is None else Path(path)
        return io.save_params(
            self.params, path, model_class=type(self).__name__, model_kwargs=self.config
        )

    def load_params(self, path=None):
        """Load parameters into the model, in place, from either file format.

        The format is read from the file's content, not its name: fastlstm's
        ``.npz`` (also under a ``.pkl`` name, as :meth:`save_params` writes by
        default) or the book's pickle, read without running anything from it.

        Parameters
        ----------
        path : str or os.PathLike, optional
            A fastlstm file (parameters or training checkpoint) or a book
            ``.pkl`` file.  Default: ``"<ClassName>.pkl"`` in the working
            directory, as the book's ``load_params()`` (else ``"<ClassName>.npz"``).

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        fastlstm.io.CheckpointError
            If the file is corrupt or foreign, was saved by an unrelated model,
            or its number of arrays or any shape differs from the model's
            (nothing is copied then).
        """
        path = self._default_path((".pkl", ".npz")) if path is None else Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        arrays = io.load_any(path)
        saved = self._saved_class(path)
        if saved is not None and saved in _REGISTRY:
            other = _REGISTRY[saved]
            if not (issubclass(type(self), other) or issubclass(other, type(self))):
                raise io.CheckpointError(
                    f"{path}: holds the parameters of a {saved}, which do not fit a "
                    f"{type(self).__name__}"
                )
        io.load_into(self.params, arrays, os.fspath(path))

    @staticmethod
    def _saved_class(path):
        """The model class name recorded in a fastlstm file, or None (book files, none recorded)."""
        try:
            meta = io.read_params_meta(path)
        except io.CheckpointError:
            return None
        return meta.get("model_class")

    @classmethod
    def from_checkpoint(cls, path, **overrides):
        """Rebuild a model from a file written by :meth:`save_params` (or a training checkpoint).

        Parameters
        ----------
        path : str or os.PathLike
            A fastlstm ``.npz`` file that records the model class and its
            constructor arguments.
        **overrides
            Constructor arguments to change, e.g. ``dtype=np.float64`` or ``seed=0``
            (the seed only matters for the dropout masks of ``BetterRnnlm``).

        Returns
        -------
        BaseModel
            A model of the saved class (or of ``cls`` when it is a subclass or
            parent of the saved class, e.g. ``RnnlmGen`` for an ``Rnnlm`` file)
            holding the saved parameters.

        Raises
        ------
        fastlstm.io.CheckpointError
            If the file records no model (e.g. the book's ``.pkl``: build the
            model and call :meth:`load_params`), or a model unrelated to ``cls``.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        try:
            meta = io.read_params_meta(path)
        except io.CheckpointError as exc:
            raise io.CheckpointError(
                f"{path}: cannot rebuild a model from it ({exc}). The book's .pkl files do "
                "not record the model: construct it and call load_params(path)"
            ) from None
        saved = meta.get("model_class")
        kwargs = meta.get("model_kwargs")
        if not saved or not isinstance(kwargs, dict):
            raise io.CheckpointError(
                f"{path}: records no model class and arguments; construct the model and "
                "call load_params(path)"
            )
        if saved not in _REGISTRY:
            raise io.CheckpointError(f"{path}: unknown model class {saved!r}")
        saved_cls = _REGISTRY[saved]
        if cls is BaseModel or cls is saved_cls or issubclass(cls, saved_cls):
            target = saved_cls if cls is BaseModel else cls
        elif issubclass(saved_cls, cls):
            target = saved_cls
        else:
            raise io.CheckpointError(f"{path}: holds a {saved}, not a {cls.__name__}")
        kwargs = {**kwargs, **overrides}
        try:
            model = target(**kwargs)
        except TypeError as exc:
            raise io.CheckpointError(
                f"{path}: cannot build {target.__name__} from the saved arguments {kwargs}: {exc}"
            ) from None
        model.load_params(path)
        return model
