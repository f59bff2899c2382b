# Table 5: corrupted and system-noised copies of the test split (one job per noise, shared by
# every model), then each model's accuracy on all of them and on the model-side system noises.


rule make_noise:
    input:
        src=MAKE_NOISE_SRC,
        data=f"{DATA_DIR}/test.pt",
    output:
        data=f"data/noised/{DATASET}/{{noise}}.pt",
        prov=f"results/provenance/make_noise/{DATASET}_{{noise}}.json",
    log:
        f"logs/make_noise/{DATASET}_{{noise}}.log",
    benchmark:
        f"benchmarks/make_noise/{DATASET}_{{noise}}.tsv"
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        data=lambda w, input: os.path.dirname(input.data),
        seed=lambda w: config["noise"]["seed"],
        severities=lambda w: ",".join(map(str, config["noise"]["severities"])),
    shell:
        "qrobust make-noise --noise {wildcards.noise} --data {params.data} --seed {params.seed} --severities {params.severities}"
        " --out {output.data} --prov {output.prov} --rule make_noise 2> {log}"


rule noise_eval:
    input:
        src=NOISE_EVAL_SRC,
        ckpt="results/checkpoints/{run}.pt",
        data=f"{DATA_DIR}/test.pt",
        train=f"{DATA_DIR}/train.pt",
        noised=noised_files,
    output:
        metrics="results/metrics/noise/{run}.json",
        prov="results/provenance/noise_eval/{run}.json",
    log:
        "logs/noise_eval/{run}.log",
    benchmark:
        "benchmarks/noise_eval/{run}.tsv"
    wildcard_constraints:
        run="(quantize/)?[A-Za-z0-9_.+-]+",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cfg=noise_cfg,
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust noise-eval --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --out {output.metrics}"
        " --prov {output.prov} --rule noise_eval {input.noised} 2> {log}"
