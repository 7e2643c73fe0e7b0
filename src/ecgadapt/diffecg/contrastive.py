"""Contrastive self-supervised baselines on the same backbone as DiffECG (the UNet encoder, read at t = 0):

- ``simclr`` (Chen et al. 2020): two augmented views of a segment are positives, the rest of the batch negatives
  (NT-Xent loss);
- ``moco`` (He et al. 2020, v2-style): a momentum key encoder and a queue of past keys as negatives;
- ``clocs`` (Kiyasseh et al. 2021, CMSC): two *different, adjacent-in-time* segments of the same patient are
  positives: patient identity, not augmentation, defines similarity.

Labels are never read; ``patient`` ids are (CLOCS only). The trained encoder loads into the ``diffecg`` model
(``load_pretrained`` with the ``encoder.`` prefix) and is then frozen with a trained head, as DiffECG is.
"""

from __future__ import annotations

import copy
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecgadapt._atomic import atomic_write_bytes, atomic_write_json, output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.models.unet1d import UNetEncoder, mean_max_pool
from ecgadapt.errors import ConfigError

METHODS = ("simclr", "moco", "clocs")


@dataclass(frozen=True)
class ContrastiveConfig:
    method: str = "simclr"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    temperature: float = 0.1
    base: int = 32
    mults: tuple[int, ...] = (1, 2, 4)
    queue: int = 1024  # moco
    momentum: float = 0.99  # moco
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"contrastive method {self.method!r}; allowed: {', '.join(METHODS)}")


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random amplitude scaling, Gaussian noise, baseline wander and a circular time shift (per item)."""
    b, _, n = x.shape
    scale = 1 + 0.2 * (torch.rand(b, 1, 1, generator=generator) - 0.5) * 2
    noise = 0.05 * torch.randn(x.shape, generator=generator)
    phase = torch.rand(b, 1, 1, generator=generator) * 2 * np.pi
    wander = 0.1 * torch.sin(torch.linspace(0, 2 * np.pi, n)[None, None] + phase)
    shift = int(torch.randint(0, max(1, n // 10), (1,), generator=generator))
    return torch.roll(x * scale + noise + wander, shift, dims=-1)


class ProjectedEncoder(nn.Module):
    """Encoder -> pooled bottleneck -> 2-layer projection head (dropped after pre-training)."""

    def __init__(self, in_ch: int, base: int, mults: tuple[int, ...], dim: int = 64):
        super().__init__()
        self.encoder = UNetEncoder(in_ch, base, mults)
        c = 2 * self.encoder.out_channels
        self.head = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, (-x.shape[-1]) % self.encoder.factor))
        _, h, _ = self.encoder(x, torch.zeros(x.shape[0], dtype=torch.long))
        return F.normalize(self.head(mean_max_pool(h)), dim=1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner among the 2B - 1 other views."""
    z = torch.cat([z1, z2])
    sim = z @ z.T / temperature
    sim.fill_diagonal_(-1e9)
    b = len(z1)
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)])
    return F.cross_entropy(sim, target)


def _pairs_same_patient(patient: np.ndarray, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n pairs (i, j) of consecutive items of the same patient (items ordered in time within a patient)."""
    same_next = np.flatnonzero(patient[:-1] == patient[1:])
    if len(same_next) == 0:
        raise ConfigError("clocs needs at least two segments of one patient")
    i = rng.choice(same_next, min(n, len(same_next)), replace=False)
    return i, i + 1


def pretrain_contrastive(X: np.ndarray, out_dir: str | Path, config: ContrastiveConfig = ContrastiveConfig(), *,
                         patient: np.ndarray | None = None, progress: bool = True) -> tuple[UNetEncoder, list[dict]]:
    """Pre-train the UNet encoder with ``config.method``; writes ``encoder.pt`` (state dict with the ``encoder.``
    prefix, loadable by ``DiffEcgClassifier.load_pretrained``) and ``history.json``."""
    if config.method == "clocs" and patient is None:
        raise ConfigError("clocs needs the patient id of every segment")
    out = output_folder(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    net = ProjectedEncoder(X.shape[1], config.base, config.mults)
    key_net = copy.deepcopy(net) if config.method == "moco" else None
    if key_net is not None:
        for p in key_net.parameters():
            p.requires_grad_(False)
    queue = F.normalize(torch.randn(config.queue, 64), dim=1)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    history = []
    with progress_bar(progress, f"{config.method} pre-training", config.epochs) as advance:
        for epoch in range(config.epochs):
            rng = np.random.default_rng(config.seed * 1000 + epoch)
            gen = torch.Generator().manual_seed(config.seed * 1000 + epoch)
            losses = []
            for _ in range(max(1, len(X) // config.batch_size)):
                if config.method == "clocs":
                    i, j = _pairs_same_patient(np.asarray(patient), rng, config.batch_size)
                    order = np.argsort(i)
                    x1 = torch.from_numpy(np.asarray(X[i[order]], dtype=np.float32))
                    x2 = torch.from_numpy(np.asarray(X[j[order]], dtype=np.float32))
                    loss = nt_xent(net(x1), net(x2), config.temperature)
                else:
                    idx = np.sort(rng.choice(len(X), min(config.batch_size, len(X)), replace=False))
                    x = torch.from_numpy(np.asarray(X[idx], dtype=np.float32))
                    v1, v2 = augment(x, gen), augment(x, gen)
                    if config.method == "simclr":
                        loss = nt_xent(net(v1), net(v2), config.temperature)
                    else:
                        q = net(v1)
                        with torch.no_grad():
                            k = key_net(v2)
                        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / config.temperature
                        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if key_net is not None:
                    with torch.no_grad():
                        for pk, pq in zip(key_net.parameters(), net.parameters()):
                            pk.mul_(config.momentum).add_(pq.detach(), alpha=1 - config.momentum)
                        queue = torch.cat([k, queue])[:config.queue]
                losses.append(loss.item())
            history.append({"epoch": epoch + 1, "loss": float(np.mean(losses))})
            advance(f"loss {history[-1]['loss']:.4f}")
    buf = io.BytesIO()
    torch.save({"state_dict": {f"encoder.{k}": v for k, v in net.encoder.state_dict().items()},
                "config": asdict(config)}, buf)
    atomic_write_bytes(out / "encoder.pt", buf.getvalue())
    atomic_write_json(out / "history.json", history)
    return net.encoder, history
