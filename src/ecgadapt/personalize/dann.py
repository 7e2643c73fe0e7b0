"""``dann``: domain-adversarial adaptation (Ganin et al. 2016) to the patient's unlabelled recording.

A small domain classifier tries to tell population beats from this patient's beats through a gradient-reversal
layer, so the feature extractor learns features in which the patient looks like the population, while the
label loss on population beats (and the patient's labelled beats, when there are any) keeps them useful.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecgadapt.personalize.base import SourceTargetBatches, Strategy, register_strategy, train_steps, trainable
from ecgadapt.train.trainer import class_weights


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:  # noqa: ANN001
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001
        return -ctx.lam * grad, None


def reverse_gradient(x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by -lam backward."""
    return _ReverseGrad.apply(x, lam)


@register_strategy
class DANN(Strategy):
    name = "dann"
    search_grid = {"lam": [0.1, 0.3]}
    test_params = {"steps": 4, "population_beats": 300}
    study_rank = 7
    needs_labels = False
    uses_unlabelled = True
    needs_population = True
    defaults = {"steps": 60, "lr": 5e-4, "batch_size": 64, "lam": 0.3, "population_beats": 4000}

    def _adapt(self, model, labelled, unlabelled, context):
        p = self.params
        batches = SourceTargetBatches(context, labelled, unlabelled, p["population_beats"], p["batch_size"])
        domain = nn.Sequential(nn.Linear(model.num_features, 64), nn.ReLU(), nn.Linear(64, 1))
        params = trainable(model, "all")
        src_loss = nn.CrossEntropyLoss(weight=class_weights(batches.source.y, model.num_classes))
        bce = nn.BCEWithLogitsLoss()

        def extra(m, step):
            fs, ft, ys = batches.features(m)
            lam = p["lam"] * (2 / (1 + np.exp(-10 * step / p["steps"])) - 1)  # Ganin's ramp-up
            d = domain(reverse_gradient(torch.cat([fs, ft]), float(lam))).squeeze(1)
            labels = torch.cat([torch.zeros(len(fs)), torch.ones(len(ft))])
            return src_loss(m.head(fs), ys) + bce(d, labels)

        # one optimizer over the network and the domain classifier: the reversal layer makes it a min-max game
        losses = train_steps(model, params + list(domain.parameters()), labelled, steps=p["steps"], lr=p["lr"],
                             batch_size=p["batch_size"], seed=context.seed, extra_loss=extra)
        context.info.update(steps=p["steps"], population_beats=len(batches.source), target_beats=len(batches.target),
                            final_loss=losses[-1])
        return model
