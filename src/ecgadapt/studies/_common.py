"""What the config-driven studies share: finding and parsing a TOML config (a shipped name or a path), and
resolving a database entry of a config to its folder and records."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from ecgadapt.data import get_adapter
from ecgadapt.errors import ConfigError


def shipped_configs(kind: str) -> list[str]:
    """Names of the configs shipped in ``ecgadapt/configs/<kind>/``."""
    folder = resources.files("ecgadapt") / "configs" / kind
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def read_config(kind: str, name_or_path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(path, parsed TOML) of a config given by file path or by the name of a shipped ``kind`` config."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        shipped = resources.files("ecgadapt") / "configs" / kind / f"{name_or_path}.toml"
        if not shipped.is_file():
            raise ConfigError(f"no {kind} config {name_or_path!r}; shipped: {', '.join(shipped_configs(kind))}")
        path = Path(str(shipped))
    elif not path.is_file():
        raise ConfigError(f"{path}: config file missing")
    try:
        return path, tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err


def database_records(dataset: str, root: str, data_root: Path, records: tuple[str, ...] | None,
                     limit: int | None) -> tuple[Path, tuple[str, ...] | None]:
    """The database folder (``root`` relative to the study's ``--data`` folder, or absolute) and the records to
    prepare: ``records`` as given, or the first ``limit`` in the database's order (smoke configs), or all (None)."""
    folder = Path(root) if Path(root).is_absolute() else data_root / root
    if limit is not None:
        records = tuple(r.name for r in get_adapter(dataset).records(folder)[:limit])
    return folder, records
