import re
import tomllib

import yaml

from _helpers import ROOT

CONDA_NAMES = {"pytorch": "torch"}  # conda package name -> PyPI name


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_deps = {_name(d) for d in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {CONDA_NAMES.get(_name(d), _name(d)) for d in env["dependencies"] if isinstance(d, str)}
    conda -= {"python", "pip"}
    # packages that are on PyPI only sit in the pip: section (`-e .` is the project itself)
    conda |= {_name(d) for item in env["dependencies"] if isinstance(item, dict)
              for d in item.get("pip", []) if not d.startswith("-")}
    assert conda == pip_deps


def test_console_script_points_at_the_cli():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["qrobust"] == "qrobust.cli:main"


def test_every_rule_has_a_log_calls_the_cli_and_declares_its_code():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for rule in re.split(r"^rule ", text, flags=re.M)[1:]:
            name = rule.split(":", 1)[0]
            assert "\n    log:" in rule, f"{smk.name}: rule {name} has no log"
            assert "qrobust " in rule, f"{smk.name}: rule {name} does not call the qrobust CLI"
            assert "src=sources(" in rule or "src=lambda" in rule, f"{smk.name}: rule {name} declares no source inputs"
            assert f"qrobust {name} " in rule, f"{smk.name}: rule {name} must call the job of its own name"


def test_one_job_module_per_rule_and_one_rule_per_job_module():
    from qrobust import jobs

    rules = {m for smk in (ROOT / "workflow" / "rules").glob("*.smk") for m in re.findall(r"^rule (\w+):", smk.read_text(), flags=re.M)}
    assert rules == set(jobs.names())


def test_snakemake_lint_is_clean(tmp_path):
    from _helpers import copy_workflow, snakemake

    wd = copy_workflow(tmp_path / "wf")
    r = snakemake(wd, "--lint", "--configfile", "config/tiny.yaml")
    assert r.returncode == 0 and "Congratulations" in r.stdout + r.stderr, r.stdout[-2000:]


def test_snakefiles_are_formatted():
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "snakefmt"
    if not exe.exists() and shutil.which("snakefmt") is None:
        import pytest

        pytest.skip("snakefmt is not installed (pip install -e '.[test]')")
    r = subprocess.run([str(exe if exe.exists() else "snakefmt"), "--check", "Snakefile", "workflow/rules"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
