"""Active personalization in rounds: ask for K beats, get their labels, adapt, ask again with the adapted model, until
the label budget is spent.

Each round adapts the population model afresh on every beat labelled so far (not the last round's model: the
labels of all rounds weigh alike), behind the negative-transfer guard where ``guard`` is on. What the guard can see
here: its folds are blocks of the labelled beats in time order, wherever they lie in the recording, so it checks the
personalization on queried beats it did not adapt on. What it cannot see: the queried beats are not a sample of the
recording (a query chooses the beats the model is unsure of, or rare ones), so its held-out figures describe those
beats, not the recording's; its coverage check, which weighs each change of prediction in the rest by the held-out
evidence, is what speaks for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ecgadapt.errors import ConfigError
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import AdaptContext, BeatSet, Strategy
from ecgadapt.personalize.guard import GuardDecision, NegativeTransferGuard
from ecgadapt.query.base import QueryPool, QueryStrategy


@dataclass
class Round:
    """One round: the beats asked for, the labels given, and what was kept."""

    asked: np.ndarray
    reasons: list[str]
    labelled: int  # labelled beats after this round, in all
    kept: str  # "personalized" or "population"
    decision: GuardDecision | None = None


@dataclass
class ActiveResult:
    model: EcgModel
    labelled: np.ndarray  # which beats were labelled, in all
    rounds: list[Round] = field(default_factory=list)


def personalize_actively(model: EcgModel, beats: BeatSet, label: Callable[[np.ndarray], np.ndarray],
                         strategy: Strategy, query: QueryStrategy, *, budget: int, per_round: int,
                         context: AdaptContext, eligible: np.ndarray | None = None, guard: bool = True,
                         guard_options: dict | None = None,
                         on_round: Callable[[Round, EcgModel], None] | None = None) -> ActiveResult:
    """Rounds of ``per_round`` queried beats until ``budget`` beats are labelled (or none is left to ask).

    ``label(indices)`` is the reviewer: the labels (class indices; -1 for "cannot tell") of the beats asked, e.g. the
    reference annotations in a simulation. ``eligible``: the beats that may be asked (default all). ``on_round`` is
    called after each round with the model the patient would get then (for a study's label-budget curve)."""
    if budget < 0 or per_round <= 0:
        raise ConfigError(f"budget {budget} and per_round {per_round}: the budget must be 0 or more, a round 1 or more")
    n = len(beats)
    labels = np.full(n, -1, dtype=np.int64)
    labelled = np.zeros(n, dtype=bool)
    asked = np.zeros(n, dtype=bool)  # "cannot tell" beats are asked once, not again
    eligible = np.ones(n, dtype=bool) if eligible is None else eligible
    current, rounds = model, []
    while labelled.sum() < budget:
        k = int(min(per_round, budget - labelled.sum()))
        pool = QueryPool(beats, asked, eligible, context.label_names)
        q = query.select(current, pool, k, seed=context.seed + len(rounds))
        if not len(q):
            break
        asked[q.index] = True
        given = np.asarray(label(q.index), dtype=np.int64)
        labels[q.index] = given
        labelled[q.index[given >= 0]] = True
        lab = BeatSet(beats.X[labelled], beats.rr[labelled], labels[labelled],
                      beats.time_s[labelled] if beats.time_s is not None else None)
        rest = ~labelled
        unlabelled = BeatSet(beats.X[rest], beats.rr[rest], np.full(int(rest.sum()), -1),
                             beats.time_s[rest] if beats.time_s is not None else None)
        if guard:
            current, decision = NegativeTransferGuard(strategy, **(guard_options or {})).adapt(model, lab, unlabelled,
                                                                                              context)
        else:
            current, decision = strategy.adapt(model, lab, unlabelled, context), None
        kept = decision.kept if decision is not None else "personalized"
        rounds.append(Round(q.index, q.reasons, int(labelled.sum()), kept, decision))
        if on_round is not None:
            on_round(rounds[-1], current)
    return ActiveResult(current, labelled, rounds)
