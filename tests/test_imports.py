"""The package's import structure: no import cycles, one import path per name (a name is imported from
the module that defines it, or from a package's declared public names), and a small package root."""
from __future__ import annotations

import ast
from pathlib import Path

from _helpers import ROOT

SRC = ROOT / "src"
PKG = SRC / "qrobust"


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(SRC).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _target(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_pkg = MODULES[module].name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _edges(module: str, tree: ast.AST) -> set[str]:
    """The qrobust modules `module` imports anywhere (in functions and TYPE_CHECKING blocks too)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names if a.name in MODULES}
        elif isinstance(n, ast.ImportFrom):
            t = _target(module, n)
            if t in MODULES:
                out.add(t)
            out |= {f"{t}.{a.name}" for a in n.names if f"{t}.{a.name}" in MODULES}
    out.discard(module)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def test_the_cycle_finder_finds_a_cycle_and_only_that():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_the_package():
    graph = {m: _edges(m, ast.parse(p.read_text())) for m, p in MODULES.items()}
    assert cycles(graph) == []


def _defined(path: Path) -> set[str]:
    """Names a module defines itself (functions, classes, assignments at module level), and a package
    __init__'s declared public names (__all__) and lazily imported ones (_LAZY)."""
    tree = ast.parse(path.read_text())
    names = set()
    for st in tree.body:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(st.name)
        elif isinstance(st, (ast.Assign, ast.AnnAssign)):
            for t in st.targets if isinstance(st, ast.Assign) else [st.target]:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
                    if isinstance(n, ast.Name) and n.id in ("__all__", "_LAZY") and path.name == "__init__.py":
                        value = ast.literal_eval(st.value)
                        names |= set(value)
        elif isinstance(st, ast.If):  # try/if blocks at module level define names too
            for sub in ast.walk(st):
                if isinstance(sub, (ast.FunctionDef, ast.ClassDef)):
                    names.add(sub.name)
    return names


def test_every_name_is_imported_from_where_it_is_defined():
    """`from qrobust.x import name` takes `name` from the module that defines it (or a submodule): a name
    re-exported by a module that only imports it (a shim left behind by a move) is not an import path."""
    sources = [p for d in ("src", "tests", "bench") for p in (ROOT / d).rglob("*.py")]
    sources += list((ROOT / "workflow").rglob("*.smk"))
    defined = {m: _defined(p) for m, p in MODULES.items()}
    wrong = []
    for path in sources:
        text = path.read_text()
        if path.suffix == ".smk":  # Snakemake's syntax is not Python's: its import lines are
            text = "\n".join(line for line in text.splitlines() if line.startswith(("from qrobust", "import qrobust")))
        module = next((m for m, p in MODULES.items() if p == path), "")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.ImportFrom):
                continue
            target = _target(module, node) if node.level else node.module or ""
            if target not in MODULES:
                continue
            for a in node.names:
                if a.name not in defined[target] and f"{target}.{a.name}" not in MODULES:
                    wrong.append(f"{path.relative_to(ROOT)}: {a.name} from {target}")
    assert not wrong, wrong


def test_the_package_root_holds_a_dozen_modules_at_most():
    root = sorted(p.name for p in PKG.glob("*.py"))
    assert len(root) <= 12, root
    assert not [n for n in root if n.startswith("_") and n != "__init__.py"], root  # plumbing lives in subpackages
