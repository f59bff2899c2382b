"""A small CNN for the embedded 28x28 MNIST default: two conv blocks and a hidden FC layer."""
from __future__ import annotations

import torch.nn as nn

from qrobust.models._base import MaxPool2d, register_model
from qrobust.quant.layers import QConv2d, QLinear, QuantAct


class SmallCNN(nn.Sequential):
    def __init__(self, num_classes=10, in_channels=1, act="relu6", width=32, hidden=128):
        super().__init__(
            QConv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), QuantAct(act),
            MaxPool2d(2),  # H/2
            QConv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), QuantAct(act),
            MaxPool2d(2),  # H/4
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # B x 2w*16, any input size
            QLinear(2 * width * 16, hidden), QuantAct(act),
            QLinear(hidden, num_classes),
        )


@register_model("small_cnn", tiny={"width": 8, "hidden": 16})
def small_cnn(**kw):
    return SmallCNN(**kw)
