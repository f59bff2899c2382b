"""`qrobust` command line: the one entry point the Snakemake rules call.

Each subcommand is a thin main() over a pure function. Rules pass the config slice the job
reads as JSON (`--cfg`), so Snakemake's params trigger reruns exactly the jobs a change affects.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import _io

# errors a user can fix get one line and exit code 2; anything else is a bug and keeps its traceback
USER_ERRORS: tuple = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def _bits(s: str):
    return None if s in ("fp", "null", "None") else int(s)


def cmd_check_config(a) -> None:
    from .config import load_config

    cfg = load_config(a.config)
    print(f"{a.config}: ok ({len(cfg['methods'])} methods x {len(cfg['quant']['act_bits'])} bit-widths x {len(cfg['seeds'])} seeds)")


def cmd_prepare_data(a) -> None:
    from .datasets import prepare

    d = json.loads(a.cfg)
    opts = {k: d[k] for k in ("n_train", "n_test", "image_size") if k in d}
    meta = prepare(d["dataset"], d.get("raw_root", "data/raw"), a.out, seed=d.get("split_seed", 0), **opts)
    print(f"prepared {meta['dataset']}: {meta['n_train']} train / {meta['n_test']} test, shape {meta['shape']}", file=sys.stderr)


def cmd_train(a) -> None:
    import torch

    from ._runtime import resolve_device, seed_everything, set_threads
    from .checkpoint import save_checkpoint
    from .datasets import load_prepared
    from .models import create_model
    from .quant import QuantConfig, quantize_
    from .train import TrainConfig, train

    cfg = json.loads(a.cfg)
    set_threads(cfg.get("threads", 1))
    device = resolve_device(cfg.get("device", "auto"))
    gen = seed_everything(a.seed)
    split, meta = load_prepared(a.data, "train")
    qcfg = QuantConfig(act_bits=_bits(a.act_bits), weight_bits=cfg["quant"].get("weight_bits"))
    model_spec = {"name": cfg["model"]["name"], "num_classes": meta["num_classes"], "in_channels": meta["shape"][0],
                  "act": cfg["model"].get("act", "relu6"), "mean": meta["mean"], "std": meta["std"],
                  **cfg["model"].get("kwargs", {})}
    model = quantize_(create_model(**model_spec), qcfg)
    tcfg = TrainConfig(**cfg["train"], beta=a.beta if a.method == "dq" else 0.0)
    t0 = time.time()
    history = train(model, split.x, split.y, tcfg, gen, device)
    run = {"method": a.method, "beta": a.beta, "act_bits": qcfg.act_bits, "weight_bits": qcfg.weight_bits, "seed": a.seed}
    spec = {"model": model_spec, "quant": {"act_bits": qcfg.act_bits, "weight_bits": qcfg.weight_bits}}
    save_checkpoint(a.out, model, spec, extra={"run": run, "history": history})
    _io.write_json(a.metrics, {"run": run, "history": history, "train_seconds": round(time.time() - t0, 3),
                               "device": str(device), "torch": torch.__version__})


def cmd_evaluate(a) -> None:
    from ._runtime import resolve_device, seed_everything, set_threads
    from .checkpoint import load_checkpoint
    from .datasets import load_prepared
    from .evaluate import evaluate

    cfg = json.loads(a.cfg)
    set_threads(cfg.get("threads", 1))
    device = resolve_device(cfg.get("device", "auto"))
    model, blob = load_checkpoint(a.checkpoint, device)
    run = blob["extra"]["run"]
    seed_everything(run["seed"])
    split, _ = load_prepared(a.data, "test")
    res = evaluate(model, split.x, split.y, cfg["attack"], device, cfg.get("eval", {}).get("batch_size", 500), seed=run["seed"])
    res["run"] = run
    _io.write_json(a.out, res)
    print(f"{run}: clean {res['clean_acc']:.2f} adv {res['adv_acc']:.2f}", file=sys.stderr)


def cmd_table(a) -> None:
    from .tables import TABLES
    from .tables.table1 import load_metrics

    cfg = json.loads(a.cfg)
    table = TABLES.get(a.name)(load_metrics(a.metrics), a.out, act_bits=cfg["act_bits"], methods=cfg["methods"])
    print(table.to_string(index=False), file=sys.stderr)


def cmd_figure(a) -> None:
    from .figures import FIGURES

    FIGURES.get(a.name)(a.input, a.out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qrobust", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("check-config", help="validate a config file against the schema")
    s.add_argument("config")
    s.set_defaults(func=cmd_check_config)

    s = sub.add_parser("prepare-data", help="write a prepared train/test split")
    s.add_argument("--cfg", required=True, help="JSON of the config's data section")
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=cmd_prepare_data)

    s = sub.add_parser("train", help="train one (method, beta, bits, seed) checkpoint")
    s.add_argument("--cfg", required=True, help="JSON with model, train, quant, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--method", required=True, choices=["vanilla", "dq"])
    s.add_argument("--beta", type=float, default=0.0)
    s.add_argument("--act-bits", default="fp", help="integer, or fp for full precision")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="checkpoint path")
    s.add_argument("--metrics", required=True, help="training metrics JSON path")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="clean and attacked accuracy of a checkpoint")
    s.add_argument("--cfg", required=True, help="JSON with attack, eval, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("table", help="build a table from evaluation JSONs")
    s.add_argument("name")
    s.add_argument("--cfg", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("metrics", nargs="+")
    s.set_defaults(func=cmd_table)

    s = sub.add_parser("figure", help="draw a figure from a long-format CSV")
    s.add_argument("name")
    s.add_argument("--input", required=True)
    s.add_argument("--out", required=True, help="PNG path; a PDF is written beside it")
    s.set_defaults(func=cmd_figure)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except USER_ERRORS as e:
        if os.environ.get("QROBUST_DEBUG"):  # developers: keep the traceback
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"qrobust: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
