"""The install survives what a new user does (slow: builds and installs the package).

In one fresh virtual environment (with ``--system-site-packages`` and the
outer pip, so numpy, numba and the other dependencies need no download), from a
clean clone of this repository in a folder named ``fastlstm`` (git clone's
default): a regular install and a kernel call (the first compilation),
``fastlstm --help``; then an editable install with the test extras,
``fastlstm --help`` and an import from the folder that holds the clone and from
elsewhere; ``pip uninstall``
leaving no ``fastlstm`` folder in site-packages and nothing importable from the
clone or the venv; and a reinstall.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout"),
]

# a kernel call: the first compilation, which once wrote into site-packages
_KERNEL_CALL = (
    "import numpy as np; from fastlstm.optim import SGD; p = [np.ones(5)]; "
    "SGD(0.5).update(p, [np.ones(5)]); assert (p[0] == 0.5).all()"
)


def _run(cmd, cwd, env):
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_fresh_venv_install_editable_uninstall_reinstall(tmp_path):
    clone = tmp_path / "fastlstm"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / ("python.exe" if os.name == "nt" else "python")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "VIRTUAL_ENV")
    }
    env["PATH"] = str(bindir) + os.pathsep + env.get("PATH", "")
    env["FASTLSTM_NUMBA_CACHE"] = str(tmp_path / "kernels")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    # build isolation: the build requirements come from pyproject.toml, whatever
    # setuptools the interpreter ships
    pip = [py, "-m", "pip", "install", "-q"]
    site = Path(
        _run(
            [py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], outside, env
        ).stdout.strip()
    )
    fastlstm_exe = bindir / "fastlstm"

    # 1. regular install, first kernel compilation, the command line
    _run([*pip, "."], clone, env)
    _run([py, "-c", _KERNEL_CALL], outside, env)
    assert not list((site / "fastlstm").rglob("*.nb[ic]")), "kernels cached in the package"
    assert list((tmp_path / "kernels").rglob("*.nbi")), "kernels not cached in the user folder"
    _run([fastlstm_exe, "--help"], outside, env)

    # 2. editable install with the test extras over it
    _run([*pip, "-e", ".[test]"], clone, env)
    _run([fastlstm_exe, "--help"], outside, env)
    for cwd in (outside, tmp_path):  # tmp_path holds the clone, a folder named fastlstm
        where = _run(
            [
                py,
                "-c",
                "from fastlstm.layers import TimeLSTM; import fastlstm; print(fastlstm.__file__)",
            ],
            cwd,
            env,
        ).stdout.strip()
        assert Path(where).resolve().parent == (clone / "src" / "fastlstm").resolve(), where
    _run([py, "-c", _KERNEL_CALL], outside, env)
    assert not (site / "fastlstm").exists(), "a fastlstm folder shadows the editable install"

    # 3. uninstall leaves nothing behind
    _run([py, "-m", "pip", "uninstall", "-y", "fastlstm"], outside, env)
    # (pip removes site-packages itself when nothing else is left in it)
    entries = site.iterdir() if site.exists() else []
    leftovers = [p.name for p in entries if p.name.lower().startswith("fastlstm")]
    assert leftovers == [], leftovers
    # fastlstm may still be importable from the outer environment (the venv sees its
    # site-packages, and CI installs the checkout there), but not from this clone or venv
    gone = subprocess.run(
        [py, "-c", "import fastlstm; print(fastlstm.__file__)"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
    )
    if gone.returncode == 0:
        found = Path(gone.stdout.strip()).resolve()
        for inside in (clone.resolve(), env_dir.resolve()):
            assert inside not in found.parents, f"fastlstm still imports from {found}"
    else:
        assert "No module named 'fastlstm'" in gone.stderr, gone.stderr

    # 4. reinstall
    _run([*pip, "."], clone, env)
    _run([fastlstm_exe, "--help"], outside, env)
    _run([py, "-c", _KERNEL_CALL], outside, env)
