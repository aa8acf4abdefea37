"""Compiling a training run's kernels in several processes at once, the first time.

The first iteration of a training run compiles about twenty kernels one after
another (some 20 s on a 2-core machine).  For the runs ``fastlstm train MODEL``
makes with its default settings, the kernels and argument types that first
iteration compiles are listed in :mod:`fastlstm._warm_manifest`.  When the
kernel cache lacks some of them, :func:`warm_up` compiles them before the
first iteration, split over this process and helper processes (one per further
CPU, at most :data:`MAX_PROCESSES` in all).  Every process writes what it
compiled to the kernel cache, from which the run then loads it; the machine
code is the same as that of a kernel compiled in the run itself.

Nothing happens when the cache already holds every listed kernel, when it
cannot be written (kernels are then compiled in memory, one process only), on a
machine with one CPU, or for settings other than the recorded ones (the run
then compiles what it needs as it goes).

The manifest is written by ``python -m fastlstm._warmup record [MODEL ...]``,
which runs each model's first iteration with an empty scratch cache and lists
the kernels compiled from Python (helpers compiled into them come along).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def _entries(key: str):
    """``[(name, dispatcher, argtypes, seconds)]`` listed for ``key`` (empty if none)."""
    import importlib

    from fastlstm import _numba
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
    lightest share); shares 1.. are for helpers and start :data:`HELPER_START` behind."""
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


def _processes() -> int:
    return max(1, min(MAX_PROCESSES, os.cpu_count() or 1))


def _cache_writable() -> bool:
    from fastlstm import _numba

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

    Returns the seconds spent (0.0 when there was nothing to do).  A helper
    that fails or times out is ignored: the run compiles what is missing.
    """
    from fastlstm import _numba

    try:
        entries = _entries(key)
    except Exception as exc:  # pragma: no cover - a broken manifest must not stop a run
        _log.debug("fastlstm: no warm-up (%r)", exc)
        return 0.0
    pending = [i for i, e in enumerate(entries) if not _numba.cache_index_has(e[1], e[2])]
    n = min(_processes(), len(pending))
    if n < 2 or not _cache_writable():
        return 0.0
    start = time.perf_counter()
    shares = [[pending[i] for i in share] for share in split([entries[i][3] for i in pending], n)]
    helpers = []
    try:
        for share in shares[1:]:
            payload = json.dumps({"key": key, "entries": share})
            helpers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "fastlstm._warmup", "compile", payload],
                    env=_helper_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        _compile_all([entries[i] for i in shares[0]])
        deadline = time.perf_counter() + HELPER_TIMEOUT
        for proc in helpers:
            try:
                code = proc.wait(timeout=max(0.0, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired:
                code = None
            if code != 0:
                _log.debug("fastlstm: a kernel-compiling helper ended with %s", code)
    finally:
        for proc in helpers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
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


def record_one(model: str) -> dict:
    """Run ``model``'s first training iteration at the default settings, in this process.

    Returns ``{"key", "compiled": [(name, argtypes, seconds)], "loaded": [name]}``:
    the kernels compiled from Python during that iteration (with their
    compile seconds, helpers included) and the manifest's entries for the key
    found compiled or loaded afterwards.  Meant for a fresh process.
    """
    from numba.core import event

    from fastlstm import _numba
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

    def first_step(*args, **kwargs):
        step(*args, **kwargs)
        raise _FirstIteration

    listener = Listener()
    event.register("numba:compile", listener)
    saved = me.warm_up, session.train_step
    me.warm_up, session.train_step = capture, first_step
    try:
        with tempfile.TemporaryDirectory() as out:
            try:
                train(model, epochs=1, out=Path(out) / "run", progress=False, verbose=False)
            except _FirstIteration:
                pass
    finally:
        me.warm_up, session.train_step = saved
        event.unregister("numba:compile", listener)
    loaded = [
        name for name, disp, argtypes, _ in _entries(state["key"]) if argtypes in disp.overloads
    ]
    return {"key": state["key"], "compiled": state["compiled"], "loaded": loaded}


def _record(models, out: Path) -> int:
    jobs = {}
    for model in models:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, FASTLSTM_NUMBA_CACHE=cache)
            proc = subprocess.run(
                [sys.executable, "-m", "fastlstm._warmup", "record-one", model],
                env=env,
                capture_output=True,
                text=True,
            )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        jobs[result["key"]] = (model, result["compiled"])
        total = sum(s for _, _, s in result["compiled"])
        print(f"{model}: {len(result['compiled'])} kernels, {total:.1f} s of compiling")
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
    if argv[:1] == ["record-one"] and len(argv) == 2:
        print(json.dumps(record_one(argv[1])))
        return 0
    if argv[:1] == ["record"]:
        out = Path(__file__).resolve().parent / "_warm_manifest.py"
        return _record(argv[1:] or MODELS, out)
    print(
        "usage: python -m fastlstm._warmup record [MODEL ...]\n"
        "       python -m fastlstm._warmup record-one MODEL",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
