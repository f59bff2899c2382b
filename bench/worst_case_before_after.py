"""The worst case before and after the stronger ensemble, side by side, on the same checkpoints and images.

For each Table 1 model of a finished default run (vanilla and DQ at every bit-width, one seed), the
worst_case job as it stood at `--before` (default 1fea840: one BPDA temperature, last-iterate transfers,
20-step transfers, the audit's attacks kept apart) and as it stands now, each with its own code and its
own config's worst_case section, interleaved model by model in one run, one torch thread each: seconds
(ensemble + audit, the job's own timing) and the reported worst-case accuracy on the seed's 100 images.

    python bench/worst_case_before_after.py --run /path/to/finished/run [--seed 0] [--before 1fea840]

Writes the section "## Worst case before and after the stronger ensemble" of bench/RESULTS.md (unless
--no-write).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _results import write_section  # noqa: E402

HEADING = "## Worst case before and after the stronger ensemble"


def _records(run: Path, seed: int, methods: list[str]) -> list[dict]:
    """The Table 1 worst_case records of `seed` (defense none) of `methods` in the finished run."""
    table1 = re.compile(rf"^({'|'.join(map(re.escape, methods))})_a(fp|\d+)_s{seed}$")
    out = []
    for f in sorted((run / "results" / "provenance").rglob("*.json")):
        r = json.loads(f.read_text())
        if r.get("rule") != "worst_case" or "--defense none" not in r.get("command", ""):
            continue
        if table1.match(Path(_args(r["command"])["--checkpoint"]).stem):
            out.append(r)
    return sorted(out, key=lambda r: _args(r["command"])["--checkpoint"])


def _args(command: str) -> dict:
    import shlex

    words = shlex.split(command)[2:]
    return {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2) if words[i].startswith("--")}


def _slice(src: Path, base_slice: dict) -> dict:
    """`base_slice` with the worst_case section of the config/config.yaml at `src`'s tree, validated by that code."""
    code = ("import json, sys; from qrobust.config import load_config; "
            "print(json.dumps(load_config(sys.argv[1])['worst_case']))")
    r = subprocess.run([sys.executable, "-c", code, str(src / "config" / "config.yaml")], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(src / "src")), check=True)
    return {**base_slice, "worst_case": json.loads(r.stdout)}


def _job(src: Path, run: Path, args: dict, cfg: dict, out: Path) -> dict:
    cmd = [sys.executable, "-m", "qrobust.cli", "worst_case", "--cfg", json.dumps(cfg), "--data", args["--data"],
           "--checkpoint", args["--checkpoint"], "--defense", "none", "--out", str(out)]
    if "--substitute" in args:
        cmd += ["--substitute", args["--substitute"]]
    env = dict(os.environ, PYTHONPATH=str(src / "src"), QROBUST_SERVER="0")
    r = subprocess.run(cmd, cwd=run, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"worst_case_before_after: {' '.join(cmd[:4])} failed:\n{r.stderr[-2000:]}")
    res = json.loads(out.read_text())
    # the saturation check (after only): how far the strongest attack the audit adds moves the worst case
    moves = [c["value"] for c in res["audit"].get("checks", []) if c["check"] == "saturated"]
    return {"worst": res["worst_acc"], "seconds": sum(res["seconds"].values()), "flags": res["audit"]["flags"],
            "move": moves[0] if moves else None, "robust": _robust(res)}


def _robust(res: dict) -> str:
    """Per image "1" where the reported worst case kept it: the job's worst_correct where it folds the audit in
    (after), else correct clean and fooled by no member (a pruned member's "-" fooled nothing)."""
    if "worst_correct" in res:
        return res["worst_correct"]
    from qrobust.evaluation.worst_case import bits, unbits, unfooled

    robust = unbits(res["correct"]["clean"])
    for k, v in res["correct"].items():
        robust &= unfooled(v)
    return bits(robust)


def _only(a: str, b: str) -> float:
    """% of the images that a kept robust and b fooled (b's own share beside a)."""
    return 100.0 * sum(x == "1" and z == "0" for x, z in zip(a, b)) / len(a)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True, help="a finished default run (its results/ and data/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--before", default="1fea840")
    ap.add_argument("--methods", nargs="+", default=["vanilla_beta0", "dq_beta0.001"], help="run-name prefixes")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    recs = _records(a.run, a.seed, a.methods)
    if not recs:
        sys.exit(f"worst_case_before_after: no Table 1 worst_case records of seed {a.seed} under {a.run}/results/provenance")
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        before.mkdir()
        tar = subprocess.run(["git", "archive", a.before, "src", "config"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=tar, check=True)
        rows = []
        for r in recs:
            args = _args(r["command"])
            name = Path(args["--checkpoint"]).stem
            cfg_b, cfg_a = _slice(before, r["config"]), _slice(ROOT, r["config"])
            b = _job(before, a.run, args, cfg_b, Path(tmp) / "b.json")
            n = _job(ROOT, a.run, args, cfg_a, Path(tmp) / "a.json")
            rows.append((name, b, n))
            print(name, {k: v for k, v in b.items() if k != 'robust'}, {k: v for k, v in n.items() if k != 'robust'},
                  flush=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    import torch  # noqa: F401  (the record names torch's CPU capability once torch is loaded)

    from qrobust.runtime.hardware import cpu_record

    cpu = cpu_record()
    lines = [HEADING, "",
             f"`python bench/worst_case_before_after.py --run <finished default run> --seed {a.seed}` on {cpu['model']} "
             f"({cpu.get('torch_capability')}, {cpu['cores']} cores), one torch thread per job, before = commit {a.before}, "
             f"after = {head}, each with its own config's worst_case section, interleaved model by model. Worst case "
             "(%) as each version reports it (after: the audit's attacks folded in) on the seed's 100 test images; "
             "seconds = ensemble + audit; saturation: the audit's `saturated` value, the largest share of the attacks it adds "
             "(second random draws of PGD and APGD, the doubled PGD, the second staircase), each taken as the last added: the "
             "images it alone fooled (flagged at 1 or more); before only: the images the older ensemble, with its own "
             "random draws, fooled and the new one with its audit did not (what a second whole ensemble adds).", "",
             "| model | before: worst | s | after: worst | s | after - before | saturation | before only | after's flags |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, b, n in rows:
        move = "-" if n["move"] is None else f"{n['move']:.1f}"
        lines.append(f"| {name} | {b['worst']:.1f} | {b['seconds']:.1f} | {n['worst']:.1f} | {n['seconds']:.1f} | "
                     f"{n['worst'] - b['worst']:+.1f} | {move} | {_only(n['robust'], b['robust']):.1f} | "
                     f"{', '.join(n['flags']) or 'none'} |")
    tb, ta = sum(b["seconds"] for _, b, _ in rows), sum(n["seconds"] for _, _, n in rows)
    lines += ["", f"Total {tb:.0f} s before, {ta:.0f} s after ({ta / tb:.2f}x); the worst case lower after on "
              f"{sum(n['worst'] < b['worst'] for _, b, n in rows)} of {len(rows)} models, higher on "
              f"{sum(n['worst'] > b['worst'] for _, b, n in rows)}; the older ensemble fooled images the new one left on "
              f"{sum(_only(n['robust'], b['robust']) > 0 for _, b, n in rows)} models."]
    report = "\n".join(lines) + "\n"
    print(report)
    if not a.no_write:
        write_section(HEADING, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
