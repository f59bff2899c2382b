# Training: float and QAT runs (DQ's activation quantization in the loop), adversarial training,
# the black-box substitute. Checkpoints live in config-keyed folders (common.smk).


rule train:
    input:
        src=sources(
            "train",
            model=lambda w: [SUBSTITUTE_MODEL if w.run == "substitute" else MODEL],
        ),
        data=f"{DATA_DIR}/train.pt",
        meta=f"{DATA_DIR}/meta.json",
    output:
        ckpt="results/checkpoints/{key}/{run}_s{seed}.pt",
        metrics="results/metrics/train/{key}/{run}_s{seed}.json",
        prov="results/provenance/train/{key}/{run}_s{seed}.json",
    log:
        "logs/train/{key}/{run}_s{seed}.log",
    benchmark:
        "benchmarks/train/{key}/{run}_s{seed}.tsv"
    wildcard_constraints:
        key="(train|substitute)-[0-9a-f]{8}",
        run=f"substitute|{TRAIN_RUN}",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=train_cfg,
        args=train_args,
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust train --cfg {params.cfg:q} --data {params.data} {params.args}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule train_adv:
    input:
        src=sources(
            "train_adv", model=[MODEL], attack=lambda w: [parse_run(w.run)["adv"]]
        ),
        data=f"{DATA_DIR}/train.pt",
        meta=f"{DATA_DIR}/meta.json",
    output:
        ckpt="results/checkpoints/{key}/{run}_s{seed}.pt",
        metrics="results/metrics/train/{key}/{run}_s{seed}.json",
        prov="results/provenance/train_adv/{key}/{run}_s{seed}.json",
    log:
        "logs/train_adv/{key}/{run}_s{seed}.log",
    benchmark:
        "benchmarks/train_adv/{key}/{run}_s{seed}.tsv"
    wildcard_constraints:
        key="adv-[0-9a-f]{8}",
        run=ADV_RUN,
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        cfg=train_cfg,
        args=train_args,
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust train_adv --cfg {params.cfg:q} --data {params.data} {params.args}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"
