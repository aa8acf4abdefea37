"""``BaseModel``: parameter lists, saving and loading (the book's ``common/base_model.py``).

Models keep the book's ``params`` / ``grads`` lists.  :meth:`BaseModel.save_params`
writes the book's format under a ``.pkl`` name (a pickled list of float16
arrays, which the book's own code loads) and fastlstm's own ``.npz`` format
under any other (full precision, no pickle, written atomically) with the
model's class name and constructor arguments, so
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
from fastlstm.io.files import _require_file

__all__ = ["BaseModel", "ModelTooLargeError", "model_class"]

_REGISTRY: dict[str, type] = {}


class ModelTooLargeError(MemoryError, ValueError):
    """The sizes asked for describe a model that cannot fit in this machine's memory."""


def _min_param_count(vocab_size, wordvec_size, hidden_size):
    """A lower bound of the number of parameters of every fastlstm model of these sizes.

    Every model has an embedding ``(V, D)`` and a recurrent layer with input
    weights of at least ``D * H`` and recurrent weights of at least ``H * H``
    elements.
    """
    V, D, H = int(vocab_size), int(wordvec_size), int(hidden_size)
    return V * D + D * H + H * H


def _available_memory():
    """Bytes of memory a new allocation can get (available RAM + free swap), or None."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: line.split()[1] for line in f if ":" in line}
        return (int(info["MemAvailable"]) + int(info.get("SwapFree", 0))) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _check_fits(vocab_size, wordvec_size, hidden_size):
    """Refuse, before allocating, sizes whose parameters and gradients cannot fit in memory."""
    # at least float32 parameters and as many gradients
    need = 2 * 4 * _min_param_count(vocab_size, wordvec_size, hidden_size)
    available = _available_memory()
    if available is not None and need > available:
        gib = 1 << 30
        raise ModelTooLargeError(
            f"vocab_size={vocab_size}, wordvec_size={wordvec_size}, "
            f"hidden_size={hidden_size}: the parameters and gradients need at least "
            f"{need / gib:.1f} GiB, but only {available / gib:.1f} GiB of memory is available"
        )


def _check_sizes(**sizes):
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if {"vocab_size", "wordvec_size", "hidden_size"} <= sizes.keys():
        _check_fits(sizes["vocab_size"], sizes["wordvec_size"], sizes["hidden_size"])


def check_finite_params(params, owner):
    """Raise ``ValueError`` if a parameter holds NaN or inf (once per decoding call).

    Non-finite parameters do not always give non-finite scores (an infinite
    LSTM bias saturates its gates), so decoding and generation check the
    parameters themselves.
    """
    for i, p in enumerate(params):
        if not np.isfinite(p).all():
            raise ValueError(
                f"{owner}: params[{i}] {p.shape} contains NaN or inf (diverged parameters?)"
            )


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


def _own(cls) -> bool:
    """Whether ``cls`` is one of fastlstm's classes."""
    return cls.__module__.split(".")[0] == "fastlstm"


def model_class(name):
    """Return the model class registered under ``name``.

    Parameters
    ----------
    name : str
        A class name, e.g. ``"Rnnlm"`` or ``"AttentionSeq2seq"``.

    Returns
    -------
    type
        The model class (a subclass of :class:`BaseModel`).

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


def _check_saved_sizes(path, target, kwargs, meta):
    """Check the saved constructor arguments against the saved shapes, before building.

    In every model of fastlstm ``params[0]`` is the embedding
    ``(vocab_size, wordvec_size)`` and the parameters hold at least
    :func:`_min_param_count` elements; a file whose arguments say otherwise is
    refused before the model (possibly huge) is allocated.
    """
    if not _own(target):
        return  # a model of the user's own: its layout is unknown
    sizes = [kwargs.get(k) for k in ("vocab_size", "wordvec_size", "hidden_size")]
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in sizes):
        return  # the constructor reports bad arguments
    try:
        shapes = [tuple(int(d) for d in s) for s in meta["params"]["shapes"]]
    except (KeyError, TypeError, ValueError):
        raise io.CheckpointError(f"{path}: malformed parameter metadata") from None
    V, D, H = (int(v) for v in sizes)
    if not shapes or shapes[0] != (V, D):
        first = shapes[0] if shapes else None
        raise io.CheckpointError(
            f"{path}: the saved arguments vocab_size={V}, wordvec_size={D} do not match the "
            f"saved embedding of shape {first}"
        )
    held = sum(int(np.prod(s, dtype=object)) for s in shapes)
    need = _min_param_count(V, D, H)
    if need > held:
        raise io.CheckpointError(
            f"{path}: the saved arguments (hidden_size={H}) describe a model of at least "
            f"{need} parameters, but the file holds {held}"
        )


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

    def __init__(self):
        self.params, self.grads = None, None  # as the book's BaseModel

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        held = _REGISTRY.get(cls.__name__)
        # a class of the user's never takes the name of one of fastlstm's (the book's
        # model files define their own Rnnlm, AttentionSeq2seq ...)
        if not cls.__name__.startswith("_") and (_own(cls) or held is None or not _own(held)):
            _REGISTRY[cls.__name__] = cls

    # ------------------------------------------------------------------ #
    def forward(self, *args):
        """Loss of a batch; defined by each model.

        Parameters
        ----------
        *args
            The model's inputs, e.g. ``xs (N, T)`` and ``ts (N, T)`` ids.

        Returns
        -------
        float
            The mean loss.

        Raises
        ------
        NotImplementedError
            On :class:`BaseModel` itself.
        """
        raise NotImplementedError

    def backward(self, *args):
        """Fill ``grads`` for the last ``forward``; defined by each model.

        Parameters
        ----------
        *args
            Usually ``dout=1``, the gradient of the final loss with respect to the model's.

        Returns
        -------
        None
            The gradients are written into ``grads`` in place.

        Raises
        ------
        NotImplementedError
            On :class:`BaseModel` itself.
        """
        raise NotImplementedError

    @property
    def dtype(self):
        """The dtype of the parameters."""
        return self.params[0].dtype

    @property
    def config(self):
        """Constructor arguments (without the seed) that rebuild this model; JSON-friendly.

        Empty for a model class of one's own that does not record them.
        """
        return dict(self.__dict__.get("_config") or {})

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
        """Save the parameters: the book's format under a ``.pkl`` name, else fastlstm's.

        A name ending in ``.pkl`` (the default, the book's name) gets what the
        book's ``save_params`` writes, a pickled list of float16 arrays, so the
        book's own code (``visualize_attention.py``, ``generate_text.py`` ...)
        can load it.  Any other name gets fastlstm's ``.npz`` format (full
        precision, no pickle, with the model's class and constructor arguments
        for :meth:`from_checkpoint`).  Both are written atomically, and
        :meth:`load_params` reads both (it tells them apart by their content).

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
        if path.suffix.lower() == ".pkl":
            return io.write_book_pkl(self.params, path)
        name = type(self).__name__
        rebuilds = _REGISTRY.get(name) is type(self) and "_config" in self.__dict__
        return io.save_params(
            self.params,
            path,
            model_class=name if rebuilds else None,
            model_kwargs=self.config if rebuilds else None,
        )

    def load_params(self, path=None):
        """Load parameters into the model, in place, from either file format.

        The format is read from the file's content, not its name: fastlstm's
        ``.npz`` (under any name) or the book's pickle (what :meth:`save_params`
        writes by default), read without running anything from it.

        Parameters
        ----------
        path : str or os.PathLike, optional
            A fastlstm file (parameters or training checkpoint) or a book
            ``.pkl`` file.  Default: ``"<ClassName>.pkl"`` in the working
            directory, as the book's ``load_params()`` (else ``"<ClassName>.npz"``).

        Raises
        ------
        FileNotFoundError
            If the file does not exist (``IsADirectoryError`` if it is a directory).
        fastlstm.io.CheckpointError
            If the file is corrupt or foreign, was saved by an unrelated model,
            or its number of arrays or any shape differs from the model's
            (nothing is copied then).
        """
        path = self._default_path((".pkl", ".npz")) if path is None else Path(path)
        _require_file(path)
        saved = self._saved_class(path)
        if saved is not None and saved in _REGISTRY:
            other = _REGISTRY[saved]
            if not (issubclass(type(self), other) or issubclass(other, type(self))):
                raise io.CheckpointError(
                    f"{path}: holds the parameters of a {saved}, which do not fit a "
                    f"{type(self).__name__}"
                )
        self._check_saved_shapes(path)  # before any array is read
        arrays = io.load_any(path)
        io.load_into(self.params, arrays, os.fspath(path))

    def _check_saved_shapes(self, path):
        """Compare the shapes a fastlstm file records with the model's, before reading arrays."""
        try:
            meta = io.read_params_meta(path)
        except io.CheckpointError:
            return  # a book file, or unreadable: load_any reports it
        try:
            shapes = [tuple(int(d) for d in s) for s in meta["params"]["shapes"]]
        except (KeyError, TypeError, ValueError):
            raise io.CheckpointError(f"{path}: malformed parameter metadata") from None
        mine = [tuple(p.shape) for p in self.params]
        if len(shapes) != len(mine):
            raise io.CheckpointError(
                f"{path}: holds {len(shapes)} arrays but the model has {len(mine)} parameters"
            )
        for i, (saved, want) in enumerate(zip(shapes, mine)):
            if saved != want:
                raise io.CheckpointError(
                    f"{path}: parameter {i} has shape {saved}, the model expects {want}"
                )

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
            model and call :meth:`load_params`), or a model unrelated to ``cls``,
            or constructor arguments that disagree with the saved shapes (checked
            before the model is allocated).
        ModelTooLargeError
            A ``MemoryError`` (and ``ValueError``): the model cannot fit in memory.
        """
        path = Path(path)
        _require_file(path)
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
        _check_saved_sizes(path, target, kwargs, meta)
        try:
            model = target(**kwargs)
        except TypeError as exc:
            raise io.CheckpointError(
                f"{path}: cannot build {target.__name__} from the saved arguments {kwargs}: {exc}"
            ) from None
        model.load_params(path)
        return model
