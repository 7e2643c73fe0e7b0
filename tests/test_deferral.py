"""Absent classes deferred to the population model (``personalize.deferral``): on small arrays built here, and on the
population and a personalized model of a real record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgadapt.personalize.deferral import defer_absent_classes

N, S, V, F, Q = range(5)


def test_an_absent_class_comes_from_the_population_model_the_rest_from_the_personalized_one() -> None:
    pop = np.array([[0.20, 0.05, 0.70, 0.05, 0.00],   # the population model calls V
                    [0.60, 0.30, 0.05, 0.05, 0.00]])
    per = np.array([[0.90, 0.09, 0.01, 0.00, 0.00],   # fine-tuned on minutes without V: never V
                    [0.20, 0.80, 0.00, 0.00, 0.00]])
    counts = np.array([300, 4, 0, 2, 0])  # no V and no Q labelled
    out = defer_absent_classes(pop, per, counts)
    np.testing.assert_allclose(out.sum(1), 1.0)
    np.testing.assert_allclose(out[:, [V, Q]], pop[:, [V, Q]])
    # the present classes share what is left in the personalized model's proportions
    np.testing.assert_allclose(out[0, [N, S, F]], 0.30 * per[0, [N, S, F]] / per[0, [N, S, F]].sum())
    assert out.argmax(1).tolist() == [V, S]  # the population model's V, the personalized model's S
    assert per.argmax(1).tolist() == [N, S] and pop.argmax(1).tolist() == [V, N]


def test_nothing_absent_is_the_personalized_model_and_nothing_labelled_the_population_model() -> None:
    rng = np.random.default_rng(0)
    pop, per = (rng.dirichlet(np.ones(5), 50) for _ in range(2))
    np.testing.assert_array_equal(defer_absent_classes(pop, per, np.ones(5, dtype=int)), per)
    np.testing.assert_array_equal(defer_absent_classes(pop, per, np.zeros(5, dtype=int)), pop)
    # combined with itself, a model stays itself, whichever classes are absent
    np.testing.assert_allclose(defer_absent_classes(pop, pop, np.array([9, 0, 3, 0, 0])), pop)


def test_a_personalized_model_sure_of_an_absent_class_leaves_the_present_ones_even_shares() -> None:
    pop = np.array([[0.5, 0.1, 0.4, 0.0, 0.0]])
    per = np.array([[0.0, 0.0, 1.0, 0.0, 0.0]])  # all its mass on V, which no labelled beat showed
    out = defer_absent_classes(pop, per, np.array([10, 10, 0, 10, 10]))
    np.testing.assert_allclose(out, [[0.15, 0.15, 0.4, 0.15, 0.15]])


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match=r"population probabilities \(2, 5\) and personalized \(2, 4\) differ"):
        defer_absent_classes(np.full((2, 5), 0.2), np.full((2, 4), 0.25), np.ones(5))
    with pytest.raises(ValueError, match="4 labelled class counts for 5 classes"):
        defer_absent_classes(np.full((2, 5), 0.2), np.full((2, 5), 0.2), np.ones(4))


def test_on_a_real_record_the_v_beats_fine_tuning_lost_come_back(embedded: Path) -> None:
    # 233's first 5 minutes hold 138 V beats; fine-tuned on those minutes less their V beats, the model calls fewer
    # of the later V beats V than the population model did, and deferring V to the population model gives them back
    from ecgadapt.data import AAMI_CLASSES
    from ecgadapt.models.io import load_checkpoint
    from ecgadapt.personalize import AdaptContext, get_strategy, predict_beats
    from ecgadapt.pipeline.personalize import load_patient
    from ecgadapt.population.shipped import shipped_model_path

    model, meta = load_checkpoint(shipped_model_path("beatnet-mitdb-ds1"))
    beats = load_patient(embedded / "233", meta).beats
    first = beats.time_s < 300
    lab = beats.subset(np.flatnonzero(first & (beats.y != V)))  # the labelled minutes less their V beats
    rest = beats.subset(np.flatnonzero(~first))
    adapted = get_strategy("finetune", steps=60).adapt(model, lab, None, AdaptContext(AAMI_CLASSES, seed=0))
    pop, per = predict_beats(model, rest), predict_beats(adapted, rest)
    counts = np.bincount(lab.y[lab.y >= 0], minlength=5)
    assert counts[V] == 0 and counts[N] > 300
    out = defer_absent_classes(pop, per, counts).argmax(1)
    pop_v, per_v, out_v = (p == V for p in (pop.argmax(1), per.argmax(1), out))
    reference_v = rest.y == V
    # (seed 0: the population model finds 519 of the 692 V beats, fine-tuned without V 454, deferred 527, none wrongly)
    assert (per_v & reference_v).sum() < (pop_v & reference_v).sum() - 40  # fine-tuning without V lost V beats
    assert (out_v & reference_v).sum() > (per_v & reference_v).sum() + 40  # deferring V brings them back
    assert (out_v & ~reference_v).sum() <= 5
    # elsewhere the classes are the personalized model's, among those the labelled minutes showed
    absent = counts == 0
    per_present = np.where(absent, -1.0, per).argmax(1)
    elsewhere = ~absent[out]
    assert elsewhere.sum() > 1000
    np.testing.assert_array_equal(out[elsewhere], per_present[elsewhere])
