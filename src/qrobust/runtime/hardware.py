"""The name a measurement gives its machine: the GPU's, or the CPU's model name and core count (the
latency profiles record it; the benchmarks under bench/ print it beside their figures); and what a
provenance record says of the CPU a job ran on (`cpu_record`)."""
from __future__ import annotations

import os
import platform
import sys

# environment variables that choose which instruction set float kernels run (torch's own kernels,
# oneDNN's convolutions, MKL's BLAS): set, they make a CPU compute as one with that instruction set would
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_record() -> dict:
    """The CPU a job ran on, for its provenance record: model, cores, the instruction set torch's kernels
    dispatch to (when the job imported torch) and any ISA_VARIABLES set. The same code, inputs and seed
    give other float bits on another instruction set (torch's reductions and oneDNN's convolutions pick
    AVX2 or AVX512 code by the CPU), so an audit that reruns a job must know which one made the record."""
    out = {"model": cpu_model(), "cores": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    env = {k: os.environ[k] for k in ISA_VARIABLES if os.environ.get(k)}
    if env:
        out["env"] = env
    return out


def hardware_name(device) -> str:
    """`device` (a torch.device or its name): "NVIDIA H200" or "AMD EPYC (AVX512), 2 cores".

    On a CPU the name carries the vector instruction set torch's kernels dispatch to
    (`torch.backends.cpu.get_cpu_capability()`): two hosts that share a model name ("AMD EPYC") ran the
    whole default DAG in 31.0 min (AVX2) and 9.5 min (AVX512) with the same code (bench/RESULTS.md)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()}), {os.cpu_count()} cores"
