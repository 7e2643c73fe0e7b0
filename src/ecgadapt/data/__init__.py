"""Database I/O: one adapter per PhysioNet database, registered by name, all producing :class:`Record`."""

from importlib import resources
from pathlib import Path

from ecgadapt.data import (cinc2017, cinc2020, cpsc2019, cpsc2021, ltafdb, ludb, mitdb, nstdb, ptb,  # noqa: F401
                          ptbxl, svdb)  # registers the adapters
from ecgadapt.data import edf, ishne  # noqa: F401 - registers the one-file formats
from ecgadapt.data.base import (DatasetAdapter, DatasetInfo, PhysioNetSource, get_adapter, list_adapters,
                                read_annotations, read_header, read_wfdb_signal, register_adapter)
from ecgadapt.data.record import AAMI_CLASSES, AAMI_MAP, Annotations, Record, RecordRef, RhythmInterval

#: the real MIT-BIH records shipped with the package (de Chazal DS2: never seen by a DS1-trained model)
EMBEDDED_RECORDS = ("200", "213", "232", "233")


def embedded_root(database: str = "mitdb") -> Path:
    """Folder of the records shipped inside the package (see its LICENSE notice)."""
    return Path(str(resources.files("ecgadapt") / "data" / "embedded" / database))


__all__ = [
    "AAMI_CLASSES", "AAMI_MAP", "Annotations", "DatasetAdapter", "DatasetInfo", "EMBEDDED_RECORDS",
    "PhysioNetSource", "Record", "RecordRef", "RhythmInterval", "embedded_root", "get_adapter", "list_adapters",
    "read_annotations", "read_header", "read_wfdb_signal", "register_adapter",
]
