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
to a few 1e-5 on fastlstm's float64 layers and models (about 2e-5 on a tiny
``BetterRnnlm(12, 5, 5)``).  The default tolerance :data:`DEFAULT_TOL` = 1e-3
therefore fails every error of more than 0.1% and passes every correct
fastlstm layer and model with a margin of fifty or more.
Arrays too large for one derivative per element are checked along random
directions (see ``max_elements``): there a 1% error scores 3e-3 or more.

Per-element relative errors alone, which older checks report, cannot
separate the two: the gradient of a loss averaged over many positions has
entries close to zero whose few correct digits swamp any threshold.  A
norm-wise error, on the other hand, dilutes one wrong element among many (one
element wrong by 1% in 2,000 scores about 2e-4).  So each array is also
compared element by element, each element's error judged against the larger
of its own gradient and a tenth of the array's typical element (``|a| / sqrt(size)``);
the entry reports the larger of the two errors.  Arrays too large for one
derivative per element are split into ``max_elements`` random groups of
elements, each group compared along random signs: an element wrong by 1% is
caught unless its gradient is under about a tenth of its group's.

``backward`` is called twice at the same point: a layer that adds into its
``grads`` (``grads[0] += dW``) in place of writing them (``grads[0][...] = dW``)
returns different gradients the second time, and fails with an error of 0.5
or more (in training it would silently accumulate gradients across
iterations).  :attr:`GradcheckResult.notes` then says so.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from fastlstm._validate import check_real

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
        ``{"params[0] Wx (3, 16)": 3.1e-10, "inputs[0] (2, 5, 3)": ...}``: the
        larger of the norm-wise, the per-element and the repeated-backward error.
    notes : dict[str, str]
        What failed beyond the norm-wise comparison, by the same keys (the
        worst element, or a second ``backward`` that gave other gradients).
    """

    errors: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

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
            lines = "\n".join(f"  {k}: {v:.3e}{self._note(k, tol)}" for k, v in bad.items())
            raise AssertionError(f"gradient check failed (tol {tol:g}):\n{lines}")

    def _note(self, key, tol=DEFAULT_TOL) -> str:
        bad = key in self.notes and not self.errors.get(key, 0.0) <= tol
        return f" ({self.notes[key]})" if bad else ""

    def __str__(self) -> str:
        width = max((len(k) for k in self.errors), default=0)
        rows = [f"{k:<{width}}  {v:.3e}{self._note(k)}" for k, v in self.errors.items()]
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
        evaluations per array whatever its size.  Their per-element comparison
        splits the elements into ``max_elements`` random groups and takes one
        derivative per group (along random signs on its elements), as many
        derivatives as an array of ``max_elements`` elements costs.
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

    Raises
    ------
    ValueError
        If ``eps`` is not positive and finite, ``max_elements`` is below 1,
        ``directions``, ``rel_floor`` or ``floor`` is negative, or ``forward``
        returns no values (an empty batch: nothing to check).
    TypeError
        If ``obj`` is not a layer or model (``forward``, ``backward``,
        ``params`` and ``grads``), a setting has another type, or the
        parameters are not float64.

    Notes
    -----
    Recurrent states (``h``, ``c`` attributes) and ``numpy.random.Generator``
    attributes reachable from ``obj`` are restored before every forward pass,
    so stateful layers and dropout see the same state and masks each time.
    Shared parameters (the same array twice, or a transposed view for weight
    tying) are checked once, against the sum of their gradients.
    ``backward`` is called twice at the same point, and must return the same
    gradients both times (see the module docstring).
    """
    _check_settings(eps, max_elements, directions, rel_floor, floor)
    missing = [a for a in ("forward", "backward", "params", "grads") if not hasattr(obj, a)]
    if missing:
        raise TypeError(
            f"gradcheck needs a layer or model (forward, backward, params, grads); "
            f"{type(obj).__name__} has no {', '.join(missing)}"
        )
    checker = _Checker(obj, inputs, eps, np.random.default_rng(seed), max_elements, directions)
    measured = [
        (label, checker.differences(array, a), a, again)
        for label, array, a, again in checker.checks()
    ]
    _restore(checker.saved)
    scale = max((max(na, nn) for _, (_, na, nn, _), _, _ in measured), default=0.0)
    lowest = max(floor, rel_floor * scale)
    result = GradcheckResult()
    for label, (diff, na, nn, per_element), a, again in measured:
        err = diff / max(na, nn, lowest)
        worst, where = _worst_element(per_element, na, lowest)
        if worst > err:
            err = worst
            result.notes[label] = f"worst element {where}: {worst:.3e}"
        if again is not None:
            twice = float(np.linalg.norm(again - a)) / max(
                float(np.linalg.norm(a)), float(np.linalg.norm(again)), lowest
            )
            if twice > err:
                err = twice
                result.notes[label] = (
                    f"a second backward gave other gradients ({twice:.3e}): does backward "
                    "add into grads (+=) in place of writing them?"
                )
        result.errors[label] = err
    return result


def _check_settings(eps, max_elements, directions, rel_floor, floor) -> None:
    """ValueError (TypeError for a wrong type) for settings that would check nothing or divide by 0."""

    def count(name, v, lowest):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
        if v < lowest:
            raise ValueError(f"{name} must be at least {lowest}, got {v}")

    check_real(eps, "eps", "positive")
    check_real(rel_floor, "rel_floor", 0)
    check_real(floor, "floor", 0)
    if max_elements is not None:
        count("max_elements", max_elements, 1)
    count("directions", directions, 0)


def _worst_element(per_element, norm_a, lowest):
    """The worst per-element (or per-group) relative error and where it is.

    ``per_element`` is ``(errors, norms, size, group, where)``: the absolute
    error of each element (or group of elements), the analytic gradient's norm
    over it, the array's size and the group size.  Each is judged against the
    larger of its own norm and a tenth of a typical element's (or group's).
    """
    if per_element is None:
        return 0.0, None
    errors, norms, size, group, where = per_element
    if errors.size == 0:
        return 0.0, None
    typical = norm_a * np.sqrt(group / max(size, 1))
    rel = errors / np.maximum(norms, max(lowest, 0.1 * typical))
    k = int(np.argmax(rel))
    return float(rel[k]), where(k)


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
            if all(np.size(o) == 0 for o in outs):
                raise ValueError(
                    f"forward returned no values (shapes {[np.shape(o) for o in outs]}): "
                    "nothing to check; give inputs with at least one element per axis"
                )
            self.proj = tuple(rng.standard_normal(np.shape(o)) for o in outs)
            back = obj.backward(*self.proj)
        self.grads = [np.array(g, dtype=np.float64) for g in obj.grads]
        self.dinputs = self._as_list(back)
        # the same point again: a backward that adds into grads (+=) doubles them
        _restore(self.saved)
        obj.forward(*self.inputs)
        back = obj.backward(1) if self.proj is None else obj.backward(*self.proj)
        self.grads_again = [np.array(g, dtype=np.float64) for g in obj.grads]
        self.dinputs_again = self._as_list(back)

    @staticmethod
    def _as_list(back):
        if back is None:
            return []
        back = list(back) if isinstance(back, tuple) else [back]
        return [None if b is None else np.array(b, dtype=np.float64) for b in back]

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
        """``(label, array, analytic gradient, the same from a second backward)`` of
        every parameter (shared ones once) and every float input."""
        out = []
        groups, owner = _groups(self.params)
        for i in groups:
            totals = []
            for grads in (self.grads, self.grads_again):
                total = grads[i].copy()
                for k, (j, transposed) in owner.items():
                    if j == i:
                        total += grads[k].T if transposed else grads[k]
                totals.append(total)
            name = _param_name(self.obj, i)
            label = f"params[{i}]{name} {self.params[i].shape}"
            out.append((label, self.params[i], *totals))
        float_pos = [
            k
            for k, x in enumerate(self.inputs)
            if isinstance(x, np.ndarray) and x.dtype == np.float64
        ]
        for n, k in enumerate(float_pos):
            if n < len(self.dinputs) and self.dinputs[n] is not None:
                again = self.dinputs_again[n] if n < len(self.dinputs_again) else None
                if again is not None:
                    again = again.reshape(self.inputs[k].shape)
                label = f"inputs[{k}] {self.inputs[k].shape}"
                out.append((label, self.inputs[k], self.dinputs[n], again))
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
        """``(|a - n| estimate, |a|, |n| estimate, per-element errors)`` of one array
        (see :func:`_worst_element` for the last)."""
        a = np.asarray(analytic, dtype=np.float64).reshape(array.shape)
        h = _step(array, self.eps)
        if self.max_elements is None or array.size <= self.max_elements:
            n = np.empty(array.shape)
            for pos in np.ndindex(array.shape):
                n[pos] = _five_point(self._five_point_at(array, pos, h), h)
            per_element = (
                np.abs(a - n).ravel(),
                np.maximum(np.abs(a), np.abs(n)).ravel(),
                array.size,
                1,
                lambda k: str(tuple(int(i) for i in np.unravel_index(k, array.shape))),
            )
            return (
                float(np.linalg.norm(a - n)),
                float(np.linalg.norm(a)),
                float(np.linalg.norm(n)),
                per_element,
            )
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
        return max(diffs, default=0.0), norm_a, norm_n, self.groups(array, a, h)

    def groups(self, array, a, h):
        """Per-group errors of a large array: every element in one of ``max_elements``
        random groups, each compared along random signs (``+-1`` on its elements)."""
        n_groups = max(1, min(self.max_elements, array.size))
        order = self.rng.permutation(array.size)
        parts = np.array_split(order, n_groups)
        group = int(np.ceil(array.size / n_groups))
        flat_a = a.ravel()
        errors = np.empty(n_groups)
        norms = np.empty(n_groups)
        for g, idx in enumerate(parts):
            signs = self.rng.choice((-1.0, 1.0), size=idx.size)
            u = np.zeros(array.size)
            u[idx] = signs
            exact = float(np.dot(flat_a[idx], signs))
            errors[g] = abs(exact - self.derivative(array, u.reshape(array.shape), h))
            norms[g] = float(np.linalg.norm(flat_a[idx]))
        return errors, norms, array.size, group, lambda k: f"group of {parts[k].size} elements"


def _param_name(obj, i):
    names = getattr(obj, "param_names", None)
    if names is not None and i < len(names):
        return f" {names[i]}"
    return ""
