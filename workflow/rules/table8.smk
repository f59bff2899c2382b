# Table 8 (Qu-ANTI-zation, Hong et al. 2021): attacked float models, then float and k-bit accuracy
# of the clean and each attacked model with the attack's quantizer and with others.


rule qu_anti:
    input:
        src=QU_ANTI_SRC,
        ckpt=FLOAT_CKPT,
        data=f"{DATA_DIR}/train.pt",
    output:
        ckpt="results/checkpoints/qu_anti/{mode}_s{seed}.pt",
        metrics="results/metrics/train/qu_anti/{mode}_s{seed}.json",
        prov="results/provenance/qu_anti/{mode}_s{seed}.json",
    log:
        "logs/qu_anti/{mode}_s{seed}.log",
    benchmark:
        "benchmarks/qu_anti/{mode}_s{seed}.tsv"
    wildcard_constraints:
        mode="indiscriminate|targeted|backdoor",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        cfg=lambda w: cfg_json("table8", "device", "threads"),
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust qu-anti --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --mode {wildcards.mode}"
        " --seed {wildcards.seed} --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --rule qu_anti 2> {log}"


rule qu_anti_eval:
    input:
        src=QU_ANTI_EVAL_SRC,
        ckpt=lambda w: (
            FLOAT_CKPT.format(seed=w.seed)
            if w.model == "clean"
            else f"results/checkpoints/qu_anti/{w.model}_s{w.seed}.pt"
        ),
        data=f"{DATA_DIR}/test.pt",
        train=f"{DATA_DIR}/train.pt",
    output:
        metrics="results/metrics/qu_anti/{model}_s{seed}.json",
        prov="results/provenance/qu_anti_eval/{model}_s{seed}.json",
    log:
        "logs/qu_anti_eval/{model}_s{seed}.log",
    benchmark:
        "benchmarks/qu_anti_eval/{model}_s{seed}.tsv"
    wildcard_constraints:
        model="clean|indiscriminate|targeted|backdoor",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=lambda w: cfg_json("table8", "device", "threads"),
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust qu-anti-eval --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --model {wildcards.model}"
        " --seed {wildcards.seed} --out {output.metrics} --prov {output.prov} --rule qu_anti_eval 2> {log}"
