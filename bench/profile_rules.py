"""Where the slowest rules spend their time: for the rules with the most job-seconds in a finished run (its
provenance records), one job each (the one with the median seconds) is run again under cProfile from its
recorded command (outputs to a scratch folder, no record; the job's modules imported beforehand, as the
warm job server has them), and the five functions with the most own time are reported as % of the job.

    python bench/profile_rules.py --run /path/to/finished/run [--rules 3]

Writes the section "## Profile of the slowest rules" of bench/RESULTS.md (unless --no-write).
"""
from __future__ import annotations

import argparse
import json
import os
import pstats
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _results import write_section  # noqa: E402

HEADING = "## Profile of the slowest rules"
OUT_FLAGS = ("--out", "--out-dir", "--metrics", "--checkpoint-out")


def _jobs(run: Path) -> dict[str, list[dict]]:
    by_rule = defaultdict(list)
    for f in (run / "results" / "provenance").rglob("*.json"):
        r = json.loads(f.read_text())
        if "seconds" in r and "command" in r:
            by_rule[r["rule"]].append(r)
    return by_rule


def _argv(command: str, scratch: Path) -> list[str]:
    """The recorded command with its outputs sent to `scratch` and no provenance record."""
    words = shlex.split(command)[1:]
    out, i = [], 0
    while i < len(words):
        w = words[i]
        if w in ("--prov", "--prov-io"):
            i += 2
            continue
        if w in OUT_FLAGS and i + 1 < len(words):
            out += [w, str(scratch / Path(words[i + 1]).name)]
            i += 2
            continue
        out.append(w)
        i += 1
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--rules", type=int, default=3, help="how many of the slowest rules")
    ap.add_argument("--only", nargs="+", default=None, help="profile these rules instead of the slowest")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    by_rule = _jobs(a.run)
    total = {rule: sum(r["seconds"] for r in rs) for rule, rs in by_rule.items()}
    slowest = a.only or sorted(total, key=total.get, reverse=True)[:a.rules]
    grand = sum(total.values())
    lines = [HEADING, ""]
    for rule in slowest:
        rs = sorted(by_rule[rule], key=lambda r: r["seconds"])
        job = rs[len(rs) // 2]
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            args = _argv(job["command"], tmp)
            env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), QROBUST_SERVER="0")
            t = time.perf_counter()
            # the job's modules imported first (as the warm job server has them), then only its run profiled
            code = ("import cProfile, importlib, sys; from qrobust.plan.sources import _job_closure; "
                    "[importlib.import_module(m) for m in sorted(_job_closure(sys.argv[2]))]; "
                    "from qrobust.runtime.dispatch import run_here; "
                    "cProfile.run('run_here(sys.argv[2:])', sys.argv[1])")
            r = subprocess.run([sys.executable, "-c", code, str(tmp / "prof"), *args],
                               cwd=a.run, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if r.returncode:
                sys.exit(f"profile_rules: {rule} failed:\n{r.stderr[-2000:]}")
            st = pstats.Stats(str(tmp / "prof"))
            whole = st.total_tt
            rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:a.top]  # own time
        lines += [f"`{rule}`: {len(rs)} jobs, {total[rule]:.0f} s of the run's {grand:.0f} job-seconds "
                  f"({100 * total[rule] / grand:.0f} %), median job {job['seconds']:.1f} s; profiled "
                  f"`{' '.join(args[:1])} ... {Path(args[args.index('--checkpoint') + 1]).name if '--checkpoint' in args else ''}` "
                  f"({wall:.1f} s under cProfile):", "", "| function | own s | % of the job |", "|---|---:|---:|"]
        for (file, line, name), (_, _, tt, _, _) in rows:
            where = f"{Path(file).name}:{line}" if file != "~" else "built-in"
            lines.append(f"| `{name}` ({where}) | {tt:.2f} | {100 * tt / whole:.0f} |")
        lines.append("")
        print("\n".join(lines[-a.top - 4:]), flush=True)
    import torch  # noqa: F401  (cpu_record names torch's capability once it is loaded)

    from qrobust.runtime.hardware import cpu_record

    cpu = cpu_record()
    lines.insert(2, f"`python bench/profile_rules.py --run <finished default run> --rules {a.rules}` on {cpu['model']} "
                    f"({cpu.get('torch_capability')}, {cpu['cores']} cores); one torch thread, as the jobs run.\n")
    report = "\n".join(lines).rstrip() + "\n"
    print(report)
    if not a.no_write:
        write_section(HEADING, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
