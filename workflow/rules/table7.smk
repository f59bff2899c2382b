# Table 7 (Li et al. 2024): one quantization job per (scheme, target, bits, seed), then clean,
# PGD and gradient-free accuracy of each.


rule quantize_table7:
    input:
        src=QUANTIZE_ADV_SRC,
        init=t7_init,
        data=f"{DATA_DIR}/train.pt",
    output:
        ckpt="results/checkpoints/table7/{scheme}_{target}{bits}_s{seed}.pt",
        metrics="results/metrics/quantize/table7/{scheme}_{target}{bits}_s{seed}.json",
        prov="results/provenance/quantize_table7/{scheme}_{target}{bits}_s{seed}.json",
    log:
        "logs/quantize_table7/{scheme}_{target}{bits}_s{seed}.log",
    benchmark:
        "benchmarks/quantize_table7/{scheme}_{target}{bits}_s{seed}.tsv"
    wildcard_constraints:
        bits="[0-9]+",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        cfg=t7_cfg,
        data=lambda w, input: os.path.dirname(input.data),
        init=lambda w, input: f"--checkpoint {input.init}" if input.init else "",
    shell:
        "qrobust quantize-adv --cfg {params.cfg:q} --data {params.data} {params.init} --scheme {wildcards.scheme}"
        " --target {wildcards.target} --bits {wildcards.bits} --seed {wildcards.seed}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --rule quantize_table7 2> {log}"


rule evaluate_table7:
    input:
        src=ROBUST_SRC,
        ckpt="results/checkpoints/table7/{t7run}.pt",
        data=f"{DATA_DIR}/test.pt",
    output:
        metrics="results/metrics/robust/table7/{t7run}_none.json",
        prov="results/provenance/evaluate_table7/{t7run}.json",
    log:
        "logs/evaluate_table7/{t7run}.log",
    benchmark:
        "benchmarks/evaluate_table7/{t7run}.tsv"
    wildcard_constraints:
        t7run="[A-Za-z0-9_-]+",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cfg=t7_eval_cfg,
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust robust-eval --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " --out {output.metrics} --prov {output.prov} --rule evaluate_table7 2> {log}"
