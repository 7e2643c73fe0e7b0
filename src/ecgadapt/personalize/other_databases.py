"""Moved to :mod:`ecgadapt.population.other_databases`; this path works for one release."""

from ecgadapt._moved import moved

__getattr__ = moved(__name__, ("ecgadapt.population.other_databases",))
