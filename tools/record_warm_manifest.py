"""Write ``src/fastlstm/_warm_manifest.py``: the kernels the first training iterations compile.

A development script (not part of the installed package)::

    python tools/record_warm_manifest.py [MODEL ...]          # all models by default
    python tools/record_warm_manifest.py record-one MODEL [--serial]

For each model and build (parallel, serial) a fresh process with an empty
scratch kernel cache runs the first iterations of ``fastlstm train MODEL`` at
its default settings, stopped right after the first call of the training step
(the engine's :func:`fastlstm.engine.step.train_step` is swapped for one that
takes two steps and raises), and lists the kernels compiled from Python with their compile
seconds.  :func:`fastlstm._warmup.warm_up` compiles those ahead of a run.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from numba.core import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # this checkout's package

from fastlstm import _numba, _warmup  # noqa: E402
from fastlstm.api import train  # noqa: E402
from fastlstm.engine import step as engine_step  # noqa: E402

MANIFEST = Path(__file__).resolve().parent.parent / "src" / "fastlstm" / "_warm_manifest.py"


class _FirstIteration(Exception):
    pass


def record_one(model: str, serial: bool = False) -> dict:
    """Run ``model``'s first two training iterations at the default settings, in this process
    (on serial builds only if ``serial``).

    For a seq2seq model (not on serial builds) the first batch and its first question
    are also decoded, as the evaluation after the first epoch and ``translate`` decode:
    both builds of the decoding kernel are listed, and the helpers compile them in the
    background (:data:`fastlstm._warmup.BACKGROUND`), not before the first iteration.

    Returns ``{"key", "compiled": [(name, argtypes, seconds)], "loaded": [name]}``:
    the kernels compiled from Python during that iteration (with their
    compile seconds, helpers included) and the manifest's entries for the key
    found compiled or loaded afterwards.  Meant for a fresh process.
    """
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
            args = [_warmup.encode_type(t) for t in ev.data["args"]]
            state["compiled"].append((name, args, round(time.perf_counter() - began, 2)))

    def capture(key):
        state["key"] = key
        return 0.0

    step = engine_step.train_step

    def first_step(model, optimizer, x, t, max_grad=None):
        # two steps: from the second on, a forward follows a backward (the language
        # models' output layer then writes its gradient in the forward pass)
        step(model, optimizer, x, t, max_grad)
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
    saved = _warmup.warm_up, engine_step.train_step
    _warmup.warm_up, engine_step.train_step = capture, first_step
    try:
        with tempfile.TemporaryDirectory() as out:
            try:
                train(model, epochs=1, out=Path(out) / "run", progress=False, verbose=False)
            except _FirstIteration:
                pass
    finally:
        _numba.serial_builds(False)
        _warmup.warm_up, engine_step.train_step = saved
        event.unregister("numba:compile", listener)
    # the run's builds; the decoding kernels (run here on parallel builds only) with the parallel
    wanted = [
        e
        for e in _warmup._entries(state["key"])
        if (not serial if _warmup._background(e[0]) else (e[0] in _numba.TWINS) != serial)
    ]
    loaded = [name for name, disp, argtypes, _ in wanted if argtypes in disp.overloads]
    return {
        "key": state["key"],
        "compiled": state["compiled"],
        "loaded": loaded,
        "wanted": [e[0] for e in wanted],
    }


def _model_of(key: str) -> str:
    return json.loads(key)["model"]


def _existing(path: Path) -> dict:
    """The ``JOBS`` of a manifest, read as a literal (nothing in it is run)."""
    if not path.exists():
        return {}
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["JOBS"]:
            jobs = ast.literal_eval(node.value)
            return {
                key: (_model_of(key), [list(e) for e in entries]) for key, entries in jobs.items()
            }
    return {}


def _record(models, out: Path) -> int:
    jobs = {}
    for model in models:
        for mode in ("parallel", "serial"):
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, FASTLSTM_NUMBA_CACHE=cache)
                argv = [sys.executable, str(Path(__file__).resolve()), "record-one", model]
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
    # the models not recorded now keep their entries
    kept = {k: v for k, v in _existing(out).items() if v[0] not in models}
    order = {m: i for i, m in enumerate(_warmup.MODELS)}
    jobs = dict(sorted({**kept, **jobs}.items(), key=lambda kv: order.get(kv[1][0], len(order))))
    lines = [
        '"""Kernels compiled by the first two training iterations of ``fastlstm train MODEL``',
        "at its default settings (see :mod:`fastlstm._warmup`).",
        "",
        "Written by ``python tools/record_warm_manifest.py``; entries are",
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
    usage = (
        "usage: python tools/record_warm_manifest.py [MODEL ...]\n"
        "       python tools/record_warm_manifest.py record-one MODEL [--serial]\n"
        f"MODEL: {', '.join(_warmup.MODELS)} (all by default; the others keep their entries)"
    )
    if argv[:1] in (["-h"], ["--help"]):
        print(usage)
        return 0
    one = argv[:1] == ["record-one"]
    models = argv[1:2] if one else argv
    unknown = [m for m in models if m not in _warmup.MODELS]
    if unknown or (one and (len(argv) < 2 or argv[2:] not in ([], ["--serial"]))):
        problem = f"unknown model(s): {', '.join(unknown)}\n" if unknown else ""
        print(problem + usage, file=sys.stderr)
        return 2
    if one:
        print(json.dumps(record_one(argv[1], serial=argv[2:] == ["--serial"])))
        return 0
    return _record(models or _warmup.MODELS, MANIFEST)


if __name__ == "__main__":
    sys.exit(main())
