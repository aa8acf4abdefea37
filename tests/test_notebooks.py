"""The tutorials of ``docs/tutorials/`` run in a real Jupyter kernel, cleanly.

Each notebook is executed with nbclient in a fresh ``python3`` kernel (the
checkout's ``src`` first on its path) in a temporary folder.  A notebook fails
when a cell raises, when a cell writes to stderr (a warning, a traceback, a
text progress bar where a widget was expected) other than the one-line notice
of a first compilation, or when it shows no figure.

They take a minute or two each, so they are deselected by default
(``-m 'not notebooks and not slow'`` in pyproject.toml); run them with::

    python -m pip install -e ".[notebooks]"
    python -m pytest -m notebooks tests/test_notebooks.py

``data="none"`` runs them as on a machine without the book's files and without
network (``FASTLSTM_OFFLINE=1``, no ``FASTLSTM_DATA``, an empty data cache);
``data="book"`` with ``FASTLSTM_DATA`` (skipped when it is not set).
``FASTLSTM_NOTEBOOK_OUT=DIR`` keeps the executed notebooks in ``DIR``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fastlstm import config

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "docs" / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
COMPILING = "fastlstm: compiling numba kernels"  # once per machine: not a problem


def test_every_tutorial_is_in_the_index():
    index = (TUTORIALS / "index.md").read_text()
    assert NOTEBOOKS, "no notebooks in docs/tutorials"
    for path in NOTEBOOKS:
        assert path.stem in index, f"{path.name} is missing from docs/tutorials/index.md"


def test_notebooks_are_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


def problems_of(nb) -> list[str]:
    """What a reader should not see in an executed notebook's outputs."""
    found = []
    for n, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                found.append(f"cell {n}: {out.get('ename')}: {out.get('evalue')}")
            elif kind == "stream" and out.get("name") == "stderr":
                lines = [line for line in out.get("text", "").splitlines() if line.strip()]
                other = [line for line in lines if not line.startswith(COMPILING)]
                if other:
                    found.append(f"cell {n} wrote to stderr: {other[:3]}")
            elif kind == "stream" and "Warning" in out.get("text", ""):
                found.append(f"cell {n} printed a warning: {out['text'][:200]!r}")
    return found


def figures_of(nb) -> int:
    return sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") in ("display_data", "execute_result")
    )


@pytest.mark.notebooks
@pytest.mark.parametrize("data", ["none", "book"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_cleanly(path, data, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if data == "book":
        if config.data_dir() is None:
            pytest.skip("FASTLSTM_DATA is not set")
    else:
        monkeypatch.delenv("FASTLSTM_DATA", raising=False)
        monkeypatch.setenv("FASTLSTM_OFFLINE", "1")
        monkeypatch.setenv("FASTLSTM_CACHE", str(tmp_path / "cache"))  # no PTB downloaded before
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    work = tmp_path / "work"
    work.mkdir()

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell when one raises
    seconds = time.perf_counter() - start
    keep = os.environ.get("FASTLSTM_NOTEBOOK_OUT")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, Path(keep) / f"{path.stem}-{data}.ipynb")
        with open(Path(keep) / "times.txt", "a") as f:
            f.write(f"{path.stem} {data} {seconds:.1f}\n")

    assert problems_of(nb) == []
    assert figures_of(nb) >= 1, "no figure was shown"


def test_what_counts_as_a_problem():
    nbformat = pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    def notebook(*outputs):
        return new_notebook(cells=[new_code_cell("x", outputs=list(outputs))])

    compiling = new_output("stream", name="stderr", text=f"{COMPILING} (once per machine)...\n")
    figure = new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Image>"})
    clean = notebook(new_output("stream", name="stdout", text="val acc 99.9%\n"), compiling, figure)
    assert problems_of(clean) == [] and figures_of(clean) == 1
    warning = new_output("stream", name="stderr", text="x.py:3: UserWarning: date.txt not found\n")
    error = new_output("error", ename="ValueError", evalue="bad", traceback=[])
    printed = new_output("stream", name="stdout", text="RuntimeWarning: overflow\n")
    for bad in (warning, error, printed):
        assert len(problems_of(notebook(bad))) == 1
    assert nbformat.validate(clean) is None


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A fresh Jupyter kernel in ``tmp_path``; call it with code to run a cell.

    ``kernel(code, interrupt_when=text)`` interrupts the kernel once stdout shows
    ``text``.  Returns ``{"stdout", "stderr", "error", "data"}`` of the cell.
    """
    pytest.importorskip("ipykernel")
    manager = pytest.importorskip("jupyter_client.manager")
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    km, kc = manager.start_new_kernel(kernel_name="python3", cwd=str(tmp_path))

    def run_cell(code, interrupt_when=None, timeout=600):
        msg_id = kc.execute(code)
        out = {"stdout": "", "stderr": "", "error": None, "data": []}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
                if interrupt_when and interrupt_when in out["stdout"]:
                    interrupt_when = None
                    km.interrupt_kernel()
            elif kind in ("display_data", "execute_result"):
                out["data"].append(content["data"])
            elif kind == "error":
                out["error"] = content
            elif kind == "status" and content["execution_state"] == "idle":
                return out
        pytest.fail(f"cell did not finish within {timeout} s: {code!r}")

    try:
        yield run_cell
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.notebooks
def test_interrupt_kernel_during_training(kernel):
    """ "Interrupt kernel" in a real kernel: the message gives the call; last_run() has the run."""
    setup = kernel(
        "import fastlstm\n"
        "from fastlstm.datasets.sequence import make_date\n"
        "open('dates.txt', 'w').write('\\n'.join(make_date(4000, seed=0)) + '\\n')\n"
        "tiny = dict(hidden=16, wordvec=8, batch_size=32, show=0, progress=False)\n"
    )
    assert setup["error"] is None, setup
    cell = kernel(
        "run = fastlstm.train('attention', data='dates.txt', epochs=1000, **tiny)",
        interrupt_when="output in runs/attention",  # printed when training starts
    )
    error = cell["error"]
    assert error is not None and error["ename"] == "TrainingInterrupted", cell
    call = "run = fastlstm.train('attention', resume='runs/attention/last.ckpt.npz')"
    assert call in error["evalue"] and "fastlstm.last_run()" in error["evalue"]
    assert "--resume" not in error["evalue"]
    assert "interrupt the kernel again to quit without saving" in cell["stderr"]
    after = kernel(
        "run = fastlstm.last_run()\n"
        "print(run.interrupted, run.last_path)\n"
        "done = len(run.history['accuracy'])\n"
        "run = fastlstm.train('attention', resume='runs/attention/last.ckpt.npz',"
        " epochs=done + 1, verbose=False, progress=False)\n"
        "print(run.interrupted, len(run.history['accuracy']) == done + 1)\n"
    )
    assert after["error"] is None, after
    assert after["stdout"].splitlines() == ["True runs/attention/last.ckpt.npz", "False True"]


@pytest.mark.notebooks
@pytest.mark.parametrize("widgets", [True, False])
def test_progress_bars_and_plots_in_a_kernel(kernel, widgets):
    """Widget bars with ipywidgets, text bars without (no TqdmWarning); plot() inline."""
    hide = "" if widgets else "import sys; sys.modules['ipywidgets'] = None  # not installed\n"
    cell = kernel(
        hide + "import numpy as np\n"
        "from fastlstm.models import SimpleRnnlm\n"
        "from fastlstm.optim import SGD\n"
        "from fastlstm.trainer import RnnlmTrainer\n"
        "corpus = np.random.default_rng(0).integers(0, 20, 400)\n"
        "trainer = RnnlmTrainer(SimpleRnnlm(20, 8, 8, seed=0), SGD(0.1))\n"
        "trainer.fit(corpus[:-1], corpus[1:], max_epoch=2, batch_size=4, time_size=5)\n"
        "trainer.plot()\n"
    )
    assert cell["error"] is None, cell
    assert "| epoch 2 |  iter 1 / 19" in cell["stdout"]
    assert "Warning" not in cell["stderr"] + cell["stdout"]  # no IProgress not found
    widget = "application/vnd.jupyter.widget-view+json"
    assert any(widget in d for d in cell["data"]) == widgets
    assert ("train: 100%" in cell["stderr"]) != widgets  # a text bar only without widgets
    assert sum("image/png" in d for d in cell["data"]) == 1  # the figure, inline
