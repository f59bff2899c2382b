rule quantize:
    input:
        src=QUANTIZE_SRC,
        ckpt=FLOAT_CKPT,
        data=f"{DATA_DIR}/train.pt",
    output:
        ckpt="results/checkpoints/quantize/{scheme}_w{wbits}a{qabits}_s{seed}.pt",
        metrics="results/metrics/quantize/{scheme}_w{wbits}a{qabits}_s{seed}.json",
        prov="results/provenance/quantize/{scheme}_w{wbits}a{qabits}_s{seed}.json",
    log:
        "logs/quantize/{scheme}_w{wbits}a{qabits}_s{seed}.log",
    benchmark:
        "benchmarks/quantize/{scheme}_w{wbits}a{qabits}_s{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=scheme_cfg,
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust quantize --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " --scheme {wildcards.scheme} --wbits {wildcards.wbits} --abits {wildcards.qabits} --seed {wildcards.seed}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --rule quantize 2> {log}"


rule evaluate_quantized:
    input:
        src=EVAL_SRC,
        ckpt="results/checkpoints/quantize/{scheme}_w{wbits}a{qabits}_s{seed}.pt",
        data=f"{DATA_DIR}/test.pt",
    output:
        metrics="results/metrics/eval/quantize/{scheme}_w{wbits}a{qabits}_s{seed}.json",
        prov="results/provenance/evaluate_quantized/{scheme}_w{wbits}a{qabits}_s{seed}.json",
    log:
        "logs/evaluate_quantized/{scheme}_w{wbits}a{qabits}_s{seed}.log",
    benchmark:
        "benchmarks/evaluate_quantized/{scheme}_w{wbits}a{qabits}_s{seed}.tsv"
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
        "qrobust evaluate --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --out {output.metrics} --prov {output.prov} --rule evaluate_quantized 2> {log}"
