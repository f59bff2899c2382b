"""Missing raw data is found when the DAG is built, before any job is planned or submitted: one
line naming the files and how to get them, locally and through the slurm profile."""
import pytest

from _helpers import ROOT, copy_workflow, snakemake


@pytest.fixture(scope="module")
def wd(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("missing_raw"))


@pytest.mark.parametrize("profile", [[], ["--profile", str(ROOT / "profiles/slurm")]], ids=["local", "slurm"])
def test_paper_config_without_cifar10_stops_before_planning(wd, profile):
    r = snakemake(wd, "results/table1.csv", "-n", *profile, "--configfile", "config/paper.yaml")
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("qrobust: data error:")]
    assert len(lines) == 1, r.stderr[-2000:]
    line = lines[0]
    assert "dataset cifar10: missing data/raw/cifar-10-batches-py/data_batch_1 (and 6 more)" in line
    assert "download=True" in line and "data.raw_root" in line
    assert "prepare_data" not in r.stdout and not (wd / "data" / "prepared").exists()


def test_the_embedded_data_needs_nothing_and_an_empty_imagefolder_names_its_folders(wd, tmp_path):
    from qrobust.datasets import missing_raw

    assert missing_raw("mnist5k", None) is None  # the package's own file
    assert "put images under" in missing_raw("imagefolder", tmp_path)
    r = snakemake(wd, "results/table1.csv", "-n", "--configfile", "config/tiny.yaml")
    assert r.returncode == 0 and "qrobust: data error" not in r.stderr


def test_the_missing_data_check_imports_no_torch(tmp_path):
    """The Snakefile asks `missing_raw` while it parses, before any split is prepared: the answer for every
    dataset comes without importing torch (1.5 s of every first plan, measured)."""
    import subprocess
    import sys

    code = ("import sys; from qrobust.datasets import missing_raw\n"
            f"for name in ('mnist5k', 'cifar10', 'svhn', 'mnist', 'imagefolder'): missing_raw(name, {str(tmp_path)!r})\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
