"""One registry by name, for each kind of thing a new file can add: dataset adapters, networks, strategies, output
writers, one-file formats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ecgadapt.errors import ConfigError

T = TypeVar("T")


class Registry(dict[str, T]):
    """Name -> registered thing; the name is ``key(thing)`` (its ``name`` unless told otherwise). ``kind`` names
    what is registered in errors ("strategy"), ``unknown_kind`` what a user asked for by name ("personalization
    method")."""

    def __init__(self, kind: str, unknown_kind: str | None = None, key: Callable[[Any], str] = lambda t: t.name):
        super().__init__()
        self.kind, self.unknown_kind, self.key = kind, unknown_kind or kind, key

    def register(self, thing: T) -> T:
        """Register ``thing`` (a decorator); a ConfigError where its name is taken."""
        name = self.key(thing)
        if name in self:
            raise ConfigError(f"{self.kind} {name!r} registered twice")
        self[name] = thing
        return thing

    def lookup(self, name: str) -> T:
        """The thing registered as ``name``; a ConfigError naming the known ones otherwise."""
        if name not in self:
            raise ConfigError(f"unknown {self.unknown_kind} {name!r}; known: {', '.join(self.names())}")
        return self[name]

    def names(self) -> list[str]:
        return sorted(self)
