"""The name a measurement gives its machine: the GPU's, or the CPU's model name and core count (the
latency profiles record it; the benchmarks under bench/ print it beside their figures)."""
from __future__ import annotations

import os
import platform


def hardware_name(device) -> str:
    """`device` (a torch.device or its name): "NVIDIA H200" or "AMD EPYC, 2 cores"."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return f"{name}, {os.cpu_count()} cores"
