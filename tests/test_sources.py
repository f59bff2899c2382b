"""The source files each rule declares are the files its CLI call really imports."""
import ast
import json
import subprocess
import sys

import pytest

from _helpers import ROOT
from qrobust._sources import STAGES, closure, stage_sources

CLI = ROOT / "src" / "qrobust" / "cli.py"
COMMAND_STAGE = {"cmd_prepare_data": "data", "cmd_train": "train", "cmd_evaluate": "evaluate",
                 "cmd_quantize": "quantize", "cmd_quantize_adv": "quantize_adv",
                 "cmd_qu_anti": "qu_anti", "cmd_qu_anti_eval": "qu_anti_eval", "cmd_train_adv": "train_adv", "cmd_robust_eval": "robust_eval",
                 "cmd_make_noise": "make_noise", "cmd_noise_eval": "noise_eval", "cmd_ohq_profile": "ohq_profile", "cmd_ohq_sensitivity": "ohq_sensitivity",
                 "cmd_ohq_allocate": "ohq_allocate", "cmd_ohq_deploy": "ohq_deploy",
                 "cmd_table": "table", "cmd_claims": "claims", "cmd_act_distance": "act_distance", "cmd_figure": "figure"}


def _lazy_imports(func: ast.FunctionDef) -> set[str]:
    out = set()
    for node in ast.walk(func):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.add(f"qrobust.{node.module}")
    return out


@pytest.mark.parametrize("func,stage", sorted(COMMAND_STAGE.items()))
def test_each_subcommand_imports_only_its_stage(func, stage):
    tree = ast.parse(CLI.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func)
    assert _lazy_imports(fn) <= closure(STAGES[stage]), f"{func} imports modules missing from STAGES[{stage!r}]"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_modules_loaded_at_run_time_are_declared(stage):
    code = ("import sys, json, importlib, qrobust.cli\n"
            f"for m in {STAGES[stage]!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m == 'qrobust' or m.startswith('qrobust.'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    declared = set(stage_sources(stage))
    for m in loaded:
        rel = m.replace(".", "/")
        assert f"src/{rel}.py" in declared or f"src/{rel}/__init__.py" in declared, f"{m} runs in {stage} but is not declared"


def test_attack_code_is_not_a_training_input_and_training_code_is_not_an_evaluation_input():
    train, evaluate = stage_sources("train"), stage_sources("evaluate")
    assert not any("/attacks/" in f for f in train)
    assert "src/qrobust/attacks/fgsm.py" in evaluate
    assert "src/qrobust/papers/dq/regularizer.py" in train and "src/qrobust/papers/dq/regularizer.py" not in evaluate


def test_every_module_belongs_to_a_stage():
    declared = set().union(*(stage_sources(s) for s in STAGES))
    # config.py and _sources.py run inside Snakemake itself (validation, these lists);
    # provenance.py writes the records about a job and changes none of its numbers;
    # dvc_pull.py is a user command outside the DAG
    for path in (ROOT / "src" / "qrobust").rglob("*.py"):
        rel = f"src/{path.relative_to(ROOT / 'src').as_posix()}"
        assert rel in declared or path.name in ("config.py", "_sources.py", "provenance.py", "_dvc.py"), f"{rel} is in no stage"
