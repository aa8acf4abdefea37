"""Compiling a training run's kernels in several processes at once, the first time.

The first iteration of a training run compiles about twenty kernels one after
another (some 20 s on a 2-core machine).  For the runs ``fastlstm train MODEL``
makes with its default settings, the kernels and argument types that first
iteration compiles are listed in :mod:`fastlstm._warm_manifest`: those of a
normal run and those of a run on serial builds only.  When the kernel cache
lacks some of them, :func:`warm_up` works in two phases:

1. The serial builds (which compile in about half the time of the parallel
   ones) are compiled before the first iteration, split over this process and
   helper processes (one per further CPU, at most :data:`MAX_PROCESSES` in
   all).  The run then starts on them (:func:`fastlstm._numba.serial_builds`).
2. Meanwhile helper processes compile the parallel builds; when they are done
   the run switches to them, loading them from the cache.

Every process writes what it compiled to the kernel cache, from which the run
loads it: the machine code is the same as that of a kernel compiled in the
run itself, and the two builds of a kernel give the same bits, so a first run
computes exactly what later runs do.

Nothing happens when the cache already holds every listed kernel, when it
cannot be written (kernels are then compiled in memory, one process only), on a
machine with one CPU, or for settings other than the recorded ones (the run
then compiles what it needs as it goes).

The manifest is written by ``python -m fastlstm._warmup record [MODEL ...]``,
which runs each model's first iteration with an empty scratch cache and lists
the kernels compiled from Python (helpers compiled into them come along).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from fastlstm import _numba

_log = logging.getLogger("fastlstm")

#: Processes compiling at once, this one included.
MAX_PROCESSES = 4

#: Seconds to wait for the helper processes; after that the run compiles the rest.
HELPER_TIMEOUT = 600.0

#: The models ``record`` writes by default.
MODELS = ("simple-rnnlm", "rnnlm", "better-rnnlm", "seq2seq", "peeky", "attention", "attention-bi")

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


# ----------------------------------------------------------------------------
# argument types as short strings: "float32[2C]" is a 2-d C-contiguous array
# ----------------------------------------------------------------------------
_SCALARS = ("int64", "int32", "float32", "float64", "bool", "uint8")


def encode_type(t) -> str:
    """A numba argument type as a string (arrays and plain scalars only)."""
    from numba.core import types

    if isinstance(t, types.Array) and t.mutable and t.aligned and str(t.dtype) in _SCALARS:
        return f"{t.dtype}[{t.ndim}{t.layout}]"
    if str(t) in _SCALARS and not isinstance(t, types.Array):
        return str(t)
    raise ValueError(f"cannot record argument type {t!r}")


def decode_type(text: str):
    """Inverse of :func:`encode_type`."""
    from numba.core import types

    def scalar(name):
        if name not in _SCALARS:
            raise ValueError(f"unknown argument type {text!r}")
        return types.boolean if name == "bool" else getattr(types, name)

    if text.endswith("]"):
        name, _, spec = text[:-1].partition("[")
        ndim, layout = int(spec[:-1]), spec[-1]
        if layout not in "CFA":
            raise ValueError(f"unknown array layout in {text!r}")
        return types.Array(scalar(name), ndim, layout)
    return scalar(text)


# ----------------------------------------------------------------------------
# which run, which kernels
# ----------------------------------------------------------------------------
def run_key(model: str, config: dict, batch: tuple) -> str:
    """The manifest key of a run: its model, the model's settings and the batch shape."""
    from fastlstm.api._util import json_safe

    return json.dumps(
        {"model": model, "config": json_safe(dict(config)), "batch": [int(b) for b in batch]},
        sort_keys=True,
    )


#: Modules whose kernels the first training iteration does not run (greedy decoding, first
#: run by the evaluation after the first epoch): both their builds compile in the background.
BACKGROUND = ("fastlstm._kernels.decode:", "fastlstm.models.greedy:")


def _background(name: str) -> bool:
    return name.startswith(BACKGROUND)


def _entries(key: str):
    """``[(name, dispatcher, argtypes, seconds)]`` listed for ``key`` (empty if none)."""
    import importlib

    from fastlstm._warm_manifest import JOBS

    out = []
    for name, argtypes, seconds in JOBS.get(key, ()):
        module = name.partition(":")[0]
        importlib.import_module(module)
        dispatcher = _numba.KERNELS.get(name)
        if dispatcher is None:  # the manifest is older than the code: skip the entry
            continue
        out.append((name, dispatcher, tuple(decode_type(t) for t in argtypes), seconds))
    return out


#: Seconds a helper process needs before it compiles (starting Python, importing).
HELPER_START = 1.0


def split(seconds: list[float], n: int) -> list[list[int]]:
    """Indices of ``seconds`` in ``n`` shares of about equal sums (longest first, to the
    lightest share); share 0 is this process's, the others start :data:`HELPER_START` behind."""
    shares: list[list[int]] = [[] for _ in range(n)]
    load = [0.0] + [HELPER_START] * (n - 1)
    for i in sorted(range(len(seconds)), key=lambda i: (-seconds[i], i)):
        j = min(range(n), key=lambda j: (load[j], j))
        shares[j].append(i)
        load[j] += seconds[i]
    return shares


def _compile_all(entries) -> None:
    for _name, dispatcher, argtypes, _ in entries:
        dispatcher.compile(argtypes)


def _start_helpers(key: str, shares: list[list[int]]) -> list[subprocess.Popen]:
    """One helper process per share (indices into the key's entries)."""
    procs = []
    try:
        for share in shares:
            payload = json.dumps({"key": key, "entries": share})
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "fastlstm._warmup", "compile", payload],
                    env=_helper_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    except BaseException:
        _stop(procs)
        raise
    return procs


def _wait(procs, timeout: float) -> None:
    """Wait for the helpers (at most ``timeout`` seconds in all), then stop any left."""
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            try:
                code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                code = None
            if code != 0:
                _log.debug("fastlstm: a kernel-compiling helper ended with %s", code)
    finally:
        _stop(procs)


def _stop(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _Background:
    """The helpers compiling parallel builds while the run goes on serial ones."""

    lock = threading.Lock()
    procs: list[subprocess.Popen] = []
    thread: threading.Thread | None = None


def _finish_background(procs) -> None:
    try:
        _wait(procs, HELPER_TIMEOUT)
    finally:
        _numba.serial_builds(False)


def wait_background(timeout: float | None = None) -> bool:
    """Wait for the background compilation of parallel builds; whether it is over."""
    thread = _Background.thread
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    return True


@atexit.register
def _stop_background() -> None:
    """At exit, stop helpers still compiling (the cache keeps what they saved)."""
    with _Background.lock:
        _stop(_Background.procs)


def _processes() -> int:
    return max(1, min(MAX_PROCESSES, os.cpu_count() or 1))


def _cache_writable() -> bool:
    path = _numba.kernel_cache_dir()
    if path is None or _numba._State.unwritable:
        return False
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def _helper_env() -> dict:
    from fastlstm import config

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
    root = config.numba_cache_dir()
    if root is not None:
        env["FASTLSTM_NUMBA_CACHE"] = str(root)
    return env


def warm_up(key: str) -> float:
    """Compile the kernels the manifest lists for ``key`` that the cache lacks, in parallel.

    Returns the seconds spent before the run may start (0.0 when there was
    nothing to do).  Parallel builds still missing are compiled in the
    background while the run uses serial builds (see the module notes).  A
    helper that fails or times out is ignored: the run compiles what is
    missing itself.
    """
    try:
        entries = _entries(key)
    except Exception as exc:  # pragma: no cover - a broken manifest must not stop a run
        _log.debug("fastlstm: no warm-up (%r)", exc)
        return 0.0
    missing = [i for i, e in enumerate(entries) if not _numba.cache_index_has(e[1], e[2])]
    # parallel builds, and kernels the first iteration does not run
    later = [i for i in missing if entries[i][0] in _numba.TWINS or _background(entries[i][0])]
    now = [i for i in missing if i not in later]
    if not wait_background(0):  # an earlier warm-up is still compiling parallel builds
        later = []
    n = _processes()
    if not missing or n < 2 or not _cache_writable():
        return 0.0
    start = time.perf_counter()
    if any(entries[i][0] in _numba.TWINS and not _background(entries[i][0]) for i in later):
        _numba.serial_builds(True)
    try:
        if now:
            k = min(n, len(now))
            shares = [[now[i] for i in sh] for sh in split([entries[i][3] for i in now], k)]
            helpers = _start_helpers(key, shares[1:])
            try:
                _compile_all([entries[i] for i in shares[0]])
            except BaseException:  # Ctrl-C, or a kernel that fails to compile
                _stop(helpers)
                raise
            _wait(helpers, HELPER_TIMEOUT)
        if later:
            k = min(n - 1, len(later))
            shares = [[later[i] for i in sh] for sh in split([entries[i][3] for i in later], k)]
            with _Background.lock:
                procs = _Background.procs = _start_helpers(key, shares)
                _Background.thread = threading.Thread(
                    target=_finish_background, args=(procs,), daemon=True
                )
                _Background.thread.start()
    except BaseException:
        _numba.serial_builds(False)
        raise
    return time.perf_counter() - start


def _helper(payload: str) -> int:
    """A helper process: compile one share of the pending kernels into the cache."""
    job = json.loads(payload)
    entries = _entries(job["key"])
    _compile_all([entries[i] for i in job["entries"]])
    return 0


# ----------------------------------------------------------------------------
# recording the manifest
# ----------------------------------------------------------------------------
class _FirstIteration(Exception):
    pass


def record_one(model: str, serial: bool = False) -> dict:
    """Run ``model``'s first training iteration at the default settings, in this process
    (on serial builds only if ``serial``).

    For a seq2seq model (not on serial builds) the first batch and its first question
    are also decoded, as the evaluation after the first epoch and ``translate`` decode:
    both builds of the decoding kernel are listed, and the helpers compile them in the
    background (:data:`BACKGROUND`), not before the first iteration.

    Returns ``{"key", "compiled": [(name, argtypes, seconds)], "loaded": [name]}``:
    the kernels compiled from Python during that iteration (with their
    compile seconds, helpers included) and the manifest's entries for the key
    found compiled or loaded afterwards.  Meant for a fresh process.
    """
    from numba.core import event

    from fastlstm import _warmup as me
    from fastlstm.api import session, train

    state = {"key": None, "depth": 0, "starts": [], "compiled": []}

    class Listener(event.Listener):
        def on_start(self, ev):
            state["depth"] += 1
            state["starts"].append(time.perf_counter())

        def on_end(self, ev):
            state["depth"] -= 1
            began = state["starts"].pop()
            if state["depth"] or state["key"] is None:
                return
            f = ev.data["dispatcher"].py_func
            name = f"{f.__module__}:{f.__qualname__}"
            if name not in _numba.KERNELS:
                return
            args = [encode_type(t) for t in ev.data["args"]]
            state["compiled"].append((name, args, round(time.perf_counter() - began, 2)))

    def capture(key):
        state["key"] = key
        return 0.0

    step = session.train_step

    def first_step(model, optimizer, x, t, max_grad):
        step(model, optimizer, x, t, max_grad)
        if not serial and hasattr(model, "generate_batch"):
            # the evaluation after the first epoch decodes batches (the parallel build);
            # eval_seq2seq and translate decode one question (the serial build)
            from fastlstm.models import greedy

            model.generate_batch(x, int(t[0, 0]), t.shape[1] - 1)
            if greedy.fused_encoder(model):  # (else the encoder's layers run, on other builds)
                model.generate_batch(x[:1], int(t[0, 0]), t.shape[1] - 1)
        raise _FirstIteration

    listener = Listener()
    event.register("numba:compile", listener)
    _numba.serial_builds(serial)
    saved = me.warm_up, session.train_step
    me.warm_up, session.train_step = capture, first_step
    try:
        with tempfile.TemporaryDirectory() as out:
            try:
                train(model, epochs=1, out=Path(out) / "run", progress=False, verbose=False)
            except _FirstIteration:
                pass
    finally:
        _numba.serial_builds(False)
        me.warm_up, session.train_step = saved
        event.unregister("numba:compile", listener)
    # the run's builds; the decoding kernels (run here on parallel builds only) with the parallel
    wanted = [
        e
        for e in _entries(state["key"])
        if (not serial if _background(e[0]) else (e[0] in _numba.TWINS) != serial)
    ]
    loaded = [name for name, disp, argtypes, _ in wanted if argtypes in disp.overloads]
    return {
        "key": state["key"],
        "compiled": state["compiled"],
        "loaded": loaded,
        "wanted": [e[0] for e in wanted],
    }


def _record(models, out: Path) -> int:
    jobs = {}
    for model in models:
        for mode in ("parallel", "serial"):
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, FASTLSTM_NUMBA_CACHE=cache)
                argv = [sys.executable, "-m", "fastlstm._warmup", "record-one", model]
                proc = subprocess.run(
                    argv + (["--serial"] if mode == "serial" else []),
                    env=env,
                    capture_output=True,
                    text=True,
                )
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                return proc.returncode
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            _, compiled = jobs.setdefault(result["key"], (model, []))
            seen = {(name, tuple(args)) for name, args, _ in compiled}
            compiled += [e for e in result["compiled"] if (e[0], tuple(e[1])) not in seen]
            total = sum(s for _, _, s in result["compiled"])
            print(
                f"{model} ({mode}): {len(result['compiled'])} kernels, {total:.1f} s of compiling"
            )
    lines = [
        '"""Kernels compiled by the first training iteration of ``fastlstm train MODEL``',
        "at its default settings (see :mod:`fastlstm._warmup`).",
        "",
        "Written by ``python -m fastlstm._warmup record``; entries are",
        '``("module:kernel", argument types, compile seconds)``.',
        '"""',
        "",
        "JOBS = {",
    ]
    for key, (model, compiled) in jobs.items():
        lines.append(f"    # {model}")
        lines.append(f"    {key!r}: [")
        for name, args, seconds in compiled:
            lines.append(f"        ({name!r}, {tuple(args)!r}, {seconds!r}),")
        lines.append("    ],")
    lines.append("}")
    out.write_text("\n".join(lines) + "\n")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compile"] and len(argv) == 2:
        return _helper(argv[1])
    if argv[:1] == ["record-one"] and len(argv) in (2, 3):
        print(json.dumps(record_one(argv[1], serial=argv[2:] == ["--serial"])))
        return 0
    if argv[:1] == ["record"]:
        out = Path(__file__).resolve().parent / "_warm_manifest.py"
        return _record(argv[1:] or MODELS, out)
    print(
        "usage: python -m fastlstm._warmup record [MODEL ...]\n"
        "       python -m fastlstm._warmup record-one MODEL [--serial]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
