"""Bad configs: one line naming the key and what is allowed, non-zero exit, nothing made."""
import copy
import json
import subprocess
import sys

import pytest
import yaml

from _helpers import ROOT, copy_workflow, snakemake
from qrobust.config import ConfigError, load_config, validate_config

BASE = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _set(cfg, dotted, value):
    cfg = copy.deepcopy(cfg)
    node = cfg
    *parents, last = dotted.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return cfg


# (name, dotted key, value, words the message must contain)
BAD = [
    ("unknown dataset", "data.dataset", "imagenet", ["data.dataset", "mnist5k", "cifar10"]),
    ("unknown model", "model.name", "resnet9000", ["model.name", "small_cnn", "wide_resnet"]),
    ("unknown method", "methods.1.name", "magic", ["methods[1].name", "vanilla", "dq"]),
    ("unknown attack", "attack.name", "deepfool", ["attack.name", "fgsm"]),
    ("bits 0", "quant.act_bits.1", 0, ["quant.act_bits[1]", "1..16"]),
    ("bits 33", "quant.act_bits.1", 33, ["quant.act_bits[1]", "1..16"]),
    ("weight bits 33", "quant.weight_bits", 33, ["quant.weight_bits", "1..16"]),
    ("negative eps", "attack.eps", -0.1, ["attack.eps", "0..1"]),
    ("eps above 1", "attack.eps", 1.5, ["attack.eps", "0..1"]),
    ("negative beta", "methods.1.beta", -3e-4, ["methods[1].beta", ">= 0"]),
    ("empty seeds", "seeds", [], ["seeds", "at least 1"]),
    ("unknown key", "train.epochz", 3, ["train", "epochz", "allowed keys"]),
    ("dq without beta", "methods.1.beta", 0, ["methods[1].beta", "beta > 0"]),
    ("quantized relu", "model.act", "relu", ["model.act", "relu6"]),
    ("bad device", "device", "tpu", ["device"]),
    ("unknown quantizer", "quantize.schemes.0.weight.quantizer", "apot",
     ["quantize.schemes[0].weight.quantizer", "uniform", "pact", "lsq", "dorefa"]),
    ("unknown calibrator", "quantize.schemes.1.act.calibrator", "kl",
     ["quantize.schemes[1].act.calibrator", "minmax", "mse", "percentile"]),
    ("pact for weights", "quantize.schemes.0.weight.quantizer", "pact",
     ["quantize.schemes[0].weight.quantizer", "use uniform for weights"]),
    ("pact in ptq", "quantize.schemes.0.act.quantizer", "pact", ["quantize.schemes[0].act.quantizer", "mode: qat"]),
    ("per-channel activations", "quantize.schemes.0.act.per_channel", True, ["quantize.schemes[0].act.per_channel", "weights only"]),
    ("bits pair 9", "quantize.bits.0", [9, 8], ["quantize.bits[0][0]", "2..8"]),
    ("unknown precision", "ohq.precisions", ["fp32", "int9"], ["ohq.precisions[1]", "int8", "int2"]),
    ("measured only int4", "ohq.measured_only", True, ["ohq.precisions", "int2, int4", "no kernel", "measured_only: false"]),
    ("budget without a limit", "ohq.budgets.0", {"name": "x"}, ["ohq.budgets[0]", "latency"]),
    ("budget fraction above 1", "ohq.budgets.0.latency", 1.5, ["ohq.budgets[0].latency", "0..1"]),
    ("duplicate budget", "ohq.budgets.1.name", "lat25", ["ohq.budgets[1].name", "used twice"]),
    ("unknown engine", "ohq.engine", "tensorrt", ["ohq.engine", "x86", "onednn"]),
    ("unknown corruption", "robust_bench.corruptions", ["fog", "rain"], ["robust_bench.corruptions[1]", "'rain'", "glass_blur"]),
    ("severity 6", "robust_bench.severities", [1, 6], ["robust_bench.severities[1]", "1..5"]),
    ("severity 0", "robust_bench.severities", [0], ["robust_bench.severities[0]", "1..5"]),
    ("negative steps", "dq.attack_kwargs", {"pgd": {"steps": -3}}, ["dq.attack_kwargs.pgd.steps", ">= 1"]),
    ("unknown robustness attack", "dq.attacks", ["fgsm", "deepfool"], ["dq.attacks[1]", "pgd", "square"]),
    ("unknown attack option", "dq.attack_kwargs", {"pgd": {"stepz": 3}}, ["dq.attack_kwargs.pgd", "stepz"]),
    ("int on cuda", "ohq.device", "cuda", ["ohq.precisions", "int2, int4, int8", "CPU kernels only", "fp16"]),
]


@pytest.mark.parametrize("name,key,value,words", BAD, ids=[b[0] for b in BAD])
def test_validate_config_gives_one_line_naming_the_key(name, key, value, words):
    with pytest.raises(ConfigError) as e:
        validate_config(_set(BASE, key, value))
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, f"{w!r} missing from {msg!r}"


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "paper.yaml", "tiny.yaml"):
        cfg = load_config(ROOT / "config" / name)
        assert cfg["device"] in ("auto", "cpu") and cfg["eval"]["batch_size"] >= 1


def test_defaults_are_filled():
    cfg = validate_config({k: v for k, v in BASE.items() if k not in ("eval", "device", "threads")})
    assert cfg["eval"]["batch_size"] == 500 and cfg["device"] == "auto" and cfg["threads"] == 1
    assert cfg["methods"][0]["beta"] == 0


def test_numbers_given_as_strings_are_parsed_where_the_schema_wants_numbers():
    # what snakemake's --config hands over for `attack={name: fgsm, eps: 0.2}` or `seeds=[0,1,2]`
    cfg = validate_config(_set(_set(BASE, "attack.eps", "0.2"), "seeds", [0, 1, "2"]))
    assert cfg["attack"]["eps"] == 0.2 and cfg["seeds"] == [0, 1, 2]
    cfg = validate_config(_set(BASE, "quant.act_bits", ["null", "4"]))
    assert cfg["quant"]["act_bits"] == [None, 4]
    with pytest.raises(ConfigError, match="attack.name"):
        validate_config(_set(BASE, "attack.name", "0.2"))  # a string field stays a string


def test_not_yaml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [0\nmodel: {name: x\n")
    r = subprocess.run([sys.executable, "-m", "qrobust.cli", "check-config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "bad.yaml" in r.stderr and "not valid YAML" in r.stderr


def test_yaml_that_is_not_a_mapping(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("wf"))


@pytest.mark.parametrize("name,key,value,words", BAD[:10], ids=[b[0] for b in BAD[:10]])
def test_snakemake_stops_before_any_job(workdir, name, key, value, words):
    cfg = workdir / f"{name.replace(' ', '_')}.yaml"
    cfg.write_text(yaml.safe_dump(_set(BASE, key, value)))
    r = snakemake(workdir, "results/table1.csv", "--cores", "1", "--configfile", str(cfg))
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("qrobust: config error")]
    assert len(lines) == 1 and words[0] in lines[0], r.stderr
    assert not (workdir / "results").exists() and not (workdir / "data" / "prepared").exists()


def test_snakemake_rejects_a_file_that_is_not_yaml(workdir):
    cfg = workdir / "broken.yaml"
    cfg.write_text("seeds: [0\n\tmodel: {")
    r = snakemake(workdir, "results/table1.csv", "--cores", "1", "--configfile", str(cfg))
    assert r.returncode != 0 and "not valid JSON or YAML" in r.stderr
    assert not (workdir / "results").exists()


# A new registry entry is one file: the schema's name lists come from the registries (x-registry),
# read from the packages' files, so no schema edit is needed for the config to name it.
NEW_ATTACK = '''"""A throwaway attack: returns the images unchanged."""
from qrobust.attacks._base import Attack, register_attack


@register_attack("zzz_noop")
class Noop(Attack):
    def perturb(self, x, y):
        return x
'''
NEW_MODEL = '''"""A throwaway model: one linear layer."""
import torch.nn as nn

from qrobust.models._base import register_model


@register_model("zzz_linear")
def zzz_linear(*, num_classes, in_channels, act="relu6", side=28):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * side * side, num_classes))
'''
CHECK_NEW_ENTRIES = '''
import json, sys
import torch
import yaml
import qrobust
from qrobust.config import ConfigError, validate_config
from qrobust.attacks import ATTACKS, create_attack
from qrobust.models import MODELS, create_model
from qrobust.plan.sources import stage_sources

cfg = yaml.safe_load(open(sys.argv[1]))
cfg["attack"]["name"] = "zzz_noop"
cfg["model"]["name"] = "zzz_linear"
cfg.setdefault("dq", {})["attacks"] = ["fgsm", "zzz_noop"]
cfg["dq"]["substitute"] = {"name": "zzz_linear"}
validate_config(cfg)
cfg["attack"]["name"] = "zzz_nope"
try:
    validate_config(cfg)
    error = None
except ConfigError as e:
    error = str(e)
model = create_model("zzz_linear", num_classes=10, in_channels=1)
x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
same = bool(torch.equal(create_attack("zzz_noop", model, eps=0.1)(x, y), x))
print(json.dumps({"package": qrobust.__file__, "attacks": ATTACKS.names(), "models": MODELS.names(), "error": error,
                  "same": same, "loaded": sorted(m for m in sys.modules if m.startswith("qrobust.attacks.")),
                  "sources": stage_sources("evaluate", {"attack": ["zzz_noop"], "model": ["zzz_linear"]})}))
'''


def test_a_new_attack_or_model_is_one_file_and_valid_config_at_once(tmp_path):
    import json
    import os
    import shutil

    pkg = tmp_path / "src" / "qrobust"
    shutil.copytree(ROOT / "src" / "qrobust", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "attacks" / "zzz_noop.py").write_text(NEW_ATTACK)
    (pkg / "models" / "zzz_linear.py").write_text(NEW_MODEL)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "src"))
    r = subprocess.run([sys.executable, "-c", CHECK_NEW_ENTRIES, str(ROOT / "config" / "tiny.yaml")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["package"].startswith(str(tmp_path))
    assert "zzz_noop" in out["attacks"] and "zzz_linear" in out["models"] and out["same"]
    # the attack asked for is the one attack module imported
    assert out["loaded"] == ["qrobust.attacks._base", "qrobust.attacks.zzz_noop"]
    # an unknown name is still one line naming the key and every allowed name, the new one included
    assert "\n" not in out["error"] and "attack.name" in out["error"] and "'zzz_nope'" in out["error"]
    assert ("allowed: apgd_ce, apgd_dlr, apgd_t, autoattack, bim, fab_t, fgsm, pgd, random, rfgsm, square, zzz_noop"
            in out["error"])
    # and a job running it declares its file, and no other attack's
    assert "src/qrobust/attacks/zzz_noop.py" in out["sources"] and "src/qrobust/models/zzz_linear.py" in out["sources"]
    assert not any(f.endswith(("square.py", "fgsm.py", "small_cnn.py")) for f in out["sources"])


def test_an_entry_registered_at_run_time_is_valid_config():
    import torch.nn as nn

    from qrobust.attacks import ATTACKS, Attack
    from qrobust.models import MODELS

    class Noop(Attack):
        def perturb(self, x, y):
            return x

    ATTACKS.register("zzz_runtime")(Noop)
    MODELS.register("zzz_runtime_net")(lambda **kw: nn.Identity())
    try:
        cfg = _set(_set(BASE, "attack.name", "zzz_runtime"), "model.name", "zzz_runtime_net")
        assert validate_config(cfg)["attack"]["name"] == "zzz_runtime"
        with pytest.raises(ConfigError, match=r"'dq.attacks\[0\]': 'zzz_nope' is not allowed; allowed: .*zzz_runtime"):
            validate_config(_set(cfg, "dq.attacks", ["zzz_nope"]))
    finally:
        ATTACKS.unregister("zzz_runtime")
        MODELS.unregister("zzz_runtime_net")
    with pytest.raises(ConfigError, match="attack.name': 'zzz_runtime' is not allowed"):
        validate_config(_set(BASE, "attack.name", "zzz_runtime"))


def test_check_config_validates_an_override_file_on_top_of_the_default(tmp_path):
    """README's one-key override files: valid on top of config/config.yaml, as snakemake merges them."""
    def check(*args):
        return subprocess.run([sys.executable, "-m", "qrobust.cli", "check-config", *args], capture_output=True,
                              text=True, cwd=ROOT)
    (tmp_path / "seeds.yaml").write_text("seeds: [0, 1, 2]\n")
    r = check(str(tmp_path / "seeds.yaml"))
    assert r.returncode == 0 and "on top of config/config.yaml" in r.stdout and "x 3 seeds" in r.stdout, r.stderr
    assert check("config/tiny.yaml").returncode == 0
    alone = check("--alone", str(tmp_path / "seeds.yaml"))
    assert alone.returncode == 2 and "required property" in alone.stderr
    (tmp_path / "eps.yaml").write_text("attack: {eps: -1}\n")  # a merged mapping keeps the base's attack.name
    bad = check(str(tmp_path / "eps.yaml"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "attack.eps" in bad.stderr


def test_check_config_away_from_the_workflow_says_where_the_base_is(tmp_path):
    (tmp_path / "seeds.yaml").write_text("seeds: [0, 1]\n")

    def check(*args):
        return subprocess.run([sys.executable, "-m", "qrobust.cli", "check-config", *args], capture_output=True,
                              text=True, cwd=tmp_path)
    r = check("seeds.yaml")  # no config/config.yaml in this folder
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "run in the workflow folder, or pass --base" in r.stderr
    r = check("--base", str(tmp_path / "nope.yaml"), "seeds.yaml")
    assert r.returncode == 2 and "--base" in r.stderr and "no such file" in r.stderr
    r = check("--base", str(ROOT / "config" / "config.yaml"), "seeds.yaml")
    assert r.returncode == 0 and "x 2 seeds" in r.stdout, r.stderr


def test_paper_config_on_top_of_the_default_keeps_nothing_mnist_scale():
    """config/paper.yaml is merged over config/config.yaml: the MNIST-scale values there must not leak into
    the paper's protocol (they once did: MNIST eps for Tables 2-4, the small CNN's kwargs on WRN-28-10)."""
    import yaml

    from qrobust.config import merge
    from qrobust.evaluation.robust import step_size
    from qrobust.models import create_model

    cfg = validate_config(merge(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
                                yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())))
    assert cfg["dq"]["eps"] == pytest.approx([2 / 255, 8 / 255, 16 / 255])
    assert cfg["dq"]["attack_images"] is None and cfg["li2024"]["attack_images"] is None
    # DQ's PGD adversarial training: Kurakin's step 1/255 and min(eps*255 + 4, 1.25 eps*255) iterations
    assert cfg["adv_train"]["sigma"] == pytest.approx(8 / 255) and cfg["adv_train"]["steps"] is None
    from qrobust.attacks._linf import kurakin_defaults
    assert kurakin_defaults(16 / 255, None, None) == (pytest.approx(1 / 255), 20)
    # Tables 2-3 as DQ: +DQ at bit=1 against full precision; Qu-ANTI-zation's lambda = 1 / N_B over its 4 bit-widths
    assert cfg["dq"]["dq_bits"] == 1 and cfg["dq"]["act_bits"] == 4
    assert cfg["qu_anti"]["lam"] == pytest.approx(1 / len(cfg["qu_anti"]["bits"])) and cfg["qu_anti"]["bits"] == [8, 7, 6, 5]
    # the whole CIFAR-10 splits (config.yaml's 4000 / 1000 are the MNIST subset's), five seeds
    assert cfg["data"]["n_train"] is None and cfg["data"]["n_test"] is None and len(cfg["seeds"]) >= 5
    assert step_size("pgd", 8 / 255, cfg["dq"]["attack_kwargs"]["pgd"]) == {}  # Kurakin's steps and alpha
    assert cfg["li2024"]["targets"] == ["w", "a", "wa"] and cfg["worst_case"]["n_images"] is None
    net = create_model(cfg["model"]["name"], num_classes=10, in_channels=3, act=cfg["model"]["act"], **cfg["model"]["kwargs"])
    assert sum(p.numel() for p in net.parameters()) > 36_000_000  # WRN-28-10
    sub = cfg["dq"]["substitute"]
    vgg = create_model(sub["name"], num_classes=10, in_channels=3, act=sub["act"], **sub["kwargs"])
    assert sum(p.numel() for p in vgg.parameters()) > 14_000_000  # a full-width VGG-16


# docs/extending.md's rows for a model and a quantizer, followed as written: one file each, and the
# registry-wide test suites (tests/models/test_models.py, tests/quant/test_quantizers.py) test them
DOC_MODEL = '''"""A small conv net, written as docs/extending.md says."""
import torch.nn as nn

from qrobust.models._base import MaxPool2d, register_model
from qrobust.quant.layers import QConv2d, QLinear, QuantAct


@register_model("zzz_convnet", tiny={"width": 4})
def zzz_convnet(num_classes=10, in_channels=1, act="relu6", width=16):
    return nn.Sequential(QConv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), QuantAct(act),
                         MaxPool2d(2), nn.AdaptiveAvgPool2d(2), nn.Flatten(), QLinear(4 * width, num_classes))
'''
DOC_QUANTIZER = '''"""The uniform grid under another name, written as docs/extending.md says."""
from qrobust.quant.quantizers import Quantizer, register_quantizer


@register_quantizer("zzz_grid")
class ZzzGrid(Quantizer):
    """Uniform affine grid over the calibrated range."""
'''


def test_extending_md_a_new_model_and_quantizer_are_one_file_each_and_tested_by_the_registry_suites(tmp_path):
    import os
    import shutil

    pkg = tmp_path / "src" / "qrobust"
    shutil.copytree(ROOT / "src" / "qrobust", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "models" / "zzz_convnet.py").write_text(DOC_MODEL)
    (pkg / "quant" / "zzz_grid.py").write_text(DOC_QUANTIZER)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "src"))
    cfg = _set(_set(BASE, "model.name", "zzz_convnet"), "quantize.schemes.0.weight.quantizer", "zzz_grid")
    check = subprocess.run([sys.executable, "-c", "import json, sys; from qrobust.config import validate_config; "
                            "validate_config(json.loads(sys.argv[1])); print('valid')", json.dumps(cfg)],
                           env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and "valid" in check.stdout, check.stderr[-2000:]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "zzz",
                        "tests/models/test_models.py", "tests/quant/test_quantizers.py"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:]
    passed = int(r.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 10, r.stdout[-2000:]  # the model's cases (4) and the quantizer's (2 roles x 4 bits x ...)


def test_dqs_svhn_table_is_configured_on_top_of_the_paper_config():
    import yaml

    from qrobust.config import merge

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for name in ("paper.yaml", "paper-svhn.yaml"):
        cfg = merge(cfg, yaml.safe_load((ROOT / "config" / name).read_text()))
    cfg = validate_config(cfg)
    assert cfg["run"] == "svhn" and cfg["data"]["dataset"] == "svhn" and cfg["data"]["n_train"] is None
    assert cfg["model"]["kwargs"]["depth"] == 16 and cfg["model"]["kwargs"]["widen_factor"] == 4
    assert (cfg["train"]["epochs"], cfg["train"]["lr"], cfg["train"]["milestones"]) == (160, 0.01, [80, 120])
    assert cfg["dq"]["dq_bits"] == 1 and len(cfg["seeds"]) >= 5
