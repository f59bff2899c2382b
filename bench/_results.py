"""bench/RESULTS.md is shared: each script owns one '## ' section and replaces only that one."""
from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(heading: str, report: str) -> None:
    """`report` starts with `heading`; replace that section in place, or append it."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find(heading + "\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + report.rstrip("\n") + ("\n\n" + text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + report
    RESULTS.write_text(text.rstrip("\n") + "\n")
