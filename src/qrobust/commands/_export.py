"""Standard exports of a provenance chain (provenance.chain): W3C PROV and a Workflow Run RO-Crate.

PROV (the `prov` package): every file is an entity (`qr:<path>`, with its recorded and current
sha256), every job an activity (`qrjob:<record>`, with rule, command, seed, config hash, host and
times) associated with the qrobust software agent; `used`, `wasGeneratedBy` and
`wasDerivedFrom` follow the chain down to the raw data, the entities no job made.
Written as PROV-JSON and PROV-N.

RO-Crate (the `rocrate` package, Workflow Run Crate profile): the Snakefile is the main
ComputationalWorkflow, every job a CreateAction with the workflow as `instrument`, its input
files as `object` and its outputs as `result`; files are described by path and sha256 (their
bytes are not copied into the crate: checkpoints are large and DVC holds them).
"""
from __future__ import annotations

from pathlib import Path

NS = "https://qrobust.invalid/file/"
NS_JOB = "https://qrobust.invalid/job/"
WFRUN = ["https://w3id.org/ro/wfrun/process/0.5", "https://w3id.org/ro/wfrun/workflow/0.5"]


def _walk(node: dict, jobs: dict, files: dict) -> None:
    """Flatten a chain: files by path, jobs by record (each once) with their inputs and outputs."""
    files.setdefault(node["file"], node)
    if "job" not in node:
        return
    rec = node["job"]["record"]
    job = jobs.setdefault(rec, {**node["job"], "inputs": [], "outputs": []})
    if node["file"] not in job["outputs"]:
        job["outputs"].append(node["file"])
    for child in node.get("inputs", []):
        if child["file"] not in job["inputs"]:
            job["inputs"].append(child["file"])
        _walk(child, jobs, files)


def flatten(roots: list[dict]) -> tuple[dict, dict]:
    jobs: dict = {}
    files: dict = {}
    for root in roots:
        _walk(root, jobs, files)
    return jobs, files


def to_prov(roots: list[dict]):
    """A prov.model.ProvDocument of the chains under `roots`."""
    from datetime import datetime

    from prov.model import ProvDocument

    jobs, files = flatten(roots)
    doc = ProvDocument()
    doc.add_namespace("qr", NS)
    doc.add_namespace("qrjob", NS_JOB)
    doc.add_namespace("qrobust", "https://qrobust.invalid/ns#")
    agent = doc.agent("qrjob:qrobust", {"prov:type": "prov:SoftwareAgent", "prov:label": "qrobust"})
    for path, f in files.items():
        doc.entity(f"qr:{path}", {"prov:label": path, "qrobust:sha256_recorded": f["sha256_recorded"] or "",
                                  "qrobust:sha256_now": f["sha256_now"] or "", "qrobust:intact": bool(f["intact"]),
                                  "qrobust:raw": "job" not in f})
    for rec, j in jobs.items():
        start = datetime.strptime(j["start"], "%Y-%m-%dT%H:%M:%S%z") if j.get("start") else None
        end = datetime.strptime(j["end"], "%Y-%m-%dT%H:%M:%S%z") if j.get("end") else None
        act = doc.activity(f"qrjob:{rec}", start, end, {
            "prov:label": j["rule"], "qrobust:rule": j["rule"], "qrobust:command": j["command"],
            "qrobust:seed": "" if j["seed"] is None else j["seed"], "qrobust:config_sha256": j["config_sha256"],
            "qrobust:host": j["host"], "qrobust:git_commit": j["code"]["git_commit"] or ""})
        doc.wasAssociatedWith(act, agent)
        for inp in j["inputs"]:
            doc.used(act, f"qr:{inp}")
        for out in j["outputs"]:
            doc.wasGeneratedBy(f"qr:{out}", act)
            for inp in j["inputs"]:
                doc.wasDerivedFrom(f"qr:{out}", f"qr:{inp}", act)
    return doc


def write_prov(roots: list[dict], json_path, provn_path=None) -> None:
    from qrobust.runtime import atomic

    doc = to_prov(roots)
    atomic.write_text(json_path, doc.serialize(format="json", indent=1) + "\n")
    if provn_path:
        atomic.write_text(provn_path, doc.get_provn() + "\n")


def write_ro_crate(roots: list[dict], dest) -> Path:
    """A Workflow Run RO-Crate (folder `dest`, ro-crate-metadata.json inside) of the chains; written
    beside it first and renamed, so a failed export leaves an earlier crate whole."""
    import shutil
    import warnings

    from rocrate.model.contextentity import ContextEntity
    from rocrate.model.file import File
    from rocrate.rocrate import ROCrate

    jobs, files = flatten(roots)
    crate = ROCrate()
    crate.name = "qrobust run: " + ", ".join(r["file"] for r in roots)
    crate.root_dataset["conformsTo"] = [{"@id": u} for u in WFRUN]
    wf = crate.add_workflow(source=None, dest_path="Snakefile", main=True, lang="snakemake",
                            properties={"name": "qrobust Snakemake workflow"})
    entities = {}
    for path, f in files.items():
        props = {"name": path, "sha256": f["sha256_recorded"] or ""}
        entities[path] = crate.add(File(crate, source=None, dest_path=path, properties=props))
    for rec, j in jobs.items():
        props = {"name": f"{j['rule']} ({rec})", "description": j["command"], "startTime": j.get("start"),
                 "endTime": j.get("end")}
        action = crate.add_action(wf, identifier=f"#job-{rec}", object=[entities[i] for i in j["inputs"]],
                                  result=[entities[o] for o in j["outputs"]], properties=props)
        action["agent"] = {"@id": "#qrobust"}
    crate.add(ContextEntity(crate, "#qrobust", properties={"@type": "SoftwareApplication", "name": "qrobust"}))
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with warnings.catch_warnings():  # "No source for <file>": by design, the crate describes files, it does not copy them
        warnings.filterwarnings("ignore", message="No source for")
        crate.write(tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest
