"""The baselines: the first beats in time (today's "labelled minutes"), and beats drawn at random."""

from __future__ import annotations

import numpy as np

from ecgadapt.models.registry import EcgModel
from ecgadapt.query.base import QueryPool, QueryStrategy, register_query


@register_query
class FirstMinutes(QueryStrategy):
    """The first ``k`` beats of the recording not labelled yet: a cardiologist labelling its first minutes."""

    name = "first-minutes"
    needs_model = False

    def _select(self, model: EcgModel | None, pool: QueryPool, candidates: np.ndarray, k: int,
                rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        chosen = candidates[:k]
        return chosen, ["the next beat in time"] * len(chosen)


@register_query
class RandomBeats(QueryStrategy):
    """``k`` beats drawn at random, uniformly, from the whole recording."""

    name = "random"
    needs_model = False

    def _select(self, model: EcgModel | None, pool: QueryPool, candidates: np.ndarray, k: int,
                rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        chosen = np.sort(rng.choice(candidates, size=k, replace=False))
        return chosen, ["drawn at random from the whole recording"] * len(chosen)
