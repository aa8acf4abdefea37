"""Compiling a training run's kernels in several processes at once, the first time.

The first iteration of a training run compiles about twenty kernels one after
another (some 20 s on a 2-core machine).  For the runs ``fastlstm train MODEL``
makes with its default settings, the kernels and argument types that first
iteration compiles are listed in :mod:`fastlstm._warm_manifest`: those of a
normal run and those of a run on serial builds only.  When the kernel cache
lacks some of them, :func:`warm_up` works in two phases:

1. The serial builds (which compile in about half the time of the parallel
   ones) are compiled before the first iteration by this process and helper
   processes (one per further CPU, at most :data:`MAX_PROCESSES` in all), each
   taking the next kernel, longest first, as soon as it is free
   (:func:`_compile_claimed`).  The run then starts on them
   (:func:`fastlstm._numba.serial_builds`).
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

The manifest is written by ``python tools/record_warm_manifest.py [MODEL ...]``
(a development script, not part of the package), which runs each model's first
iteration with an empty scratch cache and lists the kernels compiled from
Python (helpers compiled into them come along).
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numba

from fastlstm import _numba, config
from fastlstm._warm_manifest import JOBS

_log = logging.getLogger("fastlstm")

#: Processes compiling at once, this one included.
MAX_PROCESSES = 4

#: Seconds to wait for the helper processes; after that the run compiles the rest.
HELPER_TIMEOUT = 600.0

#: The models the manifest lists (those of ``fastlstm train``).
MODELS = ("simple-rnnlm", "rnnlm", "better-rnnlm", "seq2seq", "peeky", "attention", "attention-bi")

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


# ----------------------------------------------------------------------------
# argument types as short strings: "float32[2C]" is a 2-d C-contiguous array
# ----------------------------------------------------------------------------
_SCALARS = ("int64", "int32", "float32", "float64", "bool", "uint8", "uint32", "uint64")


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
    return json.dumps(
        {"model": model, "config": dict(config), "batch": [int(b) for b in batch]},
        sort_keys=True,
        default=_python_scalar,
    )


def _python_scalar(value):
    """NumPy scalars as Python ones, for :func:`json.dumps`."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


#: Modules whose kernels the first training iteration does not run (greedy decoding, first
#: run by the evaluation after the first epoch): both their builds compile in the background.
BACKGROUND = ("fastlstm._kernels.decode:", "fastlstm.models.greedy:")


def _background(name: str) -> bool:
    return name.startswith(BACKGROUND)


def _entries(key: str):
    """``[(name, dispatcher, argtypes, seconds)]`` listed for ``key`` (empty if none)."""
    out = []
    for name, argtypes, seconds in JOBS.get(key, ()):
        module = name.partition(":")[0]
        importlib.import_module(module)
        dispatcher = _numba.KERNELS.get(name)
        if dispatcher is None:  # the manifest is older than the code: skip the entry
            continue
        out.append((name, dispatcher, tuple(decode_type(t) for t in argtypes), seconds))
    return out


def split(seconds: list[float], n: int) -> list[list[int]]:
    """Indices of ``seconds`` in ``n`` shares of about equal sums (longest first, to the
    lightest share), for the helpers that compile the parallel builds in the background."""
    shares: list[list[int]] = [[] for _ in range(n)]
    load = [0.0] * n
    for i in sorted(range(len(seconds)), key=lambda i: (-seconds[i], i)):
        j = min(range(n), key=lambda j: (load[j], j))
        shares[j].append(i)
        load[j] += seconds[i]
    return shares


def _compile_all(entries) -> None:
    for _name, dispatcher, argtypes, _ in entries:
        dispatcher.compile(argtypes)


def _compile_claimed(entries, claims: str) -> None:
    """Compile those of ``entries`` (indices into the key's, in order) that no other
    process has claimed: a process claims an entry by creating the file of its index in
    the folder ``claims`` (creation fails if it exists), so every entry is compiled once
    and a process takes the next one as soon as it is free, however long each takes."""
    for i, entry in entries:
        try:
            fd = os.open(os.path.join(claims, str(i)), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.close(fd)
        _compile_all([entry])


def _start_helpers(key: str, shares: list[list[int]], claims: str | None = None):
    """One helper process per share (indices into the key's entries), compiling all of
    it, or with ``claims`` the entries no other process has claimed
    (:func:`_compile_claimed`)."""
    procs = []
    try:
        for share in shares:
            payload = json.dumps({"key": key, "entries": share, "claims": claims})
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
    """Processes compiling at once: no more than the kernels' threads (``--threads 1``: one)."""
    return max(1, min(MAX_PROCESSES, os.cpu_count() or 1, numba.get_num_threads()))


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
            order = sorted(now, key=lambda i: (-entries[i][3], i))  # longest first
            claims = _claims_folder()
            try:
                helpers = _start_helpers(key, [order] * (min(n, len(now)) - 1), claims)
                try:
                    # what the run's kernels link to (the long products' C function) is
                    # built, or loaded, here while the helpers compile
                    _numba.link_pending()
                    _compile_claimed([(i, entries[i]) for i in order], claims)
                except BaseException:  # Ctrl-C, or a kernel that fails to compile
                    _stop(helpers)
                    raise
                _wait(helpers, HELPER_TIMEOUT)
            finally:
                shutil.rmtree(claims, ignore_errors=True)
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


def _claims_folder() -> str:
    """A new folder for the claims of :func:`_compile_claimed` (the system's temporary
    folder, else the kernel cache, which a warm-up can write)."""
    try:
        return tempfile.mkdtemp(prefix="fastlstm-warmup-")
    except OSError:
        return tempfile.mkdtemp(prefix=".warmup-", dir=_numba.kernel_cache_dir())


def _exit_with(parent: int) -> None:
    """End this helper when the process that started it is gone (killed, not waited for)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _helper(payload: str) -> int:
    """A helper process: compile one share of the pending kernels into the cache."""
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    _numba.set_compile_only()  # what the kernels link to is built by the run, not here
    job = json.loads(payload)
    entries = _entries(job["key"])
    if job.get("claims"):
        _compile_claimed([(i, entries[i]) for i in job["entries"]], job["claims"])
    else:
        _compile_all([entries[i] for i in job["entries"]])
    return 0


def main(argv=None) -> int:
    """``python -m fastlstm._warmup compile PAYLOAD``: a helper process of :func:`warm_up`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compile"] and len(argv) == 2:
        return _helper(argv[1])
    print(
        "usage: python -m fastlstm._warmup compile PAYLOAD  (a helper of warm_up; the "
        "manifest is written by tools/record_warm_manifest.py)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    code = main()
    # what it compiled is in the cache (every file written and closed); the run waits for
    # this process to end, not for the interpreter's teardown (about 0.3 s)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
