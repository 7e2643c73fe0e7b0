"""Exceptions. Every error about input data names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class EcgAdaptError(Exception):
    """Base class for all errors raised by ecgadapt."""


class RecordError(EcgAdaptError):
    """A record (or one of its files) cannot be used; ``path`` names the file, ``problem`` says why."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(EcgAdaptError):
    """A setting, protocol or name given by the user is invalid."""
