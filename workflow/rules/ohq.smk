# OHQ-LP (Huang et al. 2023; HAWQ-V3's ILP): (1) per-layer latency on this machine, (2) per-layer
# sensitivity, (3) one integer program per budget, (4) every plan deployed and measured;
# then Table 6 and its Pareto figure.
from qrobust.papers.ohq import design as ohq_design

OHQ_KEY = key("ohq", config, ["model", "ohq"], [TRAIN_KEY])
OHQ_DIR = f"results/ohq/{OHQ_KEY}"
TABLES["table6"] = lambda w: expand(
    f"{OHQ_DIR}/s{{seed}}/deploy.json", seed=config["seeds"]
)
FIGURES["pareto"] = f"{OUT}/table6_long.csv"
CLAIM_TABLES += ["table6"]


rule ohq_profile:
    input:
        src=sources("ohq_profile", model=[MODEL]),
        meta=f"{DATA_DIR}/meta.json",
    output:
        json=f"{OHQ_DIR}/profile.json",
        prov=f"results/provenance/ohq_profile/{OHQ_KEY}.json",
    log:
        f"logs/ohq_profile/{OHQ_KEY}.log",
    conda:
        "../../environment.yml"
    threads: timing_threads
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: cfg_json(
            "model", "threads", ohq=ohq_design.section(config, ohq_design.PROFILE)
        ),
        data=lambda w, input: os.path.dirname(input.meta),
        io=prov_io,
    shell:
        "qrobust ohq_profile --cfg {params.cfg:q} --data {params.data} --out {output.json} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule ohq_sensitivity:
    input:
        src=sources("ohq_sensitivity", model=[MODEL]),
        ckpt=FLOAT_CKPT,
        data=f"{DATA_DIR}/train.pt",
    output:
        json=f"{OHQ_DIR}/s{{seed}}/sensitivity.json",
        prov=f"results/provenance/ohq_sensitivity/{OHQ_KEY}/s{{seed}}.json",
    log:
        f"logs/ohq_sensitivity/{OHQ_KEY}/s{{seed}}.log",
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: cfg_json(
            "threads", ohq=ohq_design.section(config, ohq_design.SENSITIVITY)
        ),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust ohq_sensitivity --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt}"
        " --seed {wildcards.seed} --out {output.json} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule ohq_allocate:
    input:
        src=sources("ohq_allocate"),
        profile=f"{OHQ_DIR}/profile.json",
        sens=f"{OHQ_DIR}/s{{seed}}/sensitivity.json",
    output:
        json=f"{OHQ_DIR}/s{{seed}}/allocate/{{budget}}.json",
        prov=f"results/provenance/ohq_allocate/{OHQ_KEY}/s{{seed}}_{{budget}}.json",
    log:
        f"logs/ohq_allocate/{OHQ_KEY}/s{{seed}}_{{budget}}.log",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cfg=lambda w: cfg_json(
            ohq=ohq_design.section(config, ["random_plans"], w.budget)
        ),
        io=prov_io,
    shell:
        "qrobust ohq_allocate --cfg {params.cfg:q} --profile {input.profile} --sensitivity {input.sens}"
        " --budget {wildcards.budget} --seed {wildcards.seed} --out {output.json} --prov {output.prov} --prov-io {params.io:q} 2> {log}"


rule ohq_deploy:
    input:
        src=sources("ohq_deploy", model=[MODEL]),
        ckpt=FLOAT_CKPT,
        data=f"{DATA_DIR}/test.pt",
        profile=f"{OHQ_DIR}/profile.json",
        sens=f"{OHQ_DIR}/s{{seed}}/sensitivity.json",
        allocations=lambda w: [
            f"{OHQ_DIR}/s{w.seed}/allocate/{b['name']}.json"
            for b in config["ohq"]["budgets"]
        ],
    output:
        json=f"{OHQ_DIR}/s{{seed}}/deploy.json",
        prov=f"results/provenance/ohq_deploy/{OHQ_KEY}/s{{seed}}.json",
    log:
        f"logs/ohq_deploy/{OHQ_KEY}/s{{seed}}.log",
    conda:
        "../../environment.yml"
    threads: timing_threads
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        cfg=lambda w: cfg_json(
            "threads", ohq=ohq_design.section(config, ohq_design.DEPLOY)
        ),
        data=data_dir,
        io=prov_io,
    shell:
        "qrobust ohq_deploy --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --profile {input.profile}"
        " --sensitivity {input.sens} --seed {wildcards.seed} --out {output.json} --prov {output.prov} --prov-io {params.io:q} {input.allocations} 2> {log}"
