"""The training loop.

Model selection and early stopping use the validation split only, never the test split. Every epoch ends with
an atomic checkpoint (``last.pt``: weights, optimizer, history, RNG position); a killed run, started again with
the same ``out_dir``, continues from the last completed epoch. A non-finite loss stops the run with a clear
message and leaves the last good checkpoint in place.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgadapt._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from ecgadapt._progress import progress_bar
from ecgadapt.errors import ConfigError, EcgAdaptError
from ecgadapt.metrics import classification_metrics
from ecgadapt.models.io import load_state
from ecgadapt.models.registry import EcgModel
from ecgadapt.train.data import ArrayDataset


class TrainingError(EcgAdaptError):
    pass


def class_weights(y: np.ndarray, n_classes: int, power: float = 0.5) -> torch.Tensor:
    """Inverse-frequency weights softened by ``power`` (0.5: square root); absent classes get 0."""
    counts = np.bincount(y[y >= 0], minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    w = w / (w[counts > 0].mean() if (counts > 0).any() else 1.0)
    return torch.tensor(w, dtype=torch.float32)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | adamw | sgd
    weight_decay: float = 0.0
    class_weights: str | None = None  # None | "balanced" (inverse class frequency in the training split) | "sqrt"
    freeze: str = "none"  # none | head (linear probe) | last-k | gradual (unfreeze one group per epoch)
    last_k: int = 1  # with freeze="last-k": trainable groups below the head
    discriminative_lr: float = 1.0  # lr factor per group going down from the head (e.g. 0.5)
    patience: int = 5  # epochs without validation improvement before stopping
    monitor: str = "f1_macro"  # validation metric that selects the best epoch (higher is better)
    seed: int = 0
    bf16: bool = False  # bfloat16 autocast on the CPU
    # probability that a training item's leads after the first are zeroed: the model learns to work on records
    # that lack them (prepared with missing_leads="zero"), so one two-lead model also serves one-lead records
    lead_dropout: float = 0.0
    # the learning rate over the epochs: "constant", or "cosine" (from lr down to 0 at the last epoch, set at each
    # epoch's start from its number, so a resumed run continues on the same curve)
    schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.freeze not in ("none", "head", "last-k", "gradual"):
            raise ConfigError(f"freeze={self.freeze!r}; allowed: none, head, last-k, gradual")
        if self.class_weights not in (None, "balanced", "sqrt"):
            raise ConfigError(f"class_weights={self.class_weights!r}; allowed: None, balanced, sqrt")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"optimizer={self.optimizer!r}; allowed: adam, adamw, sgd")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule={self.schedule!r}; allowed: constant, cosine")
        if not 0.0 <= self.lead_dropout < 1.0:
            raise ConfigError(f"lead_dropout={self.lead_dropout!r}; allowed: 0 <= lead_dropout < 1")


#: The transfer-learning study's defaults (Adam, lr 0.01, batch 256, 100 epochs), with validation-based selection.
PRESETS: dict[str, TrainConfig] = {
    "study": TrainConfig(epochs=100, batch_size=256, lr=0.01, optimizer="adam", patience=100),
    "default": TrainConfig(),
    "linear-probe": TrainConfig(freeze="head", lr=1e-2),
}


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    best_epoch: int
    best_metric: float
    stopped_early: bool
    seconds: float
    out_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parameter_groups(model: EcgModel) -> list[list[nn.Parameter]]:
    """Parameters in depth order (input side first); the head is the last group."""
    groups: list[list[nn.Parameter]] = []
    for name, child in model.named_children():
        if name == "head":
            continue
        parts = list(child.children()) if isinstance(child, (nn.Sequential, nn.ModuleList)) else [child]
        for part in parts:
            params = [p for p in part.parameters()]
            if params:
                groups.append(params)
    groups.append(list(model.head.parameters()))
    return groups


def _trainable_groups(n_groups: int, config: TrainConfig, epoch: int) -> int:
    if config.freeze == "head":
        return 1
    if config.freeze == "last-k":
        return 1 + config.last_k
    if config.freeze == "gradual":
        return 1 + epoch
    return n_groups


def _loss_fn(train: ArrayDataset, n_classes: int, config: TrainConfig) -> nn.Module:
    y = np.asarray(train.y[np.sort(train.indices)])
    if y.ndim == 2:
        return nn.BCEWithLogitsLoss()
    weight = None
    if config.class_weights in ("balanced", "sqrt"):
        counts = np.bincount(y[y >= 0], minlength=n_classes).astype(np.float64)
        w = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
        if config.class_weights == "sqrt":  # softer: rare classes still count more, without flooding the argmax
            w = np.sqrt(w)
        weight = torch.tensor(w, dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weight)


def _optimizer(model: EcgModel, config: TrainConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model)
    param_groups = [{"params": g, "lr": config.lr * config.discriminative_lr ** (len(groups) - 1 - i)}
                    for i, g in enumerate(groups)]
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[config.optimizer]
    kw = {"momentum": 0.9} if config.optimizer == "sgd" else {}
    return cls(param_groups, lr=config.lr, weight_decay=config.weight_decay, **kw)


@torch.no_grad()
def predict_logits(model: EcgModel, data: ArrayDataset, batch_size: int = 1024, bf16: bool = False) -> torch.Tensor:
    """Raw model outputs [len(data), classes] in the order of ``data.indices``."""
    model.eval()
    order = np.argsort(data.indices, kind="stable")  # batches read sorted; put results back in index order
    out = torch.zeros((len(data), model.num_classes), dtype=torch.float32)
    for s in range(0, len(data), batch_size):
        rows = order[s:s + batch_size]
        x, _, extra = data.batch(rows)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out[torch.from_numpy(rows)] = model(x, **extra).float()
    return out


def _probabilities(logits: torch.Tensor, multilabel: bool) -> np.ndarray:
    return (torch.sigmoid(logits) if multilabel else torch.softmax(logits, 1)).numpy()


def predict(model: EcgModel, data: ArrayDataset, batch_size: int = 1024, bf16: bool = False) -> np.ndarray:
    """Class probabilities (softmax; sigmoid for multi-label data) in the order of ``data.indices``."""
    return _probabilities(predict_logits(model, data, batch_size, bf16), np.asarray(data.y).ndim == 2)


def evaluate(model: EcgModel, data: ArrayDataset, label_names: tuple[str, ...], loss_fn: nn.Module,
             bf16: bool = False) -> dict[str, Any]:
    logits = predict_logits(model, data, bf16=bf16)
    y = np.asarray(data.y[data.indices])
    target = torch.from_numpy(y.astype(np.float32) if y.ndim == 2 else y.astype(np.int64))
    metrics = classification_metrics(y, _probabilities(logits, y.ndim == 2), label_names)
    metrics["loss"] = float(loss_fn(logits, target))
    return metrics


def fit(model: EcgModel, train: ArrayDataset, val: ArrayDataset, config: TrainConfig, *,
        label_names: tuple[str, ...] | None = None, out_dir: str | Path | None = None,
        progress: bool = True, report: Callable[[EcgModel], dict[str, float]] | None = None) -> FitResult:
    """Train ``model`` in place; at the end it holds the weights of the best validation epoch.

    ``report(model)``, if given, runs after every epoch and its values go into the history as ``report_*``
    columns: for curves shown to readers (e.g. test F1 per epoch), never read by the selection below.
    """
    label_names = tuple(label_names or [str(i) for i in range(model.num_classes)])
    if len(label_names) != model.num_classes:
        raise ConfigError(f"model has {model.num_classes} outputs but the data has {len(label_names)} labels "
                          f"({', '.join(label_names)}): call reset_classifier({len(label_names)}) to fine-tune")
    if train.X.shape[1] != model.in_leads:
        raise ConfigError(f"model expects {model.in_leads} lead(s), the data has {train.X.shape[1]}")
    if len(train) == 0 or len(val) == 0:
        raise ConfigError(f"empty split: {len(train)} training and {len(val)} validation items")
    out = Path(out_dir) if out_dir else None
    loss_fn = _loss_fn(train, model.num_classes, config)
    optimizer = _optimizer(model, config)
    groups = parameter_groups(model)
    history: list[dict[str, Any]] = []
    best_metric, best_epoch, bad_epochs, best_state = -np.inf, -1, 0, None
    start_epoch = 0
    if out and (out / "last.pt").is_file():
        state = load_state(out / "last.pt", "training state")
        # a setting added since the state was written had its default then
        if {**asdict(TrainConfig()), **state["config"]} != asdict(config):
            raise ConfigError(f"{out / 'last.pt'}: written with another configuration; use a new out_dir, or delete it "
                              "to start afresh")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, best_metric, best_epoch = state["history"], state["best_metric"], state["best_epoch"]
        bad_epochs, best_state, start_epoch = state["bad_epochs"], state["best_state"], state["epoch"] + 1
    t0 = time.perf_counter()
    stopped = False
    with progress_bar(progress, "train", config.epochs, start_epoch) as advance:
        for epoch in range(start_epoch, config.epochs):
            if bad_epochs >= config.patience:
                stopped = True
                break
            n_train = _trainable_groups(len(groups), config, epoch)
            for i, g in enumerate(groups):
                for p in g:
                    p.requires_grad_(i >= len(groups) - n_train)
            if config.schedule == "cosine":
                factor = 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))
                for group in optimizer.param_groups:
                    group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor
            torch.manual_seed(config.seed * 1000 + epoch)
            order = np.random.default_rng(config.seed * 1000 + epoch).permutation(len(train))
            model.train()
            te, losses = time.perf_counter(), []
            for b in range(0, len(order), config.batch_size):
                rows = order[b:b + config.batch_size]
                if len(rows) < 2:  # BatchNorm cannot train on a single item
                    continue
                x, y, extra = train.batch(rows)
                if config.lead_dropout > 0 and x.shape[1] > 1:
                    x[torch.rand(len(x)) < config.lead_dropout, 1:] = 0.0
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                    logits = model(x, **extra).float()
                loss = loss_fn(logits, y.float() if y.ndim == 2 else y.long())
                if not torch.isfinite(loss):
                    where = f"{out / 'last.pt'}" if out and (out / "last.pt").is_file() else "none written yet"
                    raise TrainingError(f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, batch {b // config.batch_size + 1}"
                                        f"; stopped. Last good checkpoint: {where}. Lower the learning rate or check the data.")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            metrics = evaluate(model, val, label_names, loss_fn, config.bf16)
            row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                   "val_loss": metrics["loss"], **{f"val_{k}": metrics[k] for k in ("f1_macro", "f1_weighted", "accuracy",
                                                                                  "auroc_macro")},
                   "trainable_groups": min(n_train, len(groups)), "seconds": round(time.perf_counter() - te, 3)}
            if report is not None:
                row.update({f"report_{k}": float(v) for k, v in report(model).items()})
                model.train()
            history.append(row)
            score = metrics[config.monitor]
            if score > best_metric:
                best_metric, best_epoch, bad_epochs = score, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
            advance(f"loss {row['train_loss']:.4f} val {config.monitor} {row['val_' + config.monitor]:.4f}")
            if out:
                _save_state(out, model, optimizer, config, epoch, history, best_metric, best_epoch, bad_epochs, best_state)
    if best_state is not None:
        model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(True)
    return FitResult(history, best_epoch, float(best_metric), stopped, time.perf_counter() - t0, str(out) if out else None)


def _save_state(out: Path, model: EcgModel, optimizer: torch.optim.Optimizer, config: TrainConfig, epoch: int,
                history: list[dict[str, Any]], best_metric: float, best_epoch: int, bad_epochs: int,
                best_state: dict[str, torch.Tensor] | None) -> None:
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": asdict(config),
                "epoch": epoch, "history": history, "best_metric": best_metric, "best_epoch": best_epoch,
                "bad_epochs": bad_epochs, "best_state": best_state}, buf)
    atomic_write_bytes(out / "last.pt", buf.getvalue())
    atomic_write_json(out / "history.json", history)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(out / "history.csv", text.getvalue())


__all__ = ["FitResult", "PRESETS", "TrainConfig", "TrainingError", "evaluate", "fit", "parameter_groups", "predict",
           "predict_logits"]
