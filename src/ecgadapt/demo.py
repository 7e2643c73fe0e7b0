"""The main job on the embedded default data, no download needed: the default shipped population model personalized
to embedded DS2 record 233 from its first 5 annotated minutes, checked by the guard, and used to annotate the whole
record. The same as

    ecgadapt personalize --record <embedded>/233 --labelled-minutes 5 --method finetune --out DIR
"""

from __future__ import annotations

from pathlib import Path

from ecgadapt.data import embedded_root
from ecgadapt.pipeline.personalize import personalize_record
from ecgadapt.pipeline.results import PersonalizeResult
from ecgadapt.population.shipped import shipped_model_path

DEMO_RECORD = "233"


def run_demo(out: Path, record: str = DEMO_RECORD, method: str = "finetune") -> PersonalizeResult:
    return personalize_record(shipped_model_path(), embedded_root("mitdb") / record, out, labelled_minutes=5.0,
                              method=method)
