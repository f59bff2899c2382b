rule evaluate:
    input:
        src=EVAL_SRC,
        ckpt="results/checkpoints/{method}_beta{beta}_a{abits}_s{seed}.pt",
        data=f"{DATA_DIR}/test.pt",
    output:
        metrics="results/metrics/eval/{method}_beta{beta}_a{abits}_s{seed}.json",
        prov="results/provenance/evaluate/{method}_beta{beta}_a{abits}_s{seed}.json",
    log:
        "logs/evaluate/{method}_beta{beta}_a{abits}_s{seed}.log",
    benchmark:
        "benchmarks/evaluate/{method}_beta{beta}_a{abits}_s{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: cfg_json("attack", "eval", "device", "threads"),
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust evaluate --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --out {output.metrics} --prov {output.prov} --rule evaluate 2> {log}"
