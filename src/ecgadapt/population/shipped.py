"""The population models shipped with the package, found by name, and what a checkpoint says of the beats it reads.

The preprocessing settings travel inside the checkpoint, so the pipeline cuts a new patient's beats exactly as the
model saw them in training.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any


from ecgadapt.errors import ConfigError
from ecgadapt.models.io import load_checkpoint
from ecgadapt.models.registry import EcgModel
from ecgadapt.prepare import PrepSettings


#: the default population model: MIT-BIH DS1 + SVDB + CPSC 2021 beats, validation patients from each (its card)
SHIPPED_MODEL = "beatnet-mitdb-svdb"


#: the MIT-BIH-only population model (DS1): the population of the `mitdb-ds2-personalized` protocol, kept by name
MITDB_ONLY_MODEL = "beatnet-mitdb-ds1"


def _shipped_dir() -> Path:
    return Path(str(resources.files("ecgadapt") / "assets" / "models"))


def shipped_models() -> list[str]:
    """Names of the population models shipped with the package (each with its model card beside it)."""
    return sorted(p.stem for p in _shipped_dir().glob("*.pt"))


def shipped_model_card(name: str) -> dict[str, Any]:
    """The card of shipped model ``name`` (the JSON beside its checkpoint): its command, data, settings and validation
    metrics."""
    path = _shipped_dir() / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: the model card of shipped model {name!r} cannot be read ({err})") from err


def shipped_model_path(name: str = SHIPPED_MODEL) -> Path:
    path = _shipped_dir() / f"{name}.pt"
    if not path.is_file():
        raise ConfigError(f"{path}: shipped population model missing (re-create it with `ecgadapt population train`)")
    return path


def resolve_model(model: str | Path | None = None) -> Path:
    """A checkpoint path, or the name of a shipped model (``beatnet-mitdb-ds1``); None: the default one."""
    if model is None:
        return shipped_model_path()
    if Path(model).is_file():
        return Path(model)
    if str(model) in shipped_models():
        return shipped_model_path(str(model))
    raise ConfigError(f"{model}: no such checkpoint, and not a shipped model ({', '.join(shipped_models())})")


#: the lead a population model reads unless it was trained on others (the shipped one reads MLII)
DEFAULT_LEADS = ("MLII",)


def model_leads(meta: dict[str, Any]) -> tuple[str, ...]:
    """The leads a population checkpoint was trained on (its preprocessing settings)."""
    return tuple(meta.get("prep", {}).get("leads") or DEFAULT_LEADS)


def missing_leads_for(lead_dropout: float) -> str:
    """The ``missing_leads`` preparation setting for a model trained with ``lead_dropout``: "zero" (a record without
    a lead after the first gets a flat channel, as in training) when it is > 0, else "error"."""
    return "zero" if lead_dropout else "error"


def model_missing_leads(meta: dict[str, Any]) -> str:
    """How a population checkpoint treats a record without one of its leads: "error", or "zero" for a model trained
    with lead dropout (older checkpoints: "error")."""
    return meta.get("prep", {}).get("missing_leads", "error")


def load_reference(reference: str | Path, meta: dict[str, Any]) -> tuple[EcgModel, dict[str, Any], Path]:
    """A guard's reference model (a checkpoint path or a shipped model's name), checked against the adapted model's
    card ``meta``: (model, its card, its path)."""
    path = resolve_model(reference)
    model, reference_meta = load_checkpoint(path)
    check_reference(meta, reference_meta, path)
    return model, reference_meta, path


def check_reference(meta: dict[str, Any], reference_meta: dict[str, Any], reference_path: str | Path) -> None:
    """A guard's reference model must read the same beats as the adapted model, from the first of its leads: the same
    preprocessing and sampling rate, and leads that begin the adapted model's leads (MLII for an MLII + V1 model)."""
    leads, ref_leads = model_leads(meta), model_leads(reference_meta)
    if leads[:len(ref_leads)] != ref_leads:
        raise ConfigError(f"{reference_path}: the reference reads {', '.join(ref_leads)}, which are not the first "
                          f"lead(s) of the adapted model's {', '.join(leads)}")
    # as settings, not as dicts: a model saved before a setting existed has its default (the shipped model: detector)
    prep, ref = (replace(PrepSettings.from_dict(m.get("prep", {})), leads=None, missing_leads="error")
                 for m in (meta, reference_meta))
    if prep != ref or meta.get("fs") != reference_meta.get("fs"):
        raise ConfigError(f"{reference_path}: the reference was trained on beats prepared otherwise than the adapted "
                          "model's (preprocessing settings or sampling rate differ)")
