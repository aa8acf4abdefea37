"""Small helpers of the run API: printing, environment settings, random states, JSON."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from fastlstm import _notebook, config
from fastlstm._validate import check_flag  # noqa: F401  (the API's checks use it from here)
from fastlstm.api.specs import LAST_FILE, RunError
from fastlstm.io import atomic_write


class Printer:
    """Prints progress lines to stdout when ``verbose``; silent otherwise."""

    def __init__(self, verbose: bool = True, file=None):
        self.verbose = bool(verbose)
        self.file = file

    def __call__(self, *args) -> None:
        if self.verbose:
            print(*args, file=self.file or sys.stdout, flush=True)

    @property
    def stream(self):
        """Where the book's Q/T lines go (None when silent)."""
        return (self.file or sys.stdout) if self.verbose else None


@contextlib.contextmanager
def numba_threads(n: int | None):
    """Run the numba kernels on ``n`` threads for the duration of the block."""
    if n is None:
        yield
        return
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    if n > available:
        raise ValueError(f"threads={n} (--threads): only {available} threads are available")
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


@contextlib.contextmanager
def data_dir(path):
    """Point ``FASTLSTM_DATA`` at ``path`` for the duration of the block."""
    if path is None:
        yield
        return
    p = Path(path).expanduser()
    try:
        config.check_data_folder(p, f"data_dir (--data-dir) {path}")
    except FileNotFoundError as exc:
        raise RunError(str(exc)) from None
    old = os.environ.get("FASTLSTM_DATA")
    os.environ["FASTLSTM_DATA"] = str(p.resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("FASTLSTM_DATA", None)
        else:
            os.environ["FASTLSTM_DATA"] = old


def current_data_dir() -> str | None:
    path = config.data_dir()
    return None if path is None else str(path.resolve())


def seeds(seed: int, n: int) -> list[int]:
    """``n`` independent 32-bit seeds derived from ``seed``."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]


def rng_state(rng) -> dict:
    """The state of a ``Generator`` or a ``RandomState``, for a checkpoint."""
    if isinstance(rng, np.random.RandomState):
        return rng.get_state(legacy=False)
    return rng.bit_generator.state


def set_rng_state(rng, state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    if isinstance(rng, np.random.RandomState):
        state = dict(state)
        state["state"] = dict(state["state"], key=np.asarray(state["state"]["key"], np.uint32))
        rng.set_state(state)
    else:
        rng.bit_generator.state = state


def model_generators(model) -> list[np.random.Generator]:
    """The random generators held by the model and its layers (dropout), each once.

    Objects reachable through attributes, lists and tuples are visited depth
    first in attribute order, so the order is the same for every instance of a
    model class.
    """
    found: list[np.random.Generator] = []
    seen: set[int] = set()

    def visit(obj, depth):
        if id(obj) in seen or depth > 4:
            return
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            found.append(obj)
        elif isinstance(obj, list | tuple):
            for item in obj:
                visit(item, depth + 1)
        elif not isinstance(obj, np.ndarray | str | bytes | int | float) and hasattr(
            obj, "__dict__"
        ):
            for value in vars(obj).values():
                visit(value, depth + 1)

    visit(model, 0)
    return found


def restore_generators(model, states, source) -> None:
    gens = model_generators(model)
    states = states or []
    if len(states) != len(gens):
        raise RunError(
            f"{source}: holds {len(states)} random generator states, the model has {len(gens)}"
        )
    for g, s in zip(gens, states):
        g.bit_generator.state = s


def resume_command(name: str, out: Path) -> str:
    """The shell command that continues the run of model ``name`` in folder ``out``."""
    return f"fastlstm train {name} --resume {shlex.quote(str(Path(out) / LAST_FILE))}"


def resume_call(name: str, out: Path) -> str:
    """The Python call that continues the run (what a notebook cell would run)."""
    return f"run = fastlstm.train({name!r}, resume={str(Path(out) / LAST_FILE)!r})"


def evaluate_with(path: Path) -> str:
    """How to evaluate a model file: the Python call in a notebook, the shell command elsewhere."""
    if _notebook.in_kernel():
        return f"fastlstm.evaluate({str(path)!r})"
    return f"fastlstm eval --checkpoint {shlex.quote(str(path))}"


def continue_with(name: str, out: Path) -> str:
    """How to continue a run: the Python call in a notebook, the shell command elsewhere."""
    if _notebook.in_kernel():
        return f"{resume_call(name, out)}  (the run so far: fastlstm.last_run())"
    return resume_command(name, out)


def json_safe(value):
    """JSON-friendly copy: numpy scalars to Python, inf and NaN to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def try_plot(fn, path, *args, **kwargs) -> Path | None:
    """Make a plot; a failure is a warning, not an error (the training is saved)."""
    try:
        return fn(*args, path=path, **kwargs)
    except Exception as exc:  # noqa: BLE001
        _notebook.warn(f"could not save the plot {path}: {exc}", RuntimeWarning)
        return None


def existing_file(path, what: str) -> Path:
    """``path`` as a Path; RunError if it is missing or not a file, TypeError if not a path."""
    p = as_path(path, what)
    if not p.exists():
        raise RunError(f"{what} not found: {path}")
    if not p.is_file():
        raise RunError(f"{what} is not a file: {path}")
    return p


def as_path(path, what: str) -> Path:
    """``path`` (str or os.PathLike) as an expanded Path; TypeError naming ``what`` otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        hint = ""
        if hasattr(path, "best_path") and hasattr(path, "last_path"):  # a Run
            hint = ": give run.best_path (its best model) or run.last_path (to resume)"
        raise TypeError(
            f"{what} must be a path (str or os.PathLike), got {type(path).__name__}{hint}"
        )
    return Path(path).expanduser()


def sha256(path) -> str:
    """Hex sha256 of a file's content (read in 1 MB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
