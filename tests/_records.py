"""Synthetic metrics records (what the jobs write) for table and claims tests."""


def _m(method, beta, bits, seed, clean, adv):
    return {"run": {"method": method, "beta": beta, "act_bits": bits, "seed": seed},
            "clean_acc": clean, "adv_acc": adv, "n": 100, "attack": {"name": "fgsm", "eps": 0.1}}


def noise_record(scheme=None, seed=0, clean=80.0, cor=70.0, nearest=60.0, int8=79.0):
    run = {"scheme": scheme, "weight_bits": 4, "act_bits": 4, "seed": seed} if scheme else {"method": "vanilla", "seed": seed}
    return {"run": run, "clean_acc": clean, "reference": {"resize": "pil-bilinear"}, "model_side": {"int8": int8},
            "corruption": {"brightness": {"1": cor + 5, "2": cor + 4}, "impulse_noise": {"1": cor - 5, "2": cor - 6},
                           "glass_blur": {"1": cor - 4, "2": cor - 3}},
            "system": {"resize": {"pil-bilinear": clean, "cv2-nearest": nearest}}}


def eval_record(scheme=None, seed=0, adv=40.0):
    run = {"scheme": scheme, "weight_bits": 4, "act_bits": 4, "seed": seed} if scheme else {"method": "vanilla", "seed": seed}
    return {"run": run, "attack": {"name": "fgsm", "eps": 0.1}, "adv_acc": adv}


def t7_record(scheme, init, robust, target, pgd, seed=0, mode="ptq"):
    wq = {"quantizer": "uniform"} if "w" in target else None
    aq = {"quantizer": "pact"} if "a" in target else None
    return {"run": {"scheme": scheme, "init": init, "mode": mode, "robust": robust, "target": target, "bits": 4, "seed": seed,
                    "quant": {"weight_quant": wq, "act_quant": aq}},
            "clean_acc": 80.0, "results": [{"attack": "pgd", "eps": 0.1, "acc": pgd}]}


def t8_record(model, accuracy: dict, seed=0, attack_bits=(4,), variant="attack quantizer"):
    return {"model": model, "seed": seed, "attack_bits": list(attack_bits), "variants": {variant: {"accuracy": accuracy}}}


def worst_record(run: dict, worst: float, flags=(), eps=0.1, n=100, clean=90.0, defense="none"):
    """A worst_case job's record (evaluation/worst_case.py + masking.py), with the fields tables read."""
    return {"run": run, "defense": defense, "n": n, "eps": eps, "n_classes": 10, "clean_acc": clean,
            "worst_acc": worst, "best": "pgd@bpda",
            "members": [{"name": "pgd@ste", "attack": "pgd", "path": "ste", "source": None, "kind": "white",
                         "kwargs": {}, "acc": worst + 10.0, "seconds": 0.1},
                        {"name": "pgd@bpda", "attack": "pgd", "path": "bpda", "source": None, "kind": "white",
                         "kwargs": {}, "acc": worst, "seconds": 0.1}],
            "autoattack": None, "correct": {}, "skipped": [],
            "checkpoint": "results/checkpoints/train-00000000/"
                          + "_".join(f"{k}{v}" for k, v in sorted(run.items()) if not isinstance(v, dict)) + ".pt",
            "audit": {"checks": [{"check": f, "flagged": True, "value": 1.0, "threshold": 0.0, "detail": f}
                                 for f in flags],
                      "flags": list(flags), "masked": bool(flags), "eps_sweep": []}}


def per_image(acc: float, n: int = 200, seed: int = 0) -> dict:
    """The per-image columns of a long-CSV row measured on n images: `acc` % of them correct, chosen along one
    fixed order per seed, so two models of one seed are nested (the better one is correct wherever the
    worse one is) and their paired difference is exact."""
    import numpy as np

    order = np.random.default_rng(1000 + seed).permutation(n)
    ok = np.zeros(n, dtype=bool)
    ok[order[: int(round(acc * n / 100.0))]] = True
    return {"images": f"0-{n - 1}", "correct": "".join("1" if v else "0" for v in ok)}


def rows(spec: list[dict], seeds=(0, 1, 2), value: str = "acc", n: int = 200) -> "object":
    """A long frame: each spec dict is one cell (its columns, and `acc`: its accuracy per seed, a number or a
    {seed: number} dict), repeated over `seeds` with its per-image outcomes; the accuracy goes to column `value`."""
    import pandas as pd

    out = []
    for cell in spec:
        cell = dict(cell)
        acc = cell.pop("acc")
        for s in seeds:
            a = acc[s] if isinstance(acc, dict) else acc
            out.append({**cell, "seed": s, value: a, **per_image(a, n, s)})
    return pd.DataFrame(out)
