rule train:
    input:
        src=TRAIN_SRC,
        data=f"{DATA_DIR}/train.pt",
        meta=f"{DATA_DIR}/meta.json",
    output:
        ckpt="results/checkpoints/{method}_beta{beta}_a{abits}_s{seed}.pt",
        metrics="results/metrics/train/{method}_beta{beta}_a{abits}_s{seed}.json",
        prov="results/provenance/train/{method}_beta{beta}_a{abits}_s{seed}.json",
    log:
        "logs/train/{method}_beta{beta}_a{abits}_s{seed}.log",
    benchmark:
        "benchmarks/train/{method}_beta{beta}_a{abits}_s{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=lambda w: cfg_json("model", "train", "quant", "device", "threads"),
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust train --cfg {params.cfg:q} --data {params.data} --method {wildcards.method}"
        " --beta {wildcards.beta} --act-bits {wildcards.abits} --seed {wildcards.seed}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --rule train 2> {log}"
