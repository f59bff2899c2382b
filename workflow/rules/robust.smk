# DQ Tables 2-4: runs with another activation or adversarial training, a black-box substitute,
# and every configured attack at every eps on each checkpoint.


rule train_act:
    input:
        src=TRAIN_SRC,
        data=f"{DATA_DIR}/train.pt",
        meta=f"{DATA_DIR}/meta.json",
    output:
        ckpt="results/checkpoints/{method}_beta{beta}_a{abits}_{act}_s{seed}.pt",
        metrics="results/metrics/train/{method}_beta{beta}_a{abits}_{act}_s{seed}.json",
        prov="results/provenance/train_act/{method}_beta{beta}_a{abits}_{act}_s{seed}.json",
    log:
        "logs/train_act/{method}_beta{beta}_a{abits}_{act}_s{seed}.log",
    benchmark:
        "benchmarks/train_act/{method}_beta{beta}_a{abits}_{act}_s{seed}.tsv"
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
        "qrobust train --cfg {params.cfg:q} --data {params.data} --method {wildcards.method} --act {wildcards.act}"
        " --beta {wildcards.beta} --act-bits {wildcards.abits} --seed {wildcards.seed}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --rule train_act 2> {log}"


rule train_adv:
    input:
        src=TRAIN_ADV_SRC,
        data=f"{DATA_DIR}/train.pt",
        meta=f"{DATA_DIR}/meta.json",
    output:
        ckpt="results/checkpoints/{method}_beta{beta}_a{abits}_{act}_adv{adv}_s{seed}.pt",
        metrics="results/metrics/train/{method}_beta{beta}_a{abits}_{act}_adv{adv}_s{seed}.json",
        prov="results/provenance/train_adv/{method}_beta{beta}_a{abits}_{act}_adv{adv}_s{seed}.json",
    log:
        "logs/train_adv/{method}_beta{beta}_a{abits}_{act}_adv{adv}_s{seed}.log",
    benchmark:
        "benchmarks/train_adv/{method}_beta{beta}_a{abits}_{act}_adv{adv}_s{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        cfg=lambda w: cfg_json(
            "model", "train", "quant", "adv_train", "device", "threads"
        ),
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust train-adv --cfg {params.cfg:q} --data {params.data} --method {wildcards.method} --act {wildcards.act}"
        " --adv {wildcards.adv} --beta {wildcards.beta} --act-bits {wildcards.abits} --seed {wildcards.seed}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --rule train_adv 2> {log}"


rule train_substitute:
    input:
        src=TRAIN_SRC,
        data=f"{DATA_DIR}/train.pt",
        meta=f"{DATA_DIR}/meta.json",
    output:
        ckpt="results/checkpoints/substitute_s{seed}.pt",
        metrics="results/metrics/train/substitute_s{seed}.json",
        prov="results/provenance/train_substitute/s{seed}.json",
    log:
        "logs/train_substitute/s{seed}.log",
    benchmark:
        "benchmarks/train_substitute/s{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=lambda w: json.dumps(
            {
                "model": config["robustness"]["substitute"],
                "quant": {"act_bits": [None], "weight_bits": None},
                **{k: config[k] for k in ("train", "device", "threads")},
            },
            sort_keys=True,
        ),
        data=lambda w, input: os.path.dirname(input.data),
        # its own seed stream: the substitute must not share the target's initialisation
        seed=lambda w: 1000 + int(w.seed),
    shell:
        "qrobust train --cfg {params.cfg:q} --data {params.data} --method vanilla --act-bits fp --seed {params.seed}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --rule train_substitute 2> {log}"


rule robust_eval:
    input:
        src=ROBUST_SRC,
        ckpt="results/checkpoints/{run}_s{seed}.pt",
        substitute="results/checkpoints/substitute_s{seed}.pt",
        data=f"{DATA_DIR}/test.pt",
    output:
        metrics="results/metrics/robust/{run}_s{seed}_{defense}.json",
        prov="results/provenance/robust_eval/{run}_s{seed}_{defense}.json",
    log:
        "logs/robust_eval/{run}_s{seed}_{defense}.log",
    benchmark:
        "benchmarks/robust_eval/{run}_s{seed}_{defense}.tsv"
    wildcard_constraints:
        run="[^/]+",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cfg=robust_cfg,
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust robust-eval --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " --substitute {input.substitute} --defense {wildcards.defense} --out {output.metrics}"
        " --prov {output.prov} --rule robust_eval 2> {log}"
