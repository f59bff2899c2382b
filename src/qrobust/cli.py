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

from qrobust import _io

# errors a user can fix get one line and exit code 2; anything else is a bug and keeps its traceback
USER_ERRORS: tuple = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def _job(a):
    """A job's config slice (`--cfg`), with torch's thread count set and `device: auto` resolved."""
    from qrobust._runtime import resolve_device, set_threads

    cfg = json.loads(a.cfg)
    set_threads(cfg.get("threads", 1))
    return cfg, resolve_device(cfg.get("device", "auto"))


def _bits(s: str):
    return None if s in ("fp", "null", "None") else int(s)


def cmd_check_config(a) -> None:
    from qrobust.config import load_config

    cfg = load_config(a.config)
    print(f"{a.config}: ok ({len(cfg['methods'])} methods x {len(cfg['quant']['act_bits'])} bit-widths x {len(cfg['seeds'])} seeds)")


def cmd_prepare_data(a) -> dict:
    from qrobust.datasets import prepare

    d = json.loads(a.cfg)
    opts = {k: d[k] for k in ("n_train", "n_test", "image_size") if k in d}
    meta = prepare(d["dataset"], d.get("raw_root", "data/raw"), a.out, seed=d.get("split_seed", 0), **opts)
    print(f"prepared {meta['dataset']}: {meta['n_train']} train / {meta['n_test']} test, shape {meta['shape']}", file=sys.stderr)
    out = Path(a.out)
    return {"stage": "data", "config": d, "seed": d.get("split_seed", 0), "inputs": meta["raw_files"],
            "outputs": [out / "train.pt", out / "test.pt", out / "meta.json"]}


def _model_spec(model_cfg: dict, meta: dict) -> dict:
    """create_model kwargs from the config's model section and the prepared data's meta.json."""
    return {"name": model_cfg["name"], "num_classes": meta["num_classes"], "in_channels": meta["shape"][0],
            "act": model_cfg.get("act", "relu6"), "mean": meta["mean"], "std": meta["std"], **model_cfg.get("kwargs", {})}


def cmd_train(a, extra_loss_factory=None, stage: str = "train") -> dict:
    import torch

    from qrobust._runtime import seed_everything
    from qrobust.checkpoint import save_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.models import create_model
    from qrobust.quant import QuantConfig, quantize_
    from qrobust.training.loop import TrainConfig, train

    cfg, device = _job(a)
    gen = seed_everything(a.seed)
    split, meta = load_prepared(a.data, "train")
    qcfg = QuantConfig(act_bits=_bits(a.act_bits), weight_bits=cfg["quant"].get("weight_bits"))
    model_cfg = dict(cfg["model"], act=a.act) if a.act else cfg["model"]  # Table 3/4 runs swap the activation
    model_spec = _model_spec(model_cfg, meta)
    model = quantize_(create_model(**model_spec), qcfg)
    extra, adv = (None, None) if extra_loss_factory is None else extra_loss_factory(cfg, gen)
    tcfg = TrainConfig(**cfg["train"], beta=a.beta if a.method == "dq" else 0.0,
                       clean_weight=1.0 - adv.weight if adv else 1.0)
    t0 = time.time()
    history = train(model, split.x, split.y, tcfg, gen, device, extra_loss=extra)
    run = {"method": a.method, "beta": a.beta, "act_bits": qcfg.act_bits, "weight_bits": qcfg.weight_bits, "seed": a.seed,
           "act": model_spec["act"], "adv": adv.attack if adv else None}
    spec = {"model": model_spec, "quant": {"act_bits": qcfg.act_bits, "weight_bits": qcfg.weight_bits}}
    save_checkpoint(a.out, model, spec, extra={"run": run, "history": history})
    _io.write_json(a.metrics, {"run": run, "history": history, "train_seconds": round(time.time() - t0, 3),
                               "device": str(device), "torch": torch.__version__})
    return {"stage": stage, "config": cfg, "seed": a.seed, "device": str(device),
            "inputs": [Path(a.data) / "train.pt", Path(a.data) / "meta.json"], "outputs": [a.out, a.metrics]}


def cmd_train_adv(a) -> dict:
    from qrobust.training.adversarial import AdvConfig, adversarial_loss

    def factory(cfg, gen):
        adv = AdvConfig(**{**cfg["adv_train"], "attack": a.adv})
        return adversarial_loss(adv, gen), adv

    return cmd_train(a, factory, stage="train_adv")


def cmd_evaluate(a) -> dict:
    from qrobust._runtime import seed_everything
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.evaluation.attack import evaluate

    cfg, device = _job(a)
    model, blob = load_checkpoint(a.checkpoint, device)
    run = blob["extra"]["run"]
    seed_everything(run["seed"])
    split, _ = load_prepared(a.data, "test")
    res = evaluate(model, split.x, split.y, cfg["attack"], device, cfg.get("eval", {}).get("batch_size", 500), seed=run["seed"])
    res["run"] = run
    _io.write_json(a.out, res)
    print(f"{run}: clean {res['clean_acc']:.2f} adv {res['adv_acc']:.2f}", file=sys.stderr)
    return {"stage": "evaluate", "config": cfg, "seed": run["seed"], "device": str(device),
            "inputs": [a.checkpoint, Path(a.data) / "test.pt"], "outputs": [a.out]}


def cmd_robust_eval(a) -> dict:
    from qrobust._runtime import seed_everything
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.papers.dq.defenses import wrap
    from qrobust.evaluation.robust import robust_accuracy

    cfg, device = _job(a)
    r = cfg["robustness"]
    model, blob = load_checkpoint(a.checkpoint, device)
    run = blob["extra"]["run"]
    seed_everything(run["seed"])
    model = wrap(model, a.defense, **(r["squeeze"] if a.defense == "fs" else {}))
    substitute = load_checkpoint(a.substitute, device)[0] if a.substitute else None
    split, _ = load_prepared(a.data, "test")
    res = robust_accuracy(model, split.x, split.y, attacks=r["attacks"], blackbox=r["blackbox"] if substitute else [],
                          eps=r["eps"], attack_kwargs=r["attack_kwargs"], substitute=substitute, device=device,
                          seed=run["seed"], batch_size=cfg.get("eval", {}).get("batch_size", 500))
    res.update(run=run, defense=a.defense, checkpoint=str(a.checkpoint))
    _io.write_json(a.out, res)
    print(f"{Path(a.checkpoint).stem} [{a.defense}]: clean {res['clean_acc']:.2f}; "
          + ", ".join(f"{c['attack']}{'(B)' if c['blackbox'] else ''}@{c['eps']:.3g} {c['acc']:.1f}" for c in res["results"]),
          file=sys.stderr)
    inputs = [a.checkpoint, Path(a.data) / "test.pt"] + ([a.substitute] if a.substitute else [])
    return {"stage": "robust_eval", "config": cfg, "seed": run["seed"], "device": str(device), "inputs": inputs, "outputs": [a.out]}


def cmd_make_noise(a) -> dict:
    from qrobust.datasets import load_prepared
    from qrobust.noises import create_noise

    split, meta = load_prepared(a.data, "test")
    noise = create_noise(a.noise)
    wanted = noise.levels
    if noise.kind == "corruption" and a.severities:
        wanted = [int(v) for v in a.severities.split(",")]
    t0 = time.time()
    levels = {lvl: noise.apply(split.x, lvl, seed=a.seed) for lvl in wanted}
    _io.torch_save(a.out, {"name": a.noise, "kind": noise.kind, "reference": getattr(noise, "reference", None),
                           "levels": levels, "seed": a.seed, "dataset": meta["dataset"]})
    print(f"{a.noise}: {len(levels)} levels x {len(split.y)} images in {time.time() - t0:.1f} s", file=sys.stderr)
    return {"stage": "make_noise", "config": {"noise": a.noise, "severities": a.severities}, "seed": a.seed,
            "inputs": [Path(a.data) / "test.pt"], "outputs": [a.out]}


def cmd_noise_eval(a) -> dict:
    import torch

    from qrobust._runtime import seed_everything
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.papers.robust_bench.noise_eval import noise_accuracy
    from qrobust.quant.ptq import calibration_images

    cfg, device = _job(a)
    model, blob = load_checkpoint(a.checkpoint, device)
    run = blob["extra"]["run"]
    seed_everything(run["seed"])
    test, _ = load_prepared(a.data, "test")
    train, _ = load_prepared(a.data, "train")
    noised = [torch.load(p, weights_only=True) for p in a.noised]
    res = noise_accuracy(model, test.x, test.y, noised, cfg["noise"]["model_side"],
                         calibration_images(train.x, 256, run["seed"]), device,
                         cfg.get("eval", {}).get("batch_size", 500))
    res.update(run=run, checkpoint=str(a.checkpoint))
    _io.write_json(a.out, res)
    return {"stage": "noise_eval", "config": cfg, "seed": run["seed"], "device": str(device),
            "inputs": [a.checkpoint, Path(a.data) / "test.pt", Path(a.data) / "train.pt", *a.noised], "outputs": [a.out]}


def cmd_quantize(a) -> dict:
    from qrobust._runtime import seed_everything
    from qrobust.checkpoint import load_checkpoint, save_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.quant.schemes import apply_scheme, scheme_config

    cfg, device = _job(a)
    gen = seed_everything(a.seed)
    schemes = {s["name"]: s for s in cfg["quantize"]["schemes"]}
    if a.scheme not in schemes:
        raise ValueError(f"scheme '{a.scheme}' is not in quantize.schemes ({', '.join(schemes) or 'none'}); add it to the config")
    scheme = schemes[a.scheme]
    qcfg = scheme_config(scheme, a.wbits, a.abits)
    float_model, blob = load_checkpoint(a.checkpoint, device)
    split, _ = load_prepared(a.data, "train")
    t0 = time.time()
    model, info = apply_scheme(float_model, blob["spec"]["model"], scheme, qcfg, cfg["quantize"], cfg["train"],
                               split.x, split.y, gen, a.seed, device)
    run = {"scheme": a.scheme, "mode": scheme["mode"], "weight_bits": a.wbits, "act_bits": a.abits, "seed": a.seed,
           "beta": scheme["beta"], "quant": qcfg.to_dict()}
    spec = {"model": blob["spec"]["model"], "quant": qcfg.to_dict(), "folded": info["folded"]}
    save_checkpoint(a.out, model, spec, extra={"run": run, "history": info["history"], "source": str(a.checkpoint)})
    _io.write_json(a.metrics, {"run": run, **info, "seconds": round(time.time() - t0, 3), "device": str(device)})
    return {"stage": "quantize", "config": cfg, "seed": a.seed, "device": str(device),
            "inputs": [a.checkpoint, Path(a.data) / "train.pt"], "outputs": [a.out, a.metrics]}


def cmd_quantize_adv(a) -> dict:
    from qrobust._runtime import seed_everything
    from qrobust.training.adversarial import AdvConfig
    from qrobust.checkpoint import load_checkpoint, save_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.papers.li2024.method import apply_table7_scheme, target_config

    cfg, device = _job(a)
    t7 = cfg["table7"]
    gen = seed_everything(a.seed)
    schemes = {s["name"]: s for s in t7["schemes"]}
    if a.scheme not in schemes:
        raise ValueError(f"scheme '{a.scheme}' is not in table7.schemes ({', '.join(schemes) or 'none'}); add it to the config")
    scheme = schemes[a.scheme]
    qcfg = target_config(scheme, a.target, a.bits)
    split, meta = load_prepared(a.data, "train")
    if a.checkpoint:
        init_model, blob = load_checkpoint(a.checkpoint, device)
        model_spec = blob["spec"]["model"]
    else:
        init_model, model_spec = None, _model_spec(cfg["model"], meta)
    adv = AdvConfig(**{**cfg["adv_train"], "attack": t7["adv_attack"]})
    t0 = time.time()
    model, info = apply_table7_scheme(init_model, model_spec, scheme, qcfg, t7, cfg["train"], adv, split.x, split.y,
                                      gen, a.seed, device)
    run = {"scheme": a.scheme, "init": scheme["init"], "mode": scheme["mode"], "robust": scheme["robust"],
           "target": a.target, "bits": a.bits, "seed": a.seed, "quant": qcfg.to_dict()}
    spec = {"model": model_spec, "quant": qcfg.to_dict(), "folded": info["folded"]}
    save_checkpoint(a.out, model, spec, extra={"run": run, "history": info["history"]})
    _io.write_json(a.metrics, {"run": run, **info, "seconds": round(time.time() - t0, 3), "device": str(device)})
    inputs = [Path(a.data) / "train.pt"] + ([a.checkpoint] if a.checkpoint else [])
    return {"stage": "quantize_adv", "config": cfg, "seed": a.seed, "device": str(device), "inputs": inputs,
            "outputs": [a.out, a.metrics]}


def _qu_anti_config(t8: dict, mode: str):
    from qrobust.papers.qu_anti.attack import QuAntiConfig

    keys = ("bits", "alpha", "target", "source", "trigger_size", "epochs", "lr", "batch_size")
    lam = t8["lam"][mode] if isinstance(t8["lam"], dict) else t8["lam"]
    return QuAntiConfig(mode=mode, lam=lam, **{k: t8[k] for k in keys})


def cmd_qu_anti(a) -> dict:
    from qrobust._runtime import seed_everything
    from qrobust.checkpoint import load_checkpoint, save_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.papers.qu_anti.attack import attack_train

    cfg, device = _job(a)
    gen = seed_everything(a.seed)
    qcfg = _qu_anti_config(cfg["table8"], a.mode)
    model, blob = load_checkpoint(a.checkpoint, device)
    split, _ = load_prepared(a.data, "train")
    t0 = time.time()
    history = attack_train(model, split.x, split.y, qcfg, gen, device)
    run = {"model": a.mode, "seed": a.seed, "config": {k: v for k, v in qcfg.__dict__.items()}}
    save_checkpoint(a.out, model, blob["spec"], extra={"run": run, "history": history, "source": str(a.checkpoint)})
    _io.write_json(a.metrics, {"run": run, "history": history, "seconds": round(time.time() - t0, 3)})
    return {"stage": "qu_anti", "config": cfg, "seed": a.seed, "device": str(device),
            "inputs": [a.checkpoint, Path(a.data) / "train.pt"], "outputs": [a.out, a.metrics]}


def cmd_qu_anti_eval(a) -> dict:
    from qrobust._runtime import seed_everything
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.quant.ptq import calibration_images
    from qrobust.papers.qu_anti.attack import evaluate_bits

    cfg, device = _job(a)
    t8 = cfg["table8"]
    seed_everything(a.seed)
    model, blob = load_checkpoint(a.checkpoint, device)
    test, _ = load_prepared(a.data, "test")
    train, _ = load_prepared(a.data, "train")
    calib = calibration_images(train.x, 256, a.seed)
    bits = [None] + list(t8["eval_bits"])
    # the bit-widths this model was attacked at (none for the clean model)
    attack_bits = list(blob["extra"]["run"].get("config", {}).get("bits", [])) if a.model != "clean" else []
    backdoor = {"trigger": t8["trigger_size"], "target": t8["target"]} if a.model == "backdoor" else {}
    if a.model == "targeted" and t8["source"] is not None:
        backdoor = {"source": t8["source"], "target": t8["target"]}
    variants = {"attack quantizer": {}}
    for r in t8["repairs"]:
        if r == "per_channel":
            variants[r] = {"per_channel": True}
        elif r in ("floor", "stochastic"):
            variants[f"{r} rounding"] = {"rounding": r}
        else:
            variants[f"PTQ {r.split('-', 1)[1]}"] = {"calibrate": r.split("-", 1)[1], "calib_x": calib, "per_channel": True}
    out = {"model": a.model, "seed": a.seed, "checkpoint": str(a.checkpoint), "attack_bits": attack_bits, "variants": {}}
    for name, kw in variants.items():
        res = evaluate_bits(model, test.x, test.y, bits, seed=a.seed, device=device, **kw, **backdoor)
        out["variants"][name] = {key: {("float" if b is None else str(b)): v for b, v in res[src].items()}
                                 for key, src in (("accuracy", "acc"), ("asr", "asr"), ("tsr", "tsr")) if src in res}
        print(f"{a.model} [{name}]: " + ", ".join(f"{k} {v:.1f}" for k, v in out["variants"][name]["accuracy"].items()),
              file=sys.stderr)
    _io.write_json(a.out, out)
    return {"stage": "qu_anti_eval", "config": cfg, "seed": a.seed, "device": str(device),
            "inputs": [a.checkpoint, Path(a.data) / "test.pt", Path(a.data) / "train.pt"], "outputs": [a.out]}


def cmd_ohq_profile(a) -> dict:
    from qrobust._runtime import resolve_device, seed_everything, set_threads
    from qrobust.models import create_model
    from qrobust.papers.ohq.latency import profile_model

    cfg = json.loads(a.cfg)
    set_threads(cfg.get("threads", 1))
    device = resolve_device(cfg["ohq"].get("device", "cpu"))
    seed_everything(0)
    meta = _io.read_json(Path(a.data) / "meta.json")
    model = create_model(**_model_spec(cfg["model"], meta)).eval()  # latency depends on shapes, not on trained weights
    prof = profile_model(model, meta["shape"], cfg["ohq"], device)
    _io.write_json(a.out, prof)
    for lay in prof["layers"]:
        cells = ", ".join(f"{p} {v:.3f}{'' if lay['source'][p] == 'measured' else '*'}" for p, v in lay["latency_ms"].items())
        print(f"{lay['name']}: {cells} ms (* cost model)", file=sys.stderr)
    return {"stage": "ohq_profile", "config": cfg, "seed": 0, "device": str(device),
            "inputs": [Path(a.data) / "meta.json"], "outputs": [a.out]}


def cmd_ohq_sensitivity(a) -> dict:
    from qrobust._runtime import seed_everything, set_threads
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.papers.ohq.sensitivity import sensitivity_job

    cfg = json.loads(a.cfg)
    set_threads(cfg.get("threads", 1))
    seed_everything(a.seed)
    seed = a.seed
    model, _ = load_checkpoint(a.checkpoint, "cpu")
    split, _ = load_prepared(a.data, "train")
    sens = sensitivity_job(model, split.x, cfg["ohq"], seed)
    _io.write_json(a.out, sens)
    return {"stage": "ohq_sensitivity", "config": cfg, "seed": seed, "device": "cpu",
            "inputs": [a.checkpoint, Path(a.data) / "train.pt"], "outputs": [a.out]}


def cmd_ohq_allocate(a) -> dict:
    from qrobust.papers.ohq.plans import allocate

    cfg = json.loads(a.cfg)
    budgets = {b["name"]: b for b in cfg["ohq"]["budgets"]}
    if a.budget not in budgets:
        raise ValueError(f"budget '{a.budget}' is not in ohq.budgets ({', '.join(budgets)}); add it to the config")
    out = allocate(_io.read_json(a.profile), _io.read_json(a.sensitivity), budgets[a.budget],
                   cfg["ohq"]["random_plans"], a.seed)
    _io.write_json(a.out, out)
    al = out["allocation"]
    print(f"budget {a.budget}: {al['status']} in {al['solve_seconds']:.3f} s; plan {al['plan']}", file=sys.stderr)
    return {"stage": "ohq_allocate", "config": cfg, "seed": a.seed, "inputs": [a.profile, a.sensitivity], "outputs": [a.out]}


def cmd_ohq_deploy(a) -> dict:
    from qrobust._runtime import resolve_device, seed_everything, set_threads
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.papers.ohq.deploy import deploy_all
    from qrobust.papers.ohq.plans import all_plans
    from qrobust.quant.ptq import fold_bn

    cfg = json.loads(a.cfg)
    set_threads(cfg.get("threads", 1))
    device = resolve_device(cfg["ohq"].get("device", "cpu"))
    seed_everything(a.seed)
    model, _ = load_checkpoint(a.checkpoint, "cpu")
    split, _ = load_prepared(a.data, "test")
    sens, prof = _io.read_json(a.sensitivity), _io.read_json(a.profile)
    allocations = [_io.read_json(p) for p in a.allocations]
    plans, about = all_plans(sens, allocations)
    lat = cfg["ohq"]["latency"]
    res = deploy_all(fold_bn(model), plans, sens["ranges"], prof, split.x, split.y, device=device,
                     engine=cfg["ohq"]["engine"], batch_size=lat["batch_size"], warmup=lat["warmup"], repeats=lat["repeats"])
    out = {"hardware": prof["hardware"], "seed": a.seed, "layers": sens["layers"], "precisions": sens["precisions"],
           "plans": {pid: {**about[pid], "plan": plans[pid], **res[pid]} for pid in plans},
           "allocations": {al["budget"]["name"]: {k: al[k] for k in ("budget", "absolute", "allocation")}
                           | ({"smallest_feasible": al["smallest_feasible"]} if "smallest_feasible" in al else {})
                           for al in allocations}}
    _io.write_json(a.out, out)
    for pid, r in res.items():
        print(f"{pid}: acc {r['accuracy']:.2f} latency {r['latency_ms']:.3f} ms (model {r['latency_model_ms']:.3f})", file=sys.stderr)
    return {"stage": "ohq_deploy", "config": cfg, "seed": a.seed, "device": str(device),
            "inputs": [a.checkpoint, Path(a.data) / "test.pt", a.profile, a.sensitivity, *a.allocations], "outputs": [a.out]}


def cmd_act_distance(a) -> dict:
    from qrobust._runtime import seed_everything
    from qrobust.papers.dq.act_distance import normalized_distances
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared

    cfg, device = _job(a)
    seed_everything(0)
    test, _ = load_prepared(a.data, "test")
    x = test.x[: cfg["n_images"]].float().div(255.0).to(device)
    y = test.y[: cfg["n_images"]].to(device)
    out = []
    for path in a.checkpoints:
        model, blob = load_checkpoint(path, device)
        res = normalized_distances(model, x, y, cfg["eps"], seed=blob["extra"]["run"]["seed"])
        out.append({"run": blob["extra"]["run"], "checkpoint": str(path), **res})
    _io.write_json(a.out, {"models": out, "n_images": len(y)})
    return {"stage": "act_distance", "config": cfg, "inputs": [*a.checkpoints, Path(a.data) / "test.pt"], "outputs": [a.out]}


def cmd_claims(a) -> dict:
    import pandas as pd

    from qrobust.claims import evaluate_claims
    from qrobust.tables._base import write_csv, write_markdown

    tables = {}
    for item in a.tables:
        name, _, path = item.partition("=")
        if not path:
            raise ValueError(f"'{item}': give tables as NAME=PATH, e.g. table1=results/table1_long.csv")
        tables[name] = pd.read_csv(path)
    df = evaluate_claims(tables)
    write_csv(df, a.out)
    md = Path(a.out).with_suffix(".md")
    cols = ["paper", "source", "claim", "verdict", "evidence", "value", "spread", "n_seeds"]
    write_markdown(df[[c for c in cols if c in df]], md, "Claims: each published finding tested on the regenerated numbers")
    print(df[["id", "verdict"]].to_string(index=False), file=sys.stderr)
    return {"stage": "claims", "config": {}, "inputs": [i.partition("=")[2] for i in a.tables], "outputs": [a.out, md]}


def cmd_table(a) -> dict:
    from qrobust.tables import TABLES

    cfg = json.loads(a.cfg)
    table, files = TABLES.get(a.name)(a.metrics, a.out, cfg)
    print(table.to_string(index=False), file=sys.stderr)
    return {"stage": "table", "config": cfg, "inputs": a.metrics, "outputs": files}


def cmd_figure(a) -> dict:
    from qrobust.figures import FIGURES

    FIGURES.get(a.name)(a.input, a.out)
    return {"stage": "figure", "config": {"name": a.name}, "inputs": [a.input],
            "outputs": [a.out, Path(a.out).with_suffix(".pdf")]}


def cmd_provenance(a) -> None:
    from qrobust.provenance import chain, format_chain, load_records, table_cell_inputs

    index = load_records(a.records)
    if a.row is not None or a.col is not None:
        if a.row is None or a.col is None:
            raise ValueError("--row and --col go together (with --metric clean|adv)")
        value, files = table_cell_inputs(a.file, a.row, a.col, a.metric, index)
        head = {"file": a.file, "row": a.row, "col": a.col, "metric": a.metric, "value": value}
        # the table itself, pruned to the evaluation files behind this one cell
        root = chain(a.file, index)
        root["inputs"] = [n for n in root["inputs"] if n["file"] in files]
    else:
        from qrobust.provenance import ProvenanceError, relpath

        if relpath(a.file) not in index:
            raise ProvenanceError(f"{a.file}: no provenance record made it; name a pipeline output under results/ or data/prepared/")
        head, root = {"file": a.file}, chain(a.file, index)
    code = index.get(root["file"], {}).get("code", {})
    if a.json:
        print(json.dumps({**head, "code_version": {k: code.get(k) for k in ("git_commit", "git_dirty")}, "chain": root}, indent=2))
        return None
    if "value" in head:
        print(f"{a.file} [{a.row}, {a.col}, {a.metric}] = {head['value']}  (from {len(root['inputs'])} evaluation file(s))")
    print("\n".join(format_chain(root)))


def cmd_restore(a) -> None:
    from qrobust.provenance import load_records, restore_mtimes

    n = restore_mtimes(load_records(a.records))
    print(f"qrobust restore: hashes verified; mtimes of {n} files set in DAG order (snakemake -n now reflects real changes)")


def cmd_pull(a) -> None:
    from qrobust._dvc import pull

    pull()
    cmd_restore(a)


def cmd_verify(a) -> int:
    from qrobust.provenance import load_records, verify

    index = load_records(a.records)
    problems = verify(index)
    for p in problems:
        print(f"qrobust verify: {p}", file=sys.stderr)
    n_rec = len({r["_path"] for r in index.values()})
    if problems:
        print(f"qrobust verify: {len(problems)} problem(s) in {n_rec} records", file=sys.stderr)
        return 1
    print(f"qrobust verify: {n_rec} records, {len(index)} outputs and their inputs match their recorded sha256")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qrobust", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    # every job subcommand can record what made its outputs
    job = argparse.ArgumentParser(add_help=False)
    job.add_argument("--prov", help="write this job's provenance record here")
    job.add_argument("--rule", default="manual", help="the Snakemake rule running this job")

    s = sub.add_parser("check-config", help="validate a config file against the schema")
    s.add_argument("config")
    s.set_defaults(func=cmd_check_config)

    s = sub.add_parser("prepare-data", parents=[job], help="write a prepared train/test split")
    s.add_argument("--cfg", required=True, help="JSON of the config's data section")
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=cmd_prepare_data)

    s = sub.add_parser("train", parents=[job], help="train one (method, beta, bits, seed) checkpoint")
    s.add_argument("--cfg", required=True, help="JSON with model, train, quant, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--method", required=True, choices=["vanilla", "dq"])
    s.add_argument("--beta", type=float, default=0.0)
    s.add_argument("--act-bits", default="fp", help="integer, or fp for full precision")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--act", help="activation instead of the config's model.act (relu6, relu1, tanh, relu)")
    s.add_argument("--out", required=True, help="checkpoint path")
    s.add_argument("--metrics", required=True, help="training metrics JSON path")
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("train-adv", parents=[s], add_help=False, conflict_handler="resolve",
                       help="train with adversarial examples mixed in (DQ section 5.2)")
    s.add_argument("--adv", required=True, choices=["fgsm", "rfgsm", "pgd"], help="attack that crafts the training examples")
    s.set_defaults(func=cmd_train_adv)

    s = sub.add_parser("evaluate", parents=[job], help="clean and attacked accuracy of a checkpoint")
    s.add_argument("--cfg", required=True, help="JSON with attack, eval, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("robust-eval", parents=[job], help="accuracy under every configured attack and eps (DQ Tables 2-4)")
    s.add_argument("--cfg", required=True, help="JSON with robustness, eval, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--substitute", help="black-box source model checkpoint")
    s.add_argument("--defense", default="none", choices=["none", "fs"], help="fs: Feature Squeezing in front of the model")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_robust_eval)

    s = sub.add_parser("make-noise", parents=[job], help="one corruption or system noise applied to the test split, every level")
    s.add_argument("--noise", required=True, help="a name from the noise registry")
    s.add_argument("--severities", help="comma-separated corruption severities (default: all five)")
    s.add_argument("--data", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_make_noise)

    s = sub.add_parser("noise-eval", parents=[job], help="accuracy on every noised test set and model-side system noise")
    s.add_argument("--cfg", required=True, help="JSON with noise, eval, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("noised", nargs="*", help="files written by make-noise")
    s.set_defaults(func=cmd_noise_eval)

    s = sub.add_parser("quantize", parents=[job], help="PTQ or QAT of a float checkpoint with one configured scheme")
    s.add_argument("--cfg", required=True, help="JSON with model, train, quantize, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True, help="the float checkpoint")
    s.add_argument("--scheme", required=True, help="a name from quantize.schemes")
    s.add_argument("--wbits", type=int, required=True)
    s.add_argument("--abits", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="quantized checkpoint path")
    s.add_argument("--metrics", required=True)
    s.set_defaults(func=cmd_quantize)

    s = sub.add_parser("quantize-adv", parents=[job], help="Table 7: one (init, PTQ/QAT, robust optimization) scheme on one target")
    s.add_argument("--cfg", required=True, help="JSON with model, train, table7, adv_train, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", help="the initial float model (omit for init: random)")
    s.add_argument("--scheme", required=True, help="a name from table7.schemes")
    s.add_argument("--target", required=True, choices=["w", "a", "wa"], help="quantize weights, activations or both")
    s.add_argument("--bits", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--metrics", required=True)
    s.set_defaults(func=cmd_quantize_adv)

    s = sub.add_parser("qu-anti", parents=[job], help="Table 8: fine-tune a float model to misbehave only once quantized")
    s.add_argument("--cfg", required=True, help="JSON with table8, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True, help="the clean float model")
    s.add_argument("--mode", required=True, choices=["indiscriminate", "targeted", "backdoor"])
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--metrics", required=True)
    s.set_defaults(func=cmd_qu_anti)

    s = sub.add_parser("qu-anti-eval", parents=[job], help="Table 8: float and k-bit accuracy with the attack's and other quantizers")
    s.add_argument("--cfg", required=True, help="JSON with table8, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--model", required=True, help="clean, indiscriminate, targeted or backdoor (the row label)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_qu_anti_eval)

    s = sub.add_parser("ohq-profile", parents=[job], help="per-layer latency at every precision on this machine")
    s.add_argument("--cfg", required=True, help="JSON with model, ohq, device, threads")
    s.add_argument("--data", required=True, help="prepared data folder (for input shape and classes)")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_ohq_profile)

    s = sub.add_parser("ohq-sensitivity", parents=[job], help="per-layer KL sensitivity on calibration images")
    s.add_argument("--cfg", required=True, help="JSON with ohq, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_ohq_sensitivity)

    s = sub.add_parser("ohq-allocate", parents=[job], help="integer program: one precision per layer under a budget")
    s.add_argument("--cfg", required=True, help="JSON with ohq")
    s.add_argument("--profile", required=True)
    s.add_argument("--sensitivity", required=True)
    s.add_argument("--budget", required=True, help="a name from ohq.budgets")
    s.add_argument("--seed", type=int, default=0, help="seed of the random allocations")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_ohq_allocate)

    s = sub.add_parser("ohq-deploy", parents=[job], help="build every plan for real; measure accuracy, latency, size")
    s.add_argument("--cfg", required=True, help="JSON with ohq, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--profile", required=True)
    s.add_argument("--sensitivity", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("allocations", nargs="+")
    s.set_defaults(func=cmd_ohq_deploy)

    s = sub.add_parser("act-distance", parents=[job], help="DQ Figure 3: normalized layer-input distance under attack")
    s.add_argument("--cfg", required=True, help="JSON with eps, n_images, device, threads")
    s.add_argument("--data", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("checkpoints", nargs="+")
    s.set_defaults(func=cmd_act_distance)

    s = sub.add_parser("claims", parents=[job], help="test every published finding against the long-format tables")
    s.add_argument("--out", required=True, help="claims CSV; a Markdown table is written beside it")
    s.add_argument("tables", nargs="+", help="NAME=PATH of long CSVs, e.g. table1=results/table1_long.csv")
    s.set_defaults(func=cmd_claims)

    s = sub.add_parser("table", parents=[job], help="build a table from evaluation JSONs")
    s.add_argument("name")
    s.add_argument("--cfg", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("metrics", nargs="+")
    s.set_defaults(func=cmd_table)

    s = sub.add_parser("figure", parents=[job], help="draw a figure from a long-format CSV")
    s.add_argument("name")
    s.add_argument("--input", required=True)
    s.add_argument("--out", required=True, help="PNG path; a PDF is written beside it")
    s.set_defaults(func=cmd_figure)

    s = sub.add_parser("provenance", help="the chain from a file or a table cell back to the raw data")
    s.add_argument("file", help="e.g. results/table1.csv or a checkpoint")
    s.add_argument("--row", help='table row, e.g. "DQ (1e-3)"')
    s.add_argument("--col", help='table column, e.g. 4 or "Full Prec."')
    s.add_argument("--metric", default="adv", help="clean or adv (default adv)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--records", default="results/provenance", help="folder of provenance records")
    s.set_defaults(func=cmd_provenance)

    s = sub.add_parser("verify", help="recompute hashes; name every output whose recorded inputs no longer match")
    s.add_argument("--records", default="results/provenance")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("restore", help="after dvc pull: verify hashes, then order mtimes as the DAG made them")
    s.add_argument("--records", default="results/provenance")
    s.set_defaults(func=cmd_restore)

    s = sub.add_parser("pull", help="dvc pull with clear errors, then restore: a fresh clone's results, ready for snakemake")
    s.add_argument("--records", default="results/provenance")
    s.set_defaults(func=cmd_pull)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    start = time.time()
    try:
        result = args.func(args)
        if isinstance(result, int):  # verify's exit status
            return result
        if getattr(args, "prov", None) and result:
            t_prov = time.perf_counter()  # the record's cost includes importing its module
            from qrobust.provenance import write_record

            write_record(args.prov, rule=args.rule, start=start, end=time.time(), t_begin=t_prov, **result)
    except USER_ERRORS as e:
        if os.environ.get("QROBUST_DEBUG"):  # developers: keep the traceback
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"qrobust: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
