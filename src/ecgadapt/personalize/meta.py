"""Meta-learning with patients as tasks (population patients for meta-training), built on ``torch.func``.

- ``maml`` (Finn et al. 2017): learn an initialisation from which a few gradient steps on one patient's
  labelled minutes generalise to the rest of that patient's recording. Second-order by default
  (``first_order=True`` for FOMAML).
- ``protonet`` (Snell et al. 2017): classify a beat by its distance to class prototypes, the mean feature of
  the patient's own labelled beats of each class (population prototypes for classes the labelled minutes
  lack). The embedding is first meta-trained episodically on population patients. The prototypes become an
  ordinary linear head (-||f - mu||^2 = 2 mu.f - ||mu||^2 - ||f||^2, the last term shared by all classes), so
  the personalized model saves, loads and runs like any other.

Meta-training runs once per population model and setting; the result is kept in memory and, with a
``cache_dir``, on disk, so personalizing the next patient costs only the adaptation.
"""

from __future__ import annotations

import copy
import hashlib
import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad

from ecgadapt._atomic import atomic_write_bytes
from ecgadapt.models.registry import EcgModel
from ecgadapt.personalize.base import AdaptContext, BeatSet, Strategy, features, register_strategy
from ecgadapt.train.trainer import class_weights

_MEMO: dict[str, dict[str, torch.Tensor]] = {}


def patient_tasks(population: BeatSet, support_s: float = 300.0, min_beats: int = 50) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per population patient: (support rows = first ``support_s`` seconds, query rows = the rest)."""
    if population.patient is None or population.time_s is None:
        raise ValueError("population beats need patient and time_s for meta-learning")
    tasks = []
    for pat in np.unique(population.patient):
        rows = np.flatnonzero(population.patient == pat)
        t = population.time_s[rows]
        s, q = rows[t < support_s], rows[t >= support_s]
        if len(s) >= min_beats and len(q) >= min_beats:
            tasks.append((s, q))
    return tasks


def _key(model: EcgModel, tag: str, params: dict) -> str:
    h = hashlib.sha256(tag.encode() + repr(sorted(params.items())).encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _cached(model: EcgModel, context: AdaptContext, tag: str, params: dict, train) -> dict[str, torch.Tensor]:
    """The meta-trained state for this population model and setting: memory, then disk, else ``train()``."""
    key = _key(model, tag, params)
    if key in _MEMO:
        return _MEMO[key]
    path = Path(context.cache_dir) / f"{tag}-{key}.pt" if context.cache_dir else None
    if path and path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        state = train()
        if path:
            buf = io.BytesIO()
            torch.save(state, buf)
            atomic_write_bytes(path, buf.getvalue())
    _MEMO[key] = state
    return state


def _draw(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return rows if len(rows) <= n else rng.choice(rows, n, replace=False)


@register_strategy
class MAML(Strategy):
    name = "maml"
    search_grid = {"adapt_steps": [10, 30]}
    test_params = {"meta_steps": 2, "adapt_steps": 2}
    study_rank = 11
    needs_population = True
    defaults = {"meta_steps": 300, "meta_lr": 1e-3, "inner_lr": 0.02, "inner_steps": 3, "adapt_steps": 20,
                "batch_size": 64, "first_order": False}

    def _loss(self, model: EcgModel, buffers: dict, weight: torch.Tensor | None):
        def loss(params, x, rr, y):
            return F.cross_entropy(functional_call(model, (params, buffers), (x,), {"rr": rr}), y, weight=weight)
        return loss

    def _inner(self, loss, params, x, rr, y, steps: int):
        for _ in range(steps):
            g = grad(loss)(params, x, rr, y)
            params = {k: params[k] - self.params["inner_lr"] * g[k] for k in params}
        return params

    def _meta_train(self, model: EcgModel, context: AdaptContext) -> dict[str, torch.Tensor]:
        p = self.params
        pop = context.population
        tasks = patient_tasks(pop)
        rng = np.random.default_rng(context.seed)
        model.eval()  # BatchNorm keeps the population statistics; dropout off (deterministic functional calls)
        meta = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}
        loss = self._loss(model, buffers, class_weights(pop.y, model.num_classes))
        opt = torch.optim.Adam(meta.values(), lr=p["meta_lr"])
        for _ in range(p["meta_steps"]):
            s_rows, q_rows = tasks[rng.integers(len(tasks))]
            xs, rs, ys = pop.tensors(_draw(s_rows, p["batch_size"], rng))
            xq, rq, yq = pop.tensors(_draw(q_rows, p["batch_size"], rng))
            if p["first_order"]:
                fast = self._inner(loss, {k: v.detach() for k, v in meta.items()}, xs, rs, ys, p["inner_steps"])
                g = grad(loss)(fast, xq, rq, yq)
            else:
                g = grad(lambda m: loss(self._inner(loss, m, xs, rs, ys, p["inner_steps"]), xq, rq, yq))(
                    {k: v.detach() for k, v in meta.items()})
            opt.zero_grad(set_to_none=True)
            for k, v in meta.items():
                v.grad = g[k].detach()
            opt.step()
        return {k: v.detach() for k, v in meta.items()}

    def _adapt(self, model, labelled, unlabelled, context):
        p = self.params
        meta_params = {k: p[k] for k in ("meta_steps", "meta_lr", "inner_lr", "inner_steps", "batch_size", "first_order")}
        meta = _cached(model, context, "maml", meta_params, lambda: self._meta_train(model, context))
        model.eval()
        buffers = {k: v.detach() for k, v in model.named_buffers()}
        loss = self._loss(model, buffers, class_weights(labelled.y, model.num_classes))
        rng = np.random.default_rng(context.seed)
        params = dict(meta)
        for _ in range(p["adapt_steps"]):
            x, rr, y = labelled.tensors(_draw(np.arange(len(labelled)), p["batch_size"], rng))
            params = self._inner(loss, params, x, rr, y, 1)
        with torch.no_grad():
            for k, v in model.named_parameters():
                v.copy_(params[k])
        context.info.update(meta_steps=p["meta_steps"], adapt_steps=p["adapt_steps"],
                            trained_parameters=sum(v.numel() for v in params.values()))
        return model


@register_strategy
class ProtoNet(Strategy):
    name = "protonet"
    search_grid = {"temperature": [1.0, 10.0]}
    test_params = {"meta_steps": 2, "population_beats": 300}
    study_rank = 12
    needs_population = True
    defaults = {"meta_steps": 200, "meta_lr": 5e-4, "batch_size": 64, "temperature": 1.0, "population_beats": 3000}

    @staticmethod
    def _prototypes(f: torch.Tensor, y: torch.Tensor, n_classes: int, fallback: torch.Tensor) -> torch.Tensor:
        protos = fallback.clone()
        for c in range(n_classes):
            if (y == c).any():
                protos[c] = f[y == c].mean(0)
        return protos

    def _meta_train(self, model: EcgModel, context: AdaptContext) -> dict[str, torch.Tensor]:
        p = self.params
        pop = context.population
        tasks = patient_tasks(pop)
        rng = np.random.default_rng(context.seed)
        embed = copy.deepcopy(model)
        opt = torch.optim.Adam([v for k, v in embed.named_parameters() if not k.startswith("head.")], lr=p["meta_lr"])
        n = model.num_classes
        weight = class_weights(pop.y, n)
        for _ in range(p["meta_steps"]):
            embed.eval()  # population BatchNorm statistics stay fixed
            s_rows, q_rows = tasks[rng.integers(len(tasks))]
            other = rng.choice(len(pop), p["batch_size"], replace=False)  # population prototypes for missing classes
            xs, rs, ys = pop.tensors(_draw(s_rows, p["batch_size"], rng))
            xq, rq, yq = pop.tensors(_draw(q_rows, p["batch_size"], rng))
            xo, ro, yo = pop.tensors(other)
            fo = embed.forward_features(xo, rr=ro)
            fallback = torch.stack([fo[yo == c].mean(0) if (yo == c).any() else fo.mean(0) for c in range(n)])
            protos = self._prototypes(embed.forward_features(xs, rr=rs), ys, n, fallback)
            logits = -torch.cdist(embed.forward_features(xq, rr=rq), protos) ** 2 / p["temperature"]
            loss = F.cross_entropy(logits, yq, weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return {k: v.detach().clone() for k, v in embed.state_dict().items()}

    def _adapt(self, model, labelled, unlabelled, context):
        p = self.params
        if p["meta_steps"] > 0:
            meta_params = {k: p[k] for k in ("meta_steps", "meta_lr", "batch_size", "temperature")}
            model.load_state_dict(_cached(model, context, "protonet", meta_params, lambda: self._meta_train(model, context)))
        n = model.num_classes
        from ecgadapt.personalize.base import balanced_sample

        pop = balanced_sample(context.population, p["population_beats"], context.seed)
        f_pop, y_pop = features(model, pop), torch.from_numpy(pop.y)
        fallback = torch.stack([f_pop[y_pop == c].mean(0) if (y_pop == c).any() else f_pop.mean(0) for c in range(n)])
        protos = self._prototypes(features(model, labelled), torch.from_numpy(labelled.y), n, fallback)
        with torch.no_grad():  # nearest prototype == this linear head (the shared -||f||^2 term drops out)
            model.head.weight.copy_(2 * protos / p["temperature"])
            model.head.bias.copy_(-(protos ** 2).sum(1) / p["temperature"])
        own = [context.label_names[c] for c in range(n) if (labelled.y == c).any()]
        context.info.update(patient_prototypes=own, meta_steps=p["meta_steps"])
        return model
