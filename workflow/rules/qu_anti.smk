# Qu-ANTI-zation (Hong et al., NeurIPS 2021), Table 8: attacked float models, then float and
# k-bit accuracy of the clean and each attacked model with the attack's quantizer and with others.

QU_ANTI_KEY = key("qu_anti", config, ["qu_anti"], [TRAIN_KEY])
TABLES["table8"] = lambda w: [
    f"results/metrics/qu_anti/{QU_ANTI_KEY}/{m}_s{s}.json"
    for m in ["clean"] + config["qu_anti"]["modes"]
    for s in config["seeds"]
]
CLAIM_TABLES += ["table8"]


rule qu_anti:
    input:
        src=sources("qu_anti", model=[MODEL]),
        ckpt=FLOAT_CKPT,
        data=f"{DATA_DIR}/train.pt",
    output:
        ckpt=f"results/checkpoints/{QU_ANTI_KEY}/{{mode}}_s{{seed}}.pt",
        metrics=f"results/metrics/train/{QU_ANTI_KEY}/{{mode}}_s{{seed}}.json",
        prov=f"results/provenance/qu_anti/{QU_ANTI_KEY}/{{mode}}_s{{seed}}.json",
    log:
        f"logs/qu_anti/{QU_ANTI_KEY}/{{mode}}_s{{seed}}.log",
    benchmark:
        f"benchmarks/qu_anti/{QU_ANTI_KEY}/{{mode}}_s{{seed}}.tsv"
    wildcard_constraints:
        mode="indiscriminate|targeted|backdoor",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cfg=lambda w: cfg_json("qu_anti", "device", "threads"),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust qu_anti --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --mode {wildcards.mode}"
        " --seed {wildcards.seed} --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule qu_anti_eval:
    input:
        src=sources("qu_anti_eval", model=[MODEL]),
        ckpt=lambda w: (
            FLOAT_CKPT.format(seed=w.seed)
            if w.model == "clean"
            else f"results/checkpoints/{QU_ANTI_KEY}/{w.model}_s{w.seed}.pt"
        ),
        data=f"{DATA_DIR}/test.pt",
        train=f"{DATA_DIR}/train.pt",
    output:
        metrics=f"results/metrics/qu_anti/{QU_ANTI_KEY}/{{model}}_s{{seed}}.json",
        prov=f"results/provenance/qu_anti_eval/{QU_ANTI_KEY}/{{model}}_s{{seed}}.json",
    log:
        f"logs/qu_anti_eval/{QU_ANTI_KEY}/{{model}}_s{{seed}}.log",
    benchmark:
        f"benchmarks/qu_anti_eval/{QU_ANTI_KEY}/{{model}}_s{{seed}}.tsv"
    wildcard_constraints:
        model="clean|indiscriminate|targeted|backdoor",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=lambda w: cfg_json("qu_anti", "device", "threads"),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust qu_anti_eval --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --model {wildcards.model}"
        " --seed {wildcards.seed} --out {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"
