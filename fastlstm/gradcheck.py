"""Numerical gradient checking for any object with the book's layer contract.

Works on layers and models alike: anything with ``params``, ``grads``,
``forward(*inputs)`` and ``backward(dout)``.  Readers can use it on layers of
their own::

    from fastlstm import gradcheck
    result = gradcheck(MyLayer(W64), x64)
    print(result)           # worst relative error per parameter and input
    result.assert_ok(1e-6)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["gradcheck", "GradcheckResult"]

_STATE_NAMES = ("h", "c")


@dataclass
class GradcheckResult:
    """Worst element-wise relative error of each checked gradient.

    Attributes
    ----------
    errors : dict[str, float]
        ``{"params[0] Wx (3, 16)": 3.1e-10, "inputs[0] (2, 5, 3)": ...}``.
    """

    errors: dict = field(default_factory=dict)

    @property
    def worst(self) -> float:
        """The largest relative error over everything checked (0 if nothing was)."""
        return max(self.errors.values(), default=0.0)

    def ok(self, tol: float = 1e-6) -> bool:
        """True if every checked gradient is within ``tol``."""
        return self.worst <= tol

    def assert_ok(self, tol: float = 1e-6) -> None:
        """Raise ``AssertionError`` listing the gradients whose error exceeds ``tol``."""
        bad = {k: v for k, v in self.errors.items() if not v <= tol}
        if bad:
            lines = "\n".join(f"  {k}: {v:.3e}" for k, v in bad.items())
            raise AssertionError(f"gradient check failed (tol {tol:g}):\n{lines}")

    def __str__(self) -> str:
        width = max((len(k) for k in self.errors), default=0)
        rows = [f"{k:<{width}}  {v:.3e}" for k, v in self.errors.items()]
        return "\n".join(rows + [f"worst: {self.worst:.3e}"])


def _walk(obj, seen, depth=0):
    """Yield every object reachable through attributes, lists and tuples."""
    if id(obj) in seen or depth > 6 or isinstance(obj, np.ndarray):
        return
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _walk(item, seen, depth + 1)
        return
    if not hasattr(obj, "__dict__") or isinstance(obj, type):
        return
    yield obj
    for value in vars(obj).values():
        if isinstance(value, (list, tuple)) or (
            hasattr(value, "__dict__") and not isinstance(value, (np.ndarray, type))
        ):
            yield from _walk(value, seen, depth + 1)


def _snapshot(obj):
    """Record recurrent states (``h``, ``c``) and generator states reachable from ``obj``."""
    saved = []
    for o in _walk(obj, set()):
        d = vars(o)
        for name in _STATE_NAMES:
            if name in d and (d[name] is None or isinstance(d[name], np.ndarray)):
                v = d[name]
                saved.append((o, name, None if v is None else v.copy()))
        for name, v in d.items():
            if isinstance(v, np.random.Generator):
                saved.append((o, name, ("rng", v.bit_generator.state)))
            elif isinstance(v, np.random.RandomState):  # e.g. NumPy's global state (dropout)
                saved.append((o, name, ("rs", v.get_state())))
    return saved


def _restore(saved):
    for o, name, value in saved:
        if isinstance(value, tuple) and value and value[0] == "rng":
            getattr(o, name).bit_generator.state = value[1]
        elif isinstance(value, tuple) and value and value[0] == "rs":
            getattr(o, name).set_state(value[1])
        else:
            setattr(o, name, None if value is None else value.copy())


def _groups(params):
    """Group parameters shared by identity: the same array, or a transposed view of one."""
    owner = {}
    groups = []
    for i, p in enumerate(params):
        for j, q in enumerate(params[:i]):
            if p is q:
                owner[i] = (owner.get(j, (j, False))[0], False)
                break
            if p.base is q and p.shape == q.T.shape and np.shares_memory(p, q):
                owner[i] = (owner.get(j, (j, False))[0], True)
                break
        else:
            groups.append(i)
    return groups, owner


def gradcheck(obj, *inputs, eps=1e-5, seed=0, max_elements=None, floor=1e-8, rel_floor=1e-3):
    """Compare analytic gradients with central differences in float64.

    Parameters
    ----------
    obj : object
        A layer or model with ``params``, ``grads``, ``forward(*inputs)`` and
        ``backward(dout)``.  Its parameters must be float64 (build it with
        float64 arrays); they are perturbed in place and restored.
    *inputs : array_like
        Arguments of ``forward``.  Float inputs are checked against the
        gradients ``backward`` returns (in the same order); integer inputs
        (ids, labels) are passed through.
    eps : float
        Step of the central difference.
    seed : int
        Seed of the random projection that turns array outputs into a scalar
        (``loss = sum(out * R)``; ``backward(R)``).  Scalar outputs (losses)
        are used as they are with ``backward(1)``.
    max_elements : int, optional
        Check at most this many randomly chosen elements per array (all by default).
    floor, rel_floor : float
        The relative error of an element is ``|a - n| / max(|a| + |n|, f)``
        with ``f = max(floor, rel_floor * max(|a| + |n|))`` over the array:
        elements a thousand times smaller than the largest gradient are judged
        against that scale, so round-off on near-zero entries is not reported
        as an error.

    Returns
    -------
    GradcheckResult
        Worst relative error for each parameter and each float input.

    Notes
    -----
    Recurrent states (``h``, ``c`` attributes) and ``numpy.random.Generator``
    attributes reachable from ``obj`` are restored before every forward pass,
    so stateful layers and dropout see the same state and masks each time.
    Shared parameters (the same array twice, or a transposed view for weight
    tying) are checked once, against the sum of their gradients.
    """
    params = list(getattr(obj, "params", []))
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray) or p.dtype != np.float64:
            dtype = getattr(p, "dtype", type(p).__name__)
            raise TypeError(
                f"gradcheck needs float64 parameters; params[{i}] is {dtype}. "
                "Build the layer or model with float64 arrays."
            )
    inputs = [
        np.array(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else x for x in inputs
    ]
    float_pos = [
        k for k, x in enumerate(inputs) if isinstance(x, np.ndarray) and x.dtype == np.float64
    ]
    rng = np.random.default_rng(seed)
    saved = _snapshot(obj)

    _restore(saved)
    out = obj.forward(*inputs)
    if np.ndim(out) == 0 and not isinstance(out, tuple):
        proj = None
    else:
        outs = out if isinstance(out, tuple) else (out,)
        proj = tuple(rng.standard_normal(np.shape(o)) for o in outs)

    def loss():
        _restore(saved)
        o = obj.forward(*inputs)
        if proj is None:
            return float(o)
        os_ = o if isinstance(o, tuple) else (o,)
        return float(sum(np.sum(np.asarray(a, dtype=np.float64) * r) for a, r in zip(os_, proj)))

    if proj is None:
        back = obj.backward(1)
    else:
        back = obj.backward(*proj)
    grads = [np.array(g, dtype=np.float64) for g in obj.grads]
    if back is None:
        dinputs = []
    else:
        dinputs = list(back) if isinstance(back, tuple) else [back]

    result = GradcheckResult()

    def check(array, analytic, label):
        idx = np.arange(array.size)
        if max_elements is not None and array.size > max_elements:
            idx = rng.choice(array.size, size=max_elements, replace=False)
        a_flat = np.asarray(analytic, dtype=np.float64).reshape(-1)[idx]
        n_flat = np.empty(len(idx))
        for m, k in enumerate(idx):
            pos = np.unravel_index(k, array.shape)
            old = array[pos]
            array[pos] = old + eps
            lp = loss()
            array[pos] = old - eps
            lm = loss()
            array[pos] = old
            n_flat[m] = (lp - lm) / (2 * eps)
        size = np.abs(a_flat) + np.abs(n_flat)
        denom = np.maximum(size, max(floor, rel_floor * size.max(initial=0.0)))
        worst = float(np.max(np.abs(a_flat - n_flat) / denom, initial=0.0))
        result.errors[label] = worst

    groups, owner = _groups(params)
    for i in groups:
        total = grads[i].copy()
        for k, (j, transposed) in owner.items():
            if j == i:
                total += grads[k].T if transposed else grads[k]
        name = _param_name(obj, i)
        check(params[i], total, f"params[{i}]{name} {params[i].shape}")
    for n, k in enumerate(float_pos):
        if n < len(dinputs) and dinputs[n] is not None:
            check(inputs[k], dinputs[n], f"inputs[{k}] {inputs[k].shape}")
    _restore(saved)
    return result


def _param_name(obj, i):
    names = getattr(obj, "param_names", None)
    if names is not None and i < len(names):
        return f" {names[i]}"
    return ""
