"""Shared machinery of the benchmark suite (run explicitly: ``pytest bench``).

Every benchmark compares :mod:`fastlstm` with the plain NumPy :mod:`reference`
on the same inputs, and for the LSTM layer and the training iterations with
PyTorch too (the same model, built from the same weights by
:mod:`fastlstm.interop`, with as many threads as numba).  It first checks
that all give the same outputs and gradients (float32,
``max|a - b| / max|b| <= 1e-4``), then times them with rounds interleaved
(:func:`interleave`) and reports each implementation in its own test of one
``pytest-benchmark`` group, so every group shows them side by side.

Timing hygiene
--------------
The reference multiplies with NumPy's BLAS, :mod:`fastlstm` runs on numba's
thread pool and PyTorch on its own; one pool's spinning threads slow another
down on a small machine, and other processes come and go.  So the
implementations of a group are timed together, rounds interleaved
(:func:`interleave`, each call after a garbage collection and a short pause),
each group in a Python process of its own (:func:`interleave_in_process`, see
:data:`GROUP_PROCESS`), and each test hands its implementation's rounds to
pytest-benchmark (:class:`TimingCache`).  Rounds are chosen from a time budget per benchmark so
the suite stays short.  The sgemm yardstick is timed alone (:func:`timed`).

Every benchmark records in ``extra_info``: the implementation (``impl``), the
kind of work (``kernel``), its sizes, its flops where they are defined, the
relative errors of the correctness check, and the NumPy sgemm GFLOPS measured
at the start of the session (``sgemm_gflops``), the machine's yardstick.
"""

from __future__ import annotations

import gc
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import fastlstm._numba  # noqa: F401  (before numba's pool starts: it then starts as in use)

RTOL = 1e-4
"""Largest accepted ``max|fast - ref| / max|ref|`` for outputs and gradients (float32)."""

IMPLS = ("fastlstm", "reference")
"""The two implementations timed in every group."""

WITH_TORCH = IMPLS + ("pytorch",)
"""The implementations of the groups that PyTorch can run too (LSTM layer, training)."""

try:  # PyTorch is optional (pip install fastlstm[bench]); its tests skip without it
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
else:
    import numba

    # the same number of threads as fastlstm's numba pool
    torch.set_num_threads(numba.get_num_threads())

NO_TORCH = "PyTorch not installed: pip install fastlstm[bench]"

SGEMM_SIZE = 2048
"""Side of the square float32 matrices of the sgemm yardstick."""

PAUSE_S = 0.3
"""Pause before each measurement, so the other thread pool has gone to sleep."""

SETTLE = 1
"""Untimed calls between the pause and the timed call of the LSTM and training groups.

A training iteration right after the garbage collection and the pause is slower
than one in a training loop, one iteration after another (minimum of 15, Intel
Xeon, 4 December 2026): fastlstm's Rnnlm 31.6 against 24.3 ms, AttentionSeq2seq
47.1 against 38.8 ms; PyTorch's 30.3 against 25.4 ms and 49.0 against 44.0 ms.
After one untimed iteration the timed one runs as in the loop.  The untimed calls
also last :data:`SETTLE_S` at least.
"""

SETTLE_S = 0.03
"""Least time of the untimed calls before a timed one (with ``SETTLE``), in seconds.

One untimed call of a short iteration is not always enough: fastlstm's Seq2seq
(about 5 ms) on the 2-core AMD EPYC, 5 December 2026, twelve calls each after the
pause: median 8.0 ms after one untimed call (minimum 4.6), 4.6 ms after two,
4.5 ms in a loop; the benchmark measured 7.1 ms for it, and PyTorch 8.4 ms.  Calls
for 30 ms leave a short iteration as in a loop and add nothing to a long one.
"""


# --------------------------------------------------------------------------- #
# machine description
# --------------------------------------------------------------------------- #
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def vector_isa() -> dict:
    """The host's widest vector instructions and the width fastlstm's kernels are built for.

    ``vector_isa`` is what the CPU has (``AVX-512``, ``AVX2``, ``AVX``, or
    ``SSE`` / ``other``, from LLVM's host features); ``vector_bytes`` the width
    of the packed kernel's vectors (``fastlstm._kernels.blas.VECTOR_BYTES``,
    which ``FASTLSTM_VECTOR_BYTES`` may override), with its panel width and
    tile rows for float32; ``numba_cpu`` the CPU the kernels were compiled for when numba
    was told one (``NUMBA_CPU_NAME``, None for the host).
    """
    from fastlstm._kernels import blas

    try:
        from llvmlite import binding

        features = binding.get_host_cpu_features()
        cpu_name = binding.get_host_cpu_name()
    except Exception:  # noqa: BLE001 - only a description
        features, cpu_name = {}, "unknown"
    if features.get("avx512f"):
        isa = "AVX-512"
    elif features.get("avx2"):
        isa = "AVX2"
    elif features.get("avx"):
        isa = "AVX"
    elif features.get("sse2"):
        isa = "SSE"
    else:
        isa = "other"
    from numba.core import config as numba_config

    return {
        "vector_isa": isa,
        "llvm_cpu": cpu_name,
        # the CPU numba compiles for when told (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES), else None
        "numba_cpu": numba_config.CPU_NAME,
        "numba_cpu_features": numba_config.CPU_FEATURES,
        "fma": bool(features.get("fma")),
        "vector_bytes": blas.VECTOR_BYTES,
        "panel_width_float32": blas.panel_width(np.float32),
        "tile_rows": blas.TILE_ROWS,
    }


def machine() -> dict:
    """CPU model and vector width, CPU count, library versions, the BLAS the kernels call
    and thread settings."""
    import numba
    import scipy

    threads = numba.get_num_threads()  # starts numba's pool, as fastlstm starts it
    try:
        layer = numba.threading_layer()
    except ValueError:  # the pool could not start
        layer = "not initialised"
    return {
        "cpu_model": cpu_model(),
        **vector_isa(),
        "torch": None if torch is None else torch.__version__,
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "numba_threads": threads,
        "numba_threading_layer": layer,
        "kernels_blas": kernels_blas(),
        "allocator_env": allocator_env(),
    }


def kernels_blas() -> str:
    """The BLAS the kernels call, and who multiplies the long float32 products: the float32
    bits of a training depend on both."""
    from fastlstm import _blas_lib

    return _blas_lib.describe() + _long_products_note()


def _long_products_note() -> str:
    """Who multiplies the long float32 products, when not OpenBLAS alone: the packed tiles,
    or (turned off) a note that ``FASTLSTM_PACKED_GEMM=auto`` would take them there."""
    from fastlstm import _blas_lib
    from fastlstm._kernels import blas as _kblas

    if _kblas.PACKED_LONG:
        return "; products of 64 rows or more by fastlstm's packed tiles (FASTLSTM_PACKED_GEMM)"
    if _blas_lib.runs_narrower(_kblas.VECTOR_BYTES):
        return (
            "; its kernels are narrower than the CPU's vectors: FASTLSTM_PACKED_GEMM=auto "
            "(the default) would hand the products of 64 rows or more to fastlstm's packed tiles"
        )
    return ""


def allocator_env() -> dict:
    """The C library's allocator settings given in the environment (``MALLOC_*``, ``GLIBC_TUNABLES``).

    They change PyTorch's times: it allocates its tensors afresh on every
    iteration, and with glibc's defaults the memory freed at the top of the heap
    goes back to the system and comes back page by page.  Recorded so that a
    report says under which settings it was timed.
    """
    return {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"
    }


def pytest_benchmark_update_machine_info(config, machine_info):
    """Add library versions and thread settings to the JSON's ``machine_info``."""
    machine_info["fastlstm_bench"] = machine()


# --------------------------------------------------------------------------- #
# correctness
# --------------------------------------------------------------------------- #
def rel_err(a, b) -> float:
    """``max|a - b| / max|b|`` in float64 (``max|a - b|`` if ``b`` is all zero)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {b.shape}")
    if b.size == 0:
        return 0.0
    diff = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b)))
    return diff / scale if scale > 0 else diff


def compare(fast: dict, ref: dict, rtol: float = RTOL) -> dict:
    """Relative error of every entry of ``fast`` against ``ref``; raise if any exceeds ``rtol``.

    Parameters
    ----------
    fast, ref : dict of str to array_like
        The same keys in both: outputs and gradients of one computation.
    rtol : float
        Largest accepted relative error.

    Returns
    -------
    dict of str to float
        The relative error of each entry.
    """
    if fast.keys() != ref.keys():
        raise AssertionError(f"different results: {sorted(fast)} vs {sorted(ref)}")
    errors = {k: rel_err(fast[k], ref[k]) for k in ref}
    bad = {k: e for k, e in errors.items() if not e <= rtol}
    if bad:
        listed = ", ".join(f"{k}: {e:.3g}" for k, e in sorted(bad.items()))
        raise AssertionError(f"fastlstm differs from reference (rtol {rtol:g}): {listed}")
    return errors


def snapshot(arrays: dict) -> dict:
    """Copies of the arrays of ``arrays`` (gradients are overwritten by later calls)."""
    return {k: np.array(v, copy=True) for k, v in arrays.items()}


class CheckCache:
    """Results of the correctness checks, one per group, shared by its two tests.

    The first test of a group runs the check; the other reuses its result, so
    a failing check fails both tests of the group with the same message.
    """

    def __init__(self):
        self._results = {}

    def get(self, key, check):
        """Return ``check()`` for ``key``, computed once; re-raise its error every time."""
        if key not in self._results:
            try:
                self._results[key] = (True, check())
            except Exception as exc:  # noqa: BLE001 - stored and re-raised below
                self._results[key] = (False, exc)
        ok, value = self._results[key]
        if not ok:
            raise AssertionError(f"correctness check of {key!r} failed: {value}") from value
        return value


@pytest.fixture(scope="session")
def checks() -> CheckCache:
    """Session-wide cache of correctness checks."""
    return CheckCache()


# --------------------------------------------------------------------------- #
# timing
# --------------------------------------------------------------------------- #
def quiet(pause_s: float = PAUSE_S) -> None:
    """Collect garbage and pause, so idle threads of either pool stop spinning."""
    gc.collect()
    time.sleep(pause_s)


def timed(
    benchmark,
    fn,
    *,
    setup=None,
    budget_s: float = 2.0,
    min_rounds: int = 3,
    max_rounds: int = 20,
    warmup_rounds: int = 1,
):
    """Time ``fn()`` with ``benchmark.pedantic``, rounds chosen from a time budget.

    After a pause, one untimed call (after ``setup()``) estimates the cost of a
    round; the number of rounds is ``budget_s`` divided by it, clipped to
    ``[min_rounds, max_rounds]``.  ``setup`` runs untimed before every round.
    The untimed call already warms up; the ``warmup_rounds`` that follow it are
    skipped when it took longer than half the budget.

    Returns
    -------
    object
        What ``fn`` returned in the last round.
    """
    quiet()
    if setup is not None:
        setup()
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    rounds = int(min(max_rounds, max(min_rounds, budget_s // max(first, 1e-6))))
    if first > budget_s / 2:
        warmup_rounds = 0
    benchmark.extra_info["rounds_planned"] = rounds
    benchmark.extra_info["loadavg_1min"] = os.getloadavg()[0]
    return benchmark.pedantic(
        fn, setup=setup, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1
    )


def median_s(benchmark) -> float | None:
    """Median time of a round in seconds, or None when benchmarks are disabled."""
    stats = getattr(benchmark, "stats", None)
    if stats is None or getattr(benchmark, "disabled", False):
        return None
    return float(stats.stats.median)


def record_gflops(benchmark, flops: float) -> None:
    """Put ``flops`` and, when timed, the GFLOPS of the median round into ``extra_info``."""
    benchmark.extra_info["flops"] = float(flops)
    median = median_s(benchmark)
    if median:
        benchmark.extra_info["gflops_median"] = flops / median / 1e9


def sgemm_flops(n: int = SGEMM_SIZE) -> float:
    """Flops of one ``n x n x n`` matrix product."""
    return 2.0 * n**3


def sgemm_operands(n: int = SGEMM_SIZE, seed: int = 0):
    """Two float32 ``(n, n)`` matrices of standard normal values."""
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, n), dtype=np.float32),
        rng.standard_normal((n, n), dtype=np.float32),
    )


def measure_sgemm_gflops() -> float:
    """GFLOPS of a 2048^3 float32 NumPy matmul (median of 5, after one warm-up)."""
    a, b = sgemm_operands()
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    return sgemm_flops() / statistics.median(times) / 1e9


@pytest.fixture(scope="session")
def sgemm_gflops() -> float:
    """The machine's yardstick, measured once per session (:func:`measure_sgemm_gflops`)."""
    return measure_sgemm_gflops()


@pytest.fixture
def info(benchmark, sgemm_gflops):
    """``benchmark.extra_info`` with the machine's sgemm GFLOPS already filled in."""
    benchmark.extra_info["sgemm_gflops"] = sgemm_gflops
    return benchmark.extra_info


def grouped_params(cases, impls=IMPLS):
    """Parameters ``(case, impl)`` for every case and implementation, marked with the case's group.

    Parameters
    ----------
    cases : sequence of (str, str, object)
        ``(group, id, case)``: the benchmark group, a short test id and the
        case description handed to the test.
    impls : sequence of str
        Implementations to time in every group.
    """
    return [
        pytest.param(case, impl, id=f"{case_id}-{impl}", marks=pytest.mark.benchmark(group=group))
        for group, case_id, case in cases
        for impl in impls
    ]


def results(out) -> dict:
    """The dict of arrays a run returned; PyTorch runs return a function that makes it."""
    return snapshot(out() if callable(out) else out)


def check_pair(make, case, impls=IMPLS) -> dict:
    """Run ``make(impl, case)()`` for every implementation and :func:`compare` each with the reference.

    ``make`` builds, from the same seed, a callable that does one
    forward/backward and returns a dict of outputs and gradients (or, for
    PyTorch, a function returning that dict, so that converting tensors is
    not timed).  Returns the errors of fastlstm; PyTorch's are under keys
    prefixed with ``pytorch:``.
    """
    ref = results(make("reference", case)())
    errors = compare(results(make("fastlstm", case)()), ref)
    if "pytorch" in impls and torch is not None:
        torch_errors = compare(results(make("pytorch", case)()), ref)
        errors.update({f"pytorch:{k}": v for k, v in torch_errors.items()})
    return errors


def fast_errors(errors: dict) -> float:
    """The largest error of fastlstm in a :func:`check_pair` result."""
    return max(v for k, v in errors.items() if not k.startswith("pytorch:"))


def torch_errors(errors: dict) -> float | None:
    """The largest error of PyTorch in a :func:`check_pair` result, or None."""
    values = [v for k, v in errors.items() if k.startswith("pytorch:")]
    return max(values) if values else None


# --------------------------------------------------------------------------- #
# interleaved timing
# --------------------------------------------------------------------------- #
def interleave(
    runners: dict,
    *,
    budget_s: float = 2.0,
    min_rounds: int = 3,
    max_rounds: int = 20,
    pause_s: float = 0.1,
    settle: int = 0,
    settle_s: float = SETTLE_S,
) -> dict:
    """Time every runner of a group, rounds interleaved; return ``{impl: [seconds, ...]}``.

    Each runner is called once untimed (a warm-up that also estimates its
    cost).  Then every round times each runner once, in an order rotated by
    one every round, each call after a garbage collection and a pause of
    ``pause_s`` (so the idle threads of the previous implementation's pool
    have stopped spinning).  Load from other processes therefore hits every
    implementation alike.  With ``settle``, that many untimed calls, and more
    until they have lasted ``settle_s``, follow the pause before the timed one:
    the collection (some 40 ms walking every Python object) leaves the caches
    cold and the pause lets the threads sleep, which a training loop, one
    iteration after another, does not see.  The number of rounds fits ``budget_s`` per implementation, clipped
    to ``[min_rounds, max_rounds]``.
    """
    names = list(runners)
    first = {}
    for name in names:
        quiet()
        start = time.perf_counter()
        runners[name]()
        first[name] = time.perf_counter() - start
    per_round = sum(t + (max(settle * t, settle_s) if settle else 0) for t in first.values())
    rounds = int(min(max_rounds, max(min_rounds, budget_s * len(names) // max(per_round, 1e-6))))
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            quiet(pause_s)
            calls, until = 0, time.perf_counter() + settle_s
            while settle and (calls < settle or time.perf_counter() < until):
                runners[name]()
                calls += 1
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    return times


class Runners:
    """The runners of a group, ``{impl: make(impl, case)}``, made where they are timed.

    Picklable (``make`` and ``case`` are module-level names of a benchmark module), so a
    group can be timed in a Python process of its own (:func:`interleave_in_process`).
    ``part`` picks one item of what ``make`` returns (``make_train`` returns the model and
    its step); ``sgemm`` adds the 2048³ matmul yardstick as one more runner.
    """

    def __init__(self, make, case, impls, part=None, sgemm=False):
        self.make, self.case, self.impls = make, case, tuple(impls)
        self.part, self.sgemm = part, sgemm

    def with_sgemm(self):
        """The same runners and the sgemm yardstick."""
        return Runners(self.make, self.case, self.impls, self.part, sgemm=True)

    def __call__(self) -> dict:
        made = {}
        for impl in self.impls:
            runner = self.make(impl, self.case)
            made[impl] = runner if self.part is None else runner[self.part]
        if self.sgemm:
            a, b = sgemm_operands()
            out = np.empty_like(a)
            made["sgemm"] = lambda: np.matmul(a, b, out=out)
        return made


GROUP_PROCESS = os.environ.get("FASTLSTM_BENCH_PROCESS", "group").strip() or "group"
"""``FASTLSTM_BENCH_PROCESS``: ``group`` (the default) times every group in a fresh Python
process of its own (:func:`interleave_in_process`); ``shared`` times all groups in the
pytest process, one after another.

In one shared process a group's times depend on the groups timed before it: the C
library's allocator raises its thresholds for returning memory to the system as large
blocks are freed, and an implementation that allocates its arrays at every call (PyTorch,
the reference) then runs faster or slower than it does in a process of its own, as a
user runs one model.  On the 2-core AMD EPYC (Zen 4), 7 December 2026: PyTorch's
AttentionSeq2seq iteration took 86.5 ms (median) with that group timed alone, 63.3 ms
after the nine groups before it in the same process (the LSTM layers, embedding, softmax,
attention and four training groups), and 66-68 ms alone with
``MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=134217728`` set; fastlstm's,
whose work arrays are allocated once, 59.7-65.5 ms either way."""
if GROUP_PROCESS not in ("group", "shared"):
    raise ValueError(f"FASTLSTM_BENCH_PROCESS must be 'group' or 'shared', got {GROUP_PROCESS!r}")


#: Least time and calls of each runner's warm-up in a group's own process, before
#: :func:`interleave` (whose first call is untimed too): there the first calls load the
#: kernels and allocate the work arrays that the pytest process's checks had ready.
WARMUP_S, WARMUP_CALLS = 1.0, 3

#: Longest a group's own process may take (its slowest group, batched evaluation with the
#: reference, takes about a minute).
GROUP_TIMEOUT_S = 1800


def interleave_in_process(make_runners: Runners, **options) -> dict:
    """:func:`interleave` of ``make_runners()``, warmed up, in a fresh Python process.

    The child (``bench/group_process.py``) imports this module first, as pytest does,
    so both libraries start as here (numba's pool first, PyTorch with as many threads);
    it inherits the environment.  Returns ``{impl: [seconds, ...]}``.
    """
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="fastlstm-bench-") as tmp:
        spec, out = Path(tmp, "spec.pkl"), Path(tmp, "times.pkl")
        spec.write_bytes(pickle.dumps((make_runners, options)))
        done = subprocess.run(
            [sys.executable, str(here / "group_process.py"), str(spec), str(out)],
            capture_output=True,
            text=True,
            timeout=GROUP_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"timing {make_runners.make.__name__} in its own process failed "
                f"(exit {done.returncode}):\n{done.stderr[-4000:]}"
            )
        return pickle.loads(out.read_bytes())


def warm_up(runners: dict) -> None:
    """Call every runner at least :data:`WARMUP_CALLS` times and for :data:`WARMUP_S`."""
    for run in runners.values():
        calls, until = 0, time.perf_counter() + WARMUP_S
        while calls < WARMUP_CALLS or time.perf_counter() < until:
            run()
            calls += 1


class _Replay:
    """A pytest-benchmark clock that replays measured durations, one per timed call."""

    __name__ = "interleaved"

    def __init__(self, durations):
        self._durations = list(durations)
        self._now = 0.0
        self._running = False

    def __call__(self):
        if self._running:
            self._now += self._durations.pop(0)
        self._running = not self._running
        return self._now


class TimingCache:
    """Interleaved timings of every group, measured by the group's first test.

    ``get(benchmark, group, make_runners, **options)`` measures all
    implementations of ``group`` with :func:`interleave` (``make_runners``, a
    :class:`Runners`, makes ``{impl: callable}``) the first time, in a process of its
    own unless ``FASTLSTM_BENCH_PROCESS=shared`` (:data:`GROUP_PROCESS`), and hands the rounds of
    the requesting test's implementation (``benchmark.extra_info["impl"]``)
    to pytest-benchmark, so every implementation gets its own entry in the
    group, with statistics over the interleaved rounds.
    """

    def __init__(self):
        self._times = {}

    def times(self, group):
        """``{name: [seconds, ...]}`` of every runner of a measured group."""
        return self._times[group]

    def get(self, benchmark, group, make_runners, **options):
        if getattr(benchmark, "disabled", False):
            benchmark.pedantic(lambda: None)  # checks only: nothing is timed
            return None
        own = GROUP_PROCESS == "group"
        if group not in self._times:
            if own:
                self._times[group] = interleave_in_process(make_runners, **options)
            else:
                self._times[group] = interleave(make_runners(), **options)
        durations = self.times(group)[benchmark.extra_info["impl"]]
        benchmark.extra_info["rounds_planned"] = len(durations)
        benchmark.extra_info["loadavg_1min"] = os.getloadavg()[0]
        benchmark.extra_info["timing"] = "interleaved"
        benchmark.extra_info["group_process"] = own
        benchmark.extra_info["settle_calls"] = options.get("settle", 0)
        benchmark._timer = _Replay(durations)
        benchmark.pedantic(lambda: None, rounds=len(durations), iterations=1)
        return durations


def time_with_sgemm(benchmark, info, timings, group, make_runners, **options) -> None:
    """:meth:`TimingCache.get` with the sgemm yardstick as one more runner of the group
    (``make_runners`` a :class:`Runners`).

    The 2048³ matmul then runs in the same interleaved rounds as the
    implementations, and its rate goes to ``info["sgemm_gflops_interleaved"]``,
    which the report uses for the group's *of sgemm* fractions.
    """

    if timings.get(benchmark, group, make_runners.with_sgemm(), **options) is not None:
        fastest = min(timings.times(group)["sgemm"])
        info["sgemm_gflops_interleaved"] = sgemm_flops() / fastest / 1e9


@pytest.fixture(scope="session")
def timings() -> TimingCache:
    """Session-wide interleaved timings, one measurement per group."""
    return TimingCache()


def skip_without_torch(impl: str) -> None:
    """Skip a PyTorch test (with the reason) when PyTorch is not installed."""
    if impl == "pytorch" and torch is None:
        pytest.skip(NO_TORCH)
