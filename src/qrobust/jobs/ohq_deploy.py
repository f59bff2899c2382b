"""OHQ: build every plan on real INT8 kernels; measure accuracy, end-to-end latency and size."""
from __future__ import annotations

import sys

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "ohq, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--sensitivity", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("allocations", nargs="+")


def run(a) -> dict:
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.jobs._common import job_config
    from qrobust.papers.ohq.deploy import deploy_all
    from qrobust.papers.ohq.plans import all_plans
    from qrobust.quant.ptq import fold_bn
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything

    cfg, device = job_config(a, device_key="ohq")
    seed_everything(a.seed)
    model, _ = load_checkpoint(a.checkpoint, "cpu")
    split, _ = load_prepared(a.data, "test")
    sens, prof = atomic.read_json(a.sensitivity), atomic.read_json(a.profile)
    allocations = [atomic.read_json(p) for p in a.allocations]
    plans, about = all_plans(sens, allocations)
    lat = cfg["ohq"]["latency"]
    res = deploy_all(fold_bn(model), plans, sens["ranges"], prof, split.x, split.y, device=device,
                     engine=cfg["ohq"]["engine"], batch_size=lat["batch_size"], warmup=lat["warmup"], repeats=lat["repeats"])
    out = {"hardware": prof["hardware"], "seed": a.seed, "layers": sens["layers"], "precisions": sens["precisions"],
           "plans": {pid: {**about[pid], "plan": plans[pid], **res[pid]} for pid in plans},
           "allocations": {al["budget"]["name"]: {k: al[k] for k in ("budget", "absolute", "allocation")}
                           | ({"smallest_feasible": al["smallest_feasible"]} if "smallest_feasible" in al else {})
                           for al in allocations}}
    atomic.write_json(a.out, out)
    for pid, r in res.items():
        print(f"{pid}: acc {r['accuracy']:.2f} latency {r['latency_ms']:.3f} ms (model {r['latency_model_ms']:.3f})", file=sys.stderr)
    return {"config": cfg, "seed": a.seed, "device": str(device)}
