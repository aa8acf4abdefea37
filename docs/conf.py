"""Sphinx configuration of fastlstm's documentation.

Build (warnings are errors)::

    python -m pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # document this checkout, not another installed copy

import fastlstm  # noqa: E402

project = "fastlstm"
author = "the fastlstm authors"
copyright = "the fastlstm authors, MIT license"
version = release = fastlstm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",  # Markdown pages (MyST) and notebooks
    "sphinxarg.ext",  # the command-line reference, from fastlstm.cli.build_parser()
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# --------------------------------------------------------------------------- #
# API reference: autodoc + numpydoc
# --------------------------------------------------------------------------- #
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections give the types
autosummary_generate = False
numpydoc_show_class_members = False  # autodoc's :members: lists them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Every public function, class and method documented by the API pages must have a numpydoc
# docstring that names its parameters: a missing one fails the build (-W).
#   GL08: no docstring; PR01: a parameter not documented; PR02: a documented parameter that
#   does not exist; PR10: a colon without spaces around it in a parameter line; RT01: a
#   function that returns a value has no Returns section.
numpydoc_validation_checks = {"GL08", "PR01", "PR02", "PR10", "RT01"}
# result records (dataclasses) list their fields under "Attributes", not "Parameters"
numpydoc_validation_overrides = {
    "PR01": [r"^(?![\s\S]*\n\s*Parameters\n\s*-+\n)[\s\S]*\n\s*Attributes\n\s*-+\n"]
}
numpydoc_validation_exclude = {
    r"\._[^.]*$",  # private names
    r"\.__[a-z]+__$",  # dunder methods
}

# --------------------------------------------------------------------------- #
# Markdown and notebooks: MyST-NB
# --------------------------------------------------------------------------- #
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
# The tutorials are executed in a real Jupyter kernel at every build from a clean checkout
# (cached between local builds in docs/_build/.jupyter_cache); a cell that raises fails it.
nb_execution_mode = os.environ.get("FASTLSTM_NB_EXECUTION", "cache")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
# each notebook runs in a temporary folder: what it writes (checkpoints, runs/, generated data)
# stays out of the source tree
nb_execution_in_temp = True
nb_execution_show_tb = True
nb_execution_excludepatterns = []
nb_merge_streams = True


# --------------------------------------------------------------------------- #
# HTML: the PyData theme
# --------------------------------------------------------------------------- #
html_theme = "pydata_sphinx_theme"
html_title = f"fastlstm {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# pages without sub-pages need no section navigation on the left
html_sidebars = {
    page: []
    for page in (
        "index",
        "getting-started",
        "from-the-book",
        "own_data",
        "cli",
        "performance",
        "compile-cache",
        "how-it-works",
        "design",
        "development",
    )
}
html_show_sourcelink = False


# --------------------------------------------------------------------------- #
# module docstrings: numpydoc section headings as rubrics
# --------------------------------------------------------------------------- #
def _module_sections_as_rubrics(app, what, name, obj, options, lines):
    """Turn ``Examples`` / ``--------`` headings of module docstrings into rubrics.

    numpydoc formats the sections of functions and classes; a module docstring's sections
    would otherwise become document sections, whose labels ("examples") collide between pages.
    """
    if what != "module":
        return
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            line.strip()
            and nxt.strip()
            and set(nxt.strip()) == {"-"}
            and len(nxt.strip()) >= len(line.strip())
        ):
            out += [f".. rubric:: {line.strip()}", ""]
            i += 2
            continue
        out.append(line)
        i += 1
    lines[:] = out


def _public_bases(app, name, obj, options, bases):
    """Show a private base class (``_SoftmaxCE``) as its own public bases."""
    out = []
    for base in bases:
        if getattr(base, "__name__", "").startswith("_"):
            out += [b for b in base.__bases__ if b is not object]
        else:
            out.append(base)
    bases[:] = out or [object]


def setup(app):
    app.connect("autodoc-process-docstring", _module_sections_as_rubrics, priority=400)
    app.connect("autodoc-process-bases", _public_bases)
