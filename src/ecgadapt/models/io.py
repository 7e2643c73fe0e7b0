"""Model checkpoints: architecture, weights and metadata in one file, written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ecgadapt._atomic import atomic_write_bytes
from ecgadapt.errors import ConfigError
from ecgadapt.models.registry import EcgModel, create_model, list_models


# what save_checkpoint writes and load_checkpoint needs
CHECKPOINT_KEYS = ("model", "in_leads", "num_classes", "kwargs", "state_dict", "meta")


def model_state(model: EcgModel, half: bool = False) -> dict[str, Any]:
    """The model as plain data and tensors (``model_from_state`` rebuilds it), e.g. a second model inside a
    checkpoint's metadata. ``half``: float weights stored in half precision (half the file; loading copies them
    back into the network's float32)."""
    state = model.state_dict()
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return {"model": model.model_name, "in_leads": model.in_leads, "num_classes": model.num_classes,
            "kwargs": model.model_kwargs, "state_dict": state}


def model_from_state(state: dict[str, Any]) -> EcgModel:
    model = create_model(state["model"], in_leads=state["in_leads"], num_classes=state["num_classes"],
                         **state["kwargs"])
    model.load_state_dict(state["state_dict"])
    return model


def save_checkpoint(model: EcgModel, path: str | Path, *, half: bool = False, **meta: Any) -> Path:
    buf = io.BytesIO()
    torch.save({**model_state(model, half), "meta": meta}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_state(path: str | Path, what: str) -> Any:
    """A state file this package wrote (a resumable run's ``last.pt``, an encoder), read with ``weights_only``: tensors
    and plain data only, so a planted file's code never runs; anything else is a ConfigError naming the file
    (``what``: e.g. "training state")."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types; its message suggests weights_only=False
        raise ConfigError(f"{path}: unreadable {what}: not a PyTorch file, or one holding more than weights and plain "
                          f"data ({type(err).__name__}); delete it to start afresh") from err


def load_checkpoint(path: str | Path, in_leads: int | None = None) -> tuple[EcgModel, dict[str, Any]]:
    """Rebuild the model saved at ``path``; ``in_leads`` (if given) must match the checkpoint's."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: checkpoint missing")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        # not torch's own text: it runs to a page and suggests weights_only=False, which would run code from the file
        raise ConfigError(f"{path}: unreadable checkpoint: not a PyTorch file, or one holding more than weights and "
                          f"plain data ({type(err).__name__})") from err
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ConfigError(f"{path}: a PyTorch file but not an ecgadapt checkpoint (no {', '.join(missing)}; write one "
                          "with ecgadapt.models.io.save_checkpoint or `ecgadapt population train`)")
    if in_leads is not None and in_leads != ckpt["in_leads"]:
        raise ConfigError(f"{path}: checkpoint expects {ckpt['in_leads']} lead(s), data has {in_leads}")
    if ckpt["model"] not in list_models():
        raise ConfigError(f"{path}: its network {ckpt['model']!r} is not a registered model (known: "
                          f"{', '.join(list_models())})")
    try:
        return model_from_state(ckpt), ckpt["meta"]
    except (RuntimeError, TypeError, ValueError, KeyError) as err:  # weights of another shape, a damaged entry
        raise ConfigError(f"{path}: the checkpoint's weights do not fit its network ({ckpt.get('model')!r}, "
                          f"{ckpt.get('in_leads')} lead(s)): {str(err).splitlines()[0]}") from err
