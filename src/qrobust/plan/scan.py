"""The static scan behind the lazy registries (qrobust.plan.registry): which families exist (FAMILIES), and
what each family's package registers, read from its files with `ast` (nothing is imported). The
Snakefile uses it while it parses, so neither torch nor an entry is imported here."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict

PKG_DIR = Path(__file__).resolve().parent.parent  # src/qrobust
PKG = PKG_DIR.name


@dataclass(frozen=True)
class Family:
    """Where a lazy family's entries are found."""

    home: str                    # the module that creates the Registry (a job importing it may use the family)
    package: str                 # every .py file under it is scanned
    decorators: tuple[str, ...]  # the (dotted) callables that register into this family
    companions: tuple[str, ...] = ()  # families whose entry of the same name runs along (a dataset's raw-file list)
    named: bool = True  # jobs name the entries they run (qrobust.plan.sources); False: a job using the family runs any


FAMILIES: Dict[str, Family] = {
    "attack": Family("qrobust.attacks._base", "qrobust.attacks", ("register_attack", "ATTACKS.register")),
    "model": Family("qrobust.models._base", "qrobust.models", ("register_model", "MODELS.register")),
    "dataset": Family("qrobust.datasets._base", "qrobust.datasets", ("register_dataset", "DATASETS.register"),
                      companions=("dataset raw-file list",)),
    "dataset raw-file list": Family("qrobust.datasets._base", "qrobust.datasets", ("register_raw_files", "RAW_FILES.register")),
    "noise": Family("qrobust.noises._base", "qrobust.noises", ("register_noise", "NOISES.register")),
    # quantizers and calibrators come from scheme configs and from the specs stored in checkpoints:
    # every job that quantizes or loads a quantized model may run any of them
    "quantizer": Family("qrobust.quant.quantizers", "qrobust.quant", ("register_quantizer", "QUANTIZERS.register"),
                        named=False),
    "calibrator": Family("qrobust.quant.calibrators", "qrobust.quant", ("register_calibrator", "CALIBRATORS.register"),
                         named=False),
    "table": Family("qrobust.tables._base", "qrobust.papers", ("register_table", "TABLES.register")),
    "figure": Family("qrobust.figures._base", "qrobust.papers", ("register_figure", "FIGURES.register")),
    # the claims job judges every claim of every paper (papers/<paper>/claims.py, `@claim("id", ...)`)
    "claim": Family("qrobust.claims", "qrobust.papers", ("claim",), named=False),
}


# ---------------------------------------------------------------------------------------------
# the static scan (ast; nothing imported)


def module_file(name: str) -> Path:
    """The file of module `name` (qrobust.x.y -> qrobust/x/y.py or qrobust/x/y/__init__.py)."""
    rel = Path(*name.split(".")[1:])
    pkg = PKG_DIR / rel / "__init__.py"
    return pkg if pkg.exists() else (PKG_DIR / rel).with_suffix(".py")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG_DIR.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _const_attrs(cls: ast.ClassDef) -> dict:
    """Class-level `x = <literal>` / `x: T = <literal>` of a class body."""
    out = {}
    for st in cls.body:
        targets = st.targets if isinstance(st, ast.Assign) else [st.target] if isinstance(st, ast.AnnAssign) else []
        value = getattr(st, "value", None)
        for t in targets:
            if isinstance(t, ast.Name) and value is not None:
                try:
                    out[t.id] = ast.literal_eval(value)
                except ValueError:
                    pass
    return out


@dataclass(frozen=True)
class _ClassInfo:
    module: str
    name: str
    bases: tuple[str, ...]  # dotted names as written
    attrs: dict


@dataclass(frozen=True)
class _FileScan:
    module: str
    registrations: tuple  # (callable dotted name, entry name, class name or None, line)
    classes: dict          # class name -> _ClassInfo
    imported: dict         # local name -> (module, name) of `from m import name [as local]`


@lru_cache(maxsize=None)
def _scan_file(path: Path, mtime_ns: int, size: int) -> _FileScan:
    from qrobust.plan import astcache

    return astcache.get("registrations", path, lambda text: _scan_text(path, text))


def _scan_text(path: Path, text: str) -> _FileScan:
    module = _module_name(path)
    tree = ast.parse(text, filename=str(path))
    regs, classes, imported = [], {}, {}

    def reg_call(call, target, line):
        if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant) \
                and isinstance(call.args[0].value, str):
            fn = _dotted(call.func)
            if fn:
                regs.append((fn, call.args[0].value, target, line))

    for st in tree.body:  # module level only: what importing the module runs
        if isinstance(st, ast.ImportFrom) and st.module and not st.level:
            for a in st.names:
                imported[a.asname or a.name] = (st.module, a.name)
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for d in st.decorator_list:
                reg_call(d, st.name if isinstance(st, ast.ClassDef) else None, st.lineno)
            if isinstance(st, ast.ClassDef):
                bases = tuple(b for b in (_dotted(x) for x in st.bases) if b)
                classes[st.name] = _ClassInfo(module, st.name, bases, _const_attrs(st))
        elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):  # REG.register("x")(obj)
            reg_call(st.value.func, None, st.lineno)
    return _FileScan(module, tuple(regs), classes, imported)


def _package_files(package: str) -> list[Path]:
    root = PKG_DIR.joinpath(*package.split(".")[1:])
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


_FROZEN: dict[str, list] = {}  # package -> its scans, once freeze() is called
_frozen = False


def freeze(cache: str | Path | None = None) -> None:
    """Promise that the package's files will not change in this process (the Snakefile's parse and
    dry run): each package is then walked and scanned once, not at every lookup. The job server,
    which outlives edits, never calls it. `cache`: a file keeping what ast read from each file between
    processes, by the file's hash (qrobust/plan/astcache.py)."""
    global _frozen
    _frozen = True
    if cache is not None:
        from qrobust.plan import astcache

        astcache.enable(cache)


def is_frozen() -> bool:
    return _frozen


def _scans(package: str) -> list[_FileScan]:
    if _frozen and package in _FROZEN:
        return _FROZEN[package]
    out = []
    for p in _package_files(package):
        st = p.stat()
        out.append(_scan_file(p, st.st_mtime_ns, st.st_size))
    if _frozen:
        _FROZEN[package] = out
    return out


@dataclass(frozen=True)
class _Found:
    module: str
    cls: str | None  # the registered class, when it is one (for static attributes)
    line: int


def scan(family: str) -> Dict[str, _Found]:
    """name -> where it is registered, for a family of FAMILIES, in file and line order; no import."""
    fam = FAMILIES[family]
    found: Dict[str, _Found] = {}
    for s in _scans(fam.package):
        for fn, name, cls, line in s.registrations:
            if fn not in fam.decorators:
                continue
            if name in found:
                first = found[name]
                raise ValueError(f"{family} '{name}' is registered twice: {first.module} (line {first.line}) "
                                 f"and {s.module} (line {line})")
            found[name] = _Found(s.module, cls, line)
    return found


def static_attr(family: str, name: str, attr: str, default=None):
    """A class attribute of a registered class, read from the source (the class, then its bases by
    name: the same module, the module it was imported from, then any class of the package)."""
    entry = scan(family).get(name)
    if entry is None or entry.cls is None:
        return default
    by_module = {s.module: s for s in _scans(FAMILIES[family].package)}
    by_name: Dict[str, _ClassInfo] = {}
    for s in by_module.values():
        for cname, info in s.classes.items():
            by_name.setdefault(cname, info)

    def lookup(module: str, dotted: str) -> _ClassInfo | None:
        s = by_module.get(module)
        local = dotted.split(".")[-1]
        if s is not None and local in s.classes:
            return s.classes[local]
        if s is not None and local in s.imported:
            src_mod, src_name = s.imported[local]
            if src_mod in by_module and src_name in by_module[src_mod].classes:
                return by_module[src_mod].classes[src_name]
        return by_name.get(local)

    todo, seen = [lookup(entry.module, entry.cls)], set()
    while todo:  # depth first, left first: Python's MRO for the single-inheritance trees entries use
        info = todo.pop(0)
        if info is None or (info.module, info.name) in seen:
            continue
        seen.add((info.module, info.name))
        if attr in info.attrs:
            return info.attrs[attr]
        todo[:0] = [lookup(info.module, b) for b in info.bases]
    return default


def entry_module(family: str, name: str) -> str:
    """The module that registers `name` (KeyError naming the allowed names if none does)."""
    found = scan(family)
    if name not in found:
        raise KeyError(f"unknown {family} '{name}'; allowed: {', '.join(sorted(found))}")
    return found[name].module
