"""Which package files each job runs, found from the import graph (read with ast).

The Snakemake rules declare these files as inputs, so editing a file reruns exactly the jobs
that run it. A job's files are

  - the import closure of its module `qrobust.jobs.<job>` (every import statement, at module level
    or inside a function, followed transitively) and the CLI's module-level imports;
  - the registry entries it runs. Registries import an entry only when it is asked for by name
    (qrobust.plan.registry), so the closure holds none of them; the caller names them, as the config
    and the rule's wildcards say: `stage_sources("evaluate", {"attack": ["fgsm"], "model": ["small_cnn"]})`.
    Each named entry adds the file registering it and that file's own closure.

So appending a comment to attacks/square.py reruns the jobs that run Square, not adversarial
training with PGD. Nothing is imported here, so the Snakefile stays fast to parse.
"""
from __future__ import annotations

import ast
import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

from qrobust.plan import astcache
from qrobust.plan.scan import FAMILIES, PKG, PKG_DIR, entry_module, is_frozen, module_file, scan

__all__ = ["stage_sources", "closure", "entry_modules", "module_file", "code_manifest", "read_manifest"]


@lru_cache(maxsize=None)
def _lazy_attrs(package: str) -> dict[str, str]:
    """A package's `_LAZY = {"Name": "module"}`: names its __getattr__ imports on first use."""
    path = module_file(package)
    if path.name != "__init__.py":
        return {}
    return dict(astcache.get("lazy", path, _lazy_of))


def _lazy_of(text: str) -> dict[str, str]:
    for st in ast.parse(text).body:
        if isinstance(st, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in st.targets):
            return dict(ast.literal_eval(st.value))
    return {}


def _resolve(module: str, node) -> list[str]:
    """Absolute qrobust module names an import statement (an _Imp) in `module` refers to."""
    out = []
    if not node.is_from:
        return [a for a in node.names if a.split(".")[0] == PKG]
    if node.level:
        is_pkg = module_file(module).name == "__init__.py"
        parts = module.split(".")
        base = parts if is_pkg else parts[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != PKG:
        return out
    out.append(target)
    lazy = _lazy_attrs(target)
    for a in node.names:
        sub = f"{target}.{a}"
        if module_file(sub).exists():  # `from . import fgsm` names submodules
            out.append(sub)
        elif a in lazy:  # `from qrobust.noises import Corruption` runs noises/corruptions.py
            out.append(lazy[a])
    return out


def _parents(name: str) -> list[str]:
    # importing a.b.c runs a/__init__.py and a/b/__init__.py first
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


class _Imp(NamedTuple):
    """An import statement as _resolve reads it: ast.Import's or ast.ImportFrom's fields (picklable)."""

    is_from: bool
    level: int
    module: str | None
    names: tuple[str, ...]


def _imp(node) -> _Imp:
    return _Imp(isinstance(node, ast.ImportFrom), getattr(node, "level", 0) or 0, getattr(node, "module", None),
                tuple(a.name for a in node.names))


def _import_statements(text: str) -> tuple[list, list]:
    """(module-level import statements, every import statement) of a file's source."""
    tree = ast.parse(text)
    top = [_imp(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    every = [_imp(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return top, every


@lru_cache(maxsize=None)
def _imports_cached(module: str, top_level_only: bool, mtime_ns: int) -> tuple[str, ...]:
    top, every = astcache.get("imports", module_file(module), _import_statements)
    found = []
    for node in top if top_level_only else every:
        for name in _resolve(module, node):
            found += _parents(name) + [name]
    return tuple(found)


def _imports(module: str, top_level_only: bool) -> tuple[str, ...]:
    mtime = 0 if is_frozen() else module_file(module).stat().st_mtime_ns  # frozen: files do not change
    return _imports_cached(module, top_level_only, mtime)


def closure(modules: Iterable[str], top_level_only: bool = False) -> set[str]:
    """Every qrobust module that running `modules` may run (their parents included): what their
    functions import too, or with `top_level_only` just what importing them runs."""
    seen: set[str] = set()
    todo = [p for e in modules for p in _parents(e) + [e]]
    while todo:
        m = todo.pop()
        if m in seen or not module_file(m).exists():
            continue
        seen.add(m)
        todo.extend(_imports(m, top_level_only=top_level_only))
    return seen


def entry_modules(family: str, names: Iterable[str]) -> set[str]:
    """The modules registering `names` in `family` (and in its companion families: a dataset's
    raw-file list); a KeyError names the allowed names when one is unknown."""
    if family not in FAMILIES:
        raise KeyError(f"unknown registry family '{family}'; allowed: {', '.join(sorted(FAMILIES))}")
    mods = set()
    for name in names:
        mods.add(entry_module(family, name))
        for comp in FAMILIES[family].companions:
            found = scan(comp).get(name)
            if found is not None:
                mods.add(found.module)
    return mods




def _job_closure(job: str) -> set[str]:
    if not module_file(f"{PKG}.jobs.{job}").exists():
        raise KeyError(f"no job module qrobust/jobs/{job}.py")
    mods = closure([f"{PKG}.jobs.{job}"])
    # the CLI: its module-level imports (a job's parser loads no user command module)
    return mods | closure([f"{PKG}.cli"], top_level_only=True)


def stage_sources(job: str, entries: Mapping[str, Iterable[str]] | None = None, root: str | Path = "src") -> list[str]:
    if is_frozen():  # the Snakefile asks once per job, mostly with the same arguments
        key = None if entries is None else tuple(sorted((f, tuple(n)) for f, n in entries.items()))
        return list(_stage_sources_frozen(job, key, str(root)))
    return _stage_sources(job, entries, root)


@lru_cache(maxsize=None)
def _stage_sources_frozen(job: str, key, root: str) -> tuple[str, ...]:
    return tuple(_stage_sources(job, None if key is None else dict(key), root))


def _stage_sources(job: str, entries: Mapping[str, Iterable[str]] | None = None, root: str | Path = "src") -> list[str]:
    """Sorted file paths (under `root`) that `qrobust <job>` runs.

    `entries`: registry family -> the names the job runs (`{"attack": ["pgd", "square"]}`); a family
    left out contributes no entry, except families whose entries jobs do not name (quantizers,
    calibrators: FAMILIES[...].named), which contribute all of theirs when the job uses the family.
    None: every entry of every family the job's code uses (the safe over-approximation, for callers
    that cannot say which entries ran).
    """
    mods = _job_closure(job)
    named_given = entries is not None
    entries = dict(entries) if entries is not None else {}
    for family, fam in FAMILIES.items():
        if fam.home in mods and family not in entries and (not fam.named or not named_given):
            entries[family] = list(scan(family))
    extra = set()
    for family, names in entries.items():
        extra |= entry_modules(family, list(names))
    mods |= closure(sorted(extra))
    files = {module_file(m).relative_to(PKG_DIR.parent) for m in mods}
    return sorted(str(Path(root) / f) for f in files)


MANIFESTS = ".snakemake/qrobust-code"


def code_manifest(job: str, files: Iterable[str], folder: str | Path = MANIFESTS) -> str:
    """One file that stands for `files` (a job's sources) as a Snakemake input: `<folder>/<job>-<hash of
    the file list>/sources.sha256`, their SHA-256 sums (`sha256sum -c` reads it), its mtime the newest of
    theirs.

    Snakemake then reruns a job exactly when it would with every file declared (a newer source is a
    newer manifest; another file list is another manifest path, another input set), while it plans one
    input per job instead of 40 (bench/RESULTS.md: the no-op dry run). Written at planning, only when
    its text or mtime differs, atomically (cluster jobs plan too, at once); the same text and mtime
    from any process. Returns the path (relative as `folder` is); asked again in one process (a job a
    wildcard, the same files), the answer of the first call.

    One folder per manifest: a rule whose entries depend on wildcards gets its manifest written while
    Snakemake builds the DAG, and Snakemake lists a folder once, at the first input it checks there
    (snakemake.io's inventory), and takes any later file in it for missing. Its own folder is
    listed only once the manifest is in it."""
    return _code_manifest(job, tuple(sorted(files)), str(folder))


@lru_cache(maxsize=None)
def _code_manifest(job: str, files: tuple[str, ...], folder: str) -> str:
    name = hashlib.sha256("\n".join(files).encode()).hexdigest()[:16]
    path = Path(folder) / f"{job}-{name}" / "sources.sha256"
    stats = [os.stat(f) for f in files]
    text = "".join(f"{astcache.sha256_of(f)}  {f}\n" for f in files)
    newest = max((st.st_mtime_ns for st in stats), default=0)
    try:
        same = path.read_text() == text
    except OSError:
        same = False
    if not same:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.utime(tmp, ns=(newest, newest))
        os.replace(tmp, path)
    elif path.stat().st_mtime_ns != newest:
        os.utime(path, ns=(newest, newest))
    return str(path)


def read_manifest(path: str | Path) -> dict[str, str]:
    """A manifest's files and their SHA-256 sums: {path: sha256}."""
    out = {}
    for line in Path(path).read_text().splitlines():
        sha, _, f = line.partition("  ")
        out[f] = sha
    return out
