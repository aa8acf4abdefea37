"""Parameter files and training checkpoints.

Two formats are read:

* the package's own format, a NumPy ``.npz`` archive written by :func:`save_params`
  or :func:`save_checkpoint`: one array per parameter (``param_000``,
  ``param_001``, ...) plus a JSON metadata entry.  It is loaded with
  ``allow_pickle=False`` and keeps the full precision of the parameters;
* the book's ``save_params`` files (a pickled list of float16 arrays), read by
  :func:`read_book_pkl` with a restricted unpickler that can build NumPy arrays
  and nothing else, so a hostile file cannot run code.

Every write goes through :func:`atomic_write`: a crash never leaves a half-written
file behind and never destroys the previous version, and the temporary file of a
save that was killed is removed by the next save to the same folder.  Problems with a file's
content raise :class:`CheckpointError` (a :class:`ValueError`) with a message
naming the file and what is wrong.

Examples
--------
>>> from fastlstm import io                                        # doctest: +SKIP
>>> io.save_params(model.params, "rnnlm.npz", model_class="Rnnlm")  # doctest: +SKIP
>>> io.load_into(model.params, io.load_any("Rnnlm.pkl"), "Rnnlm.pkl")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io as _stdio
import json
import os
import pickle
import re
import tempfile
import time
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "CheckpointError",
    "Checkpoint",
    "atomic_write",
    "remove_stale_temp_files",
    "save_params",
    "load_params",
    "read_book_pkl",
    "write_book_pkl",
    "load_into",
    "save_checkpoint",
    "load_checkpoint",
    "load_any",
    "read_params_meta",
    "download",
]

PARAMS_FORMAT = "fastlstm-params"
CHECKPOINT_FORMAT = "fastlstm-checkpoint"
FORMAT_VERSION = 1

_META_KEY = "__meta__"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_PICKLE_PROTO = 0x80

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A parameter or checkpoint file is corrupt, truncated, foreign or does not fit the model."""


def _require_file(path: Path) -> None:
    """Raise ``FileNotFoundError`` / ``IsADirectoryError`` unless ``path`` is a regular file."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a parameter or checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")


# --------------------------------------------------------------------------- #
# atomic writes and downloads
# --------------------------------------------------------------------------- #
#: Suffix of the temporary files of :func:`atomic_write`; their names are
#: ``.<name>.<host>-<pid>.<random>`` followed by it.
TEMP_SUFFIX = ".fastlstm-tmp"
#: A temporary file older than this (seconds) is stale even if its process id
#: is in use (process ids are reused).
STALE_TEMP_AGE = 24 * 3600.0
_TEMP_RE = re.compile(r"^\..+\.([A-Za-z0-9-]*)-(\d+)\.[^.]+" + re.escape(TEMP_SUFFIX) + "$")


def _writer_tag() -> str:
    """``<host>-<pid>`` of this process, for the names of temporary files."""
    import socket

    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]
    return f"{host}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell: rely on the age
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists
        return True
    return True


def remove_stale_temp_files(directory: PathLike) -> list[Path]:
    """Remove the temporary files that killed saves left in ``directory``.

    A save that is killed (``SIGKILL``, power loss) cannot remove its
    temporary file.  :func:`atomic_write` calls this before every save: a
    temporary file of :func:`atomic_write` is removed when the process that
    wrote it (on this host) no longer runs, or when it is older than
    :data:`STALE_TEMP_AGE`.  Temporary files of running saves, and recent ones
    written from other hosts (a shared file system), are left alone.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    this_host = _writer_tag().rsplit("-", 1)[0]
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_AGE
            here = match.group(1) == this_host
            if old or (here and not _pid_alive(int(match.group(2)))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # removed meanwhile, or not ours to remove
    return removed


def atomic_write(path: PathLike, write_fn: Callable[[IO[bytes]], Any]) -> Path:
    """Write a file atomically.

    ``write_fn`` receives a binary file object opened on a temporary file in the
    same directory as ``path``.  When it returns, the data are flushed and
    ``fsync``-ed and the temporary file replaces ``path`` with :func:`os.replace`.
    If ``write_fn`` raises, the temporary file is removed and ``path`` (if it
    existed) is left untouched.  Temporary files left in the directory by
    saves that were killed are removed first (:func:`remove_stale_temp_files`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.  Its directory must exist.
    write_fn : callable
        ``write_fn(f)`` writes the content to the binary file object ``f``.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    remove_stale_temp_files(directory)
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix=f".{path.name}.{_writer_tag()}.", suffix=TEMP_SUFFIX
    )
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # make the rename itself durable (best effort: not every platform allows it)
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def download(url: str, path: PathLike, *, desc: str | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``path`` atomically, with a progress bar.

    Parameters
    ----------
    url : str
        Address to fetch.
    path : str or os.PathLike
        Destination file; its directory is created if needed.
    desc : str, optional
        Label of the progress bar (default: the file name).
    timeout : float, default 30
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    OSError
        If the download fails (``urllib.error.URLError`` is an ``OSError``).
    """
    from tqdm.auto import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(f: IO[bytes]) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            total = response.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                desc=desc or path.name,
                leave=False,
            ) as bar:
                while chunk := response.read(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))

    return atomic_write(path, write)


# --------------------------------------------------------------------------- #
# JSON metadata (numpy scalars/arrays allowed, tagged so they round-trip)
# --------------------------------------------------------------------------- #
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"cannot store an array of dtype {obj.dtype} in JSON metadata")
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def _json_hook(obj: dict) -> Any:
    if "__ndarray__" in obj and "dtype" in obj:
        arr = np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
        return arr.reshape(obj.get("shape", arr.shape))
    return obj


def _dump_meta(meta: dict, what: str) -> np.ndarray:
    try:
        text = json.dumps(meta, default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from None
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _to_array(value: Any, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a numeric array, got dtype {arr.dtype}")
    return arr


# --------------------------------------------------------------------------- #
# npz reading helpers
# --------------------------------------------------------------------------- #
_NPZ_ERRORS = (
    zipfile.BadZipFile,
    RuntimeError,  # an encrypted entry; also NotImplementedError (unknown compression)
    MemoryError,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    UnicodeDecodeError,
)


def _check_member_sizes(path: Path) -> dict[str, tuple[int, ...]]:
    """Refuse members whose ``.npy`` header promises more data than the member holds.

    NumPy allocates the array its header describes before reading the data,
    so a crafted header could ask for any amount of memory.  Returns the
    declared shape of every member (name without ``.npy``).
    """
    fmt = np.lib.format
    shapes = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(f)
                else:
                    shape, _, dtype = fmt.read_array_header_2_0(f)
                header = f.tell()
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need > info.file_size - header:
                raise CheckpointError(
                    f"{path}: entry {info.filename!r} declares shape {tuple(shape)} "
                    f"({need} bytes) but holds {info.file_size - header} bytes "
                    "(truncated or crafted file)"
                )
            shapes[info.filename[: -len(".npy")]] = tuple(int(d) for d in shape)
    return shapes


def _open_checked(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Members and metadata of a fastlstm file, shapes checked before the arrays are read.

    The metadata is read first; the shapes the members' headers declare must
    equal the shapes it records, so no array is allocated for a file whose
    parts disagree.
    """
    _check_magic(path, want="npz")
    meta = _read_meta(_open_npz(path, only=_META_KEY), path)
    try:
        declared = _check_member_sizes(path)
    except CheckpointError:
        raise
    except _NPZ_ERRORS as exc:
        raise CheckpointError(
            f"{path} is not a readable fastlstm .npz file: {type(exc).__name__}: {exc}"
        ) from None
    try:
        shapes = [tuple(int(d) for d in s) for s in meta["params"]["shapes"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed parameter metadata ({exc!r})") from None
    for i, shape in enumerate(shapes):
        got = declared.get(f"param_{i:03d}")
        if got is not None and got != shape:
            raise CheckpointError(
                f"{path}: parameter {i} is stored with shape {got}, metadata says {shape}"
            )
    return _open_npz(path), meta


def _open_npz(path: Path, only: str | None = None) -> dict[str, np.ndarray]:
    """Read every member (or only the one named ``only``) of an npz file (no pickle).

    Errors of any kind are raised as :class:`CheckpointError`.
    """
    _require_file(path)
    try:
        _check_member_sizes(path)
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            raise CheckpointError(f"{path} is a single .npy array, not a fastlstm .npz file")
        with loaded as npz:
            names = [n for n in npz.files if only is None or n == only]
            return {name: npz[name] for name in names}
    except CheckpointError:
        raise
    except _NPZ_ERRORS as exc:
        raise CheckpointError(
            f"{path} is not a readable fastlstm .npz file (corrupt or truncated?): "
            f"{type(exc).__name__}: {exc}"
        ) from None


def _read_meta(members: Mapping[str, np.ndarray], path: Path) -> dict:
    raw = members.get(_META_KEY)
    if raw is None:
        raise CheckpointError(f"{path} has no '{_META_KEY}' entry: not a fastlstm file")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: metadata entry has dtype {raw.dtype}, expected uint8 bytes")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), object_hook=_json_hook)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: metadata is not valid JSON: {exc}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: metadata is nested too deeply") from None
    if not isinstance(meta, dict) or meta.get("format") not in (PARAMS_FORMAT, CHECKPOINT_FORMAT):
        raise CheckpointError(f"{path}: unknown format {meta.get('format')!r}")
    version = meta.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version!r} is not supported (this fastlstm reads <= "
            f"{FORMAT_VERSION}); upgrade fastlstm"
        )
    return meta


def _param_entries(params: Sequence[Any]) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays to store for a params list, storing identical objects (tied params) once."""
    if isinstance(params, np.ndarray) or not isinstance(params, Sequence):
        raise TypeError(f"params must be a list of arrays, got {type(params).__name__}")
    arrays: dict[str, np.ndarray] = {}
    tied: list[list[int]] = []
    first: dict[int, int] = {}
    for i, p in enumerate(params):
        if id(p) in first and params[first[id(p)]] is p:
            tied.append([i, first[id(p)]])
            continue
        first[id(p)] = i
        arrays[f"param_{i:03d}"] = _to_array(p, f"params[{i}]")
    info = {
        "count": len(params),
        "shapes": [list(np.shape(p)) for p in params],
        "dtypes": [np.asarray(p).dtype.str for p in params],
        "tied": tied,
    }
    return arrays, info


def _params_from(members: Mapping[str, np.ndarray], info: dict, path: Path) -> list[np.ndarray]:
    try:
        count = int(info["count"])
        tied = {int(i): int(j) for i, j in info.get("tied", [])}
        shapes = [tuple(s) for s in info["shapes"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed parameter metadata ({exc})") from None
    out: list[np.ndarray] = []
    for i in range(count):
        if i in tied:
            j = tied[i]
            if not 0 <= j < i:
                raise CheckpointError(f"{path}: tied parameter {i} refers to invalid index {j}")
            out.append(out[j])
            continue
        key = f"param_{i:03d}"
        if key not in members:
            raise CheckpointError(f"{path}: parameter {i} ('{key}') is missing (truncated file?)")
        arr = members[key]
        if i < len(shapes) and arr.shape != shapes[i]:
            raise CheckpointError(
                f"{path}: parameter {i} has shape {arr.shape}, metadata says {shapes[i]}"
            )
        out.append(arr)
    return out


def _write_npz(path: PathLike, arrays: dict[str, np.ndarray]) -> Path:
    return atomic_write(path, lambda f: np.savez(f, **arrays))


# --------------------------------------------------------------------------- #
# parameters
# --------------------------------------------------------------------------- #
def save_params(
    params: Sequence[np.ndarray],
    path: PathLike,
    *,
    model_class: str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> Path:
    """Save a list of parameter arrays in fastlstm's ``.npz`` format (full precision).

    Parameters
    ----------
    params : list of numpy.ndarray
        The model's ``params`` in order.  An array that appears several times
        (tied weights, same object) is stored once and restored as one object.
    path : str or os.PathLike
        Destination; written atomically.  No suffix is added.
    model_class : str, optional
        Name of the model class, stored in the metadata.
    model_kwargs : dict, optional
        Constructor arguments of the model (JSON-serialisable), stored in the metadata.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    arrays, info = _param_entries(params)
    meta = {
        "format": PARAMS_FORMAT,
        "version": FORMAT_VERSION,
        "params": info,
        "model_class": model_class,
        "model_kwargs": dict(model_kwargs) if model_kwargs is not None else None,
    }
    arrays[_META_KEY] = _dump_meta(meta, "model_kwargs")
    return _write_npz(path, arrays)


def read_params_meta(path: PathLike) -> dict:
    """Return the JSON metadata of a fastlstm ``.npz`` file (format, shapes, model class ...)."""
    path = Path(path)
    _check_magic(path, want="npz")
    return _read_meta(_open_npz(path, only=_META_KEY), path)


def load_params(path: PathLike) -> list[np.ndarray]:
    """Load the parameter arrays of a file written by :func:`save_params` or :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
        A fastlstm ``.npz`` file.

    Returns
    -------
    list of numpy.ndarray
        The arrays in the saved order, with their saved dtypes.

    Raises
    ------
    CheckpointError
        If the file is not a readable fastlstm file (use :func:`load_any` for the
        book's ``.pkl`` files).
    """
    path = Path(path)
    members, meta = _open_checked(path)
    return _params_from(members, meta.get("params", {}), path)


# --------------------------------------------------------------------------- #
# the book's pickles
# --------------------------------------------------------------------------- #
def _latin1_encode(text: Any, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use to store bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError(f"unexpected _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    core = getattr(np, "_core", None)
    if core is None:  # numpy < 2
        core = np.core
    multiarray = core.multiarray
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{mod}.multiarray", "scalar")] = multiarray.scalar
        frombuffer = getattr(core.numeric, "_frombuffer", None)
        if frombuffer is not None:  # pickle protocol 5 out-of-band arrays
            allowed[(f"{mod}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can only build numpy arrays, dtypes and scalars."""

    def __init__(self, file: IO[bytes], source: str):
        super().__init__(file)
        self._source = source
        self._allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"{self._source}: refusing to load forbidden global '{module}.{name}' "
                "(only numpy arrays are allowed in a parameter pickle)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(
            f"{self._source}: persistent ids are not allowed in a parameter pickle"
        )


def write_book_pkl(params: Sequence[np.ndarray], path: PathLike) -> Path:
    """Write parameters as the book's ``save_params`` does: a pickled list of float16 arrays.

    The book's own ``load_params`` (and :func:`read_book_pkl`) read it back.
    float16 keeps about three significant digits; use :func:`save_params`
    (``.npz``) for full precision.

    Parameters
    ----------
    params : list of numpy.ndarray
        The model's ``params`` in order (tied entries are written once each, as
        the book does).
    path : str or os.PathLike
        Destination, written atomically.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    TypeError
        If ``params`` is not a list of numeric arrays.
    """
    if isinstance(params, np.ndarray) or not all(isinstance(p, np.ndarray) for p in params):
        raise TypeError("params must be a list of numpy arrays")
    if any(p.dtype.kind not in "fiu" for p in params):
        raise TypeError("params must be numeric arrays")
    arrays = [np.ascontiguousarray(p, dtype=np.float16) for p in params]
    return atomic_write(path, lambda f: pickle.dump(arrays, f))


def read_book_pkl(path: PathLike) -> list[np.ndarray]:
    """Read a parameter file written by the book's ``BaseModel.save_params``.

    The file is a pickled list of numpy arrays (float16 in the book).  It is read
    with a restricted unpickler that can construct numpy arrays and nothing else:
    no code from the file is ever executed.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pkl`` file.

    Returns
    -------
    list of numpy.ndarray
        The arrays as stored (float16 for the book's files).

    Raises
    ------
    CheckpointError
        If the pickle references anything but numpy arrays, is corrupt or
        truncated, or does not hold a list of numeric arrays.
    """
    path = Path(path)
    _require_file(path)
    data = path.read_bytes()
    try:
        obj = _ArrayUnpickler(_stdio.BytesIO(data), str(path)).load()
    except CheckpointError:
        raise
    except Exception as exc:  # any unpickling failure of untrusted bytes
        raise CheckpointError(
            f"{path} is not a readable pickle of numpy arrays (corrupt or truncated?): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(obj, list | tuple):
        raise CheckpointError(
            f"{path} holds a {type(obj).__name__}, expected a list of numpy arrays"
        )
    out = []
    for i, arr in enumerate(obj):
        if not isinstance(arr, np.ndarray):
            raise CheckpointError(
                f"{path}: item {i} is a {type(arr).__name__}, expected a numpy array"
            )
        if arr.dtype.kind not in "biuf":
            raise CheckpointError(f"{path}: item {i} has non-numeric dtype {arr.dtype}")
        out.append(arr)
    return out


# --------------------------------------------------------------------------- #
# copying into a model
# --------------------------------------------------------------------------- #
def load_into(
    params: Sequence[np.ndarray], arrays: Sequence[np.ndarray], source: Any = "<arrays>"
) -> None:
    """Copy loaded arrays into a model's parameters, in place.

    Parameters
    ----------
    params : list of numpy.ndarray
        The model's ``params`` list, as the model holds it (tied weights may
        appear more than once, as the same object or as views).
    arrays : list of numpy.ndarray
        Arrays in the same order, e.g. from :func:`load_any`.  They are cast to
        each parameter's dtype (``param[...] = array``).
    source : str or os.PathLike, optional
        Name of the file, used in error messages.

    Raises
    ------
    CheckpointError
        If the number of arrays or any shape differs from the model's, or if a
        parameter listed twice (tied) receives two different arrays.  Nothing
        is copied in that case.
    """
    if len(arrays) != len(params):
        raise CheckpointError(
            f"{source}: holds {len(arrays)} arrays but the model has {len(params)} parameters"
        )
    first: dict[int, int] = {}
    todo: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (param, arr) in enumerate(zip(params, arrays, strict=True)):
        if not isinstance(param, np.ndarray):
            raise TypeError(f"params[{i}] must be a numpy array, got {type(param).__name__}")
        arr = np.asarray(arr)
        if arr.shape != param.shape:
            raise CheckpointError(
                f"{source}: parameter {i} has shape {arr.shape}, the model expects {param.shape}"
            )
        j = first.get(id(param))
        if j is not None and params[j] is param:
            if not np.array_equal(np.asarray(arrays[j]), arr):
                raise CheckpointError(
                    f"{source}: parameters {j} and {i} are tied in the model but differ in the file"
                )
            continue
        first[id(param)] = i
        todo.append((param, arr))
    for param, arr in todo:
        param[...] = arr


# --------------------------------------------------------------------------- #
# checkpoints
# --------------------------------------------------------------------------- #
@dataclass
class Checkpoint:
    """Content of a training checkpoint written by :func:`save_checkpoint`.

    Attributes
    ----------
    params : list of numpy.ndarray
        Model parameters, full precision.
    optimizer_state : dict
        Optimizer state: lists of arrays (e.g. Adam's ``m``, ``v``) and scalars.
    epoch : int
        Number of completed epochs.
    rng_state : dict or None
        ``Generator.bit_generator.state`` to restore with
        ``rng.bit_generator.state = ckpt.rng_state``.
    extra : dict
        Free-form JSON metadata (losses, hyper-parameters ...).
    model_class : str or None
        Name of the model class, if it was given.
    model_kwargs : dict or None
        Constructor arguments of the model, if they were given.
    """

    params: list[np.ndarray]
    optimizer_state: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    rng_state: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    model_class: str | None = None
    model_kwargs: dict[str, Any] | None = None


def save_checkpoint(
    path: PathLike,
    *,
    params: Sequence[np.ndarray],
    optimizer_state: Mapping[str, Any] | None = None,
    epoch: int = 0,
    rng_state: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    model_class: str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> Path:
    """Save a training checkpoint (``.npz``, no pickle, written atomically).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    params : list of numpy.ndarray
        Model parameters (tied entries stored once).
    optimizer_state : dict, optional
        Maps names to a list/tuple of arrays (or None entries), a single array,
        or a JSON scalar (``lr``, ``iter``, ...).
    epoch : int, default 0
        Completed epochs.
    rng_state : dict, optional
        ``numpy.random.Generator.bit_generator.state``.
    extra : dict, optional
        Any JSON-serialisable metadata (numpy scalars and small arrays allowed).
    model_class, model_kwargs : optional
        Model class name and constructor arguments.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer):
        raise TypeError(f"epoch must be an int, got {type(epoch).__name__}")
    arrays, info = _param_entries(params)
    opt_meta: dict[str, Any] = {}
    for name, value in dict(optimizer_state or {}).items():
        if not isinstance(name, str):
            raise TypeError(f"optimizer_state keys must be str, got {name!r}")
        if isinstance(value, list | tuple):
            kinds = []
            for k, item in enumerate(value):
                if item is None:
                    kinds.append(None)
                    continue
                arrays[f"opt/{name}/{k:03d}"] = _to_array(item, f"optimizer_state[{name!r}][{k}]")
                kinds.append("array")
            opt_meta[name] = {"kind": "list", "items": kinds}
        elif isinstance(value, np.ndarray):
            arrays[f"opt/{name}"] = _to_array(value, f"optimizer_state[{name!r}]")
            opt_meta[name] = {"kind": "array"}
        else:
            opt_meta[name] = {"kind": "value", "value": value}
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": FORMAT_VERSION,
        "params": info,
        "optimizer": opt_meta,
        "epoch": int(epoch),
        "rng_state": dict(rng_state) if rng_state is not None else None,
        "extra": dict(extra or {}),
        "model_class": model_class,
        "model_kwargs": dict(model_kwargs) if model_kwargs is not None else None,
    }
    arrays[_META_KEY] = _dump_meta(meta, "optimizer_state scalars, rng_state and extra")
    return _write_npz(path, arrays)


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.

    Returns
    -------
    Checkpoint
        Parameters, optimizer state, epoch, RNG state and extra metadata.

    Raises
    ------
    CheckpointError
        If the file is corrupt, truncated, or not a fastlstm checkpoint.
    """
    path = Path(path)
    members, meta = _open_checked(path)
    if meta["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} holds only parameters ({meta['format']}); use load_params to read it"
        )
    params = _params_from(members, meta.get("params", {}), path)
    opt: dict[str, Any] = {}
    try:
        for name, desc in meta.get("optimizer", {}).items():
            kind = desc["kind"]
            if kind == "list":
                opt[name] = [
                    None if k is None else members[f"opt/{name}/{i:03d}"]
                    for i, k in enumerate(desc["items"])
                ]
            elif kind == "array":
                opt[name] = members[f"opt/{name}"]
            elif kind == "value":
                opt[name] = desc["value"]
            else:
                raise ValueError(f"unknown kind {kind!r}")
        epoch = int(meta["epoch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: malformed optimizer state ({exc!r}); truncated file?"
        ) from None
    return Checkpoint(
        params=params,
        optimizer_state=opt,
        epoch=epoch,
        rng_state=meta.get("rng_state"),
        extra=meta.get("extra") or {},
        model_class=meta.get("model_class"),
        model_kwargs=meta.get("model_kwargs"),
    )


# --------------------------------------------------------------------------- #
# format detection
# --------------------------------------------------------------------------- #
def _sniff(path: Path) -> str:
    _require_file(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:4] in _ZIP_MAGIC:
        return "npz"
    if head[:1] == bytes([_PICKLE_PROTO]):
        return "pkl"
    if not head:
        return "empty"
    return "unknown"


def _check_magic(path: Path, want: str) -> None:
    kind = _sniff(path)
    if kind == want:
        return
    if kind == "pkl":
        raise CheckpointError(
            f"{path} is a pickle (the book's format), not a fastlstm .npz file; "
            "read it with fastlstm.io.read_book_pkl or load_any"
        )
    if kind == "empty":
        raise CheckpointError(f"{path} is empty")
    raise CheckpointError(f"{path} is not a fastlstm .npz file (unrecognised content)")


def load_any(path: PathLike) -> list[np.ndarray]:
    """Load parameter arrays from either format, chosen by the file's content.

    Parameters
    ----------
    path : str or os.PathLike
        A fastlstm ``.npz`` (parameters or checkpoint) or a book ``.pkl``.

    Returns
    -------
    list of numpy.ndarray
        The parameter arrays (float16 for the book's files; cast them with
        :func:`load_into`).

    Raises
    ------
    CheckpointError
        If the content is neither format, or is corrupt.
    """
    path = Path(path)
    kind = _sniff(path)
    if kind == "npz":
        return load_params(path)
    if kind == "pkl":
        return read_book_pkl(path)
    if kind == "empty":
        raise CheckpointError(f"{path} is empty")
    raise CheckpointError(
        f"{path} is neither a fastlstm .npz file nor a pickle of numpy arrays "
        "(unrecognised content)"
    )
