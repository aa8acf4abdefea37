"""The package's own format: parameters and training checkpoints in NumPy ``.npz``
archives (one array per parameter, ``param_000``, ``param_001``, ..., plus a JSON
metadata entry), read with ``allow_pickle=False`` at full precision.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fastlstm.io._magic import _check_magic
from fastlstm.io.files import CheckpointError, PathLike, atomic_write

__all__ = [
    "PARAMS_FORMAT",
    "CHECKPOINT_FORMAT",
    "FORMAT_VERSION",
    "save_params",
    "read_params_meta",
    "load_params",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
]

PARAMS_FORMAT = "fastlstm-params"

CHECKPOINT_FORMAT = "fastlstm-checkpoint"

FORMAT_VERSION = 1

_META_KEY = "__meta__"


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


#: Largest metadata entry read (bytes).  Metadata is JSON: shapes, settings, the
#: history of a run and the generator state, a few kB to a few MB.
MAX_META_BYTES = 64 << 20
#: The most a deflated member can expand (zlib's limit is about 1032:1).
_MAX_INFLATE_RATIO = 1100


class _Archive:
    """An ``.npz`` file whose members are read one at a time, only when named.

    Nothing is read for a member no one asks for; a member asked for is read
    only up to the size its ``.npy`` header declares, once that size has been
    checked against the caller's bound and against what the zip entry can hold,
    so neither a huge appended member nor a crafted header or zip directory
    can make the reader decompress or allocate more than the metadata declares.
    Duplicate member names are refused.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path)
            infos = self.zf.infolist()
        except _NPZ_ERRORS as exc:
            raise self._unreadable(exc) from None
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename in self.members:
                self.zf.close()
                raise CheckpointError(
                    f"{path}: the member {info.filename!r} appears more than once "
                    "(crafted or damaged file)"
                )
            self.members[info.filename] = info
        self.size = path.stat().st_size

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zf.close()

    def _unreadable(self, exc: BaseException) -> CheckpointError:
        return CheckpointError(
            f"{self.path} is not a readable fastlstm .npz file (corrupt or truncated?): "
            f"{type(exc).__name__}: {exc}"
        )

    def __contains__(self, name: str) -> bool:
        return name + ".npy" in self.members

    def read(
        self,
        name: str,
        what: str,
        shape: tuple[int, ...] | None = None,
        max_bytes: int | None = None,
    ) -> np.ndarray:
        """The array of member ``name`` (without ``.npy``), read within its bounds.

        ``shape``: the shape the metadata declares (the header must agree);
        ``max_bytes``: a bound on the data when the metadata declares no shape.
        """
        info = self.members.get(name + ".npy")
        if info is None:
            raise CheckpointError(f"{self.path}: {what} ('{name}') is missing (truncated file?)")
        try:
            return self._read(info, what, shape, max_bytes)
        except CheckpointError:
            raise
        except _NPZ_ERRORS as exc:
            raise self._unreadable(exc) from None

    def _read(self, info, what, shape, max_bytes):
        fmt = np.lib.format
        if info.header_offset + info.compress_size > self.size:
            raise CheckpointError(f"{self.path}: {what} runs past the end of the file (truncated?)")
        with self.zf.open(info) as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                stored, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                stored, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise CheckpointError(f"{self.path}: {what} has .npy format {version}")
            header = f.tell()
            stored = tuple(int(d) for d in stored)
            if dtype.hasobject or dtype.kind not in "biuf":
                raise CheckpointError(f"{self.path}: {what} has non-numeric dtype {dtype}")
            if shape is not None and stored != tuple(shape):
                raise CheckpointError(
                    f"{self.path}: {what} is stored with shape {stored}, metadata says "
                    f"{tuple(shape)}"
                )
            need = int(np.prod(stored, dtype=object)) * dtype.itemsize
            if max_bytes is not None and need > max_bytes:
                raise CheckpointError(
                    f"{self.path}: {what} declares shape {stored} ({need} bytes), more than "
                    f"the {max_bytes} bytes the metadata allows"
                )
            room = info.file_size - header
            if info.compress_type != zipfile.ZIP_STORED:
                room = min(room, info.compress_size * _MAX_INFLATE_RATIO)
            else:
                room = min(room, info.compress_size - header)
            if need > room:
                raise CheckpointError(
                    f"{self.path}: entry {info.filename!r} declares shape {stored} "
                    f"({need} bytes) but holds {max(room, 0)} bytes (truncated or crafted file)"
                )
            out = np.empty(need // max(dtype.itemsize, 1), dtype=dtype)
            view = memoryview(out.view(np.uint8))
            got = 0
            while got < need:
                n = f.readinto(view[got:])
                if not n:
                    raise CheckpointError(f"{self.path}: {what} is truncated")
                got += n
            if f.read(1):  # reaching the end also checks the CRC
                raise CheckpointError(
                    f"{self.path}: {what} holds more bytes than its header declares "
                    "(crafted or damaged file)"
                )
        if fortran:
            return out.reshape(stored[::-1]).T
        return out.reshape(stored)

    def meta(self) -> dict:
        """The metadata entry, parsed (see :func:`_parse_meta`)."""
        if _META_KEY not in self:
            raise CheckpointError(f"{self.path} has no '{_META_KEY}' entry: not a fastlstm file")
        info = self.members[_META_KEY + ".npy"]
        try:
            with self.zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                reader = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                _, _, dtype = reader(f)
        except _NPZ_ERRORS as exc:
            raise self._unreadable(exc) from None
        if dtype != np.uint8:
            raise CheckpointError(
                f"{self.path}: metadata entry has dtype {dtype}, expected uint8 bytes"
            )
        raw = self.read(_META_KEY, "the metadata", max_bytes=MAX_META_BYTES)
        if raw.ndim != 1:
            raise CheckpointError(
                f"{self.path}: metadata entry has shape {raw.shape}, expected bytes"
            )
        return _parse_meta(raw, self.path)


def _parse_meta(raw: np.ndarray, path: Path) -> dict:
    """The metadata's JSON object, checked to be a fastlstm format this code reads."""
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), object_hook=_json_hook)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: metadata is not valid JSON: {exc}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: metadata is nested too deeply") from None
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{path}: metadata is a JSON {type(meta).__name__}, expected an object "
            "(not a fastlstm file)"
        )
    if meta.get("format") not in (PARAMS_FORMAT, CHECKPOINT_FORMAT):
        raise CheckpointError(f"{path}: unknown format {meta.get('format')!r}")
    version = meta.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version!r} is not supported (this fastlstm reads <= "
            f"{FORMAT_VERSION}); upgrade fastlstm"
        )
    return meta


def _declared_params(meta: dict, path: Path) -> tuple[int, dict[int, int], list[tuple[int, ...]]]:
    """``(count, tied, shapes)`` of the parameters the metadata declares, checked."""
    info = meta.get("params")
    try:
        count = info["count"]
        tied = {int(i): int(j) for i, j in info.get("tied", [])}
        shapes = [tuple(int(d) for d in s) for s in info["shapes"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: malformed parameter metadata ({exc!r})") from None
    if not isinstance(count, int) or isinstance(count, bool) or count != len(shapes):
        raise CheckpointError(
            f"{path}: malformed parameter metadata (count {count!r} for {len(shapes)} shapes)"
        )
    if any(d < 0 for s in shapes for d in s):
        raise CheckpointError(f"{path}: malformed parameter metadata (a negative dimension)")
    return count, tied, shapes


def _open_checked(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The members the metadata names, and the metadata.

    The metadata is read first; then only the members it names are read:
    ``param_NNN`` with the shapes it declares, and a checkpoint's optimizer
    arrays, each at most as large as the largest parameter (Adam's ``m`` and
    ``v`` have the parameters' shapes) in float64.  Nothing else in the
    archive is decompressed; duplicate member names are refused.
    """
    _check_magic(path, want="npz")
    with _Archive(path) as archive:
        meta = archive.meta()
        count, tied, shapes = _declared_params(meta, path)
        members: dict[str, np.ndarray] = {}
        for i in range(count):
            key = f"param_{i:03d}"
            if i not in tied and key in archive:
                members[key] = archive.read(key, f"parameter {i}", shape=shapes[i])
        largest = 8 * max((int(np.prod(s, dtype=object)) for s in shapes), default=1)
        optimizer = meta.get("optimizer") or {}
        if not isinstance(optimizer, dict):
            raise CheckpointError(f"{path}: malformed optimizer state (not a mapping)")
        for name, desc in optimizer.items():
            kind = desc.get("kind") if isinstance(desc, dict) else None
            keys = []
            if kind == "list" and isinstance(desc.get("items"), list):
                keys = [f"opt/{name}/{k:03d}" for k, v in enumerate(desc["items"]) if v is not None]
            elif kind == "array":
                keys = [f"opt/{name}"]
            for key in keys:
                if key in archive:
                    members[key] = archive.read(
                        key, f"optimizer state {key[4:]!r}", max_bytes=max(largest, 8)
                    )
    return members, meta


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
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # 1e400 as an int
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
    """Return the JSON metadata of a fastlstm ``.npz`` file, without loading its arrays.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_params` or :func:`save_checkpoint`.

    Returns
    -------
    dict
        Format version, parameter shapes and dtypes, model class and constructor arguments...

    Raises
    ------
    CheckpointError
        If the file is not a fastlstm ``.npz`` or its metadata cannot be read.
    """
    path = Path(path)
    _check_magic(path, want="npz")
    with _Archive(path) as archive:
        return archive.meta()


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
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # 1e400 as an int
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
