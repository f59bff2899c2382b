"""VGG-16 with BatchNorm for 32x32 inputs (DQ's black-box substitute model)."""
from __future__ import annotations

import torch.nn as nn

from qrobust.models._base import MaxPool2d, register_model
from qrobust.quant.layers import QConv2d, QLinear, QuantAct

CFG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


@register_model("vgg16", tiny={"width_mult": 0.0625})
def vgg16(num_classes=10, in_channels=3, act="relu6", width_mult=1.0):
    layers, cin = [], in_channels
    for v in CFG16:
        if v == "M":
            layers.append(MaxPool2d(2, ceil_mode=True))  # ceil keeps 28x28 inputs valid
        else:
            cout = max(1, int(v * width_mult))
            layers += [QConv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), QuantAct(act)]
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), QLinear(cin, num_classes)]
    return nn.Sequential(*layers)
