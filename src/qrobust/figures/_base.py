"""Figure registry and saving: every figure as PNG and PDF, written atomically."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: jobs run on clusters with no display

from qrobust.plan.registry import Registry  # noqa: E402
from qrobust.runtime import atomic  # noqa: E402

FIGURES: Registry = Registry("figure")
register_figure = FIGURES.register


def save(fig, png_path) -> None:
    png = Path(png_path)
    for path in (png, png.with_suffix(".pdf")):
        with atomic.atomic_path(path) as tmp:
            # metadata pinned so the same numbers give the same bytes
            fig.savefig(tmp, format=path.suffix[1:], dpi=150, bbox_inches="tight",
                        metadata={"CreationDate": None} if path.suffix == ".pdf" else {"Software": None})
