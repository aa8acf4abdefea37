"""Models rebuilt from files: fastlstm checkpoints (``.npz``) and the book's ``.pkl`` files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastlstm import io as fio
from fastlstm.api._util import existing_file
from fastlstm.api.specs import ALL_MODELS, CLASS_TO_MODEL, RunError

__all__ = ["LoadedModel", "load_model", "model_class"]


@dataclass
class LoadedModel:
    """A model read from a file, with what its file says about it.

    Attributes
    ----------
    model : object
        The model (e.g. :class:`fastlstm.models.AttentionSeq2seq`).
    name : str
        Its name on the command line (``'attention'``).
    path : pathlib.Path
        The file.
    extra : dict
        The run metadata of a fastlstm checkpoint (vocabulary, data, history);
        empty for the book's ``.pkl`` files.
    """

    model: Any
    name: str
    path: Path
    extra: dict = field(default_factory=dict)


def model_class(name: str):
    """The class of model ``name`` (``'attention'`` -> ``AttentionSeq2seq``)."""
    from fastlstm import models  # numba: loaded on first use, so `import fastlstm.api` is quick

    cls = getattr(models, ALL_MODELS[name]["class"], None)
    if cls is None:
        raise RunError(f"fastlstm.models has no class {ALL_MODELS[name]['class']!r}")
    return cls


def _infer_kwargs(name: str, arrays: list[np.ndarray]) -> dict:
    """Constructor sizes of a model from its parameter shapes (book's order)."""
    if len(arrays) < 3 or arrays[0].ndim != 2 or arrays[2].ndim != 2:
        raise RunError(f"the parameters do not look like a {name} model")
    V, D = arrays[0].shape  # embed_W (V, D)
    H = arrays[2].shape[0]  # Wh (H, 4H) or (H, H)
    return {"vocab_size": int(V), "wordvec_size": int(D), "hidden_size": int(H)}


def _read_npz(p: Path, model: str | None):
    meta = fio.read_params_meta(p)
    extra: dict = {}
    if meta.get("format") == fio.CHECKPOINT_FORMAT:
        ckpt = fio.load_checkpoint(p)
        arrays, extra = ckpt.params, ckpt.extra or {}
    else:
        arrays = fio.load_params(p)
    saved_name = extra.get("model") or CLASS_TO_MODEL.get(meta.get("model_class") or "")
    if saved_name is None and model is None:
        raise RunError(f"{p} does not say which model it holds; give --model (model=)")
    if model is not None and saved_name is not None and model != saved_name:
        raise RunError(f"{p} holds a model {saved_name!r}, not {model!r}")
    return arrays, extra, saved_name or model, meta.get("model_kwargs")


def load_model(path, model: str | None = None, allowed=None) -> LoadedModel:
    """Build a model from a fastlstm ``.npz`` (its metadata) or a book ``.pkl`` (``model``).

    Parameters
    ----------
    path : str or os.PathLike
        ``best.npz``, ``last.ckpt.npz``, a ``save_params`` file, or the book's
        ``Rnnlm.pkl`` / ``BetterRnnlm.pkl`` / ``AttentionSeq2seq.pkl``.
    model : str, optional
        Model name (``'rnnlm'``, ``'attention'`` ...); needed for ``.pkl`` files.
    allowed : collection of str, optional
        Model names accepted (default: all).

    Returns
    -------
    LoadedModel

    Raises
    ------
    RunError
        If the file is missing, of another kind, holds another model, or
        parameters that are not finite floating-point numbers.
    """
    try:
        return _load_model(path, model, ALL_MODELS if allowed is None else allowed)
    except fio.CheckpointError as exc:  # the run API's one error type for unusable files
        raise RunError(str(exc)) from None


def _load_model(path, model, allowed) -> LoadedModel:
    p = existing_file(path, "checkpoint")
    with open(p, "rb") as f:
        head = f.read(4)
    kwargs, extra = None, {}
    if head[:2] == b"PK":
        arrays, extra, name, kwargs = _read_npz(p, model)
    elif head[:1] == b"\x80":
        if model is None:
            raise RunError(
                f"{path} is one of the book's .pkl files: give --model (model=) "
                f"({'|'.join(sorted(allowed))})"
            )
        arrays, name = fio.read_book_pkl(p), model
    elif not head:
        raise RunError(f"{path} is empty")
    else:
        raise RunError(f"{path} is neither a fastlstm .npz file nor a book .pkl file")
    if name not in allowed:
        raise RunError(
            f"{path} holds a model {name!r}; this command needs one of: {', '.join(sorted(allowed))}"
        )
    for i, a in enumerate(arrays):  # a diverged or damaged model: no number is meaningful
        if a.dtype.kind != "f":
            raise RunError(f"{path}: parameter {i} is {a.dtype}, not floating point")
        if not np.isfinite(a).all():
            raise RunError(f"{path}: parameter {i} {a.shape} holds NaN or inf")
    kwargs = kwargs or _infer_kwargs(name, arrays)
    cls = model_class(name)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError, MemoryError) as exc:  # sizes of a damaged or foreign file
        raise RunError(f"{path}: cannot build {cls.__name__}({kwargs}): {exc}") from None
    fio.load_into(obj.params, arrays, p)
    return LoadedModel(obj, name, p, extra)
