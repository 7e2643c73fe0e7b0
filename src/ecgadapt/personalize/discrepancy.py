"""``mmd`` and ``coral``: align the feature distribution of the patient's unlabelled beats with the population's
by a discrepancy penalty (Gretton et al. 2012 kernel MMD; Sun & Saenko 2016 Deep CORAL), while the label
loss on population beats (and the patient's labelled beats, if any) keeps the classifier accurate."""

from __future__ import annotations

import torch
from torch import nn

from ecgadapt.personalize.base import SourceTargetBatches, Strategy, register_strategy, train_steps, trainable
from ecgadapt.train.trainer import class_weights


def coral_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius distance of the two feature covariances, scaled by 1/(4 d^2)."""
    d = fs.shape[1]
    cs, ct = torch.cov(fs.T), torch.cov(ft.T)
    return ((cs - ct) ** 2).sum() / (4 * d * d)


def mmd_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """Biased squared MMD with a sum of RBF kernels around the median pairwise distance."""
    z = torch.cat([fs, ft])
    d2 = torch.cdist(z, z) ** 2
    scale = d2.detach().median().clamp_min(1e-6)
    k = sum(torch.exp(-d2 / (scale * f)) for f in (0.25, 1.0, 4.0))
    n = len(fs)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


class _Discrepancy(Strategy):
    needs_labels = False
    uses_unlabelled = True
    needs_population = True
    defaults = {"steps": 60, "lr": 5e-4, "batch_size": 64, "weight": 1.0, "population_beats": 4000}
    search_grid = {"weight": [0.3, 1.0]}
    test_params = {"steps": 4, "population_beats": 300}
    discrepancy = staticmethod(coral_loss)

    def _adapt(self, model, labelled, unlabelled, context):
        p = self.params
        batches = SourceTargetBatches(context, labelled, unlabelled, p["population_beats"], p["batch_size"])
        src_loss = nn.CrossEntropyLoss(weight=class_weights(batches.source.y, model.num_classes))
        params = trainable(model, "all")

        def extra(m, step):  # noqa: ARG001
            fs, ft, ys = batches.features(m)
            return src_loss(m.head(fs), ys) + p["weight"] * self.discrepancy(fs, ft)

        losses = train_steps(model, params, labelled, steps=p["steps"], lr=p["lr"], batch_size=p["batch_size"],
                             seed=context.seed, extra_loss=extra)
        context.info.update(steps=p["steps"], population_beats=len(batches.source), target_beats=len(batches.target),
                            final_loss=losses[-1])
        return model


@register_strategy
class CORAL(_Discrepancy):
    name = "coral"
    study_rank = 9


@register_strategy
class MMD(_Discrepancy):
    name = "mmd"
    study_rank = 8
    discrepancy = staticmethod(mmd_loss)
