# Validation, where files live (config-keyed folders), source inputs, config slices and the
# target function. Which runs a table needs lives in each paper's package (papers/<p>/design.py).
import glob
import hashlib
import json
import os
import re
import sys

from qrobust.plan.keys import key
from qrobust.plan.sources import code_manifest, stage_sources
from qrobust.plan.scan import freeze as _freeze_scan
from qrobust.config import ConfigError, validate_config
from qrobust.training.runs import ADV_RUN, SUBSTITUTE_SEED_OFFSET, TRAIN_RUN, parse_run

# the package's files do not change while Snakemake plans: scan them once (qrobust/plan/scan.py), and
# keep what ast read from each file for the next call, keyed by the file's hash (qrobust/plan/astcache.py)
_freeze_scan(cache=".snakemake/qrobust-ast.pickle")

try:
    _checked = validate_config(config)
except ConfigError as e:
    # one line and a non-zero exit before any job runs: nothing is made from a bad config
    sys.stderr.write(f"qrobust: config error: {e}\n")
    sys.exit(1)
config.clear()
config.update(_checked)

# Tables, figures and claims of a named run (config key `run`) go to results/runs/<run>/;
# checkpoints and metrics are shared by every run, in folders keyed by the config that made them
# (qrobust/plan/keys.py): another config never overwrites them, and coming back retrains nothing.
OUT = f"results/runs/{config['run']}" if config["run"] else "results"
PROV_OUT = (
    f"results/provenance/runs/{config['run']}"
    if config["run"]
    else "results/provenance"
)
# every job's provenance record says which run and config made it (through the environment, so a
# new config file or section reruns nothing whose own config slice is unchanged)
os.environ["QROBUST_RUN"] = json.dumps(
    {
        "run": config["run"],
        "configfiles": [os.path.relpath(f) for f in workflow.configfiles],
        "config_sha256": hashlib.sha256(
            json.dumps(config, sort_keys=True).encode()
        ).hexdigest(),
    }
)


envvars:
    "QROBUST_RUN",  # set just above; passed on to jobs that run elsewhere (SLURM)


DATASET = config["data"]["dataset"]
DATA_KEY = key(DATASET, config, ["data"])
DATA_DIR = f"data/prepared/{DATA_KEY}"
# missing raw data is found here, before any job is planned or submitted (locally and on SLURM),
# unless the prepared split exists already
if not all(
    os.path.exists(f"{DATA_DIR}/{n}") for n in ("train.pt", "test.pt", "meta.json")
):
    from qrobust.datasets import missing_raw

    _missing = missing_raw(DATASET, config["data"]["raw_root"])
    if _missing:
        sys.stderr.write(f"qrobust: data error: {_missing}\n")
        sys.exit(1)
# quant.act_bits is Table 1's grid: each bit-width is a wildcard of the file name, so it is in no key
# and no job's params (adding a bit-width adds jobs and reruns none)
QUANT_FIXED = {k: v for k, v in config["quant"].items() if k != "act_bits"}
TRAIN_KEY = key("train", config, ["model", "train"], [DATA_KEY], {"quant": QUANT_FIXED})
ADV_KEY = key(
    "adv", config, ["model", "train", "adv_train"], [DATA_KEY], {"quant": QUANT_FIXED}
)
SUB_KEY = key("substitute", config, ["dq.substitute", "train"], [DATA_KEY])
EVAL_KEY = key("eval", config, ["attack", "eval"])
ROBUST_SLICES = [
    "eps",
    "attacks",
    "blackbox",
    "attack_kwargs",
    "squeeze",
    "attack_images",
]
ROBUST_KEY = key(
    "robust", config, [f"dq.{s}" for s in ROBUST_SLICES] + ["eval"], [SUB_KEY]
)
# the worst-case ensemble and masking audit (evaluation/worst_case.py, masking.py); the squeezer's
# settings are in the key because a Feature Squeezing model is evaluated through them
_WORST_SUB = any(
    "substitute" in m.get("sources", ()) for m in config["worst_case"]["ensemble"]
)
WORST_KEY = key(
    "worst",
    config,
    ["worst_case", "eval", "dq.squeeze"],
    [SUB_KEY] if _WORST_SUB else [],
)
# the float model of Table 1: the start of every quantization, OHQ and Qu-ANTI-zation job
FLOAT_RUN = "vanilla_beta0_afp"
FLOAT_CKPT = f"results/checkpoints/{TRAIN_KEY}/{FLOAT_RUN}_s{{seed}}.pt"
SUBSTITUTE = f"results/checkpoints/{SUB_KEY}/substitute_s{{seed}}.pt"
# DQ's (B) columns: examples crafted once per substitute and seed (rule craft_blackbox)
BLACKBOX = (
    f"results/blackbox/{ROBUST_KEY}/substitute_s{{seed}}.pt"
    if config["dq"]["blackbox"]
    else []
)
# the model of every checkpoint but the black-box substitute
MODEL = config["model"]["name"]
SUBSTITUTE_MODEL = config["dq"]["substitute"]["name"]

# filled by each paper's .smk: table -> function(wildcards) giving its metrics files, the config
# slice its builder reads; figure -> the one file it is drawn from; the long CSVs the claims read
TABLES = {}
TABLE_CFG = {}
FIGURES = {}
CLAIM_TABLES = []
# the papers whose claims.py registers claims: the claims job writes {OUT}/summary/<paper>.json for each
CLAIM_PAPERS = sorted(
    os.path.basename(os.path.dirname(p))
    for p in glob.glob("src/qrobust/papers/*/claims.py")
)


def sources(job, **entries):
    """The package files `qrobust <job>` runs: editing one reruns exactly the jobs that run it.

    The job's code, plus the registry entries it runs, by family: attack=[...], model=[...],
    dataset=, noise=, table=, figure= (a list, or a function of the wildcards giving one). A family
    left out adds no entry file, so name every entry the job asks a registry for (tests/plan/test_sources.py).
    Declared through one manifest file per file list (qrobust.plan.sources.code_manifest: their SHA-256
    sums, the newest one's mtime), which reruns the same jobs as the files would, at one input a job.
    """
    if not any(callable(v) for v in entries.values()):
        return [code_manifest(job, stage_sources(job, entries))]
    return lambda w: [
        code_manifest(
            job,
            stage_sources(
                job, {f: v(w) if callable(v) else v for f, v in entries.items()}
            ),
        )
    ]


def robust_attacks(attacks, blackbox=()):
    """What evaluation/robust.py runs: the white-box attacks, and `transfer` with its inner attacks."""
    return list(attacks) + (["transfer", *blackbox] if blackbox else [])


def cfg_json(*keys, **extra):
    """The config slice a job reads, as JSON: params changes rerun just the jobs that read them."""
    return json.dumps({**{k: config[k] for k in keys}, **extra}, sort_keys=True)


def prov_io(wildcards, input, output):
    """What the job read and wrote, as Snakemake passes them: the record's inputs and outputs."""
    ins = [
        f
        for name, files in input.items()
        if name != "src"
        for f in ([files] if isinstance(files, str) else files)
    ]
    outs = [
        f
        for name, files in output.items()
        if name != "prov"
        for f in ([files] if isinstance(files, str) else files)
    ]
    return json.dumps({"inputs": ins, "outputs": outs})


def data_dir(wildcards, input):
    return os.path.dirname(input.data)


def expect(wildcards, wanted):
    """A path's key must be the current config's: refuse to write one config's files under another's."""
    if wildcards.key != wanted:
        raise ValueError(
            f"results/checkpoints/{wildcards.key}/ belongs to another config (this config writes "
            f"{wanted}/); run that config, or ask for the current config's targets"
        )
    return wanted


def ckpt_key(run):
    """The checkpoint folder of a training run: adversarially trained runs have their own."""
    return ADV_KEY if "_adv" in run else TRAIN_KEY


def train_args(w):
    """The run's CLI arguments from its name; the substitute gets its own model and seed stream."""
    if w.run == "substitute":
        expect(w, SUB_KEY)
        seed = SUBSTITUTE_SEED_OFFSET + int(w.seed)
        return f"--method vanilla --act-bits fp --seed {seed}"
    r = parse_run(w.run)
    expect(w, ckpt_key(w.run))
    act = f" --act {r['act']}" if r["act"] else ""
    adv = f" --adv {r['adv']}" if r["adv"] else ""
    return f"--method {r['method']} --beta {r['beta']} --act-bits {r['bits']}{act}{adv} --seed {w.seed}"


def train_cfg(w):
    if w.run == "substitute":
        substitute = {"act_bits": [None], "weight_bits": None}
        return cfg_json(
            "train",
            "device",
            "threads",
            model=config["dq"]["substitute"],
            quant=substitute,
        )
    extra = ("adv_train",) if "_adv" in w.run else ()
    return cfg_json("model", "train", "device", "threads", *extra, quant=QUANT_FIXED)


def eval_file(ckey, run):
    return f"results/metrics/eval/{EVAL_KEY}/{ckey}/{run}.json"


def robust_file(ckey, run, defense="none"):
    return f"results/metrics/robust/{ROBUST_KEY}/{ckey}/{run}_{defense}.json"


def worst_file(ckey, run, defense="none"):
    return f"results/metrics/worst/{WORST_KEY}/{ckey}/{run}_{defense}.json"


def worst_uses_substitute():
    return _WORST_SUB


def worst_attacks():
    """The registry attacks the worst-case job runs: every member, transfer's inner ones, and the
    audit's PGD sweep (evaluation/masking.py) and FGSM-free zero-gradient check."""
    names = []
    for m in config["worst_case"]["ensemble"]:
        names += [m["attack"]] + ([m["inner"]] if "inner" in m else [])
    return list(dict.fromkeys(names + ["pgd"]))


def worst_substitute(wildcards):
    """The substitute of the run's seed, when a transfer member crafts on it."""
    if not worst_uses_substitute():
        return []
    seed = re.search(r"_s([0-9]+)$", wildcards.run)
    if seed is None:
        raise ValueError(
            f"worst_case: run '{wildcards.run}' has no _s<seed> suffix to pick its substitute"
        )
    return [SUBSTITUTE.format(seed=seed.group(1))]


def timing_threads(wildcards):
    """Jobs that time kernels claim every local core, so no other job runs beside them and shares
    caches and memory bandwidth (measured: 40 % slower end-to-end latency with a training job next
    door). torch still uses config threads. The slurm profile sets these to 1 with an exclusive node.
    """
    return workflow.cores if isinstance(workflow.cores, int) else 1


def all_targets(wildcards=None):
    """Every table, figure, the claims and the scorecard of this config."""
    tables = [f"{OUT}/{t}.csv" for t in TABLES]
    figures = [f"{OUT}/figures/{f}.png" for f in FIGURES]
    return tables + figures + [f"{OUT}/claims.csv", f"{OUT}/scorecard.csv"]


wildcard_constraints:
    key="[a-z0-9_]+-[0-9a-f]{8}",
    ckey="[a-z0-9_]+-[0-9a-f]{8}",
    seed="[0-9]+",
    scheme="[A-Za-z0-9-]+",
    wbits="[0-9]+",
    qabits="[0-9]+",
    budget="[A-Za-z0-9_-]+",
    defense="none|fs",
    noise="[a-z_0-9]+",
    target="w|a|wa",
    run="[A-Za-z0-9_.+-]+",
