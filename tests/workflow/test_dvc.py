"""DVC round trip: run, push; in a fresh clone pull, restore, and Snakemake has nothing to do."""
import subprocess

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
    dry = sh(clone, str(BIN / "snakemake"), "-n", "results/table1.csv", "results/figures/fig1.png", "--cores", "1")
    assert "Nothing to be done" in dry, dry[-2000:]
    assert "up to date" in sh(clone, str(BIN / "dvc"), "status")
    metrics = sh(clone, str(BIN / "dvc"), "metrics", "show")
    assert "Vanilla" in metrics and "Full Prec." in metrics


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
    dry = sh(clone, str(BIN / "snakemake"), "-n", "results/table1.csv", "results/figures/fig1.png", "--cores", "1")
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
