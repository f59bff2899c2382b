"""Which package files each pipeline stage runs, found from the import graph (read with ast).

The Snakemake rules declare these files as inputs, so editing a file reruns exactly the
stages that import it: the attack code reruns evaluations, not training. Nothing is imported
here, so the Snakefile stays fast to parse.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PKG_DIR = Path(__file__).resolve().parent
PKG = PKG_DIR.name

# What each CLI subcommand imports (tests/test_sources.py checks these against cli.py).
STAGES: dict[str, list[str]] = {
    "data": ["qrobust.datasets"],
    "train": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.models", "qrobust.quant", "qrobust.training.loop"],
    "evaluate": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.evaluation.attack"],
    "train_adv": ["qrobust._runtime", "qrobust.training.adversarial", "qrobust.checkpoint", "qrobust.datasets", "qrobust.models",
                  "qrobust.quant", "qrobust.training.loop"],
    "robust_eval": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.papers.dq.defenses",
                    "qrobust.evaluation.robust"],
    "make_noise": ["qrobust.datasets", "qrobust.noises"],
    "noise_eval": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.papers.robust_bench.noise_eval",
                   "qrobust.quant.ptq"],
    "quantize_adv": ["qrobust._runtime", "qrobust.training.adversarial", "qrobust.checkpoint", "qrobust.datasets",
                     "qrobust.models", "qrobust.papers.li2024.method"],
    "qu_anti": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.papers.qu_anti.attack"],
    "qu_anti_eval": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.papers.qu_anti.attack", "qrobust.quant.ptq"],
    "quantize": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.quant.schemes"],
    "ohq_profile": ["qrobust._runtime", "qrobust.models", "qrobust.papers.ohq.latency"],
    "ohq_sensitivity": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.papers.ohq.sensitivity"],
    "ohq_allocate": ["qrobust.papers.ohq.plans"],
    "ohq_deploy": ["qrobust._runtime", "qrobust.checkpoint", "qrobust.datasets", "qrobust.papers.ohq.deploy",
                   "qrobust.papers.ohq.plans", "qrobust.quant.ptq"],
    "table": ["qrobust.tables"],
    "act_distance": ["qrobust._runtime", "qrobust.papers.dq.act_distance", "qrobust.checkpoint", "qrobust.datasets"],
    "claims": ["qrobust.claims", "qrobust.tables._base"],
    "figure": ["qrobust.figures"],
}


def module_file(name: str) -> Path:
    rel = Path(*name.split(".")[1:])
    pkg = PKG_DIR / rel / "__init__.py"
    return pkg if pkg.exists() else (PKG_DIR / rel).with_suffix(".py")


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Absolute qrobust module names an import statement in `module` refers to."""
    out = []
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PKG]
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
    for a in node.names:  # `from . import fgsm` names submodules
        sub = f"{target}.{a.name}"
        if module_file(sub).exists():
            out.append(sub)
    return out


def _parents(name: str) -> list[str]:
    # importing a.b.c runs a/__init__.py and a/b/__init__.py first
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@lru_cache(maxsize=None)
def _imports(module: str, top_level_only: bool) -> tuple[str, ...]:
    tree = ast.parse(module_file(module).read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _resolve(module, node):
                found += _parents(name) + [name]
    return tuple(found)


def closure(entries: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [p for e in entries for p in _parents(e) + [e]]
    while todo:
        m = todo.pop()
        if m in seen or not module_file(m).exists():
            continue
        seen.add(m)
        todo.extend(_imports(m, top_level_only=False))
    return seen


def stage_sources(stage: str, root: str | Path = "src") -> list[str]:
    """Sorted file paths (under `root`) that the `qrobust` CLI runs for `stage`."""
    mods = closure(STAGES[stage])
    # the CLI module counts with its module-level imports only: its subcommands import lazily
    mods |= closure(list(_imports("qrobust.cli", top_level_only=True))) | {"qrobust", "qrobust.cli"}
    files = {module_file(m).relative_to(PKG_DIR.parent) for m in mods}
    return sorted(str(Path(root) / f) for f in files)
