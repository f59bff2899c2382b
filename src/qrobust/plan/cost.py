"""What a run will cost, before it starts: jobs per rule from a Snakemake dry run, times each rule's
seconds per job, priced from the work the config asks of it and a measured reference run.

The work of one job of a rule (`work`) is counted in images through three kinds of pass:
  train  a training step (forward and backward),
  fwd    an inference forward,
  grad   an input-gradient step (an attack's unit),
averaged over the rule's variants (schemes, attacks). `measure` times each kind on this host for the
config's model at the config's batch sizes (a second or two), so `predicted` is what one job's passes
alone would take here. A job does more than its passes (data, checkpoints, bookkeeping, the pruning of
the worst case), so each rule keeps the factor it showed in the reference run (`COSTS_FILE`, written by
bench/plan_costs.py from the records of a whole default run):

    seconds = overhead x f + (reference seconds - overhead) x predicted here / predicted there

with f the reference model's training rate there over here. Rules whose work does not depend on the config
(data, tables, figures, claims, OHQ on its small model) take their reference seconds times f.

GPU-hours (`gpu_hours`): the same work at the images/s bench/gpu_sizing.py measures per model on a
GPU, without per-job overheads; rules not priced there (data, tables, OHQ) are taken as free.
"""
from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

COSTS_FILE = Path(__file__).with_name("costs.json")
PASS_WEIGHT = {"train": 3.0, "fwd": 1.0, "grad": 2.0}  # a backward costs about two forwards
# image shape and split sizes when the config does not cap them (n_train/n_test null)
DATASETS = {
    "mnist5k": ((1, 28, 28), 4000, 1000), "mnist": ((1, 28, 28), 60000, 10000),
    "fashion_mnist": ((1, 28, 28), 60000, 10000), "cifar10": ((3, 32, 32), 50000, 10000),
    "svhn": ((3, 32, 32), 73257, 26032),
}
FIXED_RULES = {"prepare_data", "table", "figure", "claims", "scorecard", "act_distance",
               "ohq_profile", "ohq_sensitivity", "ohq_allocate", "ohq_deploy", "all"}


def data_shape(cfg: dict) -> tuple[tuple[int, int, int], int, int]:
    d = cfg["data"]
    shape, n_train, n_test = DATASETS.get(d["dataset"], ((3, 32, 32), 50000, 10000))
    return shape, d.get("n_train") or n_train, d.get("n_test") or n_test


def _steps(kw: dict | None, eps: float, attack: str) -> int:
    from qrobust.attacks._linf import kurakin_defaults

    if attack in ("fgsm", "rfgsm", "random", "none"):
        return 1
    return (kw or {}).get("steps") or kurakin_defaults(eps, None, None)[1]


def _worst_case_grad(wc: dict) -> float:
    """Input-gradient steps per image of one worst-case job, every member on every image (no pruning)."""
    paths = len(wc.get("paths") or ["ste"])
    g = 0.0
    for m in wc["ensemble"]:
        a = m["attack"]
        mp = 1 if m.get("paths") in ("best",) else len(m.get("paths") or []) or paths
        stairs = len(m.get("staircases") or [None])
        if a == "fgsm":
            g += mp
        elif a in ("pgd", "bim"):
            g += m.get("steps", 10) * m.get("restarts", 1) * mp * stairs
        elif a == "transfer":
            inner = 1 if m.get("inner") == "fgsm" else m.get("steps", 10) * m.get("restarts", 1)
            g += inner * (len(m.get("sources") or []) - 1 + stairs) + 1
        elif a in ("apgd_ce", "apgd_dlr", "apgd_t"):  # and the audit's second draw of it
            g += 2 * 100 * m.get("restarts", 1) * (9 if a == "apgd_t" else 1)
        elif a == "autoattack":
            names = m.get("attacks") or ["apgd-ce", "apgd-t", "fab-t", "square"]
            per = {"apgd-ce": 100, "apgd-dlr": 100, "apgd-t": 900, "fab-t": 900, "fab": 100, "square": 2500}
            g += sum(per.get(n, 100) for n in names)
        elif a == "square":
            g += m.get("n_queries", 5000) / 2  # a query (a forward) is about half a gradient step
    return g + 1 + paths  # the clean pass and the audit's replicate on each path (about one step each)


def _adaround(scheme: dict) -> dict:
    """AdaRound's reconstruction: per step, each layer forward and backward on a batch, about one
    whole-model gradient pass per calibration image of the batch."""
    if (scheme.get("weight") or {}).get("quantizer") != "adaround":
        return {}
    r = scheme.get("reconstruct") or {}
    return {"grad": r.get("iters", 1000) * r.get("batch_size", 32)}


def work(cfg: dict) -> dict[str, dict[str, float]]:
    """Image passes of one job per rule (train, fwd, grad), averaged over the rule's variants."""
    shape, n_train, n_test = data_shape(cfg)
    mean = statistics.fmean
    tr, dq, li, qa, rb, qz = cfg["train"], cfg["dq"], cfg["li2024"], cfg["qu_anti"], cfg["robust_bench"], cfg["quantize"]
    adv = cfg["adv_train"]
    adv_steps = adv.get("steps") or _steps(None, adv["eps_max"], "pgd")
    # train_adv runs per DQ attack (FGSM-like: one step; PGD: the training steps)
    adv_g = mean([1 if a in ("fgsm", "rfgsm") else adv_steps for a in ("rfgsm", "pgd")])
    n_att = min(dq.get("attack_images") or n_test, n_test)
    robust = sum(_steps((dq.get("attack_kwargs") or {}).get(a), e, a) for a in dq["attacks"] for e in dq["eps"])
    qz_w = [({"train": qz["qat"]["epochs"] * n_train} if s["mode"] == "qat" else {"fwd": qz["calib_images"], **_adaround(s)})
            for s in qz["schemes"]]
    li_att = min(li.get("attack_images") or n_test, n_test)
    li_w = []
    for s in li["schemes"]:
        w = {"fwd": li.get("calib_images", 256), "train": 0.0, "grad": 0.0}
        if s["mode"] == "qat":
            w["train"] = li["qat"]["epochs"] * n_train
            if s.get("robust") == "during":
                w["grad"] = li["qat"]["epochs"] * n_train * adv_steps
        elif s.get("robust") == "finetune":
            w["train"] = n_train * li.get("finetune_fraction", 0.1)
            w["grad"] = w["train"] * adv_steps
        li_w.append(w)
    li_grad = sum((li.get("attack_kwargs") or {}).get(a, {}).get("steps", 10) if a == "pgd" else
                  (li.get("attack_kwargs") or {}).get(a, {}).get("n_queries", 5000) / 2 for a in li["attacks"])
    wc = cfg["worst_case"]
    wc_n = min(wc.get("n_images") or n_test, n_test)
    sev = len(rb["severities"])
    qa_epochs = qa.get("epochs", 10)

    def avg(ws):
        return {k: mean([w.get(k, 0.0) for w in ws]) for k in ("train", "fwd", "grad")}

    return {
        "train": {"train": tr["epochs"] * n_train, "fwd": n_test},
        "train_adv": {"train": tr["epochs"] * n_train, "grad": tr["epochs"] * n_train * adv_g, "fwd": n_test},
        "quantize": {**avg(qz_w), "fwd": avg(qz_w)["fwd"] + n_test},
        "evaluate": {"fwd": 2 * n_test, "grad": n_test},
        "robust_eval": {"fwd": n_test + n_att * len(dq["attacks"]) * len(dq["eps"]), "grad": n_att * robust},
        "craft_blackbox": {"grad": n_att * len(dq["blackbox"]) * len(dq["eps"]) * _steps(dq["attack_kwargs"].get("pgd"), 0.1, "pgd")},
        "li2024_quantize": {**avg(li_w), "fwd": avg(li_w)["fwd"] + n_test},
        "li2024_eval": {"fwd": n_test, "grad": li_att * li_grad},
        "worst_case": {"fwd": wc_n, "grad": wc_n * _worst_case_grad(wc)},
        "make_noise": {"fwd": n_test * sev / 4},  # image processing, priced as a fraction of a forward
        "noise_eval": {"fwd": n_test * (len(rb["corruptions"]) * sev + len(rb["system"]) + len(rb["model_side"]) + 1)},
        "qu_anti": {"train": qa_epochs * n_train * (1 + len(qa["bits"]))},
        "qu_anti_eval": {"fwd": n_test * len(qa["eval_bits"])},
    }


def rates(cfg: dict, seconds: float = 0.4, model_cfg: dict | None = None) -> dict[str, float]:
    """Images per second of this host, on `cfg["threads"]` threads, through the config's model (or
    `model_cfg`): a training step at the training batch size, an inference forward and an input-gradient
    step at the evaluation batch size."""
    import torch

    from qrobust.models import create_model

    shape, _, _ = data_shape(cfg)
    mc = model_cfg or cfg["model"]
    threads = torch.get_num_threads()
    torch.set_num_threads(int(cfg.get("threads") or 1))
    try:
        torch.manual_seed(0)
        net = create_model(mc["name"], num_classes=10, in_channels=shape[0], act=mc.get("act", "relu6"), **(mc.get("kwargs") or {}))
        opt = torch.optim.SGD(net.parameters(), lr=1e-3)
        bt, be = int(cfg["train"]["batch_size"]), min(int(cfg["eval"]["batch_size"]), 256)
        xt, yt = torch.rand(bt, *shape), torch.randint(0, 10, (bt,))
        xe, ye = torch.rand(be, *shape), torch.randint(0, 10, (be,))

        def train():
            net.train()
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
            return bt

        def fwd():
            net.eval()
            with torch.no_grad():
                net(xe)
            return be

        def grad():
            net.eval()
            x = xe.clone().requires_grad_(True)
            torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), ye), x)
            return be

        out = {}
        for name, f in (("train", train), ("fwd", fwd), ("grad", grad)):
            f()
            best = 0.0
            # the best of three windows, in this process's CPU seconds (what a job's records count as
            # cpu_seconds), so that other work on the host does not make the plan dearer
            for _ in range(3):
                n, t0 = 0, time.process_time()
                while time.process_time() - t0 < seconds / 3 or n == 0:
                    n += f()
                best = max(best, n / max(time.process_time() - t0, 1e-9))
            out[name] = best
        return out
    finally:
        torch.set_num_threads(threads)


def predicted(cfg: dict, host_rates: dict[str, dict[str, float]]) -> dict[str, float]:
    """Per rule, the seconds one job's passes take at `host_rates` (per model: "model", "substitute")
    with nothing else counted: the lower bound that each rule's measured factor scales."""
    out = {}
    for rule, w in work(cfg).items():
        r = host_rates["substitute" if rule == "craft_blackbox" else "model"]
        out[rule] = sum(v / r[k] for k, v in w.items())
    return out


def measure(cfg: dict, seconds: float = 0.4) -> dict[str, dict[str, float]]:
    """`rates` of the config's model and of DQ's black-box substitute, on this host."""
    return {"model": rates(cfg, seconds), "substitute": rates(cfg, seconds, model_cfg=cfg["dq"]["substitute"])}


def load_costs(path: Path = COSTS_FILE) -> dict:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no reference costs; `python bench/plan_costs.py` writes them from a whole default run")
    return json.loads(Path(path).read_text())


def job_seconds(cfg: dict, ref: dict, host_rates: dict | None = None, factor: float | None = None) -> dict[str, float]:
    """Expected seconds of one job per rule on this host (see the module docstring). `ref`: load_costs();
    `host_rates`: measure(cfg), `factor`: the host factor (each measured here when not given)."""
    ref_cfg = ref["config"]
    here = predicted(cfg, host_rates or measure(cfg))
    there = predicted(ref_cfg, ref["rates"])
    # the host factor: the reference model's training rate there over here (fixed work and overheads scale with it)
    if factor is None:
        factor = ref["rates"]["model"]["train"] / rates(ref_cfg)["train"]
    out = {}
    for rule, r in ref["rules"].items():
        o = min(ref["overhead_s"], r["seconds"])
        if rule in FIXED_RULES or rule not in here or not there.get(rule):
            out[rule] = r["seconds"] * factor
        else:
            out[rule] = o * factor + (r["seconds"] - o) * here[rule] / there[rule]
    return out


def dry_run(targets: list[str], configfiles: list[str], forceall: bool = False, cwd: str | Path = ".",
            config: list[str] | None = None) -> dict[str, int]:
    """Jobs per rule that `snakemake TARGETS -n` plans ({} when nothing is to be done)."""
    cmd = [sys.executable, "-m", "snakemake", *targets, "-n"]
    if forceall:
        cmd.append("--forceall")
    if configfiles:
        cmd += ["--configfile", *configfiles]
    if config:
        cmd += ["--config", *config]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode:
        lines = [ln.strip() for ln in out.strip().splitlines() if ln.strip()]
        at = next((i for i, ln in enumerate(lines) if re.search(r"Error|Exception|error:", ln)), len(lines) - 1)
        why = " ".join(lines[at:at + 2]) if lines else "no output"
        raise RuntimeError(f"the dry run `snakemake {' '.join(cmd[3:])}` failed: {why}")
    if "Nothing to be done" in out:
        return {}
    m = re.search(r"^\d+ jobs: (.*)$", out, re.M)
    if m:
        pairs = (p.rsplit(" ", 1) for p in m.group(1).split(", "))
        jobs = {k: int(v) for k, v in pairs}
    elif "Job stats:" in out:
        stats = out.split("Job stats:", 1)[1]
        jobs = {g[1]: int(g[2]) for g in re.finditer(r"^(\w+)\s+(\d+)\s*$", stats, re.M) if g[1] != "total"}
    else:
        raise RuntimeError(f"no job counts in the output of `{' '.join(cmd[2:])}`")
    jobs.pop("all", None)
    return jobs


def gpu_hours(cfg: dict, jobs: dict[str, int], rates: dict[str, float]) -> tuple[float, list[tuple[str, int, float]]]:
    """GPU-hours of `jobs` at the measured `rates` of the config's model (bench/gpu_sizing.py: train_img_s,
    infer_fp32_img_s, pgd10_img_s); per rule (rule, jobs, hours)."""
    unit = {"train": 1 / rates["train_img_s"], "fwd": 1 / rates["infer_fp32_img_s"], "grad": 1 / (rates["pgd10_img_s"] * 10)}
    w = work(cfg)
    rows, total = [], 0.0
    for rule, n in sorted(jobs.items()):
        h = n * sum(unit[k] * v for k, v in w.get(rule, {}).items()) / 3600
        rows.append((rule, n, h))
        total += h
    return total, rows
