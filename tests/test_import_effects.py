"""Importing and using fastlstm leaves the user's process as it was.

The environment is unchanged, and the thread counts of SciPy's OpenBLAS (the
BLAS numba calls) and of NumPy's (the kernels' gemm) are set to one only while a kernel runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fastlstm._blas_threads import _USER_WAIT

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = textwrap.dedent(
    """
    import ctypes, glob, json, os
    import scipy, scipy.linalg.cython_blas

    root = os.path.dirname(scipy.__file__)
    libs = glob.glob(os.path.join(root + ".libs", "*openblas*"))
    libs += glob.glob(os.path.join(root, ".dylibs", "*openblas*"))
    get = put = None
    for path in libs:
        lib = ctypes.CDLL(path)
        for pre, suf in (("scipy_openblas_", ""), ("scipy_openblas_", "64_"), ("openblas_", "")):
            if hasattr(lib, pre + "get_num_threads" + suf):
                get = getattr(lib, pre + "get_num_threads" + suf)
                put = getattr(lib, pre + "set_num_threads" + suf)
                break
        if get:
            break
    if get is not None:
        put(3)
    import numpy  # and NumPy's OpenBLAS, which the kernels call when it has these symbols
    nget = nput = None
    for path in glob.glob(os.path.join(os.path.dirname(numpy.__file__) + ".libs", "*openblas64_*")):
        lib = ctypes.CDLL(path)
        if hasattr(lib, "scipy_openblas_get_num_threads64_"):
            nget = lib.scipy_openblas_get_num_threads64_
            nput = lib.scipy_openblas_set_num_threads64_
            nput(3)
    env_before = dict(os.environ)
    threads_before = get() if get else None

    import numpy as np
    import fastlstm.layers as FL
    after_import = get() if get else None

    rng = np.random.default_rng(0)
    N, T, D, H = 4, 5, 6, 8
    lstm = FL.TimeLSTM(rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)),
                       np.zeros(4 * H))
    lstm.forward(rng.standard_normal((N, T, D)))
    lstm.backward(rng.standard_normal((N, T, H)))
    affine = FL.TimeAffine(rng.standard_normal((700, 700)), np.zeros(700))
    affine.forward(rng.standard_normal((4, 100, 700)))  # the parallel build
    after_use = get() if get else None

    from fastlstm._numba import BlasScoped
    inside = BlasScoped(lambda: get())() if get else None
    numpy_blas = None
    if nget:
        numpy_blas = [nget(), BlasScoped(lambda: nget())(), nget()]
    changed = sorted(k for k in set(env_before) | set(os.environ)
                     if env_before.get(k) != os.environ.get(k))
    print(json.dumps(dict(found=get is not None, before=threads_before,
                          after_import=after_import, after_use=after_use, inside=inside,
                          numpy_blas=numpy_blas, changed=changed)))
    """
)


def _python(code, **env_extra):
    """Run ``code`` in a fresh Python on this checkout, without the settings the tests vary."""
    env = {k: v for k, v in os.environ.items()
           if k not in _USER_WAIT and k != "FASTLSTM_TBB"
           and not k.startswith(("NUMBA_DISABLE", "NUMBA_THREADING_LAYER"))}  # fmt: skip
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **env_extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip


def _printed(proc) -> dict:
    """The JSON the script printed last."""
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_and_kernels_leave_environment_and_blas_threads():
    out = _printed(_python(_SCRIPT))
    assert out["changed"] == [], out  # e.g. no OMP_WAIT_POLICY
    if out["found"]:
        assert out["before"] == 3
        assert out["after_import"] == 3, out
        assert out["after_use"] == 3, out
        assert out["inside"] == 1, out  # kernels run with single-threaded BLAS
    if out["numpy_blas"] is not None:  # NumPy's OpenBLAS (the kernels' gemm) likewise
        assert out["numpy_blas"] == [3, 1, 3], out


_FORK_SCRIPT = textwrap.dedent(
    """
    import json, os
    from numba.np.ufunc import parallel

    seen = []
    real = parallel._launch_threads

    def recording():  # what the OpenMP runtime reads when the pool starts
        if not parallel._is_initialized:
            seen.append([os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")])
        return real()

    parallel._launch_threads = recording
    import numpy as np
    import fastlstm.layers as FL

    started_by_import = parallel._is_initialized
    rng = np.random.default_rng(0)
    affine = FL.TimeAffine(rng.standard_normal((700, 700)), np.zeros(700))
    x = rng.standard_normal((4, 100, 700))
    pid = os.fork()  # multiprocessing's default start on Linux
    if pid == 0:
        affine.forward(x)  # the parallel build, in the child
        os._exit(0 if parallel._is_initialized else 3)
    _, status = os.waitpid(pid, 0)
    affine.forward(x)  # and in the parent
    print(json.dumps(dict(started_by_import=started_by_import, child=os.waitstatus_to_exitcode(status),
                          seen=seen, after=os.environ.get("GOMP_SPINCOUNT"))))
    """
)


def test_import_starts_no_threads_so_a_forked_child_runs_the_kernels():
    """GNU OpenMP kills a child forked after its threads started: importing must not start them."""
    if not hasattr(os, "fork"):
        return
    out = _printed(_python(_FORK_SCRIPT))
    assert out["started_by_import"] is False and out["child"] == 0, out
    # idle threads spin briefly, then sleep; the environment is restored
    assert out["seen"] == [[None, "1000"]] and out["after"] is None, out


@pytest.mark.parametrize(
    "setting",
    [{"OMP_WAIT_POLICY": "PASSIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "5"}],
)
def test_your_openmp_wait_setting_wins(setting):
    if not hasattr(os, "fork"):
        return
    out = _printed(_python(_FORK_SCRIPT, **setting))
    expected = [setting.get("OMP_WAIT_POLICY"), setting.get("GOMP_SPINCOUNT")]
    assert out["seen"] == [expected] and out["child"] == 0, out


# a layer whose forward runs a parallel kernel: its first call starts numba's pool
_PARALLEL_AFFINE = textwrap.dedent(
    """
    import numba
    import numpy as np
    import fastlstm.layers as FL

    rng = np.random.default_rng(0)
    affine = FL.TimeAffine(rng.standard_normal((700, 700)), np.zeros(700))
    x = rng.standard_normal((4, 100, 700))
    """
)

_LAYER_SCRIPT = _PARALLEL_AFFINE + "affine.forward(x)\nprint(numba.threading_layer())\n"


def _has_tbb_package() -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution("tbb")
    except importlib.metadata.PackageNotFoundError:
        return False
    return sys.platform.startswith("linux")


@pytest.mark.parametrize(
    "setting, expected",
    [
        ({}, "omp"),  # the default
        ({"FASTLSTM_TBB": "1"}, "tbb"),  # with the tbb package
        ({"FASTLSTM_TBB": "1", "NUMBA_THREADING_LAYER": "omp"}, "omp"),  # yours wins
        ({"FASTLSTM_TBB": "1", "NUMBA_THREADING_LAYER": "workqueue"}, "workqueue"),
    ],
)
def test_the_thread_pool_runs_on_tbb_when_asked(setting, expected):
    if expected == "tbb" and not _has_tbb_package():
        expected = "omp"  # no TBB for numba to run on: OpenMP, as before it
    proc = _python(_LAYER_SCRIPT, **setting)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == expected, proc.stdout


def _tbb_library_folder() -> str | None:
    """The folder of the ``tbb`` package's ``libtbb.so.12``, if installed (on Linux)."""
    from fastlstm._blas_threads import _tbb_library

    path = _tbb_library() if _has_tbb_package() else None
    return None if path is None else str(Path(path).resolve().parent)


@pytest.mark.parametrize(
    "setting, expected",
    [
        ({}, "omp"),  # found, but not asked for
        ({"FASTLSTM_TBB": "1"}, "tbb"),
        ({"NUMBA_THREADING_LAYER_PRIORITY": "tbb omp workqueue"}, "tbb"),  # yours wins
    ],
)
def test_a_tbb_the_loader_finds_is_used_only_when_asked(setting, expected):
    """Where the loader finds TBB without fastlstm's help (a system library, or a Python
    whose ``lib`` folder it searches), numba would take it first: fastlstm keeps OpenMP."""
    folder = _tbb_library_folder()
    if folder is None:
        pytest.skip("needs the tbb package (pip install fastlstm[tbb]) on Linux")
    path = os.pathsep.join(p for p in (folder, os.environ.get("LD_LIBRARY_PATH")) if p)
    proc = _python(_LAYER_SCRIPT, LD_LIBRARY_PATH=path, **setting)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == expected, proc.stdout


_FORK_AFTER_START = _PARALLEL_AFFINE + textwrap.dedent(
    """
    import os

    y = affine.forward(x).copy()  # the pool has started
    pid = os.fork()
    if pid == 0:
        os._exit(0 if np.array_equal(affine.forward(x), y) else 5)
    _, status = os.waitpid(pid, 0)
    print(numba.threading_layer(), os.waitstatus_to_exitcode(status))
    """
)


def test_on_tbb_a_child_forked_after_the_pool_started_runs_the_kernels():
    if not hasattr(os, "fork") or not _has_tbb_package():
        pytest.skip("needs fork and the tbb package")
    proc = _python(_FORK_AFTER_START, FASTLSTM_TBB="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == ["tbb", "0"], proc.stdout


def test_a_wrong_tbb_switch_is_an_error_naming_it():
    proc = _python("import fastlstm.layers", FASTLSTM_TBB="maybe")
    assert proc.returncode != 0 and "FASTLSTM_TBB" in proc.stderr, proc.stderr


def test_environment_switches_of_numba():
    off = _python("import fastlstm._numba as n; print(n.PARALLEL)", FASTLSTM_NUMBA_PARALLEL="off")
    assert off.returncode == 0 and off.stdout.split() == ["False"], off.stderr  # it stayed on
    nojit = _python("import fastlstm.layers", NUMBA_DISABLE_JIT="1")
    assert "ImportError: fastlstm's kernels are built with numba's compiler" in nojit.stderr
    assert "py_func" not in nojit.stderr, nojit.stderr  # it was an AttributeError
