# OHQ-LP: (1) per-layer latency on this machine, (2) per-layer sensitivity, (3) one integer
# program per budget, (4) every plan deployed and measured; then Table 6 and its Pareto figure.


rule ohq_profile:
    input:
        src=OHQ_PROFILE_SRC,
        meta=f"{DATA_DIR}/meta.json",
    output:
        json="results/ohq/profile.json",
        prov="results/provenance/ohq_profile/profile.json",
    log:
        "logs/ohq_profile/profile.log",
    benchmark:
        "benchmarks/ohq_profile/profile.tsv"
    conda:
        "../../environment.yml"
    threads: timing_threads
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: ohq_cfg(
            "precisions",
            "measured_only",
            "engine",
            "latency",
            "device",
            top=("model", "threads"),
        ),
        data=lambda w, input: os.path.dirname(input.meta),
    shell:
        "qrobust ohq-profile --cfg {params.cfg:q} --data {params.data} --out {output.json} --prov {output.prov} --rule ohq_profile 2> {log}"


rule ohq_sensitivity:
    input:
        src=OHQ_SENS_SRC,
        ckpt=FLOAT_CKPT,
        data=f"{DATA_DIR}/train.pt",
    output:
        json="results/ohq/s{seed}/sensitivity.json",
        prov="results/provenance/ohq_sensitivity/s{seed}.json",
    log:
        "logs/ohq_sensitivity/s{seed}.log",
    benchmark:
        "benchmarks/ohq_sensitivity/s{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: lambda w: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: ohq_cfg("precisions", "calib_images", "calibrator"),
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust ohq-sensitivity --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --seed {wildcards.seed}"
        " --out {output.json} --prov {output.prov} --rule ohq_sensitivity 2> {log}"


rule ohq_allocate:
    input:
        src=OHQ_ALLOC_SRC,
        profile="results/ohq/profile.json",
        sens="results/ohq/s{seed}/sensitivity.json",
    output:
        json="results/ohq/s{seed}/allocate/{budget}.json",
        prov="results/provenance/ohq_allocate/s{seed}_{budget}.json",
    log:
        "logs/ohq_allocate/s{seed}_{budget}.log",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cfg=lambda w: ohq_cfg("random_plans", budget=w.budget, top=()),
    shell:
        "qrobust ohq-allocate --cfg {params.cfg:q} --profile {input.profile} --sensitivity {input.sens}"
        " --budget {wildcards.budget} --seed {wildcards.seed} --out {output.json} --prov {output.prov} --rule ohq_allocate 2> {log}"


rule ohq_deploy:
    input:
        src=OHQ_DEPLOY_SRC,
        ckpt=FLOAT_CKPT,
        data=f"{DATA_DIR}/test.pt",
        profile="results/ohq/profile.json",
        sens="results/ohq/s{seed}/sensitivity.json",
        allocations=ohq_allocations,
    output:
        json="results/ohq/s{seed}/deploy.json",
        prov="results/provenance/ohq_deploy/s{seed}.json",
    log:
        "logs/ohq_deploy/s{seed}.log",
    benchmark:
        "benchmarks/ohq_deploy/s{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: timing_threads
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=lambda w: ohq_cfg("engine", "latency", "device"),
        data=lambda w, input: os.path.dirname(input.data),
    shell:
        "qrobust ohq-deploy --cfg {params.cfg:q} --data {params.data} --checkpoint {input.ckpt} --profile {input.profile}"
        " --sensitivity {input.sens} --seed {wildcards.seed} --out {output.json} --prov {output.prov} --rule ohq_deploy"
        " {input.allocations} 2> {log}"
