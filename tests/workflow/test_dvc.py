"""DVC round trip of the whole tiny DAG: run, push; in a fresh clone pull, restore, and Snakemake has nothing to
do; `dvc metrics show`, `dvc plots show` and `dvc exp run -S` on it."""
import subprocess

import pandas as pd
import pytest

from _helpers import BIN, dvc_env, make_dvc_repo

pytestmark = pytest.mark.slow
ENV = dvc_env()


def sh(cwd, *cmd):
    r = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}"
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dvc")
    remote = tmp / "remote"
    return make_dvc_repo(tmp / "repo", remote, sh), remote, tmp


def test_fresh_clone_pulls_and_regenerates_nothing(pushed):
    repo, remote, tmp = pushed
    assert any(remote.rglob("*")), "dvc push wrote nothing to the remote"
    clone = tmp / "clone"
    sh(tmp, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "results" / "table1.csv").exists()
    sh(clone, str(BIN / "dvc"), "pull")
    assert (clone / "results" / "table1.csv").read_bytes() == (repo / "results" / "table1.csv").read_bytes()
    out = sh(clone, str(BIN / "qrobust"), "restore")
    assert "hashes verified" in out
    dry = sh(clone, str(BIN / "snakemake"), "-n", "all", "--cores", "1")
    assert "Nothing to be done" in dry, dry[-2000:]
    for made in ("table1.csv", "table7.csv", "claims.csv", "scorecard.csv", "figures/pareto.png"):
        assert (clone / "results" / made).read_bytes() == (repo / "results" / made).read_bytes()
    assert "up to date" in sh(clone, str(BIN / "dvc"), "status")


def test_metrics_show_is_one_short_row_per_paper(pushed):
    repo, _, _ = pushed
    lines = sh(repo, str(BIN / "dvc"), "metrics", "show").splitlines()
    header, rows = lines[0].split(), [ln.split() for ln in lines[1:] if ln.strip()]
    assert header[0] == "Path" and {"claims", "holds", "fails", "masked", "clean_q", "worst_q"} <= set(header)
    papers = {r[0] for r in rows}
    assert papers == {f"results/summary/{p}.json" for p in ("dq", "li2024", "ohq", "qu_anti", "robust_bench")}
    assert max(map(len, lines)) <= 200
    claims = pd.read_csv(repo / "results" / "claims.csv")
    dq = dict(zip(header, next(r for r in rows if r[0].endswith("/dq.json"))))
    assert int(dq["claims"]) == (claims.paper == "DQ").sum()
    assert int(dq["holds"]) == ((claims.paper == "DQ") & (claims.verdict == "holds")).sum()


def test_plots_show_renders_the_figures(pushed):
    repo, _, _ = pushed
    sh(repo, str(BIN / "dvc"), "plots", "show")
    html = (repo / "dvc_plots" / "index.html").read_text()
    assert "fig1.png" in html and "pareto.png" in html and "masking.png" in html


def test_exp_run_sweeps_a_param_and_reruns_only_what_it_decides(pushed):
    repo, _, tmp = pushed
    clone = tmp / "clone_exp"
    sh(tmp, "git", "clone", "-q", str(repo), str(clone))
    sh(clone, str(BIN / "qrobust"), "pull")
    before = {t: (clone / "results" / t).stat().st_mtime_ns for t in ("table1.csv", "table6.csv")}
    sh(clone, str(BIN / "dvc"), "exp", "run", "-S", "config/config.yaml:ohq.random_plans=1")
    assert (clone / "results" / "table1.csv").stat().st_mtime_ns == before["table1.csv"]  # not decided by it
    assert (clone / "results" / "table6.csv").stat().st_mtime_ns != before["table6.csv"]
    def most_random_plans(root):
        six = pd.read_csv(root / "results" / "table6_long.csv")
        return six[six.kind == "random"].groupby("budget").size().max()

    assert most_random_plans(repo) == 2 and most_random_plans(clone) == 1  # the tiny config's 2, then the sweep's 1
    shown = sh(clone, str(BIN / "dvc"), "exp", "show", "--only-changed", "--md")
    assert "ohq.random_plans" in shown


def test_restore_refuses_a_tampered_pull_and_changes_nothing(pushed):
    repo, _, tmp = pushed
    clone = tmp / "clone2"
    sh(tmp, "git", "clone", "-q", str(repo), str(clone))
    sh(clone, str(BIN / "dvc"), "pull")
    ckpt = next((clone / "results" / "checkpoints").glob("*/*.pt"))
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x01
    ckpt.unlink()  # a new file: never write through a link into DVC's cache
    ckpt.write_bytes(bytes(data))
    table = clone / "results" / "table1.csv"
    before = table.stat().st_mtime_ns
    r = subprocess.run([str(BIN / "qrobust"), "restore"], cwd=clone, env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and "do not match their records" in r.stderr and r.stderr.count("\n") == 1
    assert table.stat().st_mtime_ns == before


def test_qrobust_pull_makes_a_clone_ready_in_one_command(pushed):
    repo, _, tmp = pushed
    clone = tmp / "clone5"
    sh(tmp, "git", "clone", "-q", str(repo), str(clone))
    assert "hashes verified" in sh(clone, str(BIN / "qrobust"), "pull")
    dry = sh(clone, str(BIN / "snakemake"), "-n", "all", "--cores", "1")
    assert "Nothing to be done" in dry


def test_missing_remote_is_one_line_naming_it_and_nothing_is_pulled(pushed):
    repo, _, tmp = pushed
    clone = tmp / "clone3"
    sh(tmp, "git", "clone", "-q", str(repo), str(clone))
    sh(clone, str(BIN / "dvc"), "remote", "modify", "--local", "local", "url", str(tmp / "no-such-remote"))
    r = subprocess.run([str(BIN / "qrobust"), "pull"], cwd=clone, env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "DVC remote 'local'" in r.stderr and "no-such-remote" in r.stderr and "dvc remote modify" in r.stderr
    assert not (clone / "results" / "table1.csv").exists()


def test_corrupted_dvc_lock_is_reported_and_nothing_is_pulled(pushed):
    repo, _, tmp = pushed
    clone = tmp / "clone4"
    sh(tmp, "git", "clone", "-q", str(repo), str(clone))
    lock = clone / "dvc.lock"
    lock.write_text(lock.read_text().replace("outs:", "outs: [", 1))
    r = subprocess.run([str(BIN / "dvc"), "pull"], cwd=clone, env=ENV, capture_output=True, text=True)
    assert r.returncode != 0 and "dvc.lock" in r.stderr  # DVC itself refuses
    r = subprocess.run([str(BIN / "qrobust"), "pull"], cwd=clone, env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "dvc.lock is corrupted" in r.stderr
    assert "git checkout -- dvc.lock" in r.stderr
    assert not (clone / "results" / "table1.csv").exists() and not (clone / "data" / "prepared").exists()
