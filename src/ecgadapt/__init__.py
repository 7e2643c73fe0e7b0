"""ecgadapt: take population ECG models to the individual patient.

The public API, at the package root (each name is imported on first use, so ``import ecgadapt`` stays light)::

    import ecgadapt

    result = ecgadapt.personalize_record(ecgadapt.load_model_path(), "path/to/233", "out", labelled_minutes=5)
    result.kept, result.scores["rest"]["personalized"]["macro_f1"]   # typed results (ecgadapt.pipeline.results)
    ecgadapt.annotate_record("out/personalized.pt", "path/to/day2", "out-day2", outputs=["annotations", "beats"])
    ecgadapt.review_record(ecgadapt.load_model_path(), "path/to/233", "review", budget=30, strategy="cluster")
    ecgadapt.predict_recordings(paths, *ecgadapt.load_rhythm_model(ecgadapt.resolve_rhythm_model()))  # rhythm
    ecgadapt.list_strategies(), ecgadapt.list_queries(), ecgadapt.list_models(), ecgadapt.list_datasets()

Two floors: the library (``data``, ``signal``, ``models``, ``train``, ``personalize``: strategies and the guard,
``population``: population models, ``rhythm``: rhythm models) and the application on top of it (``pipeline``: one recording to outputs;
``studies``; the command line). See the README's architecture section.
"""

from __future__ import annotations

import importlib
from typing import Any

from ecgadapt.errors import ConfigError, EcgAdaptError, RecordError

__version__ = "0.1.0"

#: public name -> the module it lives in
_PUBLIC = {
    # the application: one recording
    "personalize_record": "ecgadapt.pipeline.personalize",
    "annotate_record": "ecgadapt.pipeline.annotate",
    "annotate_records": "ecgadapt.pipeline.batch",
    "review_record": "ecgadapt.pipeline.review",
    "PersonalizeResult": "ecgadapt.pipeline.results",
    "AnnotateResult": "ecgadapt.pipeline.results",
    "list_writers": "ecgadapt.pipeline.writers",
    "register_writer": "ecgadapt.pipeline.writers",
    "OutputWriter": "ecgadapt.pipeline.writers",
    # population models
    "load_model": "ecgadapt.models.io",
    "load_model_path": "ecgadapt.population.shipped",
    "shipped_models": "ecgadapt.population.shipped",
    # rhythm models
    "load_rhythm_model": "ecgadapt.rhythm.model",
    "resolve_rhythm_model": "ecgadapt.rhythm.model",
    "train_rhythm_model": "ecgadapt.rhythm.training",
    "analyse_rhythm": "ecgadapt.rhythm.analysis",
    "predict_recordings": "ecgadapt.rhythm.predict",
    # export
    "export_onnx": "ecgadapt.models.onnx_export",
    # the library's registries
    "list_strategies": "ecgadapt.personalize.base",
    "get_strategy": "ecgadapt.personalize.base",
    "register_strategy": "ecgadapt.personalize.base",
    "Strategy": "ecgadapt.personalize.base",
    "check_strategy": "ecgadapt.personalize.checks",
    "list_models": "ecgadapt.models.registry",
    "create_model": "ecgadapt.models.registry",
    "register_model": "ecgadapt.models.registry",
    "list_queries": "ecgadapt.query.base",
    "get_query": "ecgadapt.query.base",
    "register_query": "ecgadapt.query.base",
    "check_query_strategy": "ecgadapt.query.checks",
    "personalize_actively": "ecgadapt.query.active",
    "list_datasets": "ecgadapt.data.base",
    "get_adapter": "ecgadapt.data.base",
    "register_adapter": "ecgadapt.data.base",
}
#: public names that are another name where they live
_ALIASES = {"load_model": "load_checkpoint", "load_model_path": "resolve_model", "list_datasets": "list_adapters"}
#: modules whose import registers what the registries list
_REGISTERING = {"ecgadapt.personalize.base": "ecgadapt.personalize", "ecgadapt.models.registry": "ecgadapt.models",
                "ecgadapt.data.base": "ecgadapt.data", "ecgadapt.query.base": "ecgadapt.query"}

__all__ = ["ConfigError", "EcgAdaptError", "RecordError", "__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'ecgadapt' has no attribute {name!r}")
    module_name = _PUBLIC[name]
    importlib.import_module(_REGISTERING.get(module_name, module_name))
    value = getattr(importlib.import_module(module_name), _ALIASES.get(name, name))
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
