"""Carry models between fastlstm and PyTorch.

:func:`to_torch` builds the PyTorch modules that compute what a fastlstm model
(or a :class:`~fastlstm.layers.TimeLSTM`) computes, from the same weights;
:func:`from_torch` goes back, into a new fastlstm model or in place into an
existing one.  A model trained here can be fine-tuned or served in PyTorch,
and the other way round.

What is converted
-----------------
* :class:`~fastlstm.layers.TimeLSTM` <-> ``torch.nn.LSTM(D, H, batch_first=True)``.
  fastlstm keeps ``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)`` with the gate blocks
  in the book's order f, g, i, o; PyTorch keeps ``weight_ih_l0 (4H, D)``,
  ``weight_hh_l0 (4H, H)`` in the order i, f, g, o and two biases.  fastlstm's
  ``b`` goes into ``bias_ih_l0`` and ``bias_hh_l0`` is zero; on the way back
  the two are summed.  (An optimizer in PyTorch updates both biases, so
  plain SGD moves their sum by twice the step fastlstm would take.)
* Embeddings are copied; ``TimeAffine``'s ``W (H, V)`` is ``Linear.weight.T``.
* :class:`~fastlstm.models.Rnnlm`, :class:`~fastlstm.models.BetterRnnlm` (the
  output layer's weight *is* the embedding's: tied in PyTorch too),
  :class:`~fastlstm.models.Seq2seq`, :class:`~fastlstm.models.PeekySeq2seq`
  and :class:`~fastlstm.models.AttentionSeq2seq` (and their ``...Gen``
  subclasses) become modules whose ``forward(xs, ts)`` returns the same mean
  loss (see :mod:`fastlstm._torch_models`).

Every value is copied exactly, so ``from_torch(to_torch(model))`` gives the
model's parameters bit for bit.  PyTorch is optional: without it these
functions raise an :class:`ImportError` that says how to install it
(``pip install fastlstm[bench]``).

Examples
--------
>>> from fastlstm.models import Rnnlm                       # doctest: +SKIP
>>> from fastlstm.interop import to_torch, from_torch       # doctest: +SKIP
>>> model = Rnnlm(seed=0)                                   # doctest: +SKIP
>>> module = to_torch(model)                                # torch.nn.Module  # doctest: +SKIP
>>> loss = module(torch.as_tensor(xs), torch.as_tensor(ts)) # doctest: +SKIP
>>> back = from_torch(module)                               # a new fastlstm Rnnlm  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from fastlstm import models
from fastlstm.layers import TimeLSTM

__all__ = ["to_torch", "from_torch", "grads_from_torch", "require_torch"]

#: fastlstm's gate blocks (f, g, i, o) in PyTorch's order (i, f, g, o): PyTorch block k is ours _TO_TORCH[k].
_TO_TORCH = (2, 0, 1, 3)
#: PyTorch's blocks in fastlstm's order: our block k is PyTorch's _FROM_TORCH[k].
_FROM_TORCH = (1, 2, 0, 3)

_INSTALL_HINT = (
    "fastlstm.interop needs PyTorch, which is not installed. Install it with "
    "`pip install fastlstm[bench]` (CPU build) or see https://pytorch.org for other builds."
)


def require_torch():
    """Import and return :mod:`torch`.

    Returns
    -------
    module
        The :mod:`torch` module.

    Raises
    ------
    ImportError
        If PyTorch is not installed; the message says how to install it.
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return torch


def _models():
    require_torch()
    from fastlstm import _torch_models

    return _torch_models


# --------------------------------------------------------------------------- #
# array conversions (NumPy, exact)
# --------------------------------------------------------------------------- #
def _gates(a, order):
    """Reorder the 4 gate blocks of the last axis of ``a`` (length 4H)."""
    H = a.shape[-1] // 4
    blocks = a.reshape(a.shape[:-1] + (4, H))
    return blocks[..., list(order), :].reshape(a.shape)


def _lstm_to_torch(Wx, Wh, b):
    """``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)`` -> weight_ih (4H, D), weight_hh (4H, H), b_ih, b_hh."""
    return (
        np.ascontiguousarray(_gates(Wx, _TO_TORCH).T),
        np.ascontiguousarray(_gates(Wh, _TO_TORCH).T),
        _gates(b, _TO_TORCH),
        np.zeros_like(b),
    )


def _lstm_from_torch(w_ih, w_hh, b_ih, b_hh):
    """Inverse of :func:`_lstm_to_torch`; the two biases are summed."""
    if b_ih is None:  # nn.LSTM(bias=False)
        return _gates(w_ih.T, _FROM_TORCH), _gates(w_hh.T, _FROM_TORCH), None
    b = b_ih + b_hh
    return _gates(w_ih.T, _FROM_TORCH), _gates(w_hh.T, _FROM_TORCH), _gates(b, _FROM_TORCH)


# --------------------------------------------------------------------------- #
# which fastlstm parameter goes where
# --------------------------------------------------------------------------- #
# entries: ("embedding", torch attribute, i), ("linear", attr, iW, ib), ("bias", attr, ib),
#          ("lstm", attr, iWx, iWh, ib); i index ``params`` of the fastlstm object.
_SEQ2SEQ_SPEC = (
    ("embedding", "enc_embed", 0),
    ("lstm", "enc_lstm", 1, 2, 3),
    ("embedding", "dec_embed", 4),
    ("lstm", "dec_lstm", 5, 6, 7),
    ("linear", "dec_affine", 8, 9),
)
_SPECS = {
    "TimeLSTM": (("lstm", None, 0, 1, 2),),
    "Rnnlm": (("embedding", "embed", 0), ("lstm", "lstm", 1, 2, 3), ("linear", "affine", 4, 5)),
    "BetterRnnlm": (
        ("embedding", "embed", 0),
        ("lstm", "lstm1", 1, 2, 3),
        ("lstm", "lstm2", 4, 5, 6),
        ("bias", "affine", 8),  # affine weight: params[7] is embed_W.T, tied
    ),
    "Seq2seq": _SEQ2SEQ_SPEC,
    "PeekySeq2seq": _SEQ2SEQ_SPEC,
    "AttentionSeq2seq": _SEQ2SEQ_SPEC,
}
_TIED = {"BetterRnnlm": ((7, 0),)}  # params[7] is params[0].T


def _kind(obj):
    """The name in :data:`_SPECS` of a fastlstm object (its class or nearest base)."""
    if isinstance(obj, TimeLSTM):
        return "TimeLSTM"
    # most derived first: AttentionSeq2seq and PeekySeq2seq are Seq2seq subclasses
    for name in ("AttentionSeq2seq", "PeekySeq2seq", "Seq2seq", "BetterRnnlm", "Rnnlm"):
        cls = getattr(models, name)
        if isinstance(obj, cls):
            if name == "AttentionSeq2seq" and isinstance(obj, models.AttentionBiSeq2seq):
                break
            return name
    raise TypeError(
        "fastlstm.interop converts TimeLSTM, Rnnlm, BetterRnnlm, Seq2seq, PeekySeq2seq and "
        f"AttentionSeq2seq (and their Gen subclasses), got {type(obj).__name__}"
    )


def _torch_kind(module):
    """The name in :data:`_SPECS` of a module made by :func:`to_torch` (or an ``nn.LSTM``)."""
    torch = require_torch()
    tm = _models()
    if isinstance(module, torch.nn.LSTM):
        return "TimeLSTM"
    if isinstance(module, tm.TorchRnnlm):
        return "Rnnlm"
    if isinstance(module, tm.TorchBetterRnnlm):
        return "BetterRnnlm"
    if isinstance(module, tm.TorchSeq2seq):
        return "PeekySeq2seq" if module.peeky else "Seq2seq"
    if isinstance(module, tm.TorchAttentionSeq2seq):
        return "AttentionSeq2seq"
    raise TypeError(
        "from_torch converts torch.nn.LSTM and the modules made by fastlstm.interop.to_torch, "
        f"got {type(module).__name__}"
    )


def _sub(module, attr):
    return module if attr is None else getattr(module, attr)


def _check_lstm_module(lstm):
    problems = []
    if lstm.num_layers != 1:
        problems.append(f"num_layers={lstm.num_layers}")
    if lstm.bidirectional:
        problems.append("bidirectional=True")
    if getattr(lstm, "proj_size", 0):
        problems.append(f"proj_size={lstm.proj_size}")
    if problems:
        raise ValueError(
            "only a one-layer, one-direction torch.nn.LSTM without projection converts to "
            f"TimeLSTM, got {', '.join(problems)}"
        )


def _torch_dtype(dtype):
    torch = require_torch()
    dt = np.dtype(dtype)
    if dt == np.float32:
        return torch.float32
    if dt == np.float64:
        return torch.float64
    raise TypeError(f"only float32 and float64 models convert, got {dt}")


def _numpy_dtype(tdtype):
    torch = require_torch()
    if tdtype == torch.float32:
        return np.dtype(np.float32)
    if tdtype == torch.float64:
        return np.dtype(np.float64)
    raise TypeError(f"only float32 and float64 modules convert, got {tdtype}")


def _tensor_values(spec, params):
    """``{(attr, torch name): array}`` for every PyTorch parameter, from fastlstm ``params``."""
    out = {}
    for entry in spec:
        kind, attr = entry[0], entry[1]
        if kind == "embedding":
            out[attr, "weight"] = params[entry[2]]
        elif kind == "linear":
            out[attr, "weight"] = params[entry[2]].T
            out[attr, "bias"] = params[entry[3]]
        elif kind == "bias":
            out[attr, "bias"] = params[entry[2]]
        else:
            w_ih, w_hh, b_ih, b_hh = _lstm_to_torch(*(params[i] for i in entry[2:]))
            out[attr, "weight_ih_l0"] = w_ih
            out[attr, "weight_hh_l0"] = w_hh
            out[attr, "bias_ih_l0"] = b_ih
            out[attr, "bias_hh_l0"] = b_hh
    return out


def _param_values(spec, get, nparams, tied=()):
    """fastlstm arrays (index -> array) from PyTorch tensors; ``get(attr, name)`` gives a NumPy array or None."""
    out = [None] * nparams
    for entry in spec:
        kind, attr = entry[0], entry[1]
        if kind == "embedding":
            out[entry[2]] = get(attr, "weight")
        elif kind == "linear":
            out[entry[2]] = get(attr, "weight").T
            out[entry[3]] = get(attr, "bias")
        elif kind == "bias":
            out[entry[2]] = get(attr, "bias")
        else:
            Wx, Wh, b = _lstm_from_torch(
                get(attr, "weight_ih_l0"),
                get(attr, "weight_hh_l0"),
                get(attr, "bias_ih_l0"),
                get(attr, "bias_hh_l0"),
            )
            out[entry[2]], out[entry[3]], out[entry[4]] = Wx, Wh, b
    for i, j in tied:
        out[i] = out[j].T
    return out


def _nparams(kind):
    """How many entries ``params`` has in a fastlstm object of kind ``kind``."""
    spec_idx = [i for entry in _SPECS[kind] for i in entry[2:]]
    tied_idx = [i for pair in _TIED.get(kind, ()) for i in pair]
    return max(spec_idx + tied_idx) + 1


def _check_count(kind, params, name):
    """Raise ValueError unless ``params`` (of the argument ``name``) has a ``kind``'s length."""
    n = _nparams(kind)
    if len(params) != n:
        raise ValueError(
            f"{name} has {len(params)} parameters, but the module holds a {kind}, which has {n}"
        )


def _check_shapes(params, values, what, module_what="the module's"):
    """Raise ValueError at the first array of ``values`` (None: skipped) not of its parameter's shape."""
    for i, (p, v) in enumerate(zip(params, values)):
        if v is not None and v.shape != p.shape:
            raise ValueError(
                f"parameter {i} of {what} has shape {p.shape}, {module_what} {v.shape}"
            )


# --------------------------------------------------------------------------- #
# public functions
# --------------------------------------------------------------------------- #
def _new_module(kind, obj):
    tm = _models()
    tdtype = _torch_dtype(obj.params[0].dtype)
    if kind == "TimeLSTM":
        torch = require_torch()
        return torch.nn.LSTM(obj.D, obj.H, batch_first=True, dtype=tdtype)
    cfg = obj.config
    V, D, H = cfg["vocab_size"], cfg["wordvec_size"], cfg["hidden_size"]
    if kind == "Rnnlm":
        return tm.TorchRnnlm(V, D, H, dtype=tdtype)
    if kind == "BetterRnnlm":
        return tm.TorchBetterRnnlm(V, D, H, cfg["dropout_ratio"], dtype=tdtype)
    ignore = -1 if cfg.get("pad_id") is None else int(cfg["pad_id"])
    if kind == "AttentionSeq2seq":
        return tm.TorchAttentionSeq2seq(V, D, H, ignore_index=ignore, dtype=tdtype)
    return tm.TorchSeq2seq(V, D, H, peeky=kind == "PeekySeq2seq", ignore_index=ignore, dtype=tdtype)


def to_torch(obj):
    """The PyTorch module equivalent to a fastlstm model or ``TimeLSTM``, with the same weights.

    Parameters
    ----------
    obj : TimeLSTM, Rnnlm, BetterRnnlm, Seq2seq, PeekySeq2seq or AttentionSeq2seq
        A fastlstm layer or model (float32 or float64; the ``...Gen`` subclasses too).

    Returns
    -------
    torch.nn.Module
        ``torch.nn.LSTM(D, H, batch_first=True)`` for a ``TimeLSTM``; for a
        model, a module of :mod:`fastlstm._torch_models` whose
        ``forward(xs, ts)`` returns the model's mean loss.  Its parameters
        have the model's dtype and are copies (training one does not change
        the other).  The module is in training mode, as ``torch.nn`` modules
        start; the LSTM state of a stateful language model is not carried over.

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    TypeError
        If ``obj`` is not one of the convertible classes.
    """
    torch = require_torch()
    kind = _kind(obj)
    module = _new_module(kind, obj)
    values = _tensor_values(_SPECS[kind], obj.params)
    with torch.no_grad():
        for (attr, name), value in values.items():
            getattr(_sub(module, attr), name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def _new_model(kind, module):
    if kind == "TimeLSTM":
        _check_lstm_module(module)
        dt = _numpy_dtype(module.weight_ih_l0.dtype)
        D, H = module.input_size, module.hidden_size
        return TimeLSTM(
            np.zeros((D, 4 * H), dt), np.zeros((H, 4 * H), dt), np.zeros(4 * H, dt), stateful=False
        )
    embed = module.embed if kind.endswith("Rnnlm") else module.enc_embed
    dt = _numpy_dtype(embed.weight.dtype)
    V, D = embed.weight.shape
    H = (
        module.lstm
        if kind == "Rnnlm"
        else module.lstm1
        if kind == "BetterRnnlm"
        else module.enc_lstm
    ).hidden_size
    if kind == "BetterRnnlm":
        return models.BetterRnnlm(V, D, H, module.drop1.p, seed=0, dtype=dt)
    model = getattr(models, kind)(V, D, H, seed=0, dtype=dt)
    ignore = getattr(module, "ignore_index", -1)
    if kind.endswith("Seq2seq") and ignore != -1:
        model.pad_id = ignore
    return model


def from_torch(module, into=None):
    """fastlstm parameters from a PyTorch module made by :func:`to_torch` (or any one-layer ``nn.LSTM``).

    Parameters
    ----------
    module : torch.nn.Module
        ``torch.nn.LSTM`` (one layer, one direction, no projection; its two
        biases are summed) or a module returned by :func:`to_torch`.
    into : fastlstm object, optional
        A layer or model of the matching class and sizes whose parameters are
        overwritten in place (arrays are not rebound, so optimizers keep
        working).  By default a new one is built.

    Returns
    -------
    TimeLSTM or fastlstm model
        ``into``, or the new object.  ``TimeLSTM`` comes back with
        ``stateful=False``; models with the class's defaults.  A language
        model comes back as ``Rnnlm`` or ``BetterRnnlm``: for ``generate``,
        give ``into=RnnlmGen(...)`` (or ``BetterRnnlmGen``).

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    TypeError
        If the module is not convertible, or ``into`` is not of the module's class.
    ValueError
        If the module is an ``nn.LSTM`` with more than one layer, two
        directions or a projection, or if ``into`` has another number of
        parameters or a parameter of another shape than the module gives.
        Everything is checked (and converted to ``into``'s dtypes) before
        anything is copied, so ``into`` is unchanged after an error.
    """
    kind = _torch_kind(module)
    if kind == "TimeLSTM":
        _check_lstm_module(module)
    target = _new_model(kind, module) if into is None else into
    if into is not None:
        if _kind(into) != kind:
            raise TypeError(f"into is a {type(into).__name__}, but the module holds a {kind}")
        _check_count(kind, into.params, "into")

    def get(attr, name):
        t = getattr(_sub(module, attr), name, None)
        return None if t is None else t.detach().cpu().numpy()

    values = _param_values(_SPECS[kind], get, len(target.params), _TIED.get(kind, ()))
    _check_shapes(target.params, values, f"the {kind}")
    tied = {i for i, _ in _TIED.get(kind, ())}
    # convert first, copy after: nothing that can fail happens once copying has begun
    todo = [
        (p, None if v is None else np.asarray(v).astype(p.dtype, copy=False))
        for i, (p, v) in enumerate(zip(target.params, values))
        if i not in tied  # a tied entry is a view of another one
    ]
    for p, v in todo:
        p[...] = 0 if v is None else v  # None: e.g. nn.LSTM(bias=False), zero bias
    return target


def grads_from_torch(module, like):
    """The gradients held by a module's parameters, in fastlstm's layout.

    Parameters
    ----------
    module : torch.nn.Module
        As for :func:`from_torch`, after ``backward()``.
    like : fastlstm object
        The layer or model the module was made from (gives the list's length).

    Returns
    -------
    list of ndarray
        One array per entry of ``like.params``, of its shape: what fastlstm
        holds in ``like.grads`` after ``backward``, except that tied weights
        (``BetterRnnlm``'s ``embed_W`` and ``embed_W.T``) both hold the sum
        of the two uses, as after :func:`fastlstm.optim.unique_params`.
        A parameter without a gradient gives zeros.

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    TypeError
        If the module is not convertible, or ``like`` is not of the module's class.
    ValueError
        If the module is an ``nn.LSTM`` with more than one layer, two
        directions or a projection, or if ``like`` has another number of
        parameters or a parameter of another shape than the module.
    """
    require_torch()
    kind = _torch_kind(module)
    if kind == "TimeLSTM":
        _check_lstm_module(module)
    if _kind(like) != kind:
        raise TypeError(f"like is a {type(like).__name__}, but the module holds a {kind}")
    _check_count(kind, like.params, "like")

    def get(attr, name):
        t = getattr(_sub(module, attr), name, None)
        if t is None:
            return None
        if t.grad is None or name == "bias_hh_l0":
            # b = b_ih + b_hh: the gradient of b is that of either bias, not their sum
            return np.zeros(tuple(t.shape), dtype=_numpy_dtype(t.dtype))
        return t.grad.detach().cpu().numpy()

    values = _param_values(_SPECS[kind], get, len(like.params), _TIED.get(kind, ()))
    _check_shapes(like.params, values, f"like (a {kind})", "the module's gradient")
    return [
        np.zeros_like(p) if v is None else np.ascontiguousarray(v)
        for p, v in zip(like.params, values)
    ]
