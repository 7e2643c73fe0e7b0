"""Model zoo: every model registered by name, all with ``forward_features`` and ``reset_classifier``."""

from ecgadapt.models import beatnet, diffecg, inception1d, resnet1d, rnn  # noqa: F401 - registers the models
from ecgadapt.models.io import load_checkpoint, save_checkpoint
from ecgadapt.models.registry import EcgModel, create_model, list_models, register_model

__all__ = ["EcgModel", "create_model", "list_models", "load_checkpoint", "register_model", "save_checkpoint"]
