"""Cost of the layers' per-call parameter checks, measured A/B and interleaved.

Every ``forward``/``backward`` of a layer with parameters checks that ``params``
and ``grads`` still have the shapes and dtypes the layer was built with
(:func:`fastlstm.layers._checks._check_params`).  This script times training
iterations with the check and with it replaced by a no-op, alternating the order
of the two in every round, and prints the medians, minima and the median of the
paired differences, with the cost of one check::

    python bench/param_checks_ab.py            # TimeLSTM and Rnnlm iterations
"""

from __future__ import annotations

import importlib
import pkgutil
import statistics
import time
import timeit

import numpy as np

import fastlstm.layers
import fastlstm.layers._checks as checks
import fastlstm.models
from fastlstm.layers import TimeLSTM
from fastlstm.models import Rnnlm
from fastlstm.optim import SGD

_REAL = checks._check_params
# the modules that call the check: every module of the layers and models that imported it
_USERS = [
    module
    for package in (fastlstm.layers, fastlstm.models)
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + ".")
    if getattr(module := importlib.import_module(info.name), "_check_params", None) is _REAL
    and module is not checks
]
assert len(_USERS) >= 4, _USERS  # basic, lstm, rnn, time at least


def _noop(layer):
    return None


def _use(check):
    for module in _USERS:
        module._check_params = check


def ab(step, rounds, per_round, label):
    """Interleaved A/B timing of ``step`` with and without the checks (ms per step)."""
    for _ in range(per_round * 2):
        step()
    times = {"checked": [], "unchecked": []}
    for r in range(rounds):
        order = ("checked", "unchecked") if r % 2 == 0 else ("unchecked", "checked")
        for mode in order:
            _use(_REAL if mode == "checked" else _noop)
            t0 = time.perf_counter()
            for _ in range(per_round):
                step()
            times[mode].append((time.perf_counter() - t0) / per_round * 1e3)
    _use(_REAL)
    diffs = [a - b for a, b in zip(times["checked"], times["unchecked"], strict=True)]
    print(label)
    for mode, values in times.items():
        print(f"  {mode:9s} median {statistics.median(values):8.3f} ms  min {min(values):8.3f} ms")
    print(
        f"  paired difference: median {statistics.median(diffs) * 1e3:+.1f} us, "
        f"stdev {statistics.stdev(diffs) * 1e3:.1f} us ({rounds} rounds)"
    )


def main():
    rng = np.random.default_rng(0)
    N, T, D, H, V = 20, 35, 100, 100, 10000  # the book's ch06 Rnnlm sizes

    def f32(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    lstm = TimeLSTM(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H))
    xs, dhs = f32(N, T, D), f32(N, T, H)

    def lstm_step():
        lstm.forward(xs)
        lstm.backward(dhs)

    model, opt = Rnnlm(V, D, H, seed=0), SGD(lr=0.1)
    ids, labels = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))

    def rnnlm_step():
        model.forward(ids, labels)
        model.backward()
        opt.update(model.params, model.grads)

    n = 100_000
    one = min(timeit.repeat(lambda: _REAL(lstm), number=n, repeat=5)) / n * 1e6
    print(f"one check of a TimeLSTM's parameters: {one:.2f} us")
    ab(lstm_step, 60, 20, f"TimeLSTM forward + backward (N={N}, T={T}, D=H={H}): 2 checks")
    ab(rnnlm_step, 30, 10, f"Rnnlm training iteration (V={V}, N={N}, T={T}): 6 checks")


if __name__ == "__main__":
    main()
