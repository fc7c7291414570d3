"""The attribute heads: small networks on SFace's trunk map (1024 x 7 x 7),
with, for race, a branch on the face's colour grid; trained here, exported
to ONNX and run by ``prosopo.attributes``."""

from __future__ import annotations

import torch
from torch import nn

AGES = 101  # 0..100 years; older faces count as 100


COLOUR_WIDTH = 64  # features the colour branch adds


class Head(nn.Module):
    """A 1x1 convolution squeezes the map's channels, the 7x7 layout is kept
    (where on the face a feature fires matters), then one hidden layer.
    With ``colour`` (a grid size), a second input, the face's CIE Lab grid
    (``prosopo.attributes.heads.colour_grid``), goes through a small branch
    of its own whose features join the hidden layer's."""

    def __init__(self, outputs: dict[str, int], squeeze: int = 64, hidden: int = 256, dropout: float = 0.5,
                 colour: int = 0):
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
        self.colour = nn.Sequential(
            nn.Conv2d(3, 16, 1),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(16 * colour * colour, COLOUR_WIDTH),
            nn.ReLU(inplace=True),
        ) if colour else None
        width = hidden + (COLOUR_WIDTH if colour else 0)
        self.outputs = nn.ModuleDict({name: nn.Linear(width, n) for name, n in outputs.items()})

    def forward(self, x: torch.Tensor, colour: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.body(x)
        if self.colour is not None:
            h = torch.cat([h, self.colour(colour)], 1)
        return {name: layer(h) for name, layer in self.outputs.items()}


class Exported(nn.Module):
    """What ships: probabilities instead of logits, in a fixed output order;
    with several heads (trained from different seeds), their mean."""

    def __init__(self, heads: list[Head]):
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.names = heads[0].names

    def forward(self, x: torch.Tensor, colour: torch.Tensor | None = None):
        outs = [head(x, colour) for head in self.heads]
        return tuple(torch.stack([torch.softmax(o[name], dim=1) for o in outs]).mean(0) for name in self.names)
