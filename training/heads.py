"""The attribute heads: small networks on SFace's trunk map (1024 x 7 x 7),
trained here, exported to ONNX and run by ``prosopo.attributes``."""

from __future__ import annotations

import torch
from torch import nn

AGES = 101  # 0..100 years; older faces count as 100


class Head(nn.Module):
    """A 1x1 convolution squeezes the map's channels, the 7x7 layout is kept
    (where on the face a feature fires matters), then one hidden layer."""

    def __init__(self, outputs: dict[str, int], squeeze: int = 64, hidden: int = 256, dropout: float = 0.5):
        super().__init__()
        self.names = list(outputs)
        self.body = nn.Sequential(
            nn.Dropout2d(0.1),
            nn.Conv2d(1024, squeeze, 1, bias=False),
            nn.BatchNorm2d(squeeze),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(squeeze * 49, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.outputs = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in outputs.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(x)
        return {name: layer(h) for name, layer in self.outputs.items()}


class Exported(nn.Module):
    """What ships: probabilities instead of logits, in a fixed output order."""

    def __init__(self, head: Head):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor):
        out = self.head(x)
        return tuple(torch.softmax(out[name], dim=1) for name in self.head.names)
