# Benchmarking the Robustness of Quantized Models (Xiao et al. 2023): Table 5 and its figures,
# and the quantizer suite (PTQ/QAT schemes x bit pairs) with its table. Noised copies of the test split are made once per noise and
# shared by every model; each model's accuracy on all of them and on model-side system noises.
from qrobust.papers.robust_bench import design as rb_design

NOISED_KEY = key(
    "noised", config, ["robust_bench.seed", "robust_bench.severities"], [DATA_KEY]
)
NOISE_KEY = key("noise", config, ["robust_bench.model_side", "eval"], [NOISED_KEY])

# the float model and every quantize-suite model: (checkpoint key, run)
SUITE = [(TRAIN_KEY, f"{FLOAT_RUN}_s{s}") for s in config["seeds"]] + rb_design.models(
    config, TRAIN_KEY
)
TABLES["quantizers"] = lambda w: [eval_file(k, r) for k, r in SUITE]
TABLES["table5"] = (
    lambda w: [f"results/metrics/noise/{NOISE_KEY}/{k}/{r}.json" for k, r in SUITE]
    + [eval_file(k, r) for k, r in SUITE]
    + [worst_file(k, r) for k, r in SUITE]
)
FIGURES["corruptions"] = f"{OUT}/table5_long.csv"
FIGURES["sysnoise"] = f"{OUT}/table5_long.csv"
CLAIM_TABLES += ["table5"]


rule make_noise:
    input:
        src=sources("make_noise", noise=lambda w: [w.noise]),
        data=f"{DATA_DIR}/test.pt",
    output:
        data=f"data/noised/{NOISED_KEY}/{{noise}}.pt",
        prov=f"results/provenance/make_noise/{NOISED_KEY}/{{noise}}.json",
    log:
        f"logs/make_noise/{NOISED_KEY}/{{noise}}.log",
    benchmark:
        f"benchmarks/make_noise/{NOISED_KEY}/{{noise}}.tsv"
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        data=data_dir,
        seed=lambda w: config["robust_bench"]["seed"],
        severities=lambda w: ",".join(map(str, config["robust_bench"]["severities"])),
        io=prov_io,
    shell:
        "qrobust make_noise --noise {wildcards.noise} --data {params.data} --seed {params.seed}"
        " --severities {params.severities} --out {output.data} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule noise_eval:
    input:
        src=sources("noise_eval", model=[MODEL]),
        ckpt="results/checkpoints/{ckey}/{run}.pt",
        data=f"{DATA_DIR}/test.pt",
        train=f"{DATA_DIR}/train.pt",
        noised=[f"data/noised/{NOISED_KEY}/{n}.pt" for n in rb_design.noises(config)],
    output:
        metrics=f"results/metrics/noise/{NOISE_KEY}/{{ckey}}/{{run}}.json",
        prov=f"results/provenance/noise_eval/{NOISE_KEY}/{{ckey}}/{{run}}.json",
    log:
        f"logs/noise_eval/{NOISE_KEY}/{{ckey}}/{{run}}.log",
    benchmark:
        f"benchmarks/noise_eval/{NOISE_KEY}/{{ckey}}/{{run}}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cfg=lambda w: cfg_json("robust_bench", "eval", "device", "threads"),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust noise_eval --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " --out {output.metrics} --prov {output.prov} --prov-io {params.io:q} {input.noised} 2> {log}"


rule quantize:
    input:
        src=sources("quantize", model=[MODEL]),
        ckpt=FLOAT_CKPT,
        data=f"{DATA_DIR}/train.pt",
    output:
        ckpt="results/checkpoints/{key}/{scheme}_w{wbits}a{qabits}_s{seed}.pt",
        metrics="results/metrics/quantize/{key}/{scheme}_w{wbits}a{qabits}_s{seed}.json",
        prov="results/provenance/quantize/{key}/{scheme}_w{wbits}a{qabits}_s{seed}.json",
    log:
        "logs/quantize/{key}/{scheme}_w{wbits}a{qabits}_s{seed}.log",
    benchmark:
        "benchmarks/quantize/{key}/{scheme}_w{wbits}a{qabits}_s{seed}.tsv"
    wildcard_constraints:
        key="quantize-[0-9a-f]{8}",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cfg=lambda w: cfg_json(
            "model",
            "train",
            "device",
            "threads",
            quantize=rb_design.job_section(config, w.scheme),
        ),
        key=lambda w: expect(w, rb_design.scheme_key(config, w.scheme, TRAIN_KEY)),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust quantize --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " --scheme {wildcards.scheme} --wbits {wildcards.wbits} --abits {wildcards.qabits} --seed {wildcards.seed}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"
