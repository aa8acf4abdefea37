"""Every public name has a numpydoc docstring: the API reference is generated from them.

A public name is one a public module exports (its ``__all__``, else the functions and classes
it defines whose names do not start with ``_``), and every method and property whose name does
not start with ``_`` that such a class defines or inherits from the package's own classes.  Each needs a docstring; a function or method
that takes parameters needs a ``Parameters`` section naming each of them, and one that returns
a value a ``Returns`` (or ``Yields``) section; a class documents its constructor's parameters
in its own docstring (a dataclass may list its fields under ``Attributes`` instead).

The docs build checks the same with numpydoc's validation (``numpydoc_validation_checks`` in
``docs/conf.py``); this test runs without Sphinx, in the default test run.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

import fastlstm

PUBLIC_MODULES = [
    "fastlstm",
    "fastlstm.api",
    "fastlstm.cli",
    "fastlstm.config",
    "fastlstm.datasets.ptb",
    "fastlstm.datasets.sequence",
    "fastlstm.evaluation",
    "fastlstm.functions",
    "fastlstm.gradcheck",
    "fastlstm.interop",
    "fastlstm.io",
    "fastlstm.layers",
    "fastlstm.models",
    "fastlstm.optim",
    "fastlstm.plot",
    "fastlstm.trainer",
    "fastlstm.util",
]

# Modules whose public names are exported (and documented) by their package: ``fastlstm.api``
# re-exports its submodules' names, ``fastlstm.models`` its models', and so on.
IMPLEMENTATION_PACKAGES = ("fastlstm.api.", "fastlstm.models.", "fastlstm.layers.", "fastlstm.io.")


def package_modules() -> list[str]:
    """Every module of the package whose dotted name has no part starting with ``_``."""
    return [
        m.name
        for m in pkgutil.walk_packages(fastlstm.__path__, "fastlstm.")
        if not any(part.startswith("_") for part in m.name.split("."))
    ]


def public_modules() -> list[str]:
    """The modules whose names the reference documents: the list above and every data set."""
    extra = [m for m in package_modules() if m.startswith("fastlstm.datasets.")]
    return sorted(set(PUBLIC_MODULES) | set(extra))


def _exported(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module.__name__
        ]
    return [(n, getattr(module, n)) for n in names]


def _class_members(cls):
    """Public attributes a class defines or inherits from the package's own (private) bases."""
    names = {}
    for base in inspect.getmro(cls):
        if not getattr(base, "__module__", "").startswith("fastlstm"):
            continue
        for attr, member in vars(base).items():
            if not attr.startswith("_") and attr not in names:
                names[attr] = member
    return list(names.items())


def public_names():
    """``(qualified name, object, kind)`` for every public function, class, method, property."""
    seen, out = set(), []
    for modname in public_modules():
        module = importlib.import_module(modname)
        for name, obj in _exported(module):
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or id(obj) in seen:
                continue  # constants are described by their module's docstring
            seen.add(id(obj))
            qual = f"{modname}.{name}"
            out.append((qual, obj, "class" if inspect.isclass(obj) else "function"))
            if not inspect.isclass(obj):
                continue
            for attr, member in _class_members(obj):
                kind = "method"
                if isinstance(member, staticmethod):
                    member, kind = member.__func__, "function"  # no self
                elif isinstance(member, classmethod):
                    member = member.__func__
                if isinstance(member, property):
                    kind = "property"
                elif not inspect.isfunction(member):
                    continue
                if id(member) in seen:
                    continue
                seen.add(id(member))
                out.append((f"{qual}.{attr}", member, kind))
    return out


def _sections(doc: str) -> dict[str, str]:
    """numpydoc sections of a docstring: title -> body."""
    parts = re.split(r"^(\w[\w ]*)\n-{3,}\s*$", doc, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _documented_params(body: str) -> set[str]:
    names = set()
    for line in body.splitlines():
        if line and not line[0].isspace():
            for part in line.split(" : ")[0].split(","):
                names.add(part.strip().lstrip("*"))
    return names


def _signature_params(func, skip_first: bool) -> list[str]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    params = list(sig.parameters.values())
    if skip_first and params:
        params = params[1:]
    return [p.name for p in params]


def _returns_value(func) -> bool:
    """Whether the function's own body has a ``return <value>`` (or is a generator)."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return False
    tree = ast.parse(source)
    fn = tree.body[0]

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue  # nested functions return for themselves
            if isinstance(child, ast.Yield | ast.YieldFrom):
                return True
            if isinstance(child, ast.Return) and child.value is not None:
                if not (isinstance(child.value, ast.Constant) and child.value.value is None):
                    return True
            if walk(child):
                return True
        return False

    return walk(fn)


def problems(qual, obj, kind) -> list[str]:
    doc = inspect.getdoc(obj) if kind != "property" else (obj.__doc__ or "")
    if not doc or not doc.strip():
        return [f"{qual}: no docstring"]
    doc = inspect.cleandoc(doc)
    secs = _sections(doc)
    out = []
    if kind == "class":
        if dataclasses.is_dataclass(obj):
            fields = [f.name for f in dataclasses.fields(obj) if f.init]
            documented = _documented_params(secs.get("Parameters", "")) | _documented_params(
                secs.get("Attributes", "")
            )
        else:
            init = obj.__dict__.get("__init__")
            if init is None:  # inherited: documented where defined
                return out
            fields = _signature_params(init, skip_first=True)
            documented = _documented_params(secs.get("Parameters", ""))
            documented |= _documented_params(secs.get("Other Parameters", ""))
        missing = [f for f in fields if f not in documented]
        if missing:
            out.append(f"{qual}: constructor parameters not documented: {missing}")
        return out
    if kind == "property":
        return out
    params = _signature_params(obj, skip_first=kind == "method")
    documented = _documented_params(secs.get("Parameters", "")) | _documented_params(
        secs.get("Other Parameters", "")
    )
    missing = [p for p in params if p not in documented]
    if missing:
        out.append(f"{qual}: parameters not documented: {missing}")
    if _returns_value(obj) and not ({"Returns", "Yields"} & set(secs)):
        out.append(f"{qual}: returns a value but has no Returns section")
    return out


def test_every_public_name_has_a_numpydoc_docstring():
    names = public_names()
    assert len(names) > 150  # the walk found the package's names
    found = [p for qual, obj, kind in names for p in problems(qual, obj, kind)]
    assert not found, f"{len(found)} public names lack a numpydoc docstring:\n" + "\n".join(found)


def test_every_module_is_public_or_part_of_a_public_package():
    """A new module is either documented (PUBLIC_MODULES) or an implementation module."""
    public = set(public_modules())
    unclassified = [
        m
        for m in package_modules()
        if m not in public
        and not m.startswith(IMPLEMENTATION_PACKAGES)
        and m != "fastlstm.datasets"
    ]
    assert not unclassified, (
        f"modules neither in PUBLIC_MODULES nor in IMPLEMENTATION_PACKAGES: {unclassified} "
        "(a public one also needs a page in docs/api/)"
    )


def test_every_public_module_has_a_reference_page():
    """The API reference (docs/) documents every public module with autodoc."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    text = "\n".join(p.read_text(encoding="utf-8") for p in docs.rglob("*.md"))
    missing = [
        m
        for m in public_modules()
        if not re.search(
            rf"^\.\. (automodule:: {re.escape(m)}$|auto\w+:: {re.escape(m)}\.)", text, re.M
        )
    ]
    assert not missing, f"public modules without an autodoc directive in docs/: {missing}"


def test_the_check_fails_on_a_name_without_a_docstring():
    def documented(x, y):
        """Add.

        Parameters
        ----------
        x, y : int
            The numbers.

        Returns
        -------
        int
            The sum.
        """
        return x + y

    def bare(x):
        return x

    def half(x, y):
        """Add.

        Parameters
        ----------
        x : int
            A number.
        """
        return x + y

    assert problems("m.documented", documented, "function") == []
    assert problems("m.bare", bare, "function") == ["m.bare: no docstring"]
    assert problems("m.half", half, "function") == [
        "m.half: parameters not documented: ['y']",
        "m.half: returns a value but has no Returns section",
    ]


@pytest.mark.parametrize("section", ["Parameters", "Attributes"])
def test_dataclass_fields_may_be_attributes(section):
    @dataclasses.dataclass
    class Record:
        __doc__ = f"""A record.

        {section}
        ----------
        a : int
            A field.
        """
        a: int
        b: int = 0

    assert problems("m.Record", Record, "class") == [
        "m.Record: constructor parameters not documented: ['b']"
    ]
