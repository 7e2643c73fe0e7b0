"""A small beat classifier for 1- or 2-lead beat windows plus RR features (used by the personalization engine)."""

from __future__ import annotations

import torch
from torch import nn

from ecgadapt.models.registry import EcgModel, register_model

#: how many of ``ecgadapt.signal.RR_FEATURES`` a BeatNet can read besides none: the four RR intervals (its ratios
#: need pre-, local and average RR), or those and the rhythm irregularity
RR_FEATURE_COUNTS = (4, 5)


class BeatNet(EcgModel):
    def __init__(self, in_leads: int, num_classes: int, width: int = 32, rr_features: int = 4, dropout: float = 0.2):
        """``rr_features``: how many of ``ecgadapt.signal.RR_FEATURES`` it reads (4: the RR intervals; 5: also the
        rhythm irregularity; 0: none). The ratios need pre-, local and average RR."""
        if rr_features and rr_features not in RR_FEATURE_COUNTS:
            raise ValueError(f"rr_features={rr_features}: use 0, 4 or 5 (columns of ecgadapt.signal.RR_FEATURES)")
        conv_features = 4 * width
        super().__init__(conv_features + 16 * (rr_features > 0), num_classes, in_leads)
        layers, cin = [], in_leads
        for cout, k in ((width, 7), (2 * width, 5), (4 * width, 3)):
            layers += [nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True),
                       nn.MaxPool1d(2)]
            cin = cout
        self.conv = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.rr_features = rr_features
        # RR intervals relative to the local and patient average carry most of the S-vs-N information
        self.rr = nn.Sequential(nn.Linear(rr_features + 2, 16), nn.ReLU(inplace=True)) if rr_features else None
        self.dropout = nn.Dropout(dropout)

    def forward_features(self, x: torch.Tensor, rr: torch.Tensor | None = None, **extra: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        if self.rr is not None:
            if rr is None or rr.shape[1] < self.rr_features:
                raise ValueError(f"beatnet needs the first {self.rr_features} RR features (rr=[batch, >= "
                                 f"{self.rr_features}]); create it with rr_features=0 to omit them")
            rr = rr[:, :self.rr_features]  # a model trained before a column was appended reads the ones it knew
            ratios = torch.stack([rr[:, 0] / rr[:, 2].clamp_min(1e-3), rr[:, 0] / rr[:, 3].clamp_min(1e-3)], dim=1)
            h = torch.cat([h, self.rr(torch.cat([rr, ratios], dim=1))], dim=1)
        return self.dropout(h)


@register_model
def beatnet(in_leads: int = 1, num_classes: int = 5, **kw: object) -> BeatNet:
    return BeatNet(in_leads, num_classes, **kw)
