"""Print the chain from a file or a table cell back to the raw data, code and config."""
from __future__ import annotations

import json

from qrobust.commands import add_records


def add_arguments(p) -> None:
    p.add_argument("file", help="e.g. results/table1.csv or a checkpoint; `all`: every final output of the run")
    p.add_argument("--row", help='a table row by its first column, e.g. "DQ (1e-3)" or Normal')
    p.add_argument("--col", help='a table column, e.g. 4, "Full Prec." or FGSM')
    p.add_argument("--metric", help="where a row label repeats, its second column (Table 1: clean, adv or worst-case)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--prov-json", metavar="FILE", help="also write the chain as W3C PROV-JSON")
    p.add_argument("--prov-n", metavar="FILE", help="also write the chain as PROV-N")
    p.add_argument("--ro-crate", metavar="DIR", help="also write the chain as a Workflow Run RO-Crate")
    add_records(p)


def run(a) -> None:
    from qrobust.commands._freshness import mark
    from qrobust.provenance.record import ProvenanceError, chain, format_chain, load_records
    from qrobust.provenance.refs import relpath

    index = load_records(a.records)
    if a.row is not None or a.col is not None:
        if a.row is None or a.col is None:
            raise ValueError("--row and --col go together (with --metric where a row label repeats)")
        from qrobust.commands._cells import cell_inputs

        value, files = cell_inputs(a.file, a.row, a.col, a.metric, index)
        head = {"file": a.file, "row": a.row, "col": a.col, "metric": a.metric, "value": value}
        # the table itself, pruned to the evaluation files behind this one cell
        root = chain(a.file, index)
        root["inputs"] = [n for n in root["inputs"] if n["file"] in files]
    elif a.file == "all":  # every output no other job read: the run's final products
        used = {i for rec in index.values() for i in rec["inputs"]}
        finals = sorted(f for f in index if f not in used and not f.startswith("results/provenance/"))
        hashes: dict = {}
        roots = [chain(f, index, hashes=hashes) for f in finals]
        for r in roots:
            mark(r, index)
        _export(a, roots)
        print(f"{len(finals)} final output(s), {len({rec['_path'] for rec in index.values()})} job(s)"
              + "".join(f"; wrote {p}" for p in (a.prov_json, a.prov_n, a.ro_crate) if p))
        return
    else:
        if relpath(a.file) not in index:
            raise ProvenanceError(f"{a.file}: no provenance record made it; name a pipeline output under results/ or data/prepared/")
        head, root = {"file": a.file}, chain(a.file, index)
    mark(root, index)  # stale jobs: code changed since they ran, or an input that changed
    _export(a, [root])
    code = index.get(root["file"], {}).get("code", {})
    if a.json:
        print(json.dumps({**head, "code_version": {k: code.get(k) for k in ("git_commit", "git_dirty")}, "chain": root}, indent=2))
        return
    if "value" in head:
        cell = ", ".join(str(x) for x in (a.row, a.metric, a.col) if x is not None)
        print(f"{a.file} [{cell}] = {head['value']}  (from {len(root['inputs'])} input file(s))")
    print("\n".join(format_chain(root)))


def _export(a, roots: list[dict]) -> None:
    if a.prov_json or a.prov_n:
        from qrobust.commands._export import write_prov

        write_prov(roots, a.prov_json or a.prov_n + ".json", a.prov_n)
    if a.ro_crate:
        from qrobust.commands._export import write_ro_crate

        write_ro_crate(roots, a.ro_crate)
