"""Numerical gradient checking for any object with the book's layer contract.

Works on layers and models alike: anything with ``params``, ``grads``,
``forward(*inputs)`` and ``backward(dout)``.  Readers can use it on layers of
their own::

    from fastlstm import gradcheck
    result = gradcheck(MyLayer(W64), x64)
    print(result)           # relative error of every parameter and input gradient
    result.assert_ok()      # default tolerance: DEFAULT_TOL = 1e-3

What the number means
---------------------
The error of a gradient array ``a`` (one parameter, or the gradient of one
float input) is the relative error *of the whole array*,
``|a - n| / max(|a|, |n|)`` in the Euclidean norm, where ``n`` is the
numerical gradient.  A gradient that is wrong by 1% (scaled by 1.01, or off by
1% of its norm in any direction) scores about 1e-2, and one wrong by 0.1%
about 1e-3; round-off and truncation of the numerical derivatives score 1e-11
to 1e-6 on fastlstm's float64 layers and models.  The default tolerance
:data:`DEFAULT_TOL` = 1e-3 therefore fails every error of more than 0.1% and
passes every correct fastlstm layer and model with a margin of a thousand.
Arrays too large for one derivative per element are checked along random
directions (see ``max_elements``): there a 1% error scores 3e-3 or more.

Per-element relative errors, which older checks report, cannot separate the
two: the gradient of a loss averaged over many positions has entries close
to zero whose few correct digits swamp any threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["gradcheck", "GradcheckResult", "DEFAULT_TOL"]

_STATE_NAMES = ("h", "c")

#: Default tolerance of :meth:`GradcheckResult.ok` and :meth:`GradcheckResult.assert_ok`:
#: a relative error of a whole gradient array (see the module docstring).
DEFAULT_TOL = 1e-3


@dataclass
class GradcheckResult:
    """Relative error of each checked gradient array (see the module docstring).

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

    def ok(self, tol: float = DEFAULT_TOL) -> bool:
        """Whether every checked gradient is within the tolerance.

        Parameters
        ----------
        tol : float, default DEFAULT_TOL
            Largest relative error accepted.

        Returns
        -------
        bool
            True if the worst error is at most ``tol``.
        """
        return self.worst <= tol

    def assert_ok(self, tol: float = DEFAULT_TOL) -> None:
        """Raise if a gradient's relative error exceeds the tolerance.

        Parameters
        ----------
        tol : float, default DEFAULT_TOL
            Largest relative error accepted.

        Raises
        ------
        AssertionError
            Listing every gradient whose error exceeds ``tol``.
        """
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


def _five_point(f, h):
    """Derivative from ``f[m] = loss(x + m h)``, ``m = -2, -1, 1, 2`` (error O(h^4))."""
    return (8.0 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12.0 * h)


def _step(array, eps):
    """Difference step of one array: ``eps`` times its scale (at least ``eps``)."""
    rms = float(np.sqrt(np.mean(np.square(array)))) if array.size else 0.0
    return eps * max(1.0, rms)


def gradcheck(
    obj,
    *inputs,
    eps=1e-3,
    seed=0,
    max_elements=512,
    directions=4,
    rel_floor=1e-7,
    floor=1e-12,
):
    """Compare analytic gradients with numerical ones (float64).

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
    eps : float, default 1e-3
        Relative step of the differences: an array whose root mean square is
        ``s`` is perturbed by ``h = eps * max(1, s)``.  Derivatives use the
        five-point central formula (``x +- h``, ``x +- 2h``; truncation error
        ``O(h**4)``), which allows a step large enough that round-off stays
        small also for parameters with small gradients.
    seed : int
        Seed of the random projection that turns array outputs into a scalar
        (``loss = sum(out * R)``; ``backward(R)``) and of the random
        directions.  Scalar outputs (losses) are used as they are with
        ``backward(1)``.
    max_elements : int or None, default 512
        Arrays with at most this many elements (all if None) get one numerical
        derivative per element.  Larger arrays are checked along directions
        instead, like PyTorch's fast gradcheck: along the analytic gradient
        itself (which catches a wrong scale exactly) and along ``directions``
        random Gaussian directions ``u``, for which ``<a - n, u>`` is
        distributed as ``|a - n| * N(0, 1)``.  That costs ``2 * (1 + directions)``
        evaluations per array whatever its size.
    directions : int, default 4
        Number of random directions for large arrays.
    rel_floor, floor : float
        The norm ``|a|`` of an array is floored at
        ``max(floor, rel_floor * G)``, with ``G`` the largest gradient norm of
        all checked arrays: a parameter that has (almost) no effect on the
        output is judged against the scale of the whole gradient, so its
        round-off is not reported as an error.

    Returns
    -------
    GradcheckResult
        The relative error of each parameter's and each float input's
        gradient (see the module docstring for what it means).

    Notes
    -----
    Recurrent states (``h``, ``c`` attributes) and ``numpy.random.Generator``
    attributes reachable from ``obj`` are restored before every forward pass,
    so stateful layers and dropout see the same state and masks each time.
    Shared parameters (the same array twice, or a transposed view for weight
    tying) are checked once, against the sum of their gradients.
    """
    checker = _Checker(obj, inputs, eps, np.random.default_rng(seed), max_elements, directions)
    measured = [(label, checker.differences(array, a)) for label, array, a in checker.checks()]
    _restore(checker.saved)
    scale = max((max(na, nn) for _, (_, na, nn) in measured), default=0.0)
    lowest = max(floor, rel_floor * scale)
    result = GradcheckResult()
    for label, (diff, na, nn) in measured:
        result.errors[label] = diff / max(na, nn, lowest)
    return result


def _float64_params(obj):
    params = list(getattr(obj, "params", []))
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray) or p.dtype != np.float64:
            dtype = getattr(p, "dtype", type(p).__name__)
            raise TypeError(
                f"gradcheck needs float64 parameters; params[{i}] is {dtype}. "
                "Build the layer or model with float64 arrays."
            )
    return params


class _Checker:
    """The analytic gradients of ``obj`` at ``inputs`` and the numerical derivatives."""

    def __init__(self, obj, inputs, eps, rng, max_elements, directions):
        self.obj, self.eps, self.rng = obj, eps, rng
        self.max_elements, self.directions = max_elements, directions
        self.params = _float64_params(obj)
        self.inputs = [
            np.array(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else x for x in inputs
        ]
        self.saved = _snapshot(obj)

        _restore(self.saved)
        out = obj.forward(*self.inputs)
        if np.ndim(out) == 0 and not isinstance(out, tuple):
            self.proj = None
            back = obj.backward(1)
        else:
            outs = out if isinstance(out, tuple) else (out,)
            self.proj = tuple(rng.standard_normal(np.shape(o)) for o in outs)
            back = obj.backward(*self.proj)
        self.grads = [np.array(g, dtype=np.float64) for g in obj.grads]
        if back is None:
            self.dinputs = []
        else:
            self.dinputs = list(back) if isinstance(back, tuple) else [back]

    def loss(self):
        """The scalar checked: the output itself, or its random projection."""
        _restore(self.saved)
        o = self.obj.forward(*self.inputs)
        if self.proj is None:
            return float(o)
        os_ = o if isinstance(o, tuple) else (o,)
        return float(
            sum(np.sum(np.asarray(a, dtype=np.float64) * r) for a, r in zip(os_, self.proj))
        )

    def checks(self):
        """``(label, array, analytic gradient)`` of every parameter (shared ones once) and
        every float input."""
        out = []
        groups, owner = _groups(self.params)
        for i in groups:
            total = self.grads[i].copy()
            for k, (j, transposed) in owner.items():
                if j == i:
                    total += self.grads[k].T if transposed else self.grads[k]
            name = _param_name(self.obj, i)
            out.append((f"params[{i}]{name} {self.params[i].shape}", self.params[i], total))
        float_pos = [
            k
            for k, x in enumerate(self.inputs)
            if isinstance(x, np.ndarray) and x.dtype == np.float64
        ]
        for n, k in enumerate(float_pos):
            if n < len(self.dinputs) and self.dinputs[n] is not None:
                out.append((f"inputs[{k}] {self.inputs[k].shape}", self.inputs[k], self.dinputs[n]))
        return out

    def _five_point_at(self, array, index, step):
        """The losses ``{m: loss}`` with ``array[index]`` moved by ``m * step``, m = +-1, +-2."""
        old = np.copy(array[index])  # a copy also where array[index] is a view
        f = {}
        try:
            for m in (-2, -1, 1, 2):
                array[index] = old + m * step
                f[m] = self.loss()
        finally:
            array[index] = old
        return f

    def derivative(self, array, direction, h):
        """Derivative of the loss along ``direction`` (same shape as ``array``)."""
        return _five_point(self._five_point_at(array, Ellipsis, h * direction), h)

    def differences(self, array, analytic):
        """``(|a - n| estimate, |a|, |n| estimate)`` of one array."""
        a = np.asarray(analytic, dtype=np.float64).reshape(array.shape)
        h = _step(array, self.eps)
        if self.max_elements is None or array.size <= self.max_elements:
            n = np.empty(array.shape)
            for pos in np.ndindex(array.shape):
                n[pos] = _five_point(self._five_point_at(array, pos, h), h)
            return float(np.linalg.norm(a - n)), float(np.linalg.norm(a)), float(np.linalg.norm(n))
        norm_a = float(np.linalg.norm(a))
        diffs = []
        norm_n = 0.0
        if norm_a > 0:  # along the analytic gradient: |a| against the numerical slope
            unit = a / norm_a
            slope = self.derivative(array, unit * np.sqrt(array.size), h) / np.sqrt(array.size)
            diffs.append(abs(norm_a - slope))
            norm_n = abs(slope)
        for _ in range(self.directions):
            u = self.rng.standard_normal(array.shape)
            diffs.append(abs(float(np.sum(a * u)) - self.derivative(array, u, h)))
        return max(diffs, default=0.0), norm_a, norm_n


def _param_name(obj, i):
    names = getattr(obj, "param_names", None)
    if names is not None and i < len(names):
        return f" {names[i]}"
    return ""
