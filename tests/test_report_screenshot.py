"""The HTML report as a user sees it: rendered in headless Chromium (``tools/report_screenshot.py``), it is not blank,
and its clinical answer comes first; HRV on few N-N intervals is flagged. The rendering is skipped where no Chromium
is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.population.shipped import shipped_model_path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "report_screenshot.py"


def _tool():
    spec = importlib.util.spec_from_file_location("report_screenshot", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_renders_in_headless_chromium(embedded: Path, tmp_path: Path) -> None:
    annotate_record(shipped_model_path(), embedded / "233", tmp_path / "a")
    md = (tmp_path / "a" / "report.md").read_text()
    assert md.index("At a glance") < md.index("## Holter summary") < md.index("## Rhythm")
    # 233: a V beat in every four, so about half of the intervals are N-N: its HRV is flagged
    assert "**Unreliable here:** only" in md
    tool = _tool()
    if tool.find_chromium() is None:
        pytest.skip("no Chromium installed")
    png = tool.screenshot(tmp_path / "a" / "report.html", tmp_path / "shot.png", height=900)
    assert png.stat().st_size > 10_000
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    with pytest.raises(RuntimeError, match="blank"):
        tool.screenshot(blank, tmp_path / "blank.png")
