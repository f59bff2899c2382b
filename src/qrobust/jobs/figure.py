"""Draw one registered figure (PNG and PDF) from a long-format CSV or metrics file."""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("name", help="a name from the figure registry, e.g. fig1")
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True, help="PNG path; a PDF is written beside it")


def run(a) -> dict:
    from qrobust.figures import FIGURES

    FIGURES.get(a.name)(a.input, a.out)
    return {"config": {"name": a.name}}
