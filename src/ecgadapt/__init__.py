"""ecgadapt: take population ECG models to the individual patient.

The public API is organised in rooms, each with one job:

- :mod:`ecgadapt.data`      dataset adapters (registered by name), the :class:`Record` type, downloads
- :mod:`ecgadapt.signal`    filters, resampling, R peaks, RR features, beat and window cutting
- :mod:`ecgadapt.cache`     memory-mapped prepared arrays with a manifest
- :mod:`ecgadapt.protocols` patient-aware splits as data
"""

from ecgadapt.errors import EcgAdaptError, RecordError

__version__ = "0.1.0"

__all__ = ["EcgAdaptError", "RecordError", "__version__"]
