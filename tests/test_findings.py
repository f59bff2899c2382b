"""claims.md's one-screen summary, the findings block README shows, and `qrobust docs`, which copies a run's
outputs into the documents."""
import subprocess
import sys

import pandas as pd
import pytest
from _records import rows

from qrobust import findings
from qrobust.claims import CLAIMS, evaluate_claims
from qrobust.commands.docs import fill


@pytest.fixture(scope="module")
def judged():
    spec = [{"method": m, "beta": b, "act_bits": bits, "metric": "worst", "acc": acc, "masking": ""}
            for m, b, bits, acc in (("vanilla", 0.0, None, 60.0), ("vanilla", 0.0, 2, 20.0), ("dq", 1e-3, None, 60.0),
                                    ("dq", 1e-3, 2, 45.0))]
    return evaluate_claims({"table1": rows(spec, value="value")})


def test_the_summary_is_one_line_per_claim_under_a_fixed_header(judged):
    text = findings.summary(judged, "a test host")
    head = text.split("\n## ", 1)[0].rstrip("\n").splitlines()
    table = [ln for ln in head if ln.startswith("|")]
    assert len(table) == len(CLAIMS.names()) + 2  # header and rule
    assert head[:findings.SUMMARY_HEADER][0].startswith("# Claims") and findings.count_rows(text) == len(judged)
    assert all(len(ln) < 200 for ln in head)  # readable without scrolling sideways
    assert "| DQ | Vanilla quantized models are less robust than the full-precision model | holds | +40.0 [" in text
    assert text.count("\n### ") == len(judged)  # then one section per claim


def test_the_findings_block_says_what_claims_csv_says(judged, tmp_path):
    judged.to_csv(tmp_path / "claims.csv", index=False)
    back = pd.read_csv(tmp_path / "claims.csv")
    text = findings.block(back, "a test host")
    published = back[back.published]
    assert text.startswith(f"{len(published)} published findings judged")
    dq = next(ln for ln in text.splitlines() if ln.startswith("| DQ |"))
    counts = published[published.paper == "DQ"].verdict.value_counts()
    cells = [c.strip() for c in dq.strip("|").split("|")]
    assert int(cells[1]) == (published.paper == "DQ").sum()
    assert [int(c) for c in cells[2:]] == [int(counts.get(v, 0)) for v in ("holds", "fails", "inconclusive", "masked", "not run")]
    assert "dq-vanilla-quantized-less-robust holds (+40.0 [" in text
    assert "qrobust's own question: qu-anti-survives-other-quantizers not run" in text


def test_the_power_table_says_what_the_run_could_detect(judged):
    ran = judged[judged.detectable.notna()]
    assert len(ran) >= 1 and (ran.n_per_seed == 200).all() and (ran.n_seeds == 3).all()
    text = findings.power(judged, "a test host")
    body = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| claim")]
    assert len(body) == len(ran)
    for r, ln in zip(ran.itertuples(), body):
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert cells[:3] == [r.id, "3", "200"]
        assert float(cells[5]) == pytest.approx(r.detectable, abs=0.05)
        assert (cells[7] == "yes") == (r.detectable <= r.delta)
        if cells[7] != "yes":
            assert "seeds x 200 images" in cells[7] or "seeds x 800 images" in cells[7]


def test_qrobust_docs_fills_each_block_from_its_file_and_check_says_what_differs(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "findings.md").write_text("3 findings judged\n")
    doc = tmp_path / "README.md"
    doc.write_text("intro\n<!-- from: results/findings.md -->\nold text\n<!-- end -->\nafter\n")
    new, changed = fill(doc.read_text(), tmp_path)
    assert new == "intro\n<!-- from: results/findings.md -->\n3 findings judged\n<!-- end -->\nafter\n"
    assert changed == ["results/findings.md"] and fill(new, tmp_path)[1] == []

    def docs(*args):
        return subprocess.run([sys.executable, "-m", "qrobust.cli", "docs", *args], cwd=tmp_path, capture_output=True,
                              text=True)
    r = docs("README.md", "--check")
    assert r.returncode == 1 and "differs: README.md: results/findings.md" in r.stderr
    assert docs("README.md").returncode == 0 and "3 findings judged" in doc.read_text()
    assert docs("README.md", "--check").returncode == 0
    # a run that made only some files (README command 1: Table 1): those blocks are filled, the others kept
    (tmp_path / "results" / "findings.md").unlink()
    (tmp_path / "results" / "table1.md").write_text("| a |\n")
    doc.write_text(doc.read_text() + "<!-- from: results/table1.md -->\n<!-- end -->\n")
    before = doc.read_text()
    r = docs("README.md", "--check")
    assert r.returncode == 1 and "left as it is: README.md: results/findings.md" in r.stderr
    assert doc.read_text() == before
    r = docs("README.md")
    assert r.returncode == 0 and "not made yet; `snakemake results/findings.md` makes it" in r.stderr
    assert doc.read_text() == before.replace("table1.md -->\n<!-- end", "table1.md -->\n| a |\n<!-- end")
    assert "3 findings judged" in doc.read_text()
    with pytest.raises(FileNotFoundError, match="findings.md: not made yet"):
        fill(doc.read_text(), tmp_path)
