"""Absent classes deferred to the population model: a measured alternative to using the personalized model as it is.

A class the patient's labelled minutes never show (MIT-BIH 201: no V beat in its first 5 minutes, 198 after) gets
no patient-specific evidence, yet fine-tuning still learns something about it: every labelled beat is a negative
for it, so the personalized model learns that this patient has none (what it costs on record 201, and what deferring
gives back: BENCHMARKS.md, "Absent classes deferred to the population model").

``defer_absent_classes`` keeps the population model's probability of each absent class and shares what is left
among the present classes in the proportions of the personalized model. So the population model decides whether a
beat is of a class the labelled minutes could not teach, and the personalized model decides which of the taught
classes it is. The rule has no parameter: a class is absent when no labelled beat has it.

The study reports it as the ``deferred`` variant of every method (no extra adaptation). The product does not use it:
on MIT-BIH it made more errors than the personalized model alone, in every seed and on both protocols, because the
population model's calls of a class the labelled minutes lack are more often false than true (early beats in atrial
fibrillation called S, 219 and 222; normal beats called V or F, 117 and 207; 232's S beats called V): BENCHMARKS.md,
"Absent classes deferred to the population model".
"""

from __future__ import annotations

import numpy as np


def defer_absent_classes(p_population: np.ndarray, p_personalized: np.ndarray,
                         labelled_counts: np.ndarray) -> np.ndarray:
    """Class probabilities [n, classes]: the population model's for the classes with no labelled beat
    (``labelled_counts[c] == 0``), the personalized model's, rescaled to the remaining mass, for the others.

    With no class absent this is ``p_personalized``; with every class absent (nothing labelled), ``p_population``."""
    p_population = np.asarray(p_population, dtype=np.float64)
    p_personalized = np.asarray(p_personalized, dtype=np.float64)
    if p_population.shape != p_personalized.shape:
        raise ValueError(f"population probabilities {p_population.shape} and personalized {p_personalized.shape} differ")
    absent = np.asarray(labelled_counts)[: p_population.shape[1]] == 0
    if len(absent) != p_population.shape[1]:
        raise ValueError(f"{len(absent)} labelled class counts for {p_population.shape[1]} classes")
    if not absent.any():
        return p_personalized
    if absent.all():
        return p_population
    out = np.empty_like(p_personalized)
    out[:, absent] = p_population[:, absent]
    present = p_personalized[:, ~absent]
    share = present.sum(1, keepdims=True)
    # a personalized model certain of an absent class leaves no proportions: the present classes share evenly
    share_safe = np.where(share > 0, share, 1.0)
    proportions = np.where(share > 0, present / share_safe, 1.0 / present.shape[1])
    out[:, ~absent] = (1.0 - p_population[:, absent].sum(1, keepdims=True)) * proportions
    return out
