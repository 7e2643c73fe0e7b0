"""``pseudolabel``: source-free self-training (no population data needed). The model labels the patient's
unlabelled beats; the confident ones, capped per class so the dominant normal beats cannot drown the rest,
are trained on together with any labelled beats. Two rounds, re-labelling with the adapted model."""

from __future__ import annotations

import numpy as np

from ecgadapt.personalize.base import BeatSet, Strategy, predict_beats, register_strategy, train_steps, trainable


@register_strategy
class PseudoLabel(Strategy):
    name = "pseudolabel"
    search_grid = {"threshold": [0.9, 0.97]}
    test_params = {"steps": 4, "rounds": 1, "threshold": 0.0}
    study_rank = 10
    needs_labels = False
    uses_unlabelled = True
    defaults = {"rounds": 2, "steps": 40, "lr": 5e-4, "batch_size": 64, "threshold": 0.95, "per_class": 400}

    def _adapt(self, model, labelled, unlabelled, context):
        p = self.params
        kept = {}
        for r in range(p["rounds"]):
            probs = predict_beats(model, unlabelled)
            conf, cls = probs.max(1), probs.argmax(1)
            chosen = []
            for c in range(model.num_classes):
                members = np.flatnonzero((cls == c) & (conf >= p["threshold"]))
                if len(members) > p["per_class"]:  # keep the most confident of an abundant class
                    members = members[np.argsort(-conf[members], kind="stable")[:p["per_class"]]]
                chosen.append(members)
                kept[c] = int(len(members))
            idx = np.sort(np.concatenate(chosen))
            pseudo = BeatSet(unlabelled.X[idx], unlabelled.rr[idx], cls[idx].astype(np.int64))
            if len(pseudo) == 0 and (labelled is None or len(labelled) == 0):
                break
            train_steps(model, trainable(model, "all"), labelled, extra=pseudo, steps=p["steps"], lr=p["lr"],
                        batch_size=p["batch_size"], seed=context.seed + r)
        context.info.update(pseudo_labels={context.label_names[c]: n for c, n in kept.items()}, rounds=p["rounds"])
        return model
