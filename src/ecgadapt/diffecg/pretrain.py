"""Label-free DDPM pre-training of the 1-D UNet on ECG arrays (segments or beats), resumable.

Every epoch ends with an atomic ``last.pt`` (weights, optimizer, history); a killed run started again with the
same ``out_dir`` continues from the last finished epoch. The result is ``unet.pt`` (weights + UNet config +
schedule), which the ``diffecg`` model loads as its frozen feature extractor.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgadapt._atomic import atomic_write_bytes, atomic_write_json, output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.models.ddpm import DDPMSchedule
from ecgadapt.models.unet1d import UNet1d
from ecgadapt.errors import ConfigError
from ecgadapt.models.io import load_state


@dataclass(frozen=True)
class PretrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-4
    base: int = 32
    mults: tuple[int, ...] = (1, 2, 4)
    steps: int = 1000  # T
    beta_start: float = 1e-4
    beta_end: float = 0.02
    seed: int = 0
    bf16: bool = True
    max_items: int | None = None  # pre-train on a random subset of this many items per epoch


def _save(path: Path, payload: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def pretrain_diffusion(X: np.ndarray, out_dir: str | Path, config: PretrainConfig = PretrainConfig(), *,
                       progress: bool = True) -> tuple[UNet1d, list[dict[str, float]]]:
    """Train epsilon prediction on ``X`` [n, leads, samples] (no labels are read). Returns the UNet and history."""
    if X.ndim != 3 or len(X) == 0:
        raise ConfigError(f"pre-training data must be [items, leads, samples] and non-empty, got shape {X.shape}")
    out = output_folder(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    unet = UNet1d(X.shape[1], config.base, config.mults)
    schedule = DDPMSchedule(config.steps, config.beta_start, config.beta_end)
    opt = torch.optim.Adam(unet.parameters(), lr=config.lr)
    history: list[dict[str, float]] = []
    start = 0
    last = out / "last.pt"
    if last.is_file():
        state = load_state(last, "pre-training state")
        if state["config"] != asdict(config):
            raise ConfigError(f"{last}: written with another configuration; use a new out_dir")
        unet.load_state_dict(state["unet"])
        opt.load_state_dict(state["optimizer"])
        history, start = state["history"], state["epoch"] + 1
    with progress_bar(progress, "diffusion pre-training", config.epochs, start) as advance:
        for epoch in range(start, config.epochs):
            rng = np.random.default_rng(config.seed * 1000 + epoch)
            gen = torch.Generator().manual_seed(config.seed * 1000 + epoch)
            order = rng.permutation(len(X))[:config.max_items] if config.max_items else rng.permutation(len(X))
            unet.train()
            t0, losses = time.perf_counter(), []
            for b in range(0, len(order), config.batch_size):
                idx = np.sort(order[b:b + config.batch_size])
                x0 = torch.from_numpy(np.ascontiguousarray(X[idx], dtype=np.float32))
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                    loss = schedule.loss(unet, x0, gen)
                if not torch.isfinite(loss):
                    raise ConfigError(f"non-finite diffusion loss at epoch {epoch + 1}; last good checkpoint: {last}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": round(time.perf_counter() - t0, 2)})
            _save(last, {"unet": unet.state_dict(), "optimizer": opt.state_dict(), "config": asdict(config),
                         "epoch": epoch, "history": history})
            atomic_write_json(out / "history.json", history)
            advance(f"loss {history[-1]['loss']:.4f}")
    _save(out / "unet.pt", {"state_dict": unet.state_dict(), "unet": unet.config,
                            "schedule": {"steps": config.steps, "beta_start": config.beta_start,
                                         "beta_end": config.beta_end}, "pretrain": asdict(config), "history": history})
    return unet, history


def load_unet(path: str | Path) -> tuple[UNet1d, DDPMSchedule, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: diffusion checkpoint missing (run `ecgadapt pretrain diffusion` first)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ckpt["unet"]
    unet = UNet1d(cfg["in_ch"], cfg["base"], tuple(cfg["mults"]))
    unet.load_state_dict(ckpt["state_dict"])
    return unet, DDPMSchedule(**ckpt["schedule"]), ckpt
