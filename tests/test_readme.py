"""The README's Python examples run as they stand: data and models on the embedded records, personalization of
record 233 with the shipped model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block_after(marker: str) -> str:
    """The first ```python block after the line that starts with ``marker``."""
    text = README.read_text()
    start = text.index(marker)
    found = re.search(r"```python\n(.*?)```", text[start:], flags=re.S)
    assert found, f"no python block after {marker!r} in README.md"
    return found.group(1)


def test_the_personalization_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from ecgadapt.personalize.base import _STRATEGIES

    code = _python_block_after("From Python (`tests/test_readme.py` runs this block as it stands)")
    monkeypatch.chdir(tmp_path)  # its output folders are relative
    namespace: dict = {}
    try:
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own example
    finally:
        _STRATEGIES.pop("finetune-entropy", None)  # the example registers a strategy: not one for the other tests
    printed = capsys.readouterr().out.splitlines()
    kept, veb_f1 = printed[0].split()
    # 233's V beats, the demo's record: the default population model finds them already, so the guard may keep it
    assert kept in ("personalized", "population") and float(veb_f1) > 0.95
    decision, reason = printed[1].split(" ", 1)  # the guard's decision and its evidence: held-out labelled beats
    assert decision in ("personalized", "population") and "held-out labelled beats" in reason
    assert (tmp_path / "out-233" / "233.pred").is_file() and len(namespace["table"]) > 3000
    mine = namespace["mine"].summary
    assert mine["method"] == "finetune-entropy" and mine["params"] == {"steps": 30, "lr": 5e-3, "weight": 0.1}
    assert (tmp_path / "out-233-entropy" / "beats.csv").is_file()


def test_the_data_and_models_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the trainer's run folder is relative
    monkeypatch.setenv("ECGADAPT_CACHE", str(tmp_path / "cache"))  # the prepared beats: not the user's cache
    namespace: dict = {}
    for marker in ("From Python (`tests/test_readme.py` runs this block and the next", "## Models and training"):
        exec(compile(_python_block_after(marker), str(README), "exec"), namespace)  # noqa: S102
    assert namespace["record"].name == "200" and namespace["X"].shape == (1796, 1, 252)
    train, val = namespace["train"], namespace["val"]
    assert len(train) + len(val) == 1796 and 0 < len(val) < len(train)
    result = namespace["result"]
    assert 1 <= result.best_epoch <= 30 and (tmp_path / "runs" / "beatnet" / "last.pt").is_file()
    assert namespace["model"].num_classes == 4  # reset_classifier(4)


def test_the_holter_example_summarises_the_reference_labels_of_233() -> None:
    namespace: dict = {}
    code = _python_block_after("(`tests/test_readme.py` runs this block):")
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own example
    totals = namespace["s"].totals
    assert totals["V_per_100"] == 26.99  # 831 of 3,079 beats annotated V
    assert totals["pauses"] == 0 and namespace["s"].runs.clock.iloc[0] == "08:00:28"  # clock times from 08:00
