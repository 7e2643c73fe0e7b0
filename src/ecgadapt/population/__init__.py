"""Population models: the shipped ones by name (:mod:`.shipped`), training on other patients (:mod:`.training`), and
their cards (:mod:`.card`)."""

from ecgadapt.population.card import save_population_model
from ecgadapt.population.shipped import (MITDB_ONLY_MODEL, SHIPPED_MODEL, load_reference, resolve_model,
                                         shipped_model_card, shipped_model_path, shipped_models)
from ecgadapt.population.training import population_beats, prepare_mitdb_beats, train_population_model

__all__ = ["MITDB_ONLY_MODEL", "SHIPPED_MODEL", "load_reference", "population_beats", "prepare_mitdb_beats",
           "resolve_model", "save_population_model", "shipped_model_card", "shipped_model_path", "shipped_models",
           "train_population_model"]
