"""A config's grids (Table 1's activation bits, the quantizer suite's bit pairs, Table 7's bit-widths,
the seeds) are wildcards of file names, in no folder key and no job's params: growing a grid plans the
new jobs and leaves every existing job's paths and command (so its params) as they were."""
from __future__ import annotations

import re

import pytest

from _helpers import copy_workflow, snakemake

GATHER = ("table", "figure", "claims", "scorecard", "all")  # jobs that read the whole grid: they do rerun


def _commands(wd, target, extra_yaml: str | None) -> dict[str, str]:
    """Output file -> the shell command of the job that makes it, planned from scratch (a dry run)."""
    args = [target, "-n", "-p", "--cores", "1", "--configfile", "config/tiny.yaml"]
    if extra_yaml:
        (wd / "config" / "grow.yaml").write_text(extra_yaml)
        args.append("config/grow.yaml")
    r = snakemake(wd, *args)
    assert r.returncode == 0, r.stderr[-2000:]
    out, jobs = r.stdout + r.stderr, {}
    parts = re.split(r"^(?:local)?rule (\w+):$", out, flags=re.M)[1:]
    for rule, block in zip(parts[::2], parts[1::2]):
        outputs = re.search(r"^    output: (.+)$", block, re.M)
        cmd = re.search(r"^Shell command: (.+)$", block, re.M)
        if outputs and cmd and rule not in GATHER:
            jobs.update(dict.fromkeys(outputs.group(1).split(", "), cmd.group(1)))
    return jobs


def _own_bits(name: str, bits: list) -> str:
    """config/tiny.yaml's quantizer-suite schemes as they are, one of them given its own bit pairs."""
    import yaml

    from _helpers import ROOT

    schemes = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())["quantize"]["schemes"]
    grown = [{**s, "bits": bits} if s["name"] == name else s for s in schemes]
    return yaml.safe_dump({"quantize": {"schemes": grown}}, default_flow_style=True)


@pytest.mark.parametrize("target,grow,new_rules", [
    ("results/table1.csv", "quant: {act_bits: [null, 2, 3]}", {"train", "evaluate", "worst_case"}),
    ("results/table1.csv", "seeds: [0, 1]", {"train", "evaluate", "worst_case"}),
    ("results/quantizers.csv", "quantize: {bits: [[4, 4], [8, 8]]}", {"quantize", "evaluate"}),
    ("results/table7.csv", "li2024: {bits: [4, 2]}", {"li2024_quantize", "li2024_eval", "worst_case"}),
    # one scheme's own bit pairs (the robustness benchmark's W/A grid for its QAT methods, config/paper.yaml)
    ("results/quantizers.csv", _own_bits("qat-pact", [[4, 4], [2, 2]]), {"quantize", "evaluate"}),
])
def test_growing_a_grid_keeps_every_existing_job(tmp_path, target, grow, new_rules):
    wd = copy_workflow(tmp_path / "wd")
    before = _commands(wd, target, None)
    after = _commands(wd, target, grow)
    assert before and set(before) < set(after)  # more jobs, the old ones under the same paths
    changed = [f for f in before if before[f] != after[f]]
    assert not changed, f"{len(changed)} existing jobs would rerun, e.g. {changed[0]}"
    rules = {f.split("/")[2] for f in set(after) - set(before) if f.startswith("results/provenance/")}
    assert len(before) > 10 and all(c.startswith("qrobust ") for c in before.values())
    assert new_rules <= rules, rules
