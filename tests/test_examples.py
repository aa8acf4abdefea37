"""The scripts of ``examples/``: usage, arguments, missing data, and where they write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def _run(script, *args, cwd, env_extra=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if k != "FASTLSTM_DATA"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
    )  # fmt: skip


def test_every_example_is_listed():
    assert len(EXAMPLES) >= 9, EXAMPLES


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_help_prints_the_usage_and_writes_nothing(script, tmp_path):
    proc = _run(script, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"examples/{script.name}" in proc.stdout, proc.stdout
    assert list(tmp_path.iterdir()) == []  # no runs/ folder for a --help


def test_a_bad_argument_names_itself_with_the_usage(tmp_path):
    script = ROOT / "examples" / "ch05_train_simple_rnnlm.py"
    for args, message in [(("0",), "integer >= 1, got '0'"), (("x",), "got 'x'"),
                          (("1", "2"), "one optional argument")]:  # fmt: skip
        proc = _run(script, *args, cwd=tmp_path)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
        assert "[max_epoch]" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run(ROOT / "examples" / "ch08_visualize_attention.py", "3", cwd=tmp_path)
    assert proc.returncode == 1 and "takes no arguments" in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_data_ends_with_the_loaders_message(tmp_path):
    """No PTB anywhere and no network: one line naming where to put the files, no traceback,
    and no output folder left behind."""
    script = ROOT / "examples" / "ch05_train_simple_rnnlm.py"
    env = {"FASTLSTM_OFFLINE": "1", "FASTLSTM_CACHE": str(tmp_path / "cache")}
    proc = _run(script, "1", cwd=tmp_path, env_extra=env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("error: PTB file 'ptb.train.txt' not found"), proc.stderr
    assert "Traceback" not in proc.stderr and "FASTLSTM_DATA=DIR" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_examples_import_this_checkouts_fastlstm(tmp_path):
    code = (
        f"import sys; sys.argv = ['x']; sys.path.insert(0, {str(ROOT / 'examples')!r}); "
        "import _common, fastlstm; print(fastlstm.__file__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve().is_relative_to(ROOT / "src"), proc.stdout
