"""Old import paths kept for one release: a module that moved leaves a stand-in that warns and hands on its names."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved(old: str, new: tuple[str, ...]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the stand-in at ``old``: each name is looked up in the ``new`` modules, in order,
    with a DeprecationWarning naming where it lives now."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):  # the import machinery's questions (__path__, __file__ ...): not ours to answer
            raise AttributeError(name)
        for module_name in new:
            module = importlib.import_module(module_name)
            if hasattr(module, name):
                value = getattr(module, name)
                home = getattr(value, "__module__", None) or module_name  # where it is defined, not re-imported
                warnings.warn(f"{old}.{name} moved to {home}.{name}; the old path goes in the next release",
                              DeprecationWarning, stacklevel=2)
                return value
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    return __getattr__
