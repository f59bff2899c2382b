"""The source files each rule declares are the files its job really runs: the job's code (its import
closure) and the registry entries it asks for by name (qrobust.plan.registry imports only those), nothing
that runs left out. Editing an attack reruns the jobs that run it, not every job that runs an attack."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _helpers import ROOT, copy_workflow, snakemake
from qrobust import jobs
from qrobust.plan.scan import FAMILIES, module_file, scan
from qrobust.plan.sources import MANIFESTS, _imports, closure, code_manifest, entry_modules, read_manifest, stage_sources

SRC = ROOT / "src"


def _file(module: str) -> str:
    return f"src/{module_file(module).relative_to(SRC).as_posix()}"


def _entry_files(family: str) -> set[str]:
    """Files registering the family's entries, where they are not the registry's own module (quant)."""
    fam = FAMILIES[family]
    return {_file(f.module) for f in scan(family).values() if f.module != fam.home}


def _loaded(code: str, *args: str) -> list[str]:
    """qrobust modules loaded by `code` in a fresh interpreter (it prints them as its last line)."""
    code += "\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m == 'qrobust' or m.startswith('qrobust.'))))"
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _undeclared(loaded: list[str], declared) -> list[str]:
    declared = set(declared)
    return [m for m in loaded if _file(m) not in declared]


# ---------------------------------------------------------------------------------------------
# the API


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_registry_imports_none_of_its_entries(family):
    fam = FAMILIES[family]
    code = {_file(m) for m in closure([fam.home, fam.package])}
    assert not code & _entry_files(family), f"{fam.home} or {fam.package} imports an entry"


def test_a_job_declares_exactly_the_entries_it_is_given():
    base = set(stage_sources("evaluate", {}))
    assert not base & set().union(*(_entry_files(f) for f in ("attack", "model", "noise", "dataset", "table", "figure")))
    fgsm = set(stage_sources("evaluate", {"attack": ["fgsm"], "model": ["small_cnn"]}))
    assert fgsm - base == {"src/qrobust/attacks/fgsm.py", "src/qrobust/models/small_cnn.py"}
    # an entry brings its own imports: pgd runs _linf.py, transfer runs its inner attacks' files only if named
    robust = set(stage_sources("robust_eval", {"attack": ["transfer", "pgd"]}))
    assert {"src/qrobust/attacks/transfer.py", "src/qrobust/attacks/pgd.py", "src/qrobust/attacks/_linf.py"} <= robust
    assert "src/qrobust/attacks/square.py" not in robust and "src/qrobust/attacks/fgsm.py" not in robust
    # a noise file holding several noises is one entry file: system noises do not run the corruptions
    assert "src/qrobust/noises/corruptions.py" not in stage_sources("make_noise", {"noise": ["resize"]})
    glass = stage_sources("make_noise", {"noise": ["glass_blur"]})
    assert {"src/qrobust/noises/corruptions.py", "src/qrobust/noises/glass_blur.py"} <= set(glass)
    # a table job runs its one builder; a dataset brings its raw-file list (the same module here)
    t8 = stage_sources("table", {"table": ["table8"]})
    assert "src/qrobust/papers/qu_anti/table8.py" in t8 and "src/qrobust/papers/dq/table1.py" not in t8
    assert "src/qrobust/datasets/mnist5k.py" in stage_sources("prepare_data", {"dataset": ["mnist5k"]})
    assert entry_modules("dataset", ["cifar10"]) == {"qrobust.datasets.torchvision_sets"}


def test_entries_none_declares_every_entry_of_the_registries_the_job_uses():
    every = set(stage_sources("evaluate"))
    assert _entry_files("attack") | _entry_files("model") <= every
    assert not _entry_files("noise") & every  # evaluate has nothing to do with noises


def test_an_unknown_entry_or_family_is_refused_with_the_allowed_names():
    with pytest.raises(KeyError, match="unknown attack 'deepfool'; allowed: apgd_ce, apgd_dlr, apgd_t, autoattack, bim"):
        stage_sources("evaluate", {"attack": ["deepfool"]})
    with pytest.raises(KeyError, match="unknown registry family 'attacks'"):
        stage_sources("evaluate", {"attacks": ["fgsm"]})
    with pytest.raises(KeyError, match="no job module"):
        stage_sources("evaluatee")


def test_a_new_entry_file_is_declared_where_it_may_run(tmp_path):
    """In a copy of the package: a new attack file is declared by the jobs that name it, and a new
    quantizer file (quantizers are not named by rules) by every job that quantizes."""
    import shutil

    pkg = tmp_path / "src" / "qrobust"
    shutil.copytree(SRC / "qrobust", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "attacks" / "zzz_noop.py").write_text(
        "from qrobust.attacks._base import Attack, register_attack\n\n\n"
        "@register_attack('zzz_noop')\nclass Noop(Attack):\n    def perturb(self, x, y):\n        return x\n")
    (pkg / "quant" / "zzz_quant.py").write_text(
        "from qrobust.quant.quantizers import Quantizer, register_quantizer\n\n\n"
        "@register_quantizer('zzz')\nclass Zzz(Quantizer):\n    pass\n")
    code = ("import json\nfrom qrobust.plan.sources import stage_sources\n"
            "print(json.dumps({'named': stage_sources('evaluate', {'attack': ['zzz_noop']}),"
            " 'other': stage_sources('evaluate', {'attack': ['fgsm']}), 'train': stage_sources('train', {}),"
            " 'table': stage_sources('table', {'table': ['table1']})}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(tmp_path / "src")))
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert "src/qrobust/attacks/zzz_noop.py" in out["named"] and "src/qrobust/attacks/zzz_noop.py" not in out["other"]
    assert "src/qrobust/quant/zzz_quant.py" in out["train"] and "src/qrobust/quant/zzz_quant.py" in out["other"]
    assert "src/qrobust/quant/zzz_quant.py" not in out["table"]  # table1's builder quantizes nothing


def test_every_module_belongs_to_a_job():
    declared = set().union(*(stage_sources(j) for j in jobs.names()))
    # what Snakemake itself imports while it parses (validation, keys, experiment design), the
    # provenance writer (runs after a job, changes none of its numbers) and the user commands
    smk = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    imports = re.findall(r"^from (qrobust[\w.]*) import (\w+)", smk, flags=re.M)  # a name may be a submodule
    parsed = closure([m for mod, name in imports for m in (mod, f"{mod}.{name}")] + ["qrobust.provenance.record"])
    parsed = {f"src/{module_file(m).relative_to(SRC).as_posix()}" for m in parsed}
    for path in (SRC / "qrobust").rglob("*.py"):
        rel = f"src/{path.relative_to(SRC).as_posix()}"
        # runtime/server.py starts a job in a warm process and changes none of its numbers (tests/runtime/test_server.py);
        # provenance/dvc.py is the pull command's, plan/cost.py the plan command's (it prices jobs, runs none)
        if rel in ("src/qrobust/runtime/server.py", "src/qrobust/provenance/dvc.py", "src/qrobust/plan/cost.py") or "/commands/" in rel:
            continue
        assert rel in declared or rel in parsed, f"{rel} is in no job and not read by the workflow"


# ---------------------------------------------------------------------------------------------
# what really runs is declared


@pytest.mark.parametrize("job", jobs.names())
def test_the_code_a_job_imports_is_declared(job):
    # the job module, the CLI, and every module the job imports in its functions (what `run` loads)
    mods = sorted(m for m in _imports(f"qrobust.jobs.{job}", top_level_only=False))
    code = f"import importlib, qrobust.cli, qrobust.jobs.{job}\nfor m in {mods!r}: importlib.import_module(m)"
    missing = _undeclared(_loaded(code), stage_sources(job, {}))
    assert not missing, f"{missing} run in {job} but are not declared"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_entry_runs_only_its_declared_files(family):
    """Each entry, fetched by name in a process that has the registry: what loads is its file's closure."""
    fam = FAMILIES[family]
    names = sorted(scan(family))
    code = (f"import importlib, json, sys\nfrom qrobust.plan import registry\nimportlib.import_module({fam.home!r})\n"
            f"reg = registry._LIVE[{family!r}]\nnew = {{}}\n"
            f"for n in {names!r}:\n"
            "    before = set(sys.modules)\n"
            "    reg.get(n)\n"
            "    new[n] = sorted(m for m in set(sys.modules) - before if m.startswith('qrobust'))\n"
            "print(json.dumps(new))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    new = json.loads(r.stdout.strip().splitlines()[-1])
    base = closure([fam.home])
    for name, mods in new.items():
        allowed = base | closure(sorted(entry_modules(family, [name])))
        assert set(mods) <= allowed, f"{family} '{name}' runs {sorted(set(mods) - allowed)}, which it does not declare"


# ---------------------------------------------------------------------------------------------
# the workflow: each rule names the entries its jobs run


def _dry_jobs(workdir: Path, *args: str) -> list[dict]:
    """The jobs `snakemake -n` plans: rule, inputs, outputs and wildcards of each."""
    r = snakemake(workdir, "-n", *args)
    assert r.returncode == 0, r.stderr[-3000:]
    out, job = [], None
    for line in r.stdout.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            job = {"rule": m.group(1), "input": [], "output": [], "wildcards": {}}
            out.append(job)
        elif job is not None and line.startswith(("    input: ", "    output: ")):
            key, _, rest = line.strip().partition(": ")
            job[key] = [s.strip() for s in rest.split(",")]
            if key == "input":  # the source files a code manifest stands for (qrobust.plan.sources.code_manifest)
                job["input"] += [f for m in job["input"] if m.startswith(MANIFESTS + "/")
                                 for f in read_manifest(workdir / m)]
        elif job is not None and line.startswith("    wildcards: "):
            job["wildcards"] = dict(kv.split("=", 1) for kv in line.strip()[len("wildcards: "):].split(", "))
    return out


@pytest.fixture(scope="module")
def tiny_dag(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("dag") / "wf")
    return wd, _dry_jobs(wd, "all", "--configfile", "config/tiny.yaml")


def _declared(dag, rule: str, **wildcards) -> set[str]:
    """The source inputs of one planned job of `rule` whose wildcards match (regular expressions)."""
    for job in dag:
        if job["rule"] == rule and all(re.fullmatch(v, job["wildcards"].get(k, "")) for k, v in wildcards.items()):
            return {f for f in job["input"] if f.startswith("src/")}
    raise AssertionError(f"no {rule} job with {wildcards} in the tiny DAG")


@pytest.mark.slow
def test_each_job_runs_only_declared_files(tiny_dag, tmp_path):
    """Run the jobs that ask registries for entries by name, on tiny data, through the CLI as the rules
    do; every qrobust module they load must be a source input of that job in the tiny DAG."""
    wd, dag = tiny_dag
    from qrobust.config import load_config

    cfg = load_config(ROOT / "config" / "tiny.yaml")
    cfg["train"] = {**cfg["train"], "epochs": 1}
    cfg["li2024"]["finetune_fraction"] = 0.05
    data, ck = tmp_path / "data", tmp_path / "ck"
    run_job = ("import sys\nfrom qrobust.runtime.dispatch import run_here\nrc = run_here(sys.argv[1:])\n"  # in this process
               "assert rc == 0, f'qrobust {sys.argv[1]} exited {rc}'")

    def job(*argv):
        return _loaded(run_job, *map(str, argv))

    common = ["--cfg", json.dumps(cfg), "--data", data]
    runs = {  # (rule, wildcards of the planned job to compare with) -> modules loaded
        ("prepare_data", ()): job("prepare_data", "--cfg", json.dumps(cfg["data"]), "--out", data),
        ("train", (("run", "vanilla_beta0_afp"),)): job("train", *common, "--method", "vanilla", "--out",
                                                         ck / "float.pt", "--metrics", tmp_path / "m.json"),
    }
    float_ckpt = ck / "float.pt"
    runs[("evaluate", ())] = job("evaluate", *common, "--checkpoint", float_ckpt, "--out", tmp_path / "e.json")
    runs[("craft_blackbox", ())] = job("craft_blackbox", *common, "--substitute", float_ckpt, "--seed", 0, "--out", tmp_path / "b.pt")
    runs[("robust_eval", ())] = job("robust_eval", *common, "--checkpoint", float_ckpt, "--blackbox", tmp_path / "b.pt",
                                    "--out", tmp_path / "r.json")
    runs[("li2024_eval", ())] = job("li2024_eval", *common, "--checkpoint", float_ckpt, "--out", tmp_path / "l.json")
    act = {**cfg, "eps": [0.0, 0.1], "n_images": 50}
    runs[("act_distance", ())] = job("act_distance", "--cfg", json.dumps(act), "--data", data, "--out",
                                     tmp_path / "a.json", float_ckpt)
    for noise in ("resize", "brightness"):
        runs[("make_noise", (("noise", noise),))] = job("make_noise", "--noise", noise, "--data", data,
                                                         "--severities", "1", "--out", tmp_path / f"{noise}.pt")
    for adv in ("fgsm", "rfgsm"):
        runs[("train_adv", (("run", f".*_adv{adv}"),))] = job(
            "train_adv", *common, "--method", "vanilla", "--act", "relu6", "--adv", adv,
            "--out", ck / f"adv{adv}.pt", "--metrics", tmp_path / f"adv{adv}.json")
    for scheme in ("float-ptq-finetune", "float-ptq-pwlq"):  # robust steps (an attack) and none
        runs[("li2024_quantize", (("scheme", scheme),))] = job(
            "li2024_quantize", *common, "--checkpoint", float_ckpt, "--scheme", scheme, "--target", "w",
            "--bits", "4", "--out", ck / f"{scheme}.pt", "--metrics", tmp_path / f"{scheme}.json")

    for (rule, wildcards), loaded in runs.items():
        declared = _declared(dag, rule, **dict(wildcards))
        if rule == "craft_blackbox":  # crafted here on the float small CNN; the DAG's substitute is vgg16
            assert "src/qrobust/models/vgg.py" in declared
            loaded = [m for m in loaded if m != "qrobust.models.small_cnn"]
        missing = _undeclared(loaded, declared)
        assert not missing, f"{rule} {dict(wildcards)} runs {missing} but does not declare them"
    # the registry entries did run (the check above is not empty), and only those asked for
    assert "qrobust.attacks.square" in runs[("li2024_eval", ())]
    assert "qrobust.attacks.square" not in runs[("robust_eval", ())]
    assert "qrobust.attacks.fgsm" in runs[("act_distance", ())]
    assert "qrobust.attacks.rfgsm" in runs[("train_adv", (("run", ".*_advrfgsm"),))]
    attack_entries = {f.module for f in scan("attack").values()}
    assert not attack_entries & set(runs[("li2024_quantize", (("scheme", "float-ptq-pwlq"),))])
    assert attack_entries & set(runs[("li2024_quantize", (("scheme", "float-ptq-finetune"),))]) == {"qrobust.attacks.pgd"}
    assert "qrobust.noises.corruptions" not in runs[("make_noise", (("noise", "resize"),))]


# ---------------------------------------------------------------------------------------------
# acceptance: after a finished run, editing one entry reruns the jobs that run it and nothing else


def _finish_by_touch(wd: Path) -> None:
    """Every output of the tiny `all` DAG made (empty, in DAG order) and marked done by --touch."""
    for j in _dry_jobs(wd, "all", "--configfile", "config/tiny.yaml"):
        for out in j["output"]:
            (wd / out).parent.mkdir(parents=True, exist_ok=True)
            (wd / out).write_text("")
    r = snakemake(wd, "--cores", "2", "all", "--configfile", "config/tiny.yaml", "--touch")
    assert r.returncode == 0, r.stderr[-3000:]
    assert _dry_jobs(wd, "all", "--configfile", "config/tiny.yaml") == []


def _planned_after_edit(wd: Path, rel: str) -> tuple[dict[str, int], list[dict]]:
    """The jobs planned once `rel` is edited, by rule, and the jobs; then all is marked done again."""
    with open(wd / rel, "a") as f:
        f.write("\n# an edit that changes nothing\n")  # a changed checksum and mtime
    planned = _dry_jobs(wd, "all", "--configfile", "config/tiny.yaml")
    counts: dict[str, int] = {}
    for j in planned:
        counts[j["rule"]] = counts.get(j["rule"], 0) + 1
    r = snakemake(wd, "--cores", "2", "all", "--configfile", "config/tiny.yaml", "--touch")  # done again
    assert r.returncode == 0, r.stderr[-3000:]
    return counts, planned


@pytest.mark.slow
def test_editing_an_attack_or_a_table_reruns_only_the_jobs_that_run_it(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    n_worst = sum(j["rule"] == "worst_case" for j in _dry_jobs(wd, "all", "--configfile", "config/tiny.yaml"))
    _finish_by_touch(wd)
    cfg = yaml.safe_load((wd / "config" / "tiny.yaml").read_text())

    counts, planned = _planned_after_edit(wd, "src/qrobust/attacks/square.py")
    # Square runs in Li et al.'s evaluation (tiny.yaml: li2024.attacks default [pgd, square]) and in
    # every model's worst-case ensemble; then the tables that read those (1-5, 7, masking), the
    # figures drawn from them (Table 5's corruption and system-noise figures read its long CSV),
    # the claims, the scorecard (both read the long CSVs) and `all`. No training, no other evaluation.
    n_li = len(cfg["li2024"]["schemes"]) * len(cfg["li2024"]["targets"])
    assert n_worst > 20
    assert counts == {"li2024_eval": n_li, "worst_case": n_worst, "table": 7, "figure": 5, "claims": 1,
                      "scorecard": 1, "all": 1}, counts
    tables = sorted(j["wildcards"]["table"] for j in planned if j["rule"] == "table")
    assert tables == ["masking", "table1", "table2", "table3", "table4", "table5", "table7"], tables

    counts, planned = _planned_after_edit(wd, "src/qrobust/papers/qu_anti/table8.py")
    tables = sorted(j["wildcards"]["table"] for j in planned if j["rule"] == "table")
    assert "table1" not in tables and "table8" in tables, tables
    assert not set(counts) - {"table", "claims", "scorecard", "all"}, counts

    counts, _ = _planned_after_edit(wd, "src/qrobust/papers/dq/reported.csv")  # a paper's numbers: the scorecard alone
    assert counts == {"scorecard": 1, "all": 1}, counts

    counts, planned = _planned_after_edit(wd, "src/qrobust/attacks/rfgsm.py")
    # R+FGSM: adversarial training with it, DQ's white-box evaluations (dq.attacks), and nothing of
    # the float training, Table 1's FGSM evaluation or Li et al.'s evaluation
    assert "train" not in counts and "evaluate" not in counts and "li2024_eval" not in counts, counts
    trained = [j["wildcards"]["run"] for j in planned if j["rule"] == "train_adv"]
    assert trained and all(r.endswith("_advrfgsm") for r in trained), trained
    assert counts.get("robust_eval"), counts


def test_frozen_registry_gives_the_same_sources_and_scans_each_package_once(monkeypatch):
    """The Snakefile freezes the registry (files do not change while Snakemake plans): the answers are
    the unfrozen ones, and the package is walked once however many jobs ask."""
    import qrobust.plan.scan as reg  # the scan's state lives in qrobust/plan/scan.py
    import qrobust.plan.sources as src

    asks = [("worst_case", {"attack": ["fgsm", "pgd", "square"], "model": ["small_cnn"]}), ("train", {"model": ["vgg16"]}),
            ("table", None), ("worst_case", {"attack": ["fgsm", "pgd", "square"], "model": ["small_cnn"]})]
    unfrozen = [stage_sources(j, e) for j, e in asks]
    walks = []
    real = reg._package_files
    monkeypatch.setattr(reg, "_package_files", lambda package: walks.append(package) or real(package))
    monkeypatch.setattr(reg, "_frozen", True)
    monkeypatch.setattr(reg, "_FROZEN", {})
    src._stage_sources_frozen.cache_clear()
    try:
        assert [stage_sources(j, e) for j, e in asks] == unfrozen
        assert walks and len(walks) == len(set(walks))  # each package walked once
    finally:
        src._stage_sources_frozen.cache_clear()


_PLAN = r"""
import ast, json, sys
calls = []
real = ast.parse
ast.parse = lambda *a, **k: calls.append(1) or real(*a, **k)
from qrobust.plan.scan import freeze, scan
freeze(cache=sys.argv[1])
from qrobust.plan.sources import stage_sources
out = {"sources": stage_sources("worst_case", {"attack": ["fgsm", "pgd", "square"], "model": ["small_cnn"]}),
       "table": stage_sources("table"), "attacks": sorted(scan("attack")), "parsed": len(calls)}
print(json.dumps(out))
"""


def _plan(cache, root=ROOT / "src"):
    r = subprocess.run([sys.executable, "-c", _PLAN, str(cache)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(root)))
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_the_planning_cache_gives_the_same_answers_and_parses_only_what_changed(tmp_path):
    """qrobust/plan/astcache.py: a second planning process parses no file; an edited file is parsed again and
    its new imports count; an unreadable cache is rebuilt; answers equal the uncached ones."""
    import shutil

    cache = tmp_path / "ast.pickle"
    first = _plan(cache)
    assert first["parsed"] > 50 and cache.exists()
    second = _plan(cache)
    assert second["parsed"] == 0 and {k: v for k, v in second.items() if k != "parsed"} == \
        {k: v for k, v in first.items() if k != "parsed"}
    assert first["sources"] == stage_sources("worst_case", {"attack": ["fgsm", "pgd", "square"], "model": ["small_cnn"]})

    # a copy of the package whose square.py now imports the PGD module: parsed again, and declared
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "qrobust", src / "qrobust", ignore=shutil.ignore_patterns("__pycache__"))
    cache2 = tmp_path / "ast2.pickle"
    base = _plan(cache2, src)
    sq = src / "qrobust" / "attacks" / "square.py"
    sq.write_text(sq.read_text() + "\n\ndef _edited():\n    from qrobust.attacks import bim  # noqa: F401\n")
    edited = _plan(cache2, src)
    assert edited["parsed"] == 3  # square.py (its registrations, its imports) and bim.py, reached for the first time
    assert "src/qrobust/attacks/bim.py" in edited["sources"] and "src/qrobust/attacks/bim.py" not in base["sources"]

    reg = src / "qrobust" / "plan" / "registry.py"  # other reading code: the cache it finds is not used
    reg.write_text(reg.read_text() + "\n# edited\n")
    assert _plan(cache2, src)["parsed"] > 50

    cache.write_bytes(b"not a pickle")
    assert _plan(cache) == first  # rebuilt from the files, same answers


def test_a_code_manifest_lists_the_files_sums_and_carries_the_newest_mtime(tmp_path, monkeypatch):
    """A job's sources reach Snakemake as one manifest: `sha256sum -c` format, the newest source's mtime (so
    Snakemake reruns the job exactly when a declared file is newer than its outputs), one path per file
    list, rewritten only when a sum or that mtime changes."""
    import hashlib
    import os

    from qrobust.plan import sources

    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    a, b = tmp_path / "src" / "a.py", tmp_path / "src" / "b.py"
    a.write_text("A = 1\n")
    b.write_text("B = 2\n")
    os.utime(a, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    os.utime(b, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))

    def plan(files, job="evaluate"):
        sources._code_manifest.cache_clear()  # a new planning process
        return tmp_path / code_manifest(job, files)

    m = plan(["src/b.py", "src/a.py"])
    assert m.parent.parent == tmp_path / MANIFESTS and m.parent.name.startswith("evaluate-")
    assert m.read_text() == "".join(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  src/{f.name}\n" for f in (a, b))
    assert read_manifest(m) == {"src/a.py": hashlib.sha256(a.read_bytes()).hexdigest(),
                                "src/b.py": hashlib.sha256(b.read_bytes()).hexdigest()}
    assert m.stat().st_mtime_ns == 1_500_000_000_000_000_000  # the newest source's
    assert plan(["src/a.py"]) != m and plan(["src/a.py", "src/b.py"]) == m  # a file list, a path; order aside

    inode = m.stat().st_ino
    plan(["src/a.py", "src/b.py"])
    assert m.stat().st_ino == inode  # nothing changed: not rewritten

    a.write_text("A = 3\n")  # an edit: new sums, a newer mtime
    os.utime(a, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    plan(["src/a.py", "src/b.py"])
    assert read_manifest(m)["src/a.py"] == hashlib.sha256(b"A = 3\n").hexdigest()
    assert m.stat().st_mtime_ns == 1_700_000_000_000_000_000

    os.utime(b, ns=(1_800_000_000_000_000_000, 1_800_000_000_000_000_000))  # touched, same bytes: newer, as the file is
    text = m.read_text()
    plan(["src/a.py", "src/b.py"])
    assert m.read_text() == text and m.stat().st_mtime_ns == 1_800_000_000_000_000_000
    assert not list(m.parent.glob("*.tmp"))
