"""The package's import graph: no cycles, and the layers of the house.

Every import is counted wherever it sits (module level, inside functions,
under ``TYPE_CHECKING``), as grimp (from import-linter) reads them.  The
layers, top to bottom, and what each may import are those of ``docs/design.md``
("The layers of the house"): a module may import from its own layer (where
the layer says so) and from the layers below, never from above.
"""

from __future__ import annotations

import pytest

grimp = pytest.importorskip("grimp")

from tools import architecture_stats  # noqa: E402

#: Top to bottom; a tuple is one layer of siblings (``independent``: they may not import
#: each other).  Every module directly under ``fastlstm`` must be in one of them.
LAYERS = [
    (("cli",), True),
    (("api", "trainer", "util", "interop"), False),  # clients of the engine
    (("engine",), True),  # the training loop
    # models and their data (io: files of parameters; it re-exports datasets' download)
    (("models", "evaluation", "datasets", "io", "plot", "_torch_models"), False),
    (("layers", "optim", "functions", "gradcheck"), False),
    (("_kernels", "_warmup"), True),  # numba kernels; compiling them ahead of a run
    (
        ("_numba", "_kernel_cache", "_blas_threads", "_blas_lib", "_vectors"),
        False,
    ),  # jit, cache, BLAS
    (("config", "_notebook", "_validate", "_version", "_warm_manifest"), False),  # leaves
]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("fastlstm")


def import_cycles(graph) -> list[list[str]]:
    """Groups of modules that import each other, directly or not (strongly connected
    components of more than one module), as ``tools/architecture_stats.py`` finds them."""
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    return architecture_stats.cycles(edges)


def _describe(graph, group) -> str:
    chain = graph.find_shortest_chain(importer=group[0], imported=group[1]) or ()
    back = graph.find_shortest_chain(importer=group[1], imported=group[0]) or ()
    return f"{' -> '.join(chain)}  and back  {' -> '.join(back)}"


def test_no_import_cycles(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(graph, g) for g in cycles)


def test_a_cycle_added_is_found(graph):
    """The check sees cycles, also through a function-level import."""
    graph = graph.copy() if hasattr(graph, "copy") else grimp.build_graph("fastlstm")
    graph.add_import(importer="fastlstm._version", imported="fastlstm.cli")
    cycles = import_cycles(graph)
    assert any({"fastlstm._version", "fastlstm.cli"} <= set(g) for g in cycles), cycles


def test_function_level_imports_are_counted(graph):
    # fastlstm/__init__.py imports the run API inside __getattr__ (to stay light)
    assert graph.direct_import_exists(importer="fastlstm", imported="fastlstm.api")


def test_every_module_has_a_layer(graph):
    placed = {name for names, _ in LAYERS for name in names}
    top = {m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    assert not (top - placed), f"modules in no layer of LAYERS (and docs/design.md): {top - placed}"


def test_the_layers_of_the_house(graph):
    layers = [grimp.Layer(*names, independent=indep) for names, indep in LAYERS]
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers, containers={"fastlstm"})
    lines = [
        f"{d.importer} imports {d.imported}: "
        + "; ".join(f"{sorted(r.heads)} -> {sorted(r.tails)}" for r in d.routes)
        for d in sorted(illegal, key=lambda d: (d.importer, d.imported))
    ]
    assert not illegal, "imports against the layers:\n" + "\n".join(lines)


def test_the_layer_check_sees_an_import_from_above(graph):
    graph = graph.copy() if hasattr(graph, "copy") else grimp.build_graph("fastlstm")
    graph.add_import(importer="fastlstm.models.base", imported="fastlstm.engine.loop")
    layers = [grimp.Layer(*names, independent=indep) for names, indep in LAYERS]
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers, containers={"fastlstm"})
    assert {(d.importer, d.imported) for d in illegal} == {("fastlstm.models", "fastlstm.engine")}


def test_the_run_api_and_the_command_line_load_without_numba():
    """``import fastlstm.api`` (and so ``fastlstm --help``) stays quick: the engine and the
    models, which load numba, are imported when a job starts."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    code = (
        "import sys, fastlstm.api, fastlstm.cli; "
        "print(sorted(m for m in ('numba', 'fastlstm.engine', 'fastlstm.models') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
