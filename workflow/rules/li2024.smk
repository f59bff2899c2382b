# Investigating the Impact of Quantization on Adversarial Robustness (Li et al. 2024), Table 7:
# one quantization job per (scheme, target, bits, seed), then clean, PGD and gradient-free accuracy.
from qrobust.papers.li2024 import design as li_design

LI_EVAL_KEY = key("li2024_eval", config, li_design.EVAL_SLICES)
# each scheme's initial checkpoint (a path template over {seed}, None for a random start) and folder
LI_INIT = {
    s["name"]: li_design.init_checkpoint(config, s["name"], TRAIN_KEY, ADV_KEY)
    for s in config["li2024"]["schemes"]
}
LI_KEY = {
    name: li_design.scheme_key(config, name, DATA_KEY, init)
    for name, init in LI_INIT.items()
}
TABLES["table7"] = lambda w: [
    f"results/metrics/li2024/{LI_EVAL_KEY}/{LI_KEY[name]}/{run}_none.json"
    for name, run in li_design.models(config)
] + [worst_file(LI_KEY[name], run) for name, run in li_design.models(config)]
CLAIM_TABLES += ["table7"]


rule li2024_quantize:
    input:
        src=sources(
            "li2024_quantize",
            model=[MODEL],
            attack=lambda w: li_design.adv_attack(config, w.scheme),
        ),
        init=lambda w: (
            [LI_INIT[w.scheme].format(seed=w.seed)] if LI_INIT[w.scheme] else []
        ),
        data=f"{DATA_DIR}/train.pt",
    output:
        ckpt="results/checkpoints/{key}/{scheme}_{target}{bits}_s{seed}.pt",
        metrics="results/metrics/quantize/{key}/{scheme}_{target}{bits}_s{seed}.json",
        prov="results/provenance/li2024_quantize/{key}/{scheme}_{target}{bits}_s{seed}.json",
    log:
        "logs/li2024_quantize/{key}/{scheme}_{target}{bits}_s{seed}.log",
    benchmark:
        "benchmarks/li2024_quantize/{key}/{scheme}_{target}{bits}_s{seed}.tsv"
    wildcard_constraints:
        key="li2024-[0-9a-f]{8}",
        bits="[0-9]+",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        cfg=lambda w: cfg_json(
            "model",
            "train",
            "adv_train",
            "device",
            "threads",
            li2024=li_design.job_section(config, w.scheme),
        ),
        key=lambda w: expect(w, LI_KEY[w.scheme]),
        data=data_dir,
        init=lambda w, input: f"--checkpoint {input.init}" if input.init else "",
        io=prov_io,
    shell:
        "qrobust li2024_quantize --cfg {params.cfg:q} --data {params.data} {params.init} --scheme {wildcards.scheme}"
        " --target {wildcards.target} --bits {wildcards.bits} --seed {wildcards.seed}"
        " --out {output.ckpt} --metrics {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule li2024_eval:
    input:
        src=sources("li2024_eval", model=[MODEL], attack=config["li2024"]["attacks"]),
        ckpt="results/checkpoints/{ckey}/{run}.pt",
        data=f"{DATA_DIR}/test.pt",
    output:
        metrics=f"results/metrics/li2024/{LI_EVAL_KEY}/{{ckey}}/{{run}}_none.json",
        prov=f"results/provenance/li2024_eval/{LI_EVAL_KEY}/{{ckey}}/{{run}}.json",
    log:
        f"logs/li2024_eval/{LI_EVAL_KEY}/{{ckey}}/{{run}}.log",
    benchmark:
        f"benchmarks/li2024_eval/{LI_EVAL_KEY}/{{ckey}}/{{run}}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        cfg=lambda w: cfg_json(
            "eval", "device", "threads", li2024=li_design.eval_section(config)
        ),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust li2024_eval --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " --out {output.metrics} --prov {output.prov} --prov-io {params.io:q} 2> {log}"
