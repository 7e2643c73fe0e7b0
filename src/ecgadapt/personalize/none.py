"""``none``: the population model as it is (the baseline every personalization is compared with)."""

from __future__ import annotations

from ecgadapt.personalize.base import Strategy, register_strategy


@register_strategy
class NoAdaptation(Strategy):
    name = "none"
    adapts = False  # the population model as it is: the guard has nothing to check
    study_rank = 0
    needs_labels = False

    def _adapt(self, model, labelled, unlabelled, context):
        return model
