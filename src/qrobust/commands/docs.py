"""Copy a run's outputs into the documents that show them: every block between `<!-- from: PATH -->` and
`<!-- end -->` in README.md and docs/papers.md becomes the current text of PATH (results/findings.md,
results/table1.md, ...), so what they show is what the code gave. `--check`: change nothing, exit 1 where a
block differs from its file. A block whose file the run has not made (README command 1 makes Table 1 only) is left
as it is and named on stderr, with the target that makes it; `--check` counts it as differing.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

BLOCK = re.compile(r"(<!-- from: (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)


def add_arguments(p) -> None:
    p.add_argument("files", nargs="*", default=["README.md", "docs/papers.md"], help="documents to update")
    p.add_argument("--check", action="store_true", help="report blocks that differ from their files; change nothing")


def fill(text: str, root: Path = Path("."), missing: list[str] | None = None) -> tuple[str, list[str]]:
    """`text` with every block replaced by its file's text; the paths whose blocks changed. A block whose file
    does not exist stays as it is; its path is appended to `missing` (FileNotFoundError when `missing` is None)."""
    changed = []

    def repl(m):
        path = root / m["path"]
        if not path.is_file():
            if missing is None:
                raise FileNotFoundError(f"{path}: not made yet; `snakemake {m['path']}` makes it (then run qrobust docs "
                                        "again)")
            missing.append(m["path"])
            return m.group(0)
        body = path.read_text().rstrip("\n") + "\n"
        if body != m["body"]:
            changed.append(m["path"])
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(repl, text), changed


def run(a) -> int:
    from qrobust.runtime import atomic

    stale, absent = [], []
    for name in a.files:
        doc = Path(name)
        if not doc.is_file():
            raise FileNotFoundError(f"{doc}: no such document")
        missing: list[str] = []
        new, changed = fill(doc.read_text(), missing=missing)
        stale += [f"{doc}: {p}" for p in changed]
        absent += [(doc, p) for p in missing]
        if changed and not a.check:
            atomic.write_text(doc, new)
    for doc, path in absent:
        print(f"qrobust docs: left as it is: {doc}: {path} (not made yet; `snakemake {path}` makes it)", file=sys.stderr)
    if a.check:
        for line in stale:
            print(f"qrobust docs: differs: {line}", file=sys.stderr)
        return 1 if stale or absent else 0
    print(f"qrobust docs: {len(stale)} block(s) updated" + (": " + ", ".join(stale) if stale else ""))
    return 0
