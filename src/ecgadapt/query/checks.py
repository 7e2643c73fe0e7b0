"""The contract every query strategy meets, as one function a new strategy's author runs unedited."""

from __future__ import annotations

import numpy as np

from ecgadapt.errors import ConfigError
from ecgadapt.models.registry import EcgModel
from ecgadapt.query.base import QueryPool, get_query


def check_query_strategy(name: str, model: EcgModel, pool: QueryPool, k: int = 12) -> None:
    """AssertionError naming what query strategy ``name`` breaks, if anything: it returns ``k`` distinct beats (all
    there are, where fewer may be asked), each one eligible and not labelled yet, with one reason each; the same seed
    gives the same beats; 0 beats asked gives none; a negative number is refused."""
    strategy = get_query(name)
    q = strategy.select(model, pool, k, seed=5)
    allowed = set(pool.candidates.tolist())
    assert len(q) == min(k, len(allowed)), f"{name}: {len(q)} beats for {k} asked ({len(allowed)} may be asked)"
    assert len(set(q.index.tolist())) == len(q), f"{name}: a beat chosen twice"
    assert set(q.index.tolist()) <= allowed, f"{name}: chose a beat that is labelled already or may not be asked"
    assert len(q.reasons) == len(q) and all(isinstance(r, str) and r for r in q.reasons), f"{name}: a reason each"
    again = get_query(name).select(model, pool, k, seed=5)
    assert np.array_equal(q.index, again.index), f"{name}: the same seed chose other beats"
    assert len(strategy.select(model, pool, 0, seed=5)) == 0, f"{name}: beats chosen where none was asked"
    everything = strategy.select(model, pool, len(allowed) + 10, seed=5)
    assert sorted(everything.index.tolist()) == sorted(allowed), f"{name}: asked for more than there are"
    try:
        strategy.select(model, pool, -1)
    except ConfigError:
        pass
    else:
        raise AssertionError(f"{name}: a negative number of beats was not refused")
