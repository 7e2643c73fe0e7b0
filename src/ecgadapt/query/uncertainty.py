"""Uncertainty sampling: the beats the model is least sure of (smallest margin between its two likeliest classes,
or highest entropy)."""

from __future__ import annotations

import numpy as np

from ecgadapt.errors import ConfigError
from ecgadapt.models.registry import EcgModel
from ecgadapt.query.base import QueryPool, QueryStrategy, describe, register_query


@register_query
class Uncertainty(QueryStrategy):
    name = "uncertainty"
    defaults = {"measure": "margin"}  # margin | entropy

    def _select(self, model: EcgModel | None, pool: QueryPool, candidates: np.ndarray, k: int,
                rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        p = pool.probabilities(model)[candidates]
        if self.params["measure"] == "margin":
            top2 = np.sort(p, axis=1)[:, -2:]
            certainty = top2[:, 1] - top2[:, 0]  # small: unsure
        elif self.params["measure"] == "entropy":
            certainty = (p * np.log(np.clip(p, 1e-12, 1))).sum(1)  # minus the entropy
        else:
            raise ConfigError(f"query strategy 'uncertainty': measure={self.params['measure']!r}; allowed: margin, "
                              "entropy")
        order = np.lexsort((candidates, certainty))[:k]  # ties: the earlier beat
        chosen = candidates[order]
        return chosen, [f"uncertain: {describe(q, pool.label_names)}" for q in p[order]]
