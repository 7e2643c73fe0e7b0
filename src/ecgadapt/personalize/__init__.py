"""Personalization strategies (one protocol, registered by name), the negative-transfer guard, the engine."""

from ecgadapt.personalize import dann, diffecg_t, discrepancy, finetune, meta, none, pseudolabel, synthesis  # noqa: F401
from ecgadapt.personalize.base import (AdaptContext, BeatSet, Strategy, get_strategy, list_strategies, predict_beats,
                                       register_strategy)
from ecgadapt.personalize.guard import GuardDecision, NegativeTransferGuard

__all__ = ["AdaptContext", "BeatSet", "GuardDecision", "NegativeTransferGuard", "Strategy", "get_strategy",
           "list_strategies", "predict_beats", "register_strategy"]
