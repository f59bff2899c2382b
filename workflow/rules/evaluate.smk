# Evaluation shared by the papers: one attack (Table 1, the quantizer suite) and every attack at
# every eps, white-box and transferred (DQ Tables 2-4). Metrics sit in a folder keyed by the
# evaluation's config, then by the checkpoint's key: results/metrics/<kind>/<eval key>/<ckpt key>/.


rule evaluate:
    input:
        src=sources("evaluate", model=[MODEL], attack=[config["attack"]["name"]]),
        ckpt="results/checkpoints/{ckey}/{run}.pt",
        data=f"{DATA_DIR}/test.pt",
    output:
        metrics=f"results/metrics/eval/{EVAL_KEY}/{{ckey}}/{{run}}.json",
        prov=f"results/provenance/evaluate/{EVAL_KEY}/{{ckey}}/{{run}}.json",
    log:
        f"logs/evaluate/{EVAL_KEY}/{{ckey}}/{{run}}.log",
    benchmark:
        f"benchmarks/evaluate/{EVAL_KEY}/{{ckey}}/{{run}}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: cfg_json("attack", "eval", "device", "threads"),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust evaluate --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " --out {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


# The black-box examples depend on the substitute, attack, eps and seed, not on the model they are
# shown to: crafted once per substitute and seed, read by every robust_eval job of that seed.
rule craft_blackbox:
    input:
        src=sources(
            "craft_blackbox",
            model=[SUBSTITUTE_MODEL],
            attack=robust_attacks([], config["dq"]["blackbox"]),
        ),
        substitute=SUBSTITUTE,
        data=f"{DATA_DIR}/test.pt",
    output:
        examples=f"results/blackbox/{ROBUST_KEY}/substitute_s{{seed}}.pt",
        prov=f"results/provenance/craft_blackbox/{ROBUST_KEY}/substitute_s{{seed}}.json",
    log:
        f"logs/craft_blackbox/{ROBUST_KEY}/substitute_s{{seed}}.log",
    benchmark:
        f"benchmarks/craft_blackbox/{ROBUST_KEY}/substitute_s{{seed}}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=lambda w: cfg_json(
            "eval",
            "device",
            "threads",
            dq={
                s: config["dq"][s]
                for s in (
                    "attacks",
                    "blackbox",
                    "eps",
                    "attack_kwargs",
                    "attack_images",
                )
            },
        ),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust craft_blackbox --cfg {params.cfg:q} --data {params.data} --substitute {input.substitute} --seed {wildcards.seed}"
        " --out {output.examples} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule robust_eval:
    input:
        src=sources(
            "robust_eval",
            model=[MODEL],
            attack=config["dq"]["attacks"],
        ),
        ckpt="results/checkpoints/{ckey}/{run}_s{seed}.pt",
        blackbox=BLACKBOX,
        data=f"{DATA_DIR}/test.pt",
    output:
        metrics=f"results/metrics/robust/{ROBUST_KEY}/{{ckey}}/{{run}}_s{{seed}}_{{defense}}.json",
        prov=f"results/provenance/robust_eval/{ROBUST_KEY}/{{ckey}}/{{run}}_s{{seed}}_{{defense}}.json",
    log:
        f"logs/robust_eval/{ROBUST_KEY}/{{ckey}}/{{run}}_s{{seed}}_{{defense}}.log",
    benchmark:
        f"benchmarks/robust_eval/{ROBUST_KEY}/{{ckey}}/{{run}}_s{{seed}}_{{defense}}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cfg=lambda w: cfg_json(
            "eval",
            "device",
            "threads",
            dq={s: config["dq"][s] for s in ROBUST_SLICES},
        ),
        data=data_dir,
        blackbox=lambda w, input: (
            f"--blackbox {input.blackbox}" if input.blackbox else ""
        ),
        io=prov_io,
    shell:
        "qrobust robust_eval --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " {params.blackbox} --defense {wildcards.defense} --out {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


# Robust accuracy as the per-example worst case over the worst_case ensemble, and the
# gradient-masking audit, of one model (any checkpoint: Tables 1-5 and 7 ask for theirs).
rule worst_case:
    input:
        src=sources(
            "worst_case",
            model=[MODEL] + ([SUBSTITUTE_MODEL] if worst_uses_substitute() else []),
            attack=worst_attacks(),
        ),
        ckpt="results/checkpoints/{ckey}/{run}.pt",
        substitute=worst_substitute,
        data=f"{DATA_DIR}/test.pt",
    output:
        metrics=f"results/metrics/worst/{WORST_KEY}/{{ckey}}/{{run}}_{{defense}}.json",
        prov=f"results/provenance/worst_case/{WORST_KEY}/{{ckey}}/{{run}}_{{defense}}.json",
    log:
        f"logs/worst_case/{WORST_KEY}/{{ckey}}/{{run}}_{{defense}}.log",
    benchmark:
        f"benchmarks/worst_case/{WORST_KEY}/{{ckey}}/{{run}}_{{defense}}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        cfg=lambda w: cfg_json(
            "worst_case",
            "eval",
            "device",
            "threads",
            dq={"squeeze": config["dq"]["squeeze"]},
        ),
        data=data_dir,
        substitute=lambda w, input: (
            f"--substitute {input.substitute}" if input.substitute else ""
        ),
        io=prov_io,
    shell:
        "qrobust worst_case --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " {params.substitute} --defense {wildcards.defense} --out {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"
