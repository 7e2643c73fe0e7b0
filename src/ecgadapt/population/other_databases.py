"""Another database's records in a population model's training: its annotated beats (``--extra-beats``,
``population.prepare_extra_beats``) or its rhythm labels for pre-training (``--pretrain``, ``rhythm_pretrain``).

The pieces both options share live here once, so that the ``DATASET:PATH`` spec, the one-lead rule and what the model
card records about the other database read the same for each.
"""

from __future__ import annotations

from typing import Any

from ecgadapt.data import get_adapter
from ecgadapt.errors import ConfigError
from ecgadapt.prepare import PreparedDataset


def parse_source(source: str, what: str, example: str) -> tuple[str, str]:
    """``DATASET:PATH`` -> (dataset, path). ``what`` names the option in the error, ``example`` shows a spec."""
    dataset, sep, root = source.partition(":")
    if not sep or not dataset or not root:
        raise ConfigError(f"{what} {source!r}: give DATASET:PATH, e.g. {example}")
    return dataset, root


def require_one_lead(source: str, what: str, prepared: PreparedDataset) -> str:
    """The one lead of the population beats ``prepared``; a ConfigError for a model that reads more (or every) lead,
    since another database's records are matched to one lead."""
    leads = tuple(prepared.settings.leads or ())
    if len(leads) != 1:
        raise ConfigError(f"{what} {source!r}: only for a one-lead population model (this one reads "
                          f"{', '.join(leads) or 'every lead'})")
    return leads[0]


def source_card(source: str, dataset: str, prepared: PreparedDataset) -> dict[str, Any]:
    """What every model card records about another database: which, its licence, and the records it skipped."""
    physionet = get_adapter(dataset).physionet
    return {"dataset": dataset, "source": source,
            "license": physionet.license if physionet else "see the database's own terms",
            "failures": prepared.failed_records}
