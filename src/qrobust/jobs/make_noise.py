"""One corruption or system noise applied to the test split at every level (Table 5)."""
from __future__ import annotations

import sys
import time


def add_arguments(p) -> None:
    p.add_argument("--noise", required=True, help="a name from the noise registry")
    p.add_argument("--severities", help="comma-separated corruption severities (default: all five)")
    p.add_argument("--data", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)


def run(a) -> dict:
    from qrobust.datasets import load_prepared
    from qrobust.noises import create_noise
    from qrobust.runtime import atomic

    split, meta = load_prepared(a.data, "test")
    noise = create_noise(a.noise)
    wanted = noise.levels
    if noise.kind == "corruption" and a.severities:
        wanted = [int(v) for v in a.severities.split(",")]
    t0 = time.time()
    levels = {lvl: noise.apply(split.x, lvl, seed=a.seed) for lvl in wanted}
    atomic.torch_save(a.out, {"name": a.noise, "kind": noise.kind, "reference": getattr(noise, "reference", None),
                           "levels": levels, "seed": a.seed, "dataset": meta["dataset"]})
    print(f"{a.noise}: {len(levels)} levels x {len(split.y)} images in {time.time() - t0:.1f} s", file=sys.stderr)
    return {"config": {"noise": a.noise, "severities": a.severities}, "seed": a.seed}
