"""Figures of the package's shape: import cycles, modules that run an epoch, longest function.

Usage::

    python tools/architecture_stats.py [SRC]        # SRC: the folder holding fastlstm/ (default src)

* **import cycles**: strongly connected components of the graph of the
  package's own imports, every ``import`` counted wherever it sits (module
  level, inside functions, under ``TYPE_CHECKING``); ``from a import b``
  counts as an import of ``a.b`` when that is a module, else of ``a``.
* **modules that run an epoch**: modules with a ``for``/``while`` loop that
  makes training steps: it calls ``backward()`` and ``update(...)``, or a
  function of the package that does (a *step function*) defined in the
  module or imported from another by name.
* **longest function**: code lines of a function or method, its docstring,
  blank lines and comment-only lines aside.

Only the standard library is used, so the script runs on any checkout.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(src: Path) -> dict[str, Path]:
    out = {}
    for path in sorted((src / "fastlstm").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                target = a.name
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if is_pkg else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            for a in node.names:
                if f"{mod}.{a.name}" in known:
                    found.add(f"{mod}.{a.name}")
                elif mod in known:
                    found.add(mod)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _calls(node):
    """Names called in ``node``: ``f`` for ``f()`` and ``x.f()``, also ``x.f`` for the latter."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if isinstance(f, ast.Attribute):
                yield f.attr
                if isinstance(f.value, ast.Name):
                    yield f"{f.value.id}.{f.attr}"
            else:
                yield getattr(f, "id", "")


def _is_step(node) -> bool:
    """Whether ``node`` calls ``backward()`` and then an optimizer's ``update(...)``."""
    return {"backward", "update"} <= set(_calls(node))


def step_functions(mods: dict[str, Path]) -> set[tuple[str, str]]:
    """``(module, name)`` of the package's functions that make a training step."""
    found = set()
    for m, path in mods.items():
        for fn in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and _is_step(fn):
                found.add((m, fn.name))
    return found


def runs_epoch(m: str, path: Path, steps: set[tuple[str, str]]) -> list[str]:
    """Functions of module ``m`` holding a loop that makes training steps (directly, or
    through a step function of ``m`` or one imported by name from another module)."""
    tree = ast.parse(path.read_text(), str(path))
    known = {n for mod, n in steps if mod == m}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if (node.module, a.name) in steps:  # from module import step_function
                    known.add(a.asname or a.name)
                sub = f"{node.module}.{a.name}"  # from package import module [as alias]
                known |= {f"{a.asname or a.name}.{n}" for mod, n in steps if mod == sub}
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for loop in ast.walk(fn):
            if isinstance(loop, ast.For | ast.While) and (
                _is_step(loop) or known & set(_calls(loop))
            ):
                found.append(fn.name)
                break
    return found


def code_lines(fn, lines) -> int:
    body = fn.body
    skip = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    start = min([fn.lineno] + [d.lineno for d in fn.decorator_list])
    n = 0
    for i in range(start, fn.end_lineno + 1):
        text = lines[i - 1].strip()
        if i in skip or not text or text.startswith("#"):
            continue
        n += 1
    return n


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]) or len(argv) > 1:
        print("usage: python tools/architecture_stats.py [SRC]  (default: this checkout's src/)")
        return 0 if len(argv) == 1 else 2
    src = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "src"
    if not (src / "fastlstm").is_dir():
        print(f"no fastlstm/ package in {src}", file=sys.stderr)
        return 2
    mods = modules(src)
    graph = {m: imports(m, p, mods) for m, p in mods.items()}
    found = cycles(graph)
    print(f"import cycles (strongly connected groups of modules): {len(found)}")
    for comp in found:
        print("  " + " <-> ".join(comp))
    steps = step_functions(mods)
    epoch = {m: runs_epoch(m, p, steps) for m, p in mods.items()}
    epoch = {m: f for m, f in epoch.items() if f}
    print(f"modules that run an epoch: {len(epoch)}")
    for m, f in epoch.items():
        print(f"  {m}: {', '.join(f)}")
    longest = []
    for m, p in mods.items():
        lines = p.read_text().splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                longest.append((code_lines(fn, lines), f"{m}:{fn.name}"))
    longest.sort(reverse=True)
    print("longest functions (code lines, docstrings aside):")
    for n, where in longest[:5]:
        print(f"  {n:4d}  {where}")
    sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in mods.items()), reverse=True)
    print(f"largest module: {sizes[0][1]} ({sizes[0][0]} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
