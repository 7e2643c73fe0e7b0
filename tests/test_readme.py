"""The README's Python example of personalization runs as it stands (the embedded record 233, the shipped model)."""

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

    code = _python_block_after("From Python (`tests/test_readme.py` runs this block")
    monkeypatch.chdir(tmp_path)  # its output folders are relative
    namespace: dict = {}
    try:
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own example
    finally:
        _STRATEGIES.pop("finetune-entropy", None)  # the example registers a strategy: not one for the other tests
    printed = capsys.readouterr().out.splitlines()
    kept, veb_f1 = printed[0].split()
    assert kept == "personalized" and float(veb_f1) > 0.95  # 233's V beats: the demo's record
    assert printed[1].startswith("personalized held-out labelled beats: ")  # the guard's evidence
    assert (tmp_path / "out-233" / "233.pred").is_file() and len(namespace["table"]) > 3000
    mine = namespace["mine"].summary
    assert mine["method"] == "finetune-entropy" and mine["params"] == {"steps": 30, "lr": 5e-3, "weight": 0.1}
    assert (tmp_path / "out-233-entropy" / "beats.csv").is_file()
