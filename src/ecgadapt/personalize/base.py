"""One protocol for every personalization strategy: ``strategy.adapt(model, labelled, unlabelled, context)``.

A strategy takes the population model and one patient's data and returns a new model (the population model
is never modified). ``labelled`` holds the patient's annotated minutes; ``unlabelled`` the rest of the
recording (labels hidden: transductive adaptation, as a Holter workflow allows); ``context`` what some
strategies need besides: population beats (domain adaptation, meta-learning), a seed, a cache folder.
New strategies are one module with a class decorated by ``@register_strategy``.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ecgadapt._registry import Registry
from ecgadapt.errors import ConfigError
from ecgadapt.models.registry import EcgModel
from ecgadapt.train.trainer import class_weights, parameter_groups


@dataclass
class BeatSet:
    """Beats of one or more patients in memory: windows X [n, leads, samples], RR features [n, 4], labels y [n]
    (-1: unknown), time of each R peak (s) and the patient each beat belongs to."""

    X: np.ndarray
    rr: np.ndarray
    y: np.ndarray
    time_s: np.ndarray | None = None
    patient: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, idx: np.ndarray) -> BeatSet:
        """The beats ``idx``. A run of consecutive indices (the rest of a record after its labelled minutes) gives
        views, not copies: a day's beat windows are hundreds of MB. BeatSets are read, never written into."""
        idx = np.asarray(idx)
        if idx.dtype != bool and idx.ndim == 1 and len(idx) > 1 and idx[-1] - idx[0] == len(idx) - 1 \
                and (np.diff(idx) == 1).all():
            idx = slice(int(idx[0]), int(idx[-1]) + 1)
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return BeatSet(self.X[idx], self.rr[idx], self.y[idx], pick(self.time_s), pick(self.patient))

    @property
    def labelled(self) -> BeatSet:
        return self.subset(np.flatnonzero(self.y >= 0))

    def first_leads(self, k: int) -> BeatSet:
        """The same beats with only their first ``k`` leads (for a model trained on fewer leads with the same
        preprocessing, e.g. an MLII model reading MLII + V1 beats)."""
        if k > self.X.shape[1]:
            raise ConfigError(f"a model reading {k} leads cannot read beats of {self.X.shape[1]}")
        return self if k == self.X.shape[1] else BeatSet(self.X[:, :k], self.rr, self.y, self.time_s, self.patient)

    def tensors(self, idx: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = np.arange(len(self)) if idx is None else idx
        return (torch.from_numpy(np.ascontiguousarray(self.X[idx], dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(self.rr[idx], dtype=np.float32)),
                torch.from_numpy(np.asarray(self.y[idx], dtype=np.int64)))

    @classmethod
    def from_prepared(cls, prepared: Any, indices: np.ndarray) -> BeatSet:
        idx = np.sort(np.asarray(indices))
        return cls(np.asarray(prepared.X[idx], dtype=np.float32), np.asarray(prepared.rr[idx], dtype=np.float32),
                   np.asarray(prepared.y[idx], dtype=np.int64), prepared.time_s()[idx],
                   np.asarray(prepared.subject[idx]))


@dataclass
class AdaptContext:
    label_names: tuple[str, ...]
    population: BeatSet | None = None  # labelled population beats (domain adaptation, meta-learning)
    seed: int = 0
    cache_dir: Path | None = None  # where meta-learned initialisations are kept between patients
    info: dict[str, Any] = field(default_factory=dict)  # what the strategy did (steps, pseudo-labels, ...)


class Strategy(ABC):
    """A personalization method. Subclasses set ``name`` and describe themselves in the class variables below (what
they need, their parameters and the constraints on them, the grid a study searches, fast settings for the contract
test), and implement ``_adapt``; ``@register_strategy`` makes them known by name. ``check_strategy`` is the
contract a new one passes."""

    name: ClassVar[str]
    # what it needs
    needs_labels: ClassVar[bool] = True  # supervised on the patient's labelled minutes
    uses_unlabelled: ClassVar[bool] = False  # reads the patient's unlabelled recording
    needs_population: ClassVar[bool] = False  # needs population beats in the context
    model_kinds: ClassVar[tuple[str, ...] | None] = None  # the registered networks it personalizes; None: any
    adapts: ClassVar[bool] = True  # False: it returns the model unchanged (the guard has nothing to check)
    # its parameters: their defaults (and so their types), and the constraints on their values
    defaults: ClassVar[dict[str, Any]] = {}
    positive: ClassVar[frozenset[str]] = frozenset({"batch_size", "lr", "meta_lr", "inner_lr", "temperature"})
    fractions: ClassVar[frozenset[str]] = frozenset({"threshold", "max_ratio"})  # between 0 and 1
    # the grid of parameters a study searches on its validation patients (small on purpose: every point is one
    # adaptation per patient); {}: the defaults only
    search_grid: ClassVar[dict[str, list[Any]]] = {}
    study_rank: ClassVar[int] = 100  # where a study's tables list it (a new strategy: after the ones shipped)
    # for the contract test: settings that run in a second, and the network to adapt (create_model's arguments;
    # None: a small beat classifier)
    test_params: ClassVar[dict[str, Any]] = {}
    test_model: ClassVar[dict[str, Any] | None] = None

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ConfigError(f"strategy {self.name!r}: unknown parameter(s) {sorted(unknown)}; "
                              f"allowed: {', '.join(self.defaults) or 'none'}")
        # checked here, before any work: a bad value once failed inside the guard's first fold, which then quietly
        # kept the population model ("lr=1e-4" was read as a string)
        self.params = {**self.defaults, **{k: self._checked(k, v) for k, v in params.items()}}

    def _checked(self, key: str, value: Any) -> Any:
        """``value`` (a Python value or the text of a command line) as the type of the parameter's default."""
        default = self.defaults[key]
        kind = type(default)
        wrong = f"strategy {self.name!r}: {key}={value!r}"
        if isinstance(default, bool):
            text = str(value).strip().lower()
            if text not in ("true", "false", "1", "0"):
                raise ConfigError(f"{wrong}: must be true or false")
            return text in ("true", "1")
        if isinstance(default, str):
            return str(value).strip()
        if default is None:  # an optional number (e.g. diffecg-t's fixed_t): int if it reads as one
            kind = int if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()) \
                else float
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{wrong}: must be a number") from None
        if kind is int and not number.is_integer():
            raise ConfigError(f"{wrong}: must be a whole number")
        if not np.isfinite(number) or number < 0 or (key in self.positive and number == 0):
            raise ConfigError(f"{wrong}: must be " + ("above 0" if key in self.positive else "0 or more"))
        if key in self.fractions and number > 1:
            raise ConfigError(f"{wrong}: must be between 0 and 1")
        return int(number) if kind is int else number

    def adapt(self, model: EcgModel, labelled: BeatSet | None, unlabelled: BeatSet | None,
              context: AdaptContext) -> EcgModel:
        if self.needs_labels and (labelled is None or len(labelled.labelled) == 0):
            raise ConfigError(f"strategy {self.name!r} needs labelled beats of the patient and there are none: "
                              "labels are required for supervised strategies (unsupervised ones: "
                              f"{', '.join(unsupervised_strategies())})")
        if self.uses_unlabelled and not self.needs_labels and (unlabelled is None or len(unlabelled) == 0):
            raise ConfigError(f"strategy {self.name!r} adapts to the patient's unlabelled beats and there are none")
        if self.needs_population and context.population is None:
            raise ConfigError(f"strategy {self.name!r} needs population beats (context.population)")
        # seeded for a reproducible adaptation, inside a fork: the caller's global torch RNG is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            adapted = copy.deepcopy(model)
            out = self._adapt(adapted, labelled.labelled if labelled is not None else None, unlabelled, context)
        out.eval()
        return out

    @abstractmethod
    def _adapt(self, model: EcgModel, labelled: BeatSet | None, unlabelled: BeatSet | None,
               context: AdaptContext) -> EcgModel: ...

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params.items())})"


_STRATEGIES: Registry[type[Strategy]] = Registry("strategy", "personalization method")


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    return _STRATEGIES.register(cls)


def list_strategies() -> list[str]:
    return _STRATEGIES.names()


def strategy_class(name: str) -> type[Strategy]:
    return _STRATEGIES.lookup(name)


def study_strategies() -> tuple[str, ...]:
    """The strategies a study compares by default: those that personalize any network, in ``study_rank`` order."""
    found = [cls for cls in _STRATEGIES.values() if cls.model_kinds is None]
    return tuple(cls.name for cls in sorted(found, key=lambda cls: (cls.study_rank, cls.name)))


def unsupervised_strategies() -> list[str]:
    """The strategies that adapt to the patient's unlabelled beats alone: they run without labelled minutes."""
    return [n for n in list_strategies() if not _STRATEGIES[n].needs_labels and _STRATEGIES[n].uses_unlabelled]


def get_strategy(name: str, **params: Any) -> Strategy:
    return strategy_class(name)(**params)


def parse_params(name: str, items: Iterable[str], where: str) -> dict[str, Any]:
    """``["key=value", ...]`` (command-line text) -> strategy ``name``'s parameters, each of its default's type.

    Unknown names, unknown parameters and bad values fail here, before any work; ``where`` says where the text
    came from in the error."""
    params: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"{where}: parameters must be key=value, got {item!r}")
        params[key.strip()] = value.strip()
    strategy = get_strategy(name, **params)
    return {key: strategy.params[key] for key in params}


def parse_method(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``"name:key=value:key=value"`` (a strategy with fixed parameters, e.g.
    ``diffecg-t:fixed_t=20``) -> (name, params)."""
    name, *items = spec.strip().split(":")
    return name, parse_params(name, filter(None, items), f"method {spec!r}")


# ----------------------------------------------------------------------------------------------
# The one training loop the gradient-based strategies share


def trainable(model: EcgModel, layers: str) -> list[nn.Parameter]:
    """``all`` parameters, the ``last`` feature block plus head, or the ``head`` only; the rest frozen."""

    groups = parameter_groups(model)
    keep = {"all": len(groups), "last": 2, "head": 1}.get(layers)
    if keep is None:
        raise ConfigError(f"layers={layers!r}; allowed: all, last, head")
    chosen = [p for g in groups[-keep:] for p in g]
    ids = {id(p) for p in chosen}
    for p in model.parameters():
        p.requires_grad_(id(p) in ids)
    return chosen


def train_steps(model: EcgModel, params: list[nn.Parameter], labelled: BeatSet | None, *, steps: int, lr: float,
                batch_size: int = 64, seed: int = 0, weight_decay: float = 0.0,
                extra_loss: Callable[[EcgModel, int], torch.Tensor] | None = None,
                bn_train: bool = False, extra: BeatSet | None = None) -> list[float]:
    """Adam on ``params`` for ``steps`` mini-batches of the labelled beats (+ optional ``extra`` labelled beats:
    pseudo-labelled ones, or replayed population beats), class-weighted cross-entropy, plus
    ``extra_loss(model, step)`` (penalties, domain terms).

    BatchNorm layers stay in eval mode unless ``bn_train``: a few hundred beats of one patient would otherwise
    overwrite the population statistics the rest of the network was trained with.
    """
    rng = np.random.default_rng(seed)
    data = labelled
    if extra is not None and len(extra):
        data = extra if data is None or len(data) == 0 else BeatSet(
            np.concatenate([data.X, extra.X]), np.concatenate([data.rr, extra.rr]), np.concatenate([data.y, extra.y]))
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(data.y, model.num_classes)) if data is not None and len(data) else None
    losses = []
    model.train()
    if not bn_train:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    for step in range(steps):
        loss = torch.zeros(())
        if loss_fn is not None:
            idx = rng.integers(0, len(data), min(batch_size, len(data)))
            x, rr, y = data.tensors(idx)
            loss = loss + loss_fn(model(x, rr=rr), y)
        if extra_loss is not None:
            loss = loss + extra_loss(model, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return losses


#: beats a forward pass at inference. Small batches keep a beat model's activations in the CPU's cache: on this 2-core
#: CPU the shipped model classifies about 20,000 beats/s at 128 and 6,000 at 4,096 (ResNet1d18: 1,200 against 800)
PREDICT_BATCH = 128


@torch.no_grad()
def predict_beats(model: EcgModel, beats: BeatSet, batch_size: int | None = None) -> np.ndarray:
    """Class probabilities [n, classes] for a BeatSet (eval mode, streaming in chunks of ``batch_size``, by default
    the model's ``inference_batch`` or ``PREDICT_BATCH``)."""
    batch_size = batch_size or model.inference_batch or PREDICT_BATCH
    model.eval()
    out = np.zeros((len(beats), model.num_classes), dtype=np.float32)
    for s in range(0, len(beats), batch_size):
        idx = np.arange(s, min(s + batch_size, len(beats)))
        x, rr, _ = beats.tensors(idx)
        out[idx] = torch.softmax(model(x, rr=rr).float(), 1).numpy()
    return out


def predict_first_leads(model: EcgModel, beats: BeatSet) -> np.ndarray:
    """``predict_beats`` for a model that reads the first ``model.in_leads`` leads of ``beats`` (a guard's reference,
    e.g. the MLII model, on the MLII + V1 beats of the model being adapted)."""
    return predict_beats(model, beats.first_leads(model.in_leads))


@torch.no_grad()
def features(model: EcgModel, beats: BeatSet, batch_size: int | None = None) -> torch.Tensor:
    batch_size = batch_size or model.inference_batch or PREDICT_BATCH
    model.eval()
    chunks = []
    for s in range(0, len(beats), batch_size):
        x, rr, _ = beats.tensors(np.arange(s, min(s + batch_size, len(beats))))
        chunks.append(model.forward_features(x, rr=rr).float())
    return torch.cat(chunks) if chunks else torch.zeros((0, model.num_features))


class SourceTargetBatches:
    """Domain adaptation's two streams: class-balanced population beats (labelled source) and the patient's beats
    (the unlabelled rest of the recording, or the labelled minutes when there is no rest)."""

    def __init__(self, context: AdaptContext, labelled: BeatSet | None, unlabelled: BeatSet | None, n_source: int,
                 batch_size: int):
        self.source = balanced_sample(context.population, n_source, context.seed)
        self.target = unlabelled if unlabelled is not None and len(unlabelled) else labelled
        self.batch_size = batch_size
        self.rng = np.random.default_rng(context.seed)

    def features(self, model: EcgModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features of one source and one target mini-batch, and the source labels."""
        xs, rs, ys = self.source.tensors(self.rng.integers(0, len(self.source), self.batch_size))
        xt, rt, _ = self.target.tensors(self.rng.integers(0, len(self.target), self.batch_size))
        return model.forward_features(xs, rr=rs), model.forward_features(xt, rr=rt), ys


def balanced_sample(beats: BeatSet, n: int, seed: int) -> BeatSet:
    """Up to ``n`` beats with the classes as even as their counts allow (minority classes kept whole)."""
    rng = np.random.default_rng(seed)
    classes = [np.flatnonzero(beats.y == c) for c in np.unique(beats.y[beats.y >= 0])]
    chosen, budget = [], n
    for i, members in enumerate(sorted(classes, key=len)):
        take = min(len(members), budget // (len(classes) - i))
        chosen.append(rng.choice(members, take, replace=False))
        budget -= take
    return beats.subset(np.sort(np.concatenate(chosen))) if chosen else beats.subset(np.array([], dtype=int))
