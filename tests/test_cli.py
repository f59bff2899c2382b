"""The dispatcher: user commands apart from jobs, one module per job, provenance from Snakemake's files."""
import json
import subprocess
import sys

from qrobust import jobs


def qrobust(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qrobust.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_user_commands_apart_from_jobs_and_version_works():
    r = qrobust("--help")
    assert r.returncode == 0
    head, _, tail = r.stdout.partition("jobs (one per Snakemake rule")
    for c in ("check-config", "provenance", "verify", "restore", "pull"):
        assert f"  {c} " in head, c
    for j in jobs.names():
        assert f"  {j} " in tail and f"  {j} " not in head, j
    v = qrobust("--version")
    assert v.returncode == 0 and v.stdout.startswith("qrobust ")


def test_each_job_module_has_a_help_line_arguments_and_run():
    for name in jobs.names():
        mod = jobs.load(name)
        assert (mod.__doc__ or "").strip(), name
        assert callable(mod.add_arguments) and callable(mod.run), name


def test_a_job_parses_without_importing_its_siblings():
    code = ("import sys; from qrobust.runtime import dispatch; "
            "dispatch.build_parser('figure').parse_args(['figure', 'fig1', '--input', 'x', '--out', 'y']);"
            "print(sorted(m for m in sys.modules if m.startswith('qrobust.jobs.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "['qrobust.jobs._common', 'qrobust.jobs.figure']" or r.stdout.strip() == "['qrobust.jobs.figure']"


def test_hyphenated_job_names_still_work_and_unknown_ones_fail_with_usage():
    assert qrobust("prepare-data", "--help").returncode == 0
    r = qrobust("no_such_job")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_record_takes_inputs_and_outputs_from_prov_io(tmp_path):
    cfg = json.dumps({"dataset": "mnist5k", "split_seed": 0, "n_train": 100, "n_test": 50})
    outs = [f"prep/{n}" for n in ("train.pt", "test.pt", "meta.json")]
    r = qrobust("prepare_data", "--cfg", cfg, "--out", "prep", "--prov", "rec.json",
                "--prov-io", json.dumps({"inputs": [], "outputs": outs}), "--rule", "prepare_data", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["rule"] == "prepare_data" and rec["stage"] == "prepare_data" and set(rec["outputs"]) == set(outs)
    assert len(rec["inputs"]) == 1 and next(iter(rec["inputs"])).endswith("mnist_5k.csv.gz")  # the raw file, from the job


def test_user_errors_are_one_line_exit_2(tmp_path):
    r = qrobust("check-config", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("qrobust: error:")


def test_a_closed_pipe_is_not_a_traceback():
    """`qrobust provenance ... | head`: the reader goes away; no BrokenPipeError traceback, exit 0."""
    code = ("import sys\nfrom qrobust import cli, commands\n"
            "class Chatty:\n    '''prints a lot'''\n    def add_arguments(p): pass\n"
            "    def run(a):\n        for i in range(200000): print('line', i)\n"
            "commands.load = lambda n: Chatty\ncommands.names = lambda: ['chatty']\nsys.exit(cli.main(['chatty']))\n")
    r = subprocess.run(f"{sys.executable} -c \"$CODE\" | head -1; echo rc=${{PIPESTATUS[0]}}", shell=True,
                       executable="/bin/bash", env={**__import__("os").environ, "CODE": code},
                       capture_output=True, text=True)
    assert r.stdout.splitlines() == ["line 0", "rc=0"], r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
