"""The application: one recording -> beats -> adapt behind the guard -> classify -> outputs, as short named steps.

:func:`personalize_record` and :func:`annotate_record` return typed results (``pipeline.results``); the outputs are
registered writers (``pipeline.writers``) the caller chooses; :func:`annotate_batch` runs ``annotate`` over many
recordings, resumably.
"""

from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.pipeline.personalize import personalize_record
from ecgadapt.pipeline.recording import PatientRecord, load_beat_model, load_patient
from ecgadapt.pipeline.results import AnnotateResult, PersonalizeResult, RecordResult
from ecgadapt.pipeline.writers import OutputWriter, list_writers, register_writer

__all__ = ["AnnotateResult", "OutputWriter", "PatientRecord", "PersonalizeResult", "RecordResult", "annotate_record",
           "list_writers", "load_beat_model", "load_patient", "personalize_record", "register_writer"]
