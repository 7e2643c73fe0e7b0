"""Query strategies: which beats of a recording to ask the cardiologist to label next.

A query strategy looks at the (population or already personalized) model and every beat of the recording, and
returns the K beats to label next, each with why it was chosen. One protocol (``QueryStrategy``), registered by name
(``@register_query``); ``check_query_strategy`` is the contract every one passes. Deterministic for a seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ecgadapt._registry import Registry
from ecgadapt.errors import ConfigError
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import BeatSet, features, predict_beats


@dataclass
class QueryPool:
    """The beats a query chooses from: every beat of the recording (``beats``, labels not read), those labelled
    already (``labelled``: not asked again), and those that may be asked (``eligible``: not in a signal gap or in poor
    signal, where a reviewer could not tell either)."""

    beats: BeatSet
    labelled: np.ndarray
    eligible: np.ndarray
    label_names: tuple[str, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = len(self.beats)
        if self.labelled.shape != (n,) or self.eligible.shape != (n,):
            raise ConfigError(f"a query pool of {n} beats needs one labelled and one eligible flag a beat")

    @property
    def candidates(self) -> np.ndarray:
        """Indices of the beats that may be asked now, in time order."""
        return np.flatnonzero(self.eligible & ~self.labelled)

    def probabilities(self, model: EcgModel) -> np.ndarray:
        """The model's class probabilities of every beat (computed once a model)."""
        key = f"p{id(model)}"
        if key not in self._cache:
            self._cache[key] = predict_beats(model, self.beats)
        return self._cache[key]

    def embedding(self, model: EcgModel) -> np.ndarray:
        """Every beat as the model sees it: its features (``forward_features``, which include the RR intervals),
        standardized, float32 (computed once a model)."""
        key = f"f{id(model)}"
        if key not in self._cache:
            f = features(model, self.beats).numpy().astype(np.float32)
            f = (f - f.mean(0)) / (f.std(0) + 1e-6)
            self._cache[key] = f
        return self._cache[key]


@dataclass(frozen=True)
class Query:
    """The beats chosen (indices into the pool's beats, in the order asked) and why each."""

    index: np.ndarray
    reasons: list[str]

    def __len__(self) -> int:
        return len(self.index)


class QueryStrategy(ABC):
    """Chooses the beats to label next. Subclasses set ``name`` (and ``defaults`` for their parameters) and implement
    ``_select``, which gets the candidates and returns at most ``k`` of them."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    needs_model: ClassVar[bool] = True  # False: it chooses without looking at the model (first-minutes, random)

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ConfigError(f"query strategy {self.name!r}: unknown parameter(s) {sorted(unknown)}; allowed: "
                              f"{', '.join(self.defaults) or 'none'}")
        self.params = {**self.defaults, **params}

    def select(self, model: EcgModel | None, pool: QueryPool, k: int, seed: int = 0) -> Query:
        """The ``k`` beats to label next (fewer where fewer may be asked), each with its reason."""
        if k < 0:
            raise ConfigError(f"query of {k} beats: must be 0 or more")
        if self.needs_model and model is None:
            raise ConfigError(f"query strategy {self.name!r} looks at the model's view of the beats: give a model")
        candidates = pool.candidates
        k = min(k, len(candidates))
        if k == 0:
            return Query(np.zeros(0, dtype=np.int64), [])
        with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
            torch.manual_seed(seed)
            index, reasons = self._select(model, pool, candidates, k, np.random.default_rng(seed))
        index = np.asarray(index, dtype=np.int64)
        return Query(index, list(reasons))

    @abstractmethod
    def _select(self, model: EcgModel | None, pool: QueryPool, candidates: np.ndarray, k: int,
                rng: np.random.Generator) -> tuple[np.ndarray, list[str]]: ...


_QUERIES: Registry[type[QueryStrategy]] = Registry("query strategy")


def register_query(cls: type[QueryStrategy]) -> type[QueryStrategy]:
    return _QUERIES.register(cls)


def list_queries() -> list[str]:
    return _QUERIES.names()


def get_query(name: str, **params: Any) -> QueryStrategy:
    return _QUERIES.lookup(name)(**params)


def describe(probs: np.ndarray, label_names: tuple[str, ...]) -> str:
    """"the model says V 0.52 / N 0.41": the two likeliest classes of one beat."""
    top = np.argsort(probs)[::-1][:2]
    name = (lambda c: label_names[c]) if label_names else str
    return f"the model says {name(top[0])} {probs[top[0]]:.2f} / {name(top[1])} {probs[top[1]]:.2f}"
