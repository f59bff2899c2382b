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


def _lock(name="requirements.lock") -> dict:
    """{normalized name: (version, [hashes])} of a `uv pip compile --generate-hashes` file."""
    out, cur = {}, None
    for line in (ROOT / name).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if m:
            cur = re.sub(r"[-_.]+", "-", m.group(1)).lower()
            out[cur] = (m.group(2), [])
        elif "--hash=sha256:" in line and cur:
            out[cur][1].append(line.split("--hash=sha256:")[1].split()[0])
    return out


def test_the_lock_pins_every_dependency_within_its_range_with_hashes():
    from packaging.requirements import Requirement

    lock = _lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(dep)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in lock, f"{dep} is not in requirements.lock: rerun the uv command in its header"
        assert req.specifier.contains(lock[name][0], prereleases=True), f"{dep}: locked {lock[name][0]}"
    assert all(len(h) >= 1 and all(len(x) == 64 for x in h) for _, h in lock.values())
    for line in (ROOT / "lock-constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert lock[name][0] == version, line
    assert not lock["torch"][0].startswith("2.13.")  # a local 2.13.0+cpu wheel would shadow it
    (ta,) = _lock("requirements-torchattacks.lock").items()
    assert ta[0] == "torchattacks" and ta[1][0] == "3.5.1" and ta[1][1]


def test_environment_yml_admits_the_locked_versions():
    from packaging.requirements import Requirement

    lock = _lock()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    deps += [d.split("#")[0].strip() for item in env["dependencies"] if isinstance(item, dict)
             for d in item.get("pip", []) if not d.startswith("-")]
    for d in deps:
        req = Requirement(d.replace(" ", ""))
        name = CONDA_NAMES.get(req.name.lower(), req.name.lower())
        if name in ("python", "pip"):
            continue
        name = re.sub(r"[-_.]+", "-", name)
        assert req.specifier.contains(lock[name][0], prereleases=True), f"environment.yml {d}: locked {lock[name][0]}"


def test_exactly_one_opencv_is_locked_and_installed():
    """imagecorruptions-imaug asks for opencv-python; we lock (and install, --no-deps) the headless one alone:
    two OpenCV packages would share one cv2 folder."""
    from importlib.metadata import distributions

    assert [n for n in _lock() if n.startswith("opencv")] == ["opencv-python-headless"]
    installed = sorted({d.metadata["Name"].lower() for d in distributions() if d.metadata["Name"].lower().startswith("opencv")})
    assert installed == ["opencv-python-headless"], installed
    import cv2

    assert cv2.resize is not None


def test_ci_and_readme_install_from_the_lock():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    for text in (ci, readme):
        assert "--no-deps --require-hashes -r requirements.lock" in text and "--no-deps -e ." in text
        assert "--require-hashes -r requirements-torchattacks.lock" in text


def test_ruff_finds_nothing():
    """The linter CI runs (pyproject.toml's [tool.ruff]: pyflakes, import order, pycodestyle errors)."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
