"""The machine name measurements record: CPU model, the instruction set torch dispatches to, cores."""
import os

import torch

from qrobust.runtime.hardware import hardware_name


def test_a_cpu_name_carries_the_model_the_kernels_instruction_set_and_the_cores():
    name = hardware_name("cpu")
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.lower().startswith("model name")),
                 None) if os.path.exists("/proc/cpuinfo") else None
    cap = torch.backends.cpu.get_cpu_capability()
    assert cap and name.endswith(f" ({cap}), {os.cpu_count()} cores"), name
    if model:
        assert name.startswith(model + " ("), name
    assert hardware_name(torch.device("cpu")) == name


def test_the_cpu_record_names_the_kernels_instruction_set_and_the_variables_that_choose_it(monkeypatch):
    from qrobust.runtime.hardware import ISA_VARIABLES, cpu_record

    for var in ISA_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    rec = cpu_record()
    assert rec["torch_capability"] == torch.backends.cpu.get_cpu_capability() and rec["cores"] == os.cpu_count()
    assert "env" not in rec and hardware_name("cpu").startswith(rec["model"])
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpu_record()["env"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}


def test_a_recomputed_difference_says_when_the_record_was_made_on_another_cpu(monkeypatch):
    from qrobust.commands._recompute import _cpu_note
    from qrobust.runtime.hardware import ISA_VARIABLES, cpu_record

    for var in ISA_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    here = cpu_record()
    assert _cpu_note({"cpu": here}) == "" and _cpu_note({}) == ""  # same CPU, or a record that does not say
    no_torch = {k: v for k, v in here.items() if k != "torch_capability"}  # a job that never imported torch
    assert _cpu_note({"cpu": no_torch}) == ""
    assert "made on Another CPU" in _cpu_note({"cpu": {**no_torch, "model": "Another CPU"}})
    other = {**here, "torch_capability": "AVX2" if here["torch_capability"] != "AVX2" else "AVX512"}
    note = _cpu_note({"cpu": other})
    assert f"made on {here['model']} ({other['torch_capability']})" in note
    assert f"this machine is {here['model']} ({here['torch_capability']})" in note and "tampering" in note
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # a rerun with another ISA pinned than the record's
    assert "ONEDNN_MAX_CPU_ISA" in _cpu_note({"cpu": here})
