"""The contract every personalization strategy meets, as one function a new strategy's author runs unedited
(scikit-learn's ``check_estimator`` is the model): ``check_strategy("my-method", ...)``."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from ecgadapt.data.record import AAMI_CLASSES
from ecgadapt.errors import ConfigError
from ecgadapt.models.registry import create_model
from ecgadapt.personalize.base import AdaptContext, BeatSet, get_strategy, predict_beats, strategy_class


def check_strategy(name: str, labelled: BeatSet, unlabelled: BeatSet, rest: BeatSet, population: BeatSet,
                   cache_dir: Path, label_names: tuple[str, ...] = AAMI_CLASSES) -> None:
    """AssertionError naming what strategy ``name`` breaks, if anything, of the contract: its self-description holds
    (``test_params`` and every ``search_grid`` point are valid parameters; ``test_model`` is a network it
    personalizes); adapting leaves the population model as it was and returns another model of the same classes;
    the same seed gives the same result; it changes the model exactly when it says it ``adapts``; and it refuses,
    with a ConfigError, to run without the labels or the population beats it says it needs.

    ``labelled``: a patient's labelled minutes; ``unlabelled``: the rest, labels hidden; ``rest``: the same with
    labels (scored); ``population``: other patients' beats."""
    cls = strategy_class(name)
    try:
        get_strategy(name, **cls.test_params)
        grid = cls.search_grid
        for values in itertools.product(*grid.values()):
            get_strategy(name, **dict(zip(grid, values)))
    except ConfigError as err:
        raise AssertionError(f"strategy {name!r}: its test_params or search_grid are not valid parameters: {err}")
    spec = dict(cls.test_model or {"name": "beatnet"})
    network = spec.pop("name")
    assert cls.model_kinds is None or network in cls.model_kinds, \
        f"strategy {name!r}: test_model {network!r} is not among the networks it personalizes {cls.model_kinds}"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = create_model(network, in_leads=labelled.X.shape[1], num_classes=len(label_names), **spec)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def context(with_population: bool = True) -> AdaptContext:
        return AdaptContext(label_names, population if with_population else None, seed=3, cache_dir=cache_dir)

    a = get_strategy(name, **cls.test_params).adapt(model, labelled, unlabelled, context())
    b = get_strategy(name, **cls.test_params).adapt(model, labelled, unlabelled, context())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), \
        f"strategy {name!r}: the population model was modified"
    assert a is not model and a.num_classes == len(label_names), \
        f"strategy {name!r}: it must return a new model of the same {len(label_names)} classes"
    pa, pb = predict_beats(a, rest), predict_beats(b, rest)
    assert pa.shape == (len(rest), len(label_names)) and np.isfinite(pa).all(), \
        f"strategy {name!r}: its model's probabilities are not finite, or not one row a beat"
    assert np.allclose(pa, pb, atol=1e-5), f"strategy {name!r}: the same seed gave another result"
    changed = any(not torch.equal(before[k], v) for k, v in a.state_dict().items())
    assert changed == cls.adapts, (f"strategy {name!r}: it says adapts={cls.adapts}, and the model was "
                                   f"{'changed' if changed else 'left as it was'}")
    strategy = get_strategy(name, **cls.test_params)
    if cls.needs_labels:
        try:
            strategy.adapt(model, None, unlabelled, context())
        except ConfigError as err:
            assert "labels are required for supervised strategies" in str(err), err
        else:
            raise AssertionError(f"strategy {name!r} needs labels and ran without them")
    if cls.needs_population:
        try:
            strategy.adapt(model, labelled, unlabelled, context(with_population=False))
        except ConfigError as err:
            assert "needs population beats" in str(err), err
        else:
            raise AssertionError(f"strategy {name!r} needs population beats and ran without them")
