"""Model registry in the style of timm: ``register_model`` / ``create_model`` / ``list_models``.

Every model takes ``[batch, leads, samples]`` of any lead count and length, exposes ``forward_features(x)`` ->
``[batch, num_features]`` and ``reset_classifier(num_classes)`` (a new head, the rest kept: fine-tuning).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

import torch
from torch import nn

from ecgadapt._registry import Registry


class EcgModel(nn.Module):
    """Base class: a feature extractor (``forward_features``) and a linear head (``head``)."""

    num_features: int
    #: beats a forward pass when classifying; None: the caller's choice (``personalize.base.PREDICT_BATCH``)
    inference_batch: int | None = None

    def __init__(self, num_features: int, num_classes: int, in_leads: int):
        super().__init__()
        self.num_features = num_features
        self.num_classes = num_classes
        self.in_leads = in_leads
        self.head = nn.Linear(num_features, num_classes)

    def forward_features(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x, **extra))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a freshly initialised one for ``num_classes`` outputs."""
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes).to(next(self.parameters()).device)

    def get_classifier(self) -> nn.Module:
        return self.head


ModelFactory = Callable[..., EcgModel]
_MODELS: Registry[ModelFactory] = Registry("model", key=lambda fn: fn.__name__)


def register_model(fn: ModelFactory) -> ModelFactory:
    return _MODELS.register(fn)


def list_models() -> list[str]:
    return _MODELS.names()


def model_options(name: str) -> set[str]:
    """The keyword options network ``name``'s factory takes beside ``in_leads`` and ``num_classes`` (e.g. BeatNet's
    ``rr_features``)."""
    factory = _MODELS.lookup(name)
    params = inspect.signature(factory).parameters
    names = {p for p, v in params.items() if v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}
    if any(v.kind == v.VAR_KEYWORD for v in params.values()):  # passed on to the network it returns: its options
        network = typing.get_type_hints(factory).get("return")
        if isinstance(network, type):
            names |= {p for p, v in inspect.signature(network.__init__).parameters.items()
                      if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}
    return names - {"in_leads", "num_classes"}


def create_model(name: str, in_leads: int = 1, num_classes: int = 5, **kwargs: object) -> EcgModel:
    model = _MODELS.lookup(name)(in_leads=in_leads, num_classes=num_classes, **kwargs)
    model.model_name = name
    model.model_kwargs = dict(kwargs)
    return model
