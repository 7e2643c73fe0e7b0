"""The house's layers: the library below, the application above; no import runs from a lower layer to a higher one,
and the public API at the package root works (the old import paths too, with a warning)."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import ecgadapt

SRC = Path(ecgadapt.__file__).parent

#: low to high; a module may import from its own layer and the ones below
LAYERS = [
    {"errors", "_atomic", "_machine", "_progress", "_moved", "_registry", "metrics", "signal"},
    {"data"},
    {"models", "cache", "holter"},
    {"prepare", "protocols", "evaluation", "train"},
    {"diffecg"},
    {"personalize"},  # the personalization library: strategies, the guard
    {"population", "query", "rhythm"},  # population models; query strategies; rhythm models
    {"report"},
    {"pipeline"},  # the application: one recording -> outputs
    {"studies"},
    {"cli", "demo"},
]
#: old paths kept for one release: stand-ins that hand names on to where they live now (no import of their own)
MOVED = {"personalize/engine.py", "personalize/batch.py", "personalize/false_detections.py",
         "personalize/population.py", "personalize/other_databases.py", "personalize/rhythm_pretrain.py",
         "diffecg/unet.py", "diffecg/ddpm.py", "diffecg/model.py"}


def _layer(module: str) -> int:
    room = module.split(".")[1] if module.count(".") else ""
    room = room.removesuffix(".py")
    for i, rooms in enumerate(LAYERS):
        if room in rooms:
            return i
    raise AssertionError(f"ecgadapt.{room} is in no layer: add it to LAYERS")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ecgadapt."):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ecgadapt.")]
    return found


def test_no_import_runs_from_a_lower_layer_to_a_higher_one() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "__init__.py" or rel in MOVED:
            continue
        here = _layer("ecgadapt." + rel.replace("/", ".").removesuffix(".py"))
        wrong += [f"{rel}:{line} imports {module}" for line, module in _imports(path) if _layer(module) > here]
    assert not wrong, "imports from a lower layer to a higher one:\n" + "\n".join(wrong)


def test_the_checker_sees_an_import_that_runs_up(tmp_path: Path) -> None:
    module = tmp_path / "x.py"
    module.write_text("def f():\n    from ecgadapt.pipeline.annotate import annotate_record\n")
    assert [_layer(m) for _, m in _imports(module)] == [LAYERS.index({"pipeline"})] > [_layer("ecgadapt.data.base")]


def test_the_public_api_names_resolve_without_importing_torch_at_import() -> None:
    code = "import sys, ecgadapt; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
    for name in ecgadapt.__all__:
        assert getattr(ecgadapt, name) is not None, name
    assert "personalize_record" in dir(ecgadapt)
    assert "l2sp" in ecgadapt.list_strategies() and "beatnet" in ecgadapt.list_models()
    assert "mitdb" in ecgadapt.list_datasets() and "report" in ecgadapt.list_writers("annotate")
    assert "cluster" in ecgadapt.list_queries()
    assert ecgadapt.list_writers("annotate") == [w for w in ecgadapt.list_writers() if w != "model"]
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        ecgadapt.no_such_thing  # noqa: B018


def test_old_import_paths_work_for_one_release_with_a_warning() -> None:
    from ecgadapt.pipeline.personalize import personalize_record
    from ecgadapt.population.shipped import shipped_model_path

    with pytest.warns(DeprecationWarning, match="personalize_record moved to ecgadapt.pipeline.personalize"):
        from ecgadapt.personalize.engine import personalize_record as old
    assert old is personalize_record
    with pytest.warns(DeprecationWarning, match="shipped_model_path moved to ecgadapt.population.shipped"):
        from ecgadapt.personalize.population import shipped_model_path as old_path
    assert old_path is shipped_model_path
    with warnings.catch_warnings(), pytest.raises(ImportError):
        warnings.simplefilter("ignore")
        from ecgadapt.personalize.engine import no_such_name  # noqa: F401
