"""What feeds what in a model, from its traced graph (torch.fx): conv -> BN pairs and residual adds."""
from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn as nn

from qrobust.quant.layers import QConv2d, QLinear, QuantAct


class _Tracer(fx.Tracer):
    # our layers (and max-pools: qrobust's branches on its input) are leaves: only which module feeds
    # which matters here
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (QConv2d, QLinear, QuantAct, nn.MaxPool2d)) or super().is_leaf_module(m, qualname)


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv name, bn name) where a conv's output feeds only a BatchNorm2d (found from the traced graph,
    so pre-activation blocks, where BN comes before the conv, are left alone)."""
    graph = _Tracer().trace(model)
    mods = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(mods.get(node.target), nn.Conv2d):
            continue
        users = list(node.users)
        if len(users) == 1 and users[0].op == "call_module" and isinstance(mods.get(users[0].target), nn.BatchNorm2d):
            pairs.append((node.target, users[0].target))
    return pairs


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


_PASS = (nn.BatchNorm2d, nn.Identity, nn.Dropout)  # ops that keep a tensor's quantization grid question open


def tie_groups(model: nn.Module) -> list[list[str]]:
    """Conv/linear layers whose outputs meet in one residual add (through BN only): an integer add
    needs both summands on one grid, so their precisions are tied (HAWQ-V3 section 3.3)."""
    graph = _Tracer().trace(model)
    mods = dict(model.named_modules())

    def producer(node):
        while node.op == "call_module" and isinstance(mods.get(node.target), _PASS):
            node = node.args[0]
        if node.op == "call_module" and isinstance(mods.get(node.target), (nn.Conv2d, nn.Linear)):
            return node.target
        return None

    groups = []
    for node in graph.nodes:
        if node.op == "call_function" and node.target in (operator.add, torch.add):
            names = sorted({p for p in map(producer, node.args[:2]) if isinstance(p, str)})
            if len(names) > 1:
                groups.append(names)
    return groups
