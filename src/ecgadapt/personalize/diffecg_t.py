"""``diffecg-t``: DiffECG's personalization (Zhou et al. 2025). The network stays frozen; per subject, choose the
diffusion noise step t at which features are extracted, then train only the linear head.

t is chosen by Gaussian-process Bayesian optimisation (BoTorch: RBF kernel, log Expected Improvement over the
integer steps ``t_min..t_max``), maximising an objective measured over the first ``probe_epochs`` epochs of head
training on the subject's labelled beats:

- ``gamma`` (the paper's): mean over epochs r of (L(w_r) - L(w_{r+1})) / ||w_{r+1} - w_r||, the loss decrease per
  unit of weight movement: a t at which the head learns quickly and smoothly;
- ``dacc``, ``df1``, ``dloss``: gain in accuracy / macro F1 / decrease of the loss over the probe epochs;
- ``dmix``: the mean of the three.

``fixed_t`` skips the search (the paper's Table 3 baselines).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

from ecgadapt.errors import ConfigError
from ecgadapt.personalize.base import BeatSet, Strategy, features, register_strategy
from ecgadapt.train.trainer import class_weights

OBJECTIVES = ("gamma", "dacc", "df1", "dloss", "dmix")


def _features(model, beats: BeatSet, t: int) -> torch.Tensor:
    model.set_t(t)
    return features(model, beats, batch_size=1024)


def train_head(head: torch.nn.Linear, f: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, epochs: int,
               lr: float) -> list[dict[str, float]]:
    """Full-batch Adam on the head; per epoch the loss, accuracy, macro F1 and the flattened weights."""
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    trace = []
    for _ in range(epochs + 1):
        with torch.no_grad():
            logits = head(f)
            pred = logits.argmax(1).numpy()
            trace.append({"loss": float(F.cross_entropy(logits, y, weight=weight)),
                          "acc": float((pred == y.numpy()).mean()),
                          "f1": float(f1_score(y.numpy(), pred, average="macro", zero_division=0)),
                          "w": torch.cat([p.detach().flatten() for p in head.parameters()]).clone()})
        if len(trace) > epochs:
            break
        loss = F.cross_entropy(head(f), y, weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return trace


def objective_value(trace: list[dict], objective: str) -> float:
    if objective == "gamma":
        steps = [(a["loss"] - b["loss"]) / max(float((b["w"] - a["w"]).norm()), 1e-12) for a, b in zip(trace, trace[1:])]
        return float(np.mean(steps))
    d_acc, d_f1 = trace[-1]["acc"] - trace[0]["acc"], trace[-1]["f1"] - trace[0]["f1"]
    d_loss = (trace[0]["loss"] - trace[-1]["loss"]) / max(trace[0]["loss"], 1e-12)
    return {"dacc": d_acc, "df1": d_f1, "dloss": d_loss, "dmix": (d_acc + d_f1 + d_loss) / 3}[objective]


def bayes_opt_integer(fn, low: int, high: int, init_points: int, iterations: int, seed: int) -> tuple[int, list[dict]]:
    """Maximise ``fn`` over the integers [low, high]: evenly spaced initial points, then GP + log EI (BoTorch)."""
    from botorch.acquisition import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.kernels import RBFKernel, ScaleKernel
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.manual_seed(seed)
    tried: dict[int, float] = {}
    for t in np.unique(np.linspace(low, high, init_points).round().astype(int)):
        tried[int(t)] = fn(int(t))
    candidates = torch.arange(low, high + 1, dtype=torch.float64)
    scale = lambda v: (v - low) / max(high - low, 1)  # noqa: E731 - inputs in [0, 1]
    for _ in range(iterations):
        left = candidates[~torch.isin(candidates, torch.tensor(list(tried), dtype=torch.float64))]
        if len(left) == 0:
            break
        X = scale(torch.tensor(list(tried), dtype=torch.float64))[:, None]
        Y = torch.tensor(list(tried.values()), dtype=torch.float64)[:, None]
        gp = SingleTaskGP(X, Y, covar_module=ScaleKernel(RBFKernel()))
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        except Exception:  # noqa: BLE001 - a GP that cannot be fitted on these few points: keep the defaults
            pass
        with torch.no_grad():
            ei = LogExpectedImprovement(gp, best_f=Y.max())(scale(left)[:, None, None])
        t = int(left[int(ei.argmax())])
        tried[t] = fn(t)
    best = max(tried, key=tried.get)
    return best, [{"t": t, "value": v} for t, v in tried.items()]


@register_strategy
class DiffEcgT(Strategy):
    name = "diffecg-t"
    model_kinds = ("diffecg",)  # it tunes the noise step of a diffecg model's frozen encoder
    test_params = {"t_max": 20, "init_points": 2, "iterations": 1, "probe_epochs": 2, "epochs": 3}
    test_model = {"name": "diffecg", "base": 8, "mults": (1, 2)}
    defaults = {"t_min": 1, "t_max": 100, "init_points": 4, "iterations": 6, "probe_epochs": 5, "objective": "gamma",
                "fixed_t": None, "epochs": 100, "lr": 1e-2}

    def _adapt(self, model, labelled, unlabelled, context):
        from ecgadapt.models.diffecg import DiffEcgClassifier

        if not isinstance(model, DiffEcgClassifier):
            raise ConfigError(f"diffecg-t personalizes a diffecg model, got {type(model).__name__}")
        p = self.params
        if p["objective"] not in OBJECTIVES:
            raise ConfigError(f"objective={p['objective']!r}; allowed: {', '.join(OBJECTIVES)}")
        y = torch.from_numpy(labelled.y)
        weight = class_weights(labelled.y, model.num_classes)
        start = {k: v.clone() for k, v in model.head.state_dict().items()}

        def probe(t: int) -> float:
            head = torch.nn.Linear(model.num_features, model.num_classes)
            head.load_state_dict(start)
            torch.manual_seed(context.seed)
            return objective_value(train_head(head, _features(model, labelled, t), y, weight, p["probe_epochs"], p["lr"]),
                                   p["objective"])

        if p["fixed_t"] is not None:
            best, searched = int(p["fixed_t"]), []
        else:
            best, searched = bayes_opt_integer(probe, p["t_min"], p["t_max"], p["init_points"], p["iterations"],
                                               context.seed)
        torch.manual_seed(context.seed)
        trace = train_head(model.head, _features(model, labelled, best), y, weight, p["epochs"], p["lr"])
        model.set_t(best)
        context.info.update(t=best, searched=searched, objective=p["objective"],
                            trained_parameters=sum(q.numel() for q in model.head.parameters()),
                            final_train_loss=trace[-1]["loss"])
        return model
