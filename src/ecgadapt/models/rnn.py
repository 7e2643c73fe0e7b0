"""Recurrent networks of the transfer-learning study: LSTM, BiLSTM, GRU (hidden size 100, dropout 0.3)."""

from __future__ import annotations

import torch
from torch import nn

from ecgadapt.models.registry import EcgModel, register_model


class RecurrentNet(EcgModel):
    def __init__(self, cell: type[nn.RNNBase], in_leads: int, num_classes: int, hidden: int = 100, layers: int = 2,
                 dropout: float = 0.3, bidirectional: bool = False, downsample: int = 4):
        directions = 2 if bidirectional else 1
        # mean- and max-pooled outputs over time
        super().__init__(2 * hidden * directions, num_classes, in_leads)
        # a strided average keeps sequences short enough for a CPU (10 s at 100 Hz -> 250 steps)
        self.downsample = nn.AvgPool1d(downsample, downsample, ceil_mode=True) if downsample > 1 else nn.Identity()
        self.rnn = cell(in_leads, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0,
                        bidirectional=bidirectional, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward_features(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.downsample(x).transpose(1, 2))  # [batch, time, hidden*directions]
        return self.dropout(torch.cat([out.mean(1), out.amax(1)], dim=1))


@register_model
def lstm(in_leads: int = 1, num_classes: int = 5, **kw: object) -> RecurrentNet:
    return RecurrentNet(nn.LSTM, in_leads, num_classes, **kw)


@register_model
def bilstm(in_leads: int = 1, num_classes: int = 5, **kw: object) -> RecurrentNet:
    return RecurrentNet(nn.LSTM, in_leads, num_classes, bidirectional=True, **kw)


@register_model
def gru(in_leads: int = 1, num_classes: int = 5, **kw: object) -> RecurrentNet:
    return RecurrentNet(nn.GRU, in_leads, num_classes, **kw)
