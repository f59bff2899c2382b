"""docs/extending.md's table, followed literally in a scratch copy: a new paper is its folder, its
.smk, one include line and its config section; the other papers' results are not touched."""
import os
import subprocess
import sys

import pandas as pd
import pytest

from _helpers import BIN, planned_jobs

pytestmark = pytest.mark.slow

SCHEMA = """description: a toy paper
type: object
additionalProperties: false
default: {}
properties:
  min_clean: {type: number, minimum: 0, maximum: 100, default: 50}
"""
TABLE = '''"""Toy table: mean clean accuracy per method, from Table 1's evaluations."""
import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables._base import register_table, write_table_files


@register_table("toy1")
def build(paths, out_csv, cfg):
    # per-image outcomes (the test images and whether each was right) are what claims are judged on; Table 1's
    # evaluations only (its worst cases measure a sample of the images)
    long = pd.DataFrame([{"method": m["run"]["method"], "seed": m["run"]["seed"], "clean": m["clean_acc"],
                          "images": m["images"], "correct": m["correct"]["clean"]}
                         for m in map(atomic.read_json, [p for p in paths if "/metrics/eval/" in str(p)])])
    table = long.groupby("method", as_index=False).clean.mean()
    table["above"] = table.clean >= cfg["min_clean"]
    return table, write_table_files(table, long, out_csv, "Toy table")
'''
CLAIMS = '''from qrobust.claims import claim
from qrobust.evidence import difference, result


@claim("toy-learns", "Toy", "Table T1", "Every method learns: clean accuracy above 50 %.", ("toy1",), delta=5.0,
       training=False)
def _learns(t):
    # per seed and test image: correct (100) or not (0), minus 50; the interval covers seeds and images
    return result(difference(t["toy1"], shift=50.0, label="clean accuracy minus 50"), "clean accuracy minus 50 points")
'''
SMK = '''# A toy paper: one table from Table 1's evaluations.

TABLES["toy1"] = TABLES["table1"]
TABLE_CFG["toy1"] = lambda: {"min_clean": config["toy"]["min_clean"]}
CLAIM_TABLES += ["toy1"]
'''


def test_a_new_paper_is_a_folder_a_smk_an_include_and_a_config_section(finished):
    wd = finished
    paper = wd / "src" / "qrobust" / "papers" / "toy"
    paper.mkdir()
    (paper / "__init__.py").write_text("")
    (paper / "schema.yaml").write_text(SCHEMA)
    (paper / "table.py").write_text(TABLE)
    (paper / "claims.py").write_text(CLAIMS)
    (wd / "workflow" / "rules" / "toy.smk").write_text(SMK)
    snakefile = (wd / "Snakefile").read_text()
    (wd / "Snakefile").write_text(snakefile.replace('include: "workflow/rules/report.smk"',
                                                    'include: "workflow/rules/toy.smk"\ninclude: "workflow/rules/report.smk"'))
    (wd / "config" / "toy.yaml").write_text("toy: {min_clean: 60}\n")
    # the scratch copy's package, its jobs included
    env = dict(os.environ, PYTHONPATH=str(wd / "src"), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    args = ["--cores", "2", "--configfile", "config/tiny.yaml", "config/toy.yaml"]
    r = subprocess.run([str(BIN / "snakemake"), "results/toy1.csv", *args], cwd=wd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    t = pd.read_csv(wd / "results" / "toy1.csv")
    assert sorted(t.method) == ["dq", "vanilla"] and t.above.all()
    # Table 1 and its figure are untouched by the new paper
    r = subprocess.run([str(BIN / "snakemake"), "-n", "results/table1.csv", "results/figures/fig1.png", *args], cwd=wd, env=env,
                       capture_output=True, text=True)
    assert planned_jobs(r) == {}, r.stdout[-2000:]
    # its config section is validated like the others, and its claim is registered with no other edit
    code = ("from qrobust.claims import evaluate_claims, in_report_order; from qrobust.tables._base import read_long; "
            "print(in_report_order()[-1]); c = evaluate_claims({'toy1': read_long('results/toy1_long.csv')}).set_index('id'); "
            "print(c.loc['toy-learns', 'verdict'], c.loc['toy-learns', 'n_images'])")
    last = subprocess.run([sys.executable, "-c", code], cwd=wd, env=env, capture_output=True, text=True)
    key, judged = last.stdout.strip().splitlines()
    assert key == "toy-learns" and judged.split()[0] in ("holds", "inconclusive"), last.stderr
    assert int(judged.split()[1]) == 200  # the tiny config's test images
    (wd / "config" / "toy.yaml").write_text("toy: {min_clean: 200}\n")
    bad = subprocess.run([str(BIN / "snakemake"), "-n", "results/toy1.csv", *args], cwd=wd, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "config key 'toy.min_clean': 200 is out of range" in bad.stderr
