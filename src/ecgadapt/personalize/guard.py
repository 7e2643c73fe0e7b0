"""The negative-transfer guard: keep a personalization only if the patient's own labelled minutes show that it
beats the population model.

Time-ordered cross-validation inside the labelled minutes: they are cut into ``folds`` contiguous blocks; for
each block the strategy adapts on the other blocks and both models classify the held-out block. The pooled
held-out predictions decide. The personalized model is kept only if

- it fixes significantly more held-out beats than it breaks: of the beats on which the two models disagree in
  correctness, ``b`` only the personalized model gets right and ``c`` only the population model gets right; an
  exact one-sided McNemar (sign) test of b against c must give p <= ``alpha`` (0.05). A bare "fewer errors" is not
  enough: on MIT-BIH record 105, 3 against 0 held-out errors in the labelled minutes (p = 0.125) came with 28 more
  errors in the rest of the record;
- and its macro F1 (over the classes present) is not lower;
- and the labelled minutes vouch for what it changes in the rest of the recording (the *coverage* check). Each
  change of a prediction is a transition, e.g. "population says N, personalized says S". The held-out labelled
  beats show, per transition, how often such a change fixed a beat; the one-sided Clopper-Pearson lower bound
  ``lb`` of that share (at ``alpha``) gives each change in the unlabelled rest an expected net value of
  ``2 * lb - 1`` (every change that is not a fix counted as harm), and a transition never seen in the held-out
  labelled beats the value -1. The sum over the rest must not be negative. Why: a few minutes can strongly support a
  personalization while the rest of the record holds beats they never showed (on MIT-BIH record 231 a 2:1 AV block
  that starts later; on 213 fusion beats that change over time), and there a personalization can be confidently
  wrong. The rest needs no labels for this: the transitions are between the two models' predictions.

Otherwise the population model is returned unchanged. The decision and the evidence (b, c, p and the coverage
figures) are recorded either way.

The decision also records the *gate* (``vouched_transitions``): the kinds of change whose held-out fixed share has a
lower bound above one half. ``gated_predictions`` keeps the personalized prediction only where its change is of such a
kind. The study reports it as a variant (a finer-grained alternative to all-or-nothing); on MIT-BIH it was no better
than the guard and made a patient worse where the guard did not (BENCHMARKS.md), so ``adapt`` stays all-or-nothing.

``reference``: a model to compare against and fall back to other than the one adapted, e.g. adapt a two-lead model
but keep the MLII model unless the personalization beats *it*. It reads the first leads of the same beats (same
preprocessing). Why: a two-lead model is the better starting point for personalization on MIT-BIH DS2 but a much
worse model on its own, and falling back to it loses what the MLII model would have got right.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import beta, binomtest
from sklearn.metrics import f1_score

from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import AdaptContext, BeatSet, Strategy, predict_beats, predict_first_leads


@dataclass
class GuardDecision:
    kept: str  # "personalized" | "population"
    reason: str
    folds: list[dict[str, Any]] = field(default_factory=list)
    population: dict[str, float] = field(default_factory=dict)  # pooled held-out scores
    personalized: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    coverage: dict[str, Any] = field(default_factory=dict)  # what the personalization changes in the unlabelled rest
    gate: dict[str, Any] = field(default_factory=dict)  # the transitions the held-out labelled beats vouch for
    # the class probabilities of the fallback and the personalized model on the unlabelled beats, from the coverage
    # check: the caller need not classify a day-long rest twice (not evidence: left out of to_dict)
    rest_probabilities: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "rest_probabilities"}

    @property
    def kept_by_held_out_check(self) -> bool:
        """What the held-out labelled beats alone decided (before the coverage check could withdraw it)."""
        return self.kept == "personalized" or self.coverage.get("expected_net", 0.0) < 0


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    labels = sorted(set(y.tolist()))
    return {"errors": int((y != pred).sum()), "beats": int(len(y)), "accuracy": float((y == pred).mean()),
            "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0))}


class NegativeTransferGuard:
    """Wraps any strategy; ``adapt`` returns (model, decision)."""

    def __init__(self, strategy: Strategy, folds: int = 3, min_beats_per_fold: int = 20, alpha: float = 0.05,
                 reference: EcgModel | None = None):
        self.strategy = strategy
        self.folds = folds
        self.min_beats_per_fold = min_beats_per_fold
        self.alpha = alpha
        self.reference = reference

    def adapt(self, model: EcgModel, labelled: BeatSet | None, unlabelled: BeatSet | None,
              context: AdaptContext) -> tuple[EcgModel, GuardDecision]:
        """(the personalized model if kept, else the fallback: ``reference`` or the population model; decision)."""
        decision, adapted = self._decide(model, labelled, unlabelled, context, None)
        return (adapted if decision.kept == "personalized" else self.fallback(model)), decision

    def fallback(self, model: EcgModel) -> EcgModel:
        return self.reference if self.reference is not None else model

    @property
    def fallback_name(self) -> str:
        return "population model" if self.reference is None else "reference model"

    def _fallback_predictions(self, model: EcgModel, beats: BeatSet) -> np.ndarray:
        return predict_first_leads(self.fallback(model), beats).argmax(1)

    def decide(self, model: EcgModel, labelled: BeatSet | None, unlabelled: BeatSet | None, context: AdaptContext,
               adapted: EcgModel | None = None) -> GuardDecision:
        """The evidence and the decision. ``adapted``: the strategy's model adapted on all labelled beats, when the
        caller has it already (otherwise it is adapted here if the coverage check needs it)."""
        return self._decide(model, labelled, unlabelled, context, adapted)[0]

    def _decide(self, model: EcgModel, labelled: BeatSet | None, unlabelled: BeatSet | None, context: AdaptContext,
                adapted: EcgModel | None) -> tuple[GuardDecision, EcgModel | None]:
        decision, held_out = self._cross_validate(model, labelled, unlabelled, context)
        if decision.kept != "personalized":
            return decision, None
        t0 = time.perf_counter()
        if adapted is None:
            adapted = self.strategy.adapt(model, labelled.labelled, unlabelled, context)
        if unlabelled is not None and len(unlabelled):
            y, pop, per = held_out
            decision.rest_probabilities = (predict_first_leads(self.fallback(model), unlabelled),
                                           predict_beats(adapted, unlabelled))
            cover = coverage(y, pop, per, *(p.argmax(1) for p in decision.rest_probabilities), self.alpha,
                             context.label_names)
            decision.coverage = cover
            if cover["expected_net"] < 0:
                decision.kept = "population"
                decision.reason = (f"the labelled minutes do not vouch for what it changes in the rest of the record: "
                                   f"{cover['changed']} predictions changed there, {cover['unsupported']} of a kind the "
                                   f"held-out labelled beats never showed (expected net {cover['expected_net']:+.1f} "
                                   f"beats); {self.fallback_name} kept. Held-out evidence was: {decision.reason}")
        decision.seconds += time.perf_counter() - t0
        return decision, adapted if decision.kept == "personalized" else None

    def _cross_validate(self, model: EcgModel, labelled: BeatSet | None, unlabelled: BeatSet | None,
                        context: AdaptContext) -> tuple[GuardDecision, tuple[np.ndarray, ...] | None]:
        """The cross-validated evidence, the decision it supports, and the pooled held-out (labels, population
        predictions, personalized predictions) the coverage check weighs changes by (None when nothing was held
        out)."""
        t0 = time.perf_counter()
        lab = labelled.labelled if labelled is not None else None
        if not self.strategy.adapts:
            return GuardDecision("population", f"method {self.strategy.name!r}: nothing to check"), None
        if lab is None or len(lab) < self.folds * self.min_beats_per_fold:
            n = 0 if lab is None else len(lab)
            if n == 0:  # an unsupervised strategy with no labelled minutes: say how to keep it all the same
                return GuardDecision("population", f"no labelled beats: nothing shows whether the personalization "
                                     f"helps, so the {self.fallback_name} is kept; --no-guard (guard=False in Python) "
                                     "keeps the personalization unchecked"), None
            return GuardDecision("population", f"only {n} labelled beats: too few to show that the "
                                        f"personalization helps, so the {self.fallback_name} is kept"), None
        order = np.argsort(lab.time_s if lab.time_s is not None else np.arange(len(lab)), kind="stable")
        blocks = np.array_split(order, self.folds)
        y_all, pop_all, per_all, folds = [], [], [], []
        for k, held in enumerate(blocks):
            rest = np.sort(np.concatenate([b for j, b in enumerate(blocks) if j != k]))
            train, test = lab.subset(rest), lab.subset(np.sort(held))
            fold_ctx = AdaptContext(context.label_names, context.population, context.seed + 1 + k, context.cache_dir)
            try:
                adapted = self.strategy.adapt(model, train, unlabelled, fold_ctx)
            except Exception as err:  # noqa: BLE001 - a strategy that fails on a fold cannot be trusted either
                return GuardDecision("population", f"fold {k + 1}: the strategy failed ({err})", folds,
                                            seconds=time.perf_counter() - t0), None
            pop_pred = self._fallback_predictions(model, test)
            per_pred = predict_beats(adapted, test).argmax(1)
            folds.append({"fold": k + 1, "population": _scores(test.y, pop_pred), "personalized": _scores(test.y, per_pred)})
            y_all.append(test.y)
            pop_all.append(pop_pred)
            per_all.append(per_pred)
        y, pop, per = np.concatenate(y_all), np.concatenate(pop_all), np.concatenate(per_all)
        gate = vouched_transitions(y, pop, per, self.alpha, context.label_names)
        s_pop, s_per = _scores(y, pop), _scores(y, per)
        fixed, broken, p = mcnemar_one_sided(y, pop, per)
        s_per.update({"fixed": fixed, "broken": broken, "p_value": p})
        evidence = (f"{s_per['errors']} errors vs {s_pop['errors']} for the population model ({fixed} beats fixed, "
                    f"{broken} broken, one-sided McNemar p = {p:.3g}), macro F1 {s_per['macro_f1']:.3f} vs "
                    f"{s_pop['macro_f1']:.3f}")
        if p <= self.alpha and s_per["macro_f1"] >= s_pop["macro_f1"] - 1e-12:
            return GuardDecision("personalized", f"held-out labelled beats: {evidence}", folds, s_pop, s_per,
                                 time.perf_counter() - t0, gate=gate), (y, pop, per)
        return GuardDecision("population", f"no significant benefit on held-out labelled beats at alpha = "
                                           f"{self.alpha:g} ({evidence}): {self.fallback_name} kept",
                             folds, s_pop, s_per, time.perf_counter() - t0, gate=gate), (y, pop, per)


def mcnemar_one_sided(y: np.ndarray, pop: np.ndarray, per: np.ndarray) -> tuple[int, int, float]:
    """(b, c, p): beats only the personalized model gets right, beats only the population model gets right, and the
    exact one-sided p-value of b against c (the binomial sign test on the discordant beats)."""
    fixed = int(((pop != y) & (per == y)).sum())
    broken = int(((pop == y) & (per != y)).sum())
    p = binomtest(fixed, fixed + broken, 0.5, alternative="greater").pvalue if fixed + broken else 1.0
    return fixed, broken, float(p)


def coverage(y: np.ndarray, pop_held: np.ndarray, per_held: np.ndarray, pop_rest: np.ndarray, per_rest: np.ndarray,
             alpha: float, label_names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """How far the held-out labelled beats vouch for the changes the personalized model makes in the unlabelled rest.

    Per transition (population class -> personalized class): ``seen`` held-out changes, ``fixed`` of them right, the
    one-sided Clopper-Pearson lower bound ``lb`` of the fixed share at ``alpha``, and ``rest`` changes of that kind in
    the unlabelled rest, each worth ``2 * lb - 1`` (-1 when never seen). ``expected_net``: their sum."""
    name = (lambda c: label_names[c]) if label_names else str
    transitions: dict[str, dict[str, Any]] = {}
    net, unsupported = 0.0, 0
    changed = pop_rest != per_rest
    for a, b in sorted(set(zip(pop_rest[changed].tolist(), per_rest[changed].tolist()))):
        rest = int(((pop_rest == a) & (per_rest == b)).sum())
        seen, fixed, lb = transition_evidence(y, pop_held, per_held, a, b, alpha)
        value = 2 * lb - 1 if seen else -1.0
        unsupported += rest if not seen else 0
        net += rest * value
        transitions[f"{name(a)}->{name(b)}"] = {"rest": rest, "seen": seen, "fixed": fixed, "fixed_share_lb": lb}
    return {"changed": int(changed.sum()), "unsupported": unsupported, "expected_net": float(net),
            "transitions": transitions}


def fixed_share_lower_bound(fixed: int, seen: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower bound (at ``alpha``) of the share of ``seen`` changes that were fixes."""
    return float(beta.ppf(alpha, fixed, seen - fixed + 1)) if fixed else 0.0


def transition_evidence(y: np.ndarray, pop: np.ndarray, per: np.ndarray, a: int, b: int,
                        alpha: float) -> tuple[int, int, float]:
    """(seen, fixed, lb) for the change a -> b on the held-out labelled beats: how often the two models' predictions
    made it, how often it was right, and ``fixed_share_lower_bound`` of that share."""
    held = (pop == a) & (per == b)
    seen, fixed = int(held.sum()), int((held & (y == b)).sum())
    return seen, fixed, fixed_share_lower_bound(fixed, seen, alpha)


def vouched_transitions(y: np.ndarray, pop: np.ndarray, per: np.ndarray, alpha: float,
                        label_names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The transitions (population class -> personalized class) whose held-out changes were fixes more often than
    not with confidence: ``fixed_share_lower_bound > 0.5``, i.e. a positive expected net value in the coverage check.
    With alpha = 0.05 that takes at least 5 held-out changes of the kind, all fixes. ``pairs``: [[a, b], ...]."""
    name = (lambda c: label_names[c]) if label_names else str
    pairs, seen_kinds = [], {}
    changed = pop != per
    for a, b in sorted(set(zip(pop[changed].tolist(), per[changed].tolist()))):
        seen, fixed, lb = transition_evidence(y, pop, per, a, b, alpha)
        seen_kinds[f"{name(a)}->{name(b)}"] = {"seen": seen, "fixed": fixed, "fixed_share_lb": lb}
        if lb > 0.5:
            pairs.append([a, b])
    return {"pairs": pairs, "vouched": [f"{name(a)}->{name(b)}" for a, b in pairs], "held_out": seen_kinds}


def gated_predictions(pop: np.ndarray, per: np.ndarray, pairs: list[list[int]]) -> np.ndarray:
    """The personalized prediction where its change from the population prediction is of a vouched kind
    (``pairs``), the population prediction everywhere else."""
    n = int(max(pop.max(initial=0), per.max(initial=0), max((max(p) for p in pairs), default=0))) + 1
    allowed = np.zeros((n, n), dtype=bool)
    for a, b in pairs:
        allowed[a, b] = True
    return np.where(allowed[pop, per], per, pop)
