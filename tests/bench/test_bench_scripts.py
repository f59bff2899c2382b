"""The prepared benchmark scripts run (tiny sizes on CPU) and report what they promise."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_sizing_runs_on_cpu_and_estimates_the_paper_config():
    r = subprocess.run([sys.executable, "bench/gpu_sizing.py", "--device", "cpu", "--images", "16", "--batch", "8",
                        "--small", "--models", "resnet18", "--no-dag", "--no-write"],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    num = r"([\d.]+(?:e[+-]?\d+)?)"
    row = re.search(rf"^\| resnet18 \| [\d.]+ \| {num} \| {num} \| nan \| {num} \| {num} \|", r.stdout, re.M)
    assert row and all(float(v) > 0 for v in row.groups()), r.stdout
    # the estimate prices the paper DAG's real job counts: training dominates, worst_case is there
    rules = dict(re.findall(r"^\| (\w+) \| (\d+) \| [\d.]+ \|$", r.stdout, re.M))
    assert int(rules["train"]) >= 24 and "worst_case" in rules, r.stdout
    total = re.search(r"^\| \*\*total\*\* \| \*\*(\d+)\*\* \| \*\*(\d+)\*\* \|", r.stdout, re.M)
    assert total and int(total.group(1)) > 100 and int(total.group(2)) > 0, r.stdout


def test_startup_bench_measures_both_ways():
    r = subprocess.run([sys.executable, "bench/startup.py", "--rounds", "1", "--jobs", "table", "--no-write"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    row = re.search(r"^\| table \| ([\d.]+) \| ([\d.]+) \|", r.stdout, re.M)
    assert row and float(row.group(1)) > 0 and float(row.group(2)) > 0, r.stdout


def test_quantizers_bench_times_every_method_at_every_bit_pair():
    r = subprocess.run([sys.executable, "bench/quantizers.py", "--quick", "--bits", "4,4", "2,4", "--no-write"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    row = r"^\| ((?:qat|ptq)-[\w ()-]+?) \| (W\dA\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \|$"
    rows = re.findall(row, r.stdout, re.M)
    methods = ("qat-ste", "qat-pact", "qat-lsq", "qat-dorefa", "ptq-mse", "ptq-adaround", "ptq-brecq", "ptq-qdrop")
    assert {(m.split()[0], b) for m, b, *_ in rows} == {(m, b) for m in methods for b in ("W4A4", "W2A4")}, r.stdout
    assert all(float(cpu) > 0 and 0 <= float(acc) <= 100 for _, _, cpu, _, acc, _ in rows)
    assert "adds 3 bit pairs x 3 seeds = 9 models" in r.stdout  # the default config's grid


def test_maxpool_bench_compares_side_by_side_and_checks_identity():
    r = subprocess.run([sys.executable, "bench/maxpool.py", "--rounds", "1", "--images", "20", "--square-images", "4",
                        "--train-images", "128",
                        "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = re.findall(r"^\| (.+?) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| (yes|NO) \|$", r.stdout, re.M)
    assert len(rows) == 7 and all(row[4] == "yes" and float(row[1]) > 0 for row in rows), r.stdout


@pytest.mark.slow
def test_scaling_bench_counts_the_grown_grids_and_times_a_chain_per_size():
    r = subprocess.run([sys.executable, "bench/scaling.py", "--configfile", "config/tiny.yaml", "--sizes", "300",
                        "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    jobs = {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"^\| (.+?) \| (\d+) \| - \| (\d+) \|$", r.stdout, re.M)}
    assert len(jobs) == 5, r.stdout
    default = jobs.pop("default")
    assert default[1] == 0 and all(n > default[0] and new > 0 for n, new in jobs.values()), jobs
    size = re.search(r"^\| 300 \| ([\d.]+) \| ([\d.]+) \(\d+ MB\) \| ([\d.]+) \(\d+ MB\) \| ([\d.]+) \(\d+ MB\) \| ([\d.]+) \(\d+ MB\) \|$",
                     r.stdout, re.M)
    assert size and all(float(v) > 0 for v in size.groups()), r.stdout


def test_memory_format_bench_times_both_layouts_and_checks_agreement():
    r = subprocess.run([sys.executable, "bench/memory_format.py", "--rounds", "1", "--steps", "1",
                        "--models", "small_cnn 2-bit", "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = re.findall(r"^\| small_cnn 2-bit \| (training step|input gradient|forward)[^|]*\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$",
                      r.stdout, re.M)
    assert [p for p, *_ in rows] == ["training step", "input gradient", "forward"], r.stdout
    assert all(float(c) > 0 and float(cl) > 0 for _, c, cl, _ in rows), r.stdout
    agree = re.search(r"^\| small_cnn 2-bit \| ([\d.e+-]+) \| (\d+) \| (yes|NO) \|$", r.stdout, re.M)
    assert agree and agree.group(3) == "yes", r.stdout  # channels_last repeats itself bit for bit


def test_malloc_bench_runs_both_settings_side_by_side_and_checks_the_bytes():
    r = subprocess.run([sys.executable, "bench/malloc.py", "--rounds", "1", "--reps", "1", "--images", "100",
                        "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = re.findall(r"^\| small_cnn (?:float|4-bit) \| (fwd500|fwd128|grad100|grad250|train64) \| (\d+) \| (\d+) \| ([\d.]+) \|$",
                      r.stdout, re.M)
    assert len(rows) == 10 and all(float(ratio) > 0 for *_, ratio in rows), r.stdout
    assert ("Same bytes (logits, input gradients, trained weights) in every process, and fwd128's logits fwd500's: yes"
            in r.stdout)
    assert "Thresholds set in every tuned child and in no default one: yes" in r.stdout


def test_a_rewritten_section_replaces_only_itself_and_keeps_the_blank_line_before_the_next(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # undone after the test, so bench/ shadows nothing later
    import _results

    monkeypatch.setattr(_results, "RESULTS", tmp_path / "RESULTS.md")
    _results.RESULTS.write_text("# Benchmark results\n\n## A\n\nold a\n\n## B\n\nb\n")
    _results.write_section("## A", "## A\n\nnew a\n| x |")
    _results.write_section("## C", "## C\n\nc")
    assert _results.RESULTS.read_text() == "# Benchmark results\n\n## A\n\nnew a\n| x |\n\n## B\n\nb\n\n## C\n\nc\n"
    _results.write_section("## C", "## C\n\nc2\n")  # the last section
    assert _results.RESULTS.read_text().endswith("## B\n\nb\n\n## C\n\nc2\n")


def test_claims_side_by_side_names_a_flip_between_holds_and_fails(tmp_path):
    cols = "id,verdict,effect,ci_low,ci_high\n"
    (tmp_path / "a.csv").write_text(cols + "x,holds,5.0,1.0,9.0\ny,inconclusive,1.0,-2.0,4.0\nz,fails,-3.0,-6.0,-1.0\n")
    (tmp_path / "b.csv").write_text(cols + "x,fails,-1.0,-3.0,0.5\ny,holds,3.0,0.5,5.5\nz,fails,-2.0,-5.0,-0.5\n")
    r = subprocess.run([sys.executable, "bench/claims_side_by_side.py", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
                        "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr[-2000:]
    rows = {ln.split(" | ")[0].strip("| "): ln for ln in r.stdout.splitlines() if ln.startswith("| ") and "---" not in ln}
    assert rows["x"].endswith("| **flip** |") and rows["y"].endswith("| moved |") and rows["z"].endswith("|  |")
    assert "holds: 5.0 [1.0, 9.0]" in rows["x"]
    assert "1 of 3 verdicts the same; 1 flips between holds and fails (x)." in r.stdout
