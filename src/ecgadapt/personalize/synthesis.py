"""Synthetic premature beats of the patient: L2-SP fine-tuning plus copies of the patient's own labelled normal beats
given the RR timing of a supraventricular premature beat (``l2sp-synth``).

Why: a patient whose labelled minutes hold no S beat teaches fine-tuning that this patient has none, and the S beats
that come later are called N. An atrial premature beat mostly keeps the patient's normal QRS and differs in timing:
it comes early and is followed by a pause. So the patient's own N beats, moved earlier, are plausible S beats of this
patient (the review's "synthesis" family of personalization methods; Kiranyaz et al. 2017 likewise synthesize a
healthy person's abnormal beats from their normal ones). No population data is needed.

A copy is only as premature as the patient's normal beats never are: its pre-RR / local-RR ratio is drawn below the
1st percentile of that ratio over the patient's labelled N beats (less a margin) and at most ``max_ratio``. A patient
whose labelled normal beats are themselves that irregular (atrial fibrillation, sinus arrhythmia) gets no copies: early
normal beats are normal for them, and synthetic S beats would teach the opposite.
"""

from __future__ import annotations

import numpy as np

from ecgadapt.personalize.base import AdaptContext, BeatSet, register_strategy
from ecgadapt.personalize.finetune import L2SP
from ecgadapt.signal import LOCAL_RR_BEATS, RR_FEATURES

#: the RR feature columns a copy changes (``ecgadapt.signal.rr_features``). The rhythm irregularity (if the rows
#: have it) stays the source beat's: one premature beat leaves the median successive difference around it unchanged.
PRE, POST, LOCAL = (RR_FEATURES.index(name) for name in ("pre_rr", "post_rr", "local_rr"))


def premature_copies(labelled: BeatSet, n: int, *, normal: int, premature: int, seed: int, max_ratio: float = 0.8,
                     margin: float = 0.05, min_ratio: float = 0.45, min_normal: int = 20) -> BeatSet | None:
    """``n`` copies of the patient's labelled ``normal`` beats relabelled ``premature``, with pre-RR set to a
    ratio of the local RR drawn from [min_ratio, ceiling] and a post-RR from that ratio up to 1.3 local RRs (runs
    and isolated beats with their pause). ``None`` when there is nothing to copy or no room below the patient's
    own normal prematurity (ceiling < min_ratio + margin)."""
    normal_idx = np.flatnonzero(labelled.y == normal)
    if n <= 0 or len(normal_idx) < min_normal:
        return None
    rr = labelled.rr[normal_idx].astype(np.float64)
    ratio = rr[:, PRE] / np.maximum(rr[:, LOCAL], 1e-3)
    ceiling = min(max_ratio, float(np.quantile(ratio, 0.01)) - margin)
    if ceiling < min_ratio + margin:
        return None
    rng = np.random.default_rng(seed)
    pick = rng.choice(normal_idx, n, replace=True)
    new_rr = labelled.rr[pick].astype(np.float64)
    f = rng.uniform(min_ratio, ceiling, n)
    # the local RR is a mean that includes this beat's pre-RR: solve pre = f * (local - old_pre / k + pre / k)
    others = new_rr[:, LOCAL] - new_rr[:, PRE] / LOCAL_RR_BEATS
    pre = f * others / (1 - f / LOCAL_RR_BEATS)
    new_rr[:, POST] = rng.uniform(f, 1.3) * new_rr[:, LOCAL]
    new_rr[:, LOCAL] = others + pre / LOCAL_RR_BEATS
    new_rr[:, PRE] = pre
    return BeatSet(labelled.X[pick].copy(), new_rr.astype(np.float32), np.full(n, premature, dtype=np.int64))


@register_strategy
class L2SPSynthetic(L2SP):
    name = "l2sp-synth"
    search_grid = {"l2sp": [1e-3, 1e-2], "steps": [30, 80], "synth": [0, 40]}
    test_params = {"steps": 4, "synth": 20}
    study_rank = 5
    defaults = {**L2SP.defaults, "synth": 40, "max_ratio": 0.8}

    def _extra_beats(self, labelled: BeatSet, context: AdaptContext) -> BeatSet | None:
        copies = premature_copies(labelled, self.params["synth"], normal=context.label_names.index("N"),
                                  premature=context.label_names.index("S"), seed=context.seed,
                                  max_ratio=self.params["max_ratio"])
        context.info["synthetic_premature"] = 0 if copies is None else len(copies)
        return copies


__all__ = ["L2SPSynthetic", "premature_copies"]
