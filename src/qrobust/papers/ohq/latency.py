"""Per-layer latency profile on the target hardware, with a fitted cost model for precisions without a kernel.

OHQ (Huang et al. 2023) makes the allocator "on-chip aware": every operator is measured on the
target at every candidate precision, in isolation, rather than ranked by a proxy. Here each
conv/linear layer of a model is rebuilt alone (its own weights and shapes), fed a seeded random
batch, and timed at every precision that has a kernel on the device, the precisions interleaved
round by round so that clock and cache drift hits all of them alike.

A precision without a kernel (int2..int7 on CPU: only the int8 kernel exists) cannot be measured.
Its latency is predicted by a linear cost model fitted on the measured points, in the two
quantities HAWQ-V3 (Yao et al. 2021) uses to rank integer layers: BitOPs (MACs x weight bits x
activation bits) for compute, and bytes moved (weights plus input and output activations) for
memory traffic:  ms ~= a * bitops + b * bytes_moved + c  with a, b, c >= 0 (NNLS).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

from qrobust.quant.kernels import has_kernel, kernel_layer, make_layer
from qrobust.quant.precision import ordered, parse_precision
from qrobust.quant.simulate import LayerQParams
from qrobust.quant.timing import steady_allocator, time_interleaved
from qrobust.runtime.hardware import hardware_name


@dataclass
class LayerInfo:
    name: str            # qualified module name in the model
    kind: str            # "conv" or "linear"
    in_shape: tuple      # per-sample input shape (no batch)
    out_shape: tuple
    weight_shape: tuple
    stride: tuple | None
    padding: tuple | None
    dilation: tuple | None
    groups: int | None
    has_bias: bool
    macs: int            # multiply-accumulates per sample
    params: int          # weight + bias element count

    def to_dict(self) -> dict:
        # lists, not tuples, so a dict survives a JSON round trip unchanged
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _tuple(v):
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else v


def layer_infos(model: nn.Module, example: torch.Tensor) -> list[LayerInfo]:
    """Every nn.Conv2d / nn.Linear in execution order (first call of each), from one forward of `example`."""
    names = {m: n for n, m in model.named_modules()}
    infos: list[LayerInfo] = []
    seen: set[int] = set()

    def hook(module, inputs, output):
        if id(module) in seen:
            return
        seen.add(id(module))
        in_shape = tuple(inputs[0].shape[1:])
        out_shape = tuple(output.shape[1:])
        n_out = math.prod(out_shape)
        w = module.weight
        has_bias = module.bias is not None
        params = w.numel() + (module.bias.numel() if has_bias else 0)
        if isinstance(module, nn.Conv2d):
            # each output element is a dot product over (C_in / groups) x kh x kw inputs
            macs = n_out * (module.in_channels // module.groups) * math.prod(module.kernel_size)
            infos.append(LayerInfo(names[module], "conv", in_shape, out_shape, tuple(w.shape),
                                   _tuple(module.stride), _tuple(module.padding), _tuple(module.dilation),
                                   int(module.groups), has_bias, int(macs), int(params)))
        else:
            macs = n_out * module.in_features
            infos.append(LayerInfo(names[module], "linear", in_shape, out_shape, tuple(w.shape),
                                   None, None, None, None, has_bias, int(macs), int(params)))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        x = example if param is None else example.to(param.device)
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return infos


def bitops(info: LayerInfo, precision: str) -> float:
    """BitOPs per sample: MACs x weight bits x activation bits (fp32 counts 32 x 32, HAWQ-V3's convention)."""
    b = parse_precision(precision).bits
    return float(info.macs) * b * b


def bytes_moved(info: LayerInfo, precision: str, batch_size: int) -> float:
    """Weights at the precision's width + input and output activations for a batch.

    Integer layers read K-bit inputs but write 8-bit outputs (the kernel requantizes to 8 bits).
    """
    p = parse_precision(precision)
    elem = p.bits / 8
    out_elem = 1.0 if p.kind == "int" else elem
    w = math.prod(info.weight_shape) * elem
    return float(w + batch_size * (math.prod(info.in_shape) * elem + math.prod(info.out_shape) * out_elem))


def size_bytes(info: LayerInfo, precision: str) -> float:
    """Stored size: weights at the precision's bits (+ fp32 per-channel scales for int) + fp32 bias."""
    p = parse_precision(precision)
    n_w = math.prod(info.weight_shape)
    out_ch = info.weight_shape[0]
    bias = (info.params - n_w) * 4
    scales = out_ch * 4 if p.kind == "int" else 0
    return float(n_w * p.bits / 8 + scales + bias)


def _layer_input(info: LayerInfo, batch_size: int, seed: int, index: int, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 100003 + index)  # one stream per layer, independent of order
    x = torch.randn((batch_size, *info.in_shape), generator=g).to(device)
    # NHWC, as the deployed model runs (ohq/deploy.py): the layout torch's CPU conv kernels prefer
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _qparams(module: nn.Module, x: torch.Tensor, bits: int) -> LayerQParams:
    """Input and float-output ranges of this batch (what a min/max calibration would give)."""
    with torch.no_grad():
        y = module(x)
    return LayerQParams.from_ranges(bits, x.min().item(), x.max().item(), y.min().item(), y.max().item())


def _no_kernel_message(p: str, device: torch.device, engine: str) -> str:
    where = f"{device.type} (engine {engine})" if device.type == "cpu" else device.type
    return (f"precision {p} has no kernel on {where}; drop it from ohq.precisions "
            f"or set ohq.measured_only: false")


def fit_cost_model(points: list[tuple[float, float, float]]) -> dict:
    """NNLS fit of ms ~= a * bitops + b * bytes + c on (bitops, bytes, ms) points.

    Columns are scaled to max 1 before solving: raw BitOPs (~1e9) and the constant column differ by
    nine orders of magnitude, which would make the solve ill-conditioned.
    """
    from scipy.optimize import nnls

    X = np.array([[b, m, 1.0] for b, m, _ in points], dtype=np.float64)
    y = np.array([ms for _, _, ms in points], dtype=np.float64)
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    coef_scaled, _ = nnls(X / scale, y)
    coef = coef_scaled / scale
    pred = X @ coef
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else None
    rel = np.abs(pred - y) / np.maximum(y, 1e-12)
    return {"a_ms_per_bitop": float(coef[0]), "b_ms_per_byte": float(coef[1]), "c_ms": float(coef[2]),
            "r2": r2, "median_rel_error": float(np.median(rel)), "n_points": len(points)}


def _anchor(p: str, measured: list[str]) -> str:
    """Measured precision an unmeasured one is scaled from: the same kind, nearest in bits (int4 -> int8)."""
    pr = parse_precision(p)
    same = [m for m in measured if parse_precision(m).kind == pr.kind] or measured
    return min(same, key=lambda m: (abs(parse_precision(m).bits - pr.bits), measured.index(m)))


def _predict(fit: dict, bops: float, nbytes: float) -> float:
    return fit["a_ms_per_bitop"] * bops + fit["b_ms_per_byte"] * nbytes + fit["c_ms"]


def profile_layers(model: nn.Module, example: torch.Tensor, precisions: list[str], *, device,
                   engine: str = "x86", batch_size: int = 64, warmup: int = 10, repeats: int = 50,
                   measured_only: bool = False, seed: int = 0, anchor: bool = True) -> dict:
    """Latency of every conv/linear layer at every precision (measured where a kernel exists, else modelled).

    A modelled precision's latency is, with `anchor` (default), the layer's measured latency at the
    nearest measured precision times the cost model's ratio between the two; without it, the cost
    model's absolute prediction. Both are kept: layers[i]["cost_model_ms"] holds the absolute one.
    """
    device = torch.device(device)
    names: list[str] = []
    for p in precisions:  # canonical names, duplicates dropped, unknown ones rejected up front
        n = parse_precision(p).name
        if n not in names:
            names.append(n)
    measured = [p for p in names if has_kernel(p, device, engine)]
    modelled = [p for p in names if p not in measured]
    if modelled and measured_only:
        raise ValueError(_no_kernel_message(modelled[0], device, engine))
    if not measured:
        raise ValueError(f"none of {', '.join(names)} has a kernel on {device.type}; "
                         f"add fp32 (or int8 on cpu) so the cost model has measured points")

    infos = layer_infos(model, example)
    modules = dict(model.named_modules())
    layers = []
    for i, info in enumerate(infos):
        module = modules[info.name]
        x = _layer_input(info, batch_size, seed, i, device)
        cases = {}
        for p in measured:
            pr = parse_precision(p)
            qp = _qparams(make_layer(module, "fp32", None, "cpu"), x.cpu(), pr.bits) if pr.kind == "int" else None
            cases[p] = (make_layer(module, p, qp, device, engine), x)
        stats = time_interleaved(cases, warmup, repeats)
        layers.append({
            **info.to_dict(),
            "latency_ms": {p: stats[p]["median_ms"] for p in measured},
            "source": {p: "measured" for p in measured},
            "bitops": {p: bitops(info, p) for p in names},
            "bytes_moved": {p: bytes_moved(info, p, batch_size) for p in names},
            "size_bytes": {p: size_bytes(info, p) for p in names},
            "spread_ms": {p: [stats[p]["p10_ms"], stats[p]["p90_ms"]] for p in measured},
        })

    # features per batch, like the measured times
    points = [(L["bitops"][p] * batch_size, L["bytes_moved"][p], L["latency_ms"][p]) for L in layers for p in measured]
    fit = fit_cost_model(points)
    anchors = {p: _anchor(p, measured) for p in modelled}
    fit.update({"form": "latency_ms = a * bitops + b * bytes_moved + c, per batch of batch_size, a,b,c >= 0",
                "solver": "scipy.optimize.nnls, feature columns scaled to max 1",
                "fitted_on": measured, "predicts": modelled,
                "anchored": ({p: anchors[p] for p in modelled} if anchor else None)})
    for L in layers:
        model_ms = {p: _predict(fit, L["bitops"][p] * batch_size, L["bytes_moved"][p]) for p in names}
        L["predicted_ms"] = {p: model_ms[p] for p in measured}
        for p in modelled:
            a = anchors[p]
            if anchor and model_ms[a] > 0:
                # the layer's own measurement times the model's ratio (taken first, so rounding never puts
                # int4 above the layer's measured int8): keeps what the three-term fit cannot explain
                L["latency_ms"][p] = L["latency_ms"][a] * (model_ms[p] / model_ms[a])
            else:
                L["latency_ms"][p] = model_ms[p]
            L["source"][p] = "cost_model"
        L["cost_model_ms"] = {p: model_ms[p] for p in modelled}
        L["latency_ms"] = {p: L["latency_ms"][p] for p in names}  # precision order as asked
        L["source"] = {p: L["source"][p] for p in names}

    return {"hardware": hardware_name(device), "device": str(device),
            "engine": engine if device.type == "cpu" else None, "torch": torch.__version__,
            "batch_size": batch_size, "warmup": warmup, "repeats": repeats, "threads": torch.get_num_threads(),
            "allocator": steady_allocator(), "precisions": names, "layers": layers, "cost_model": fit}


def time_kernel_only(module: nn.Module, qp: LayerQParams, batch_size: int, engine: str = "x86", *,
                     in_shape: tuple, warmup: int = 10, repeats: int = 50, seed: int = 0) -> dict:
    """Time only the quantized op on an already-quantized input (no quantize / dequantize)."""
    layer = kernel_layer(module, qp, engine)
    g = torch.Generator().manual_seed(seed)
    xq = layer.quantize_input(torch.randn((batch_size, *in_shape), generator=g))
    return time_interleaved({"kernel": (layer.qop, xq)}, warmup, repeats)["kernel"]


def compare_int8_fp32(model: nn.Module, example: torch.Tensor, *, batch_size: int = 64, engine: str = "x86",
                      warmup: int = 20, repeats: int = 200, seed: int = 0) -> list[dict]:
    """Per layer: FP32, INT8 (quantize + kernel + dequantize) and INT8 kernel-only, timed interleaved."""
    rows = []
    for i, info in enumerate(layer_infos(model, example)):
        module = dict(model.named_modules())[info.name]
        x = _layer_input(info, batch_size, seed, i, torch.device("cpu"))
        fp32 = make_layer(module, "fp32", None, "cpu")
        int8 = kernel_layer(module, _qparams(fp32, x, 8), engine)
        stats = time_interleaved({"fp32": (fp32, x), "int8": (int8, x),
                                  "int8_kernel": (int8.qop, int8.quantize_input(x))}, warmup, repeats)
        rows.append({"layer": info.to_dict(), **stats})
    return rows


def profile_model(model: nn.Module, shape: list[int], ohq: dict, device, seed: int = 0) -> dict:
    """The ohq_profile job: the BN-folded model's layers at the config's precisions."""
    from qrobust.quant.ptq import fold_bn

    lat = ohq["latency"]
    example = torch.zeros(2, *shape)
    return profile_layers(fold_bn(model), example, ordered(ohq["precisions"]), device=device, engine=ohq["engine"],
                          batch_size=lat["batch_size"], warmup=lat["warmup"], repeats=lat["repeats"],
                          measured_only=ohq["measured_only"], seed=seed)
