"""ISHNE Holter recordings (.ecg) and annotation files (.ann), the THEW databases' and many Holter systems' format.

The files are written by ishneholterlib (an independent implementation of the standard, used here as a writer only:
its reader does not run on numpy 2) from the embedded MIT-BIH record 233, whose samples are 5 uV a unit, so the ISHNE
copy holds the same numbers.
"""

from __future__ import annotations

import datetime
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from conftest import pred_beats
from crccheck.crc import Crc16CcittFalse
from ishneholterlib import Holter, Lead

from ecgadapt.data.base import read_annotations
from ecgadapt.data.formats import file_format
from ecgadapt.data.recording import record_files
from ecgadapt.data.ishne import read_ishne_header, read_ishne_signal
from ecgadapt.data.record import AAMI_MAP
from ecgadapt.errors import RecordError
from ecgadapt.pipeline.batch import annotate_records, records_in
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.pipeline.personalize import personalize_record
from ecgadapt.population.shipped import shipped_model_path
from tests.conftest import ANNOTATE_NO_REPORT, PERSONALIZE_NO_REPORT

#: ISHNE's beat labels for AAMI classes: it has none for fusion beats, which go in as unknown (U)
ISHNE_LABEL = {"N": "N", "S": "S", "V": "V", "F": "U", "Q": "U"}


def _holter(path: Path, samples: np.ndarray, specs: list[int], resolution_nv: int = 5000,
            fs: int = 360) -> Holter:
    h = Holter.__new__(Holter)
    h.filename, h.is_annfile, h.beat_anns, h.var_block = str(path), False, [], None
    h.file_version, h.first_name, h.last_name, h.id, h.sex, h.race = 1, "", "", "233", 1, 0
    h.birth_date, h.record_date, h.start_time = None, datetime.date(1977, 1, 1), datetime.time(8, 0, 0)
    h.pm, h.recorder_type, h.sr, h.proprietary, h.copyright, h.reserved = 0, b"analog", fs, "", "", ""
    h.lead = []
    for column, spec in zip(samples.T, specs):
        lead = Lead(spec, 1, resolution_nv)
        lead.data = np.ascontiguousarray(column, dtype=np.int16)
        h.lead.append(lead)
    return h


def write_ishne(path: Path, samples: np.ndarray, specs: list[int], **kwargs) -> Path:
    """An ISHNE 1.0 ECG file of int16 ``samples`` [n, leads] with lead specification codes ``specs``."""
    _holter(path, samples, specs, **kwargs).write_file(overwrite=True, convert_data=False)
    return path


def write_ishne_ann(path: Path, sample: np.ndarray, labels: list[str], first: int = 0) -> Path:
    """An ISHNE annotation file: the header (ANN magic), the first sample, then label, internal label and the samples
    since the annotation before."""
    h = _holter(path, np.zeros((1, 1)), [1])
    h.autofill_header()
    header = h.get_header_bytes()
    toc = np.diff(np.concatenate([[first], sample]))
    body = b"".join(struct.pack("<cBH", label.encode(), 0, int(t)) for label, t in zip(labels, toc))
    path.write_bytes(b"ANN  1.0" + struct.pack("<H", Crc16CcittFalse.calc(header)) + header +
                     struct.pack("<I", first) + body)
    return path


@pytest.fixture()
def holter_233(embedded: Path, tmp_path: Path) -> Path:
    """233 as an ISHNE file: leads II (MIT-BIH's modified lead II) and V1, with its beats in an ISHNE .ann file."""
    rec = wfdb.rdrecord(str(embedded / "233"), physical=False)
    (tmp_path / "holter").mkdir()
    path = write_ishne(tmp_path / "holter" / "233.ecg", rec.d_signal - 1024, [6, 11])
    ann = wfdb.rdann(str(embedded / "233"), "atr")
    beat = np.array([s in AAMI_MAP for s in ann.symbol])
    write_ishne_ann(path.with_suffix(".ann"), ann.sample[beat],
                    [ISHNE_LABEL[AAMI_MAP[s]] for s in np.asarray(ann.symbol)[beat]])
    return path


def test_the_signal_is_read_as_wfdb_reads_the_record(holter_233: Path, embedded: Path) -> None:
    header = read_ishne_header(holter_233)
    assert header.leads == ["II", "V1"] and header.fs == 360.0 and header.samples == 650000 and header.notes == []
    assert header.start_time == datetime.time(8, 0, 0)
    signal, fs, leads = read_ishne_signal(holter_233, [1])
    reference = wfdb.rdrecord(str(embedded / "233")).p_signal
    assert leads == ["V1"] and fs == 360.0 and signal.dtype == np.float32 and signal.shape == (1, 650000)
    assert np.abs(signal[0] - reference[:, 1]).max() < 1e-6
    assert file_format(holter_233).name == "ISHNE Holter" and file_format(holter_233.with_suffix(".ECG"))
    assert record_files(holter_233, "atr") == [holter_233, holter_233.with_suffix(".ann")]  # .atr absent: .ann


def test_the_annotation_file_gives_the_reference_beats(holter_233: Path, embedded: Path, tmp_path: Path) -> None:
    ann = read_annotations(holter_233.with_suffix(""), "ann")
    reference = wfdb.rdann(str(embedded / "233"), "atr")
    beat = np.array([s in AAMI_MAP for s in reference.symbol])
    assert np.array_equal(ann.sample, reference.sample[beat])
    assert ann.aami().tolist() == [{"F": "Q"}.get(c, c) for c in (AAMI_MAP[s] for s in np.asarray(reference.symbol)[beat])]
    # timeouts (a gap longer than 16 bits of samples takes two) and a calibration pulse: their samples count, they
    # are no annotations
    sample = np.array([100, 400, 60000, 120000, 120300, 120600])
    write_ishne_ann(tmp_path / "t.ann", sample, ["N", "C", "!", "!", "V", "P"], first=40)
    t = read_annotations(tmp_path / "t", "ann")
    assert t.sample.tolist() == [100, 120300, 120600] and t.symbol.tolist() == ["N", "V", "/"]
    # labels the standard does not define; a cut file
    write_ishne_ann(tmp_path / "bad.ann", sample[:2], ["N", "Z"])
    with pytest.raises(RecordError, match=r"bad\.ann: unknown ISHNE annotation label\(s\) 'Z'"):
        read_annotations(tmp_path / "bad", "ann")
    # an annotation file's header is not an ECG file's: its lead fields are not checked (here: none)
    data = bytearray((tmp_path / "t.ann").read_bytes())
    data[156:158] = struct.pack("<h", 0)
    (tmp_path / "noleads.ann").write_bytes(bytes(data))
    assert read_annotations(tmp_path / "noleads", "ann").sample.tolist() == [100, 120300, 120600]
    (tmp_path / "cut.ann").write_bytes((tmp_path / "t.ann").read_bytes()[:-3])
    with pytest.raises(RecordError, match=r"cut\.ann: truncated: 25 bytes of annotations"):
        read_annotations(tmp_path / "cut", "ann")


def test_annotate_and_personalize_an_ishne_holter(holter_233: Path, embedded: Path, tmp_path: Path) -> None:
    # the lead is named II in the file, MLII in the model: II is read as its stand-in, and said so
    stand_in = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), holter_233, tmp_path / "x", outputs=ANNOTATE_NO_REPORT).summary
    assert any(n.startswith("lead II used in place of the model's MLII (its stand-in") for n in stand_in["notes"])
    info = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), holter_233, tmp_path / "ishne", lead="II", outputs=ANNOTATE_NO_REPORT).summary
    assert pd.read_csv(tmp_path / "x" / "beats.csv").predicted.tolist() == \
        pd.read_csv(tmp_path / "ishne" / "beats.csv").predicted.tolist()
    wfdb_info = annotate_record(shipped_model_path("beatnet-mitdb-ds1"), embedded / "233", tmp_path / "wfdb", outputs=ANNOTATE_NO_REPORT).summary
    assert info["beats"] == wfdb_info["beats"] == 3077 and info["beat_source"] == "annotated"
    assert "beat annotations read from 233.ann (ISHNE Holter annotations)" in info["notes"]
    ours, theirs = (pd.read_csv(tmp_path / d / "beats.csv") for d in ("ishne", "wfdb"))
    assert (ours.predicted == theirs.predicted).all() and np.abs(ours.confidence - theirs.confidence).max() < 1e-3
    assert pred_beats(tmp_path / "ishne" / "233").sample.size == 3077
    # the classes also as an ISHNE annotation file, for the software that reads the format: the same beats
    ours_ann = read_annotations(tmp_path / "ishne" / "233", "ann")
    pred = pred_beats(tmp_path / "ishne" / "233")
    assert np.array_equal(ours_ann.sample, pred.sample)
    assert ours_ann.aami().tolist() == [{"F": "Q"}.get(c, c) for c in ours.predicted]
    header = (tmp_path / "ishne" / "233.ann").read_bytes()[10:522]
    assert header == holter_233.read_bytes()[10:522]  # the ECG file's header, as the standard has it
    # the header's start time puts the Holter summary on the clock
    assert info["holter"]["start_time"] == "08:00:00" and wfdb_info["holter"]["start_time"] is None
    assert pd.read_csv(tmp_path / "ishne" / "runs.csv").clock.iloc[0] == "08:00:{:02.0f}".format(
        pd.read_csv(tmp_path / "wfdb" / "runs.csv").start_s.iloc[0])
    # personalized on its first 5 minutes, scored on the rest against the .ann file's labels
    r = personalize_record(shipped_model_path("beatnet-mitdb-ds1"), holter_233, tmp_path / "p", method="finetune-head", lead="II", outputs=PERSONALIZE_NO_REPORT)
    rest = r.summary["scores"]["rest"]
    # the WFDB record's 2560 N/S/V/F beats there but its 6 fusion beats, which ISHNE labels unknown (U: class Q)
    assert r.summary["labelled_beats"] == 517 and rest["population"]["beats"] == 2560 - 6
    assert rest["personalized"]["veb"]["f1"] > rest["population"]["veb"]["f1"] + 0.05
    # a folder of recordings: the .ecg file is one, its .ann no other
    (tmp_path / "folder").mkdir()
    for ext in ("hea", "dat", "atr"):
        shutil.copy(embedded / f"233.{ext}", tmp_path / "folder")
    shutil.copy(holter_233, tmp_path / "folder" / "holter.ecg")
    shutil.copy(holter_233.with_suffix(".ann"), tmp_path / "folder" / "holter.ann")
    found = records_in(tmp_path / "folder")
    assert [p.name for p in found] == ["233", "holter.ecg"]
    batch = annotate_records(shipped_model_path("beatnet-mitdb-ds1"), found, tmp_path / "batch", lead="II", progress=False)
    assert [r["status"] for r in batch["records"]] == ["skipped", "annotated"]  # the WFDB 233's lead is MLII


def test_bad_ishne_files_are_refused_with_the_file_and_the_problem(holter_233: Path, tmp_path: Path) -> None:
    data = holter_233.read_bytes()
    (tmp_path / "cut.ecg").write_bytes(data[:522 + 4 * 1000])
    with pytest.raises(RecordError, match=r"cut\.ecg: truncated: 4000 bytes of samples, the header promises 650000"):
        read_ishne_header(tmp_path / "cut.ecg")
    (tmp_path / "other.ecg").write_bytes(b"MUSE XML" + data[8:600])
    with pytest.raises(RecordError, match=r"other\.ecg: not an ISHNE Holter file \(it starts with b'MUSE XML'"):
        read_ishne_header(tmp_path / "other.ecg")
    (tmp_path / "short.ecg").write_bytes(data[:100])
    with pytest.raises(RecordError, match=r"short\.ecg: too short for an ISHNE header \(100 bytes of 522\)"):
        read_ishne_header(tmp_path / "short.ecg")
    # a damaged checksum, a lead marked noisy: read, and said
    damaged = bytearray(data)
    damaged[8:10] = b"\x00\x00"
    damaged[182:184] = struct.pack("<h", 3)
    (tmp_path / "damaged.ecg").write_bytes(bytes(damaged))
    notes = read_ishne_header(tmp_path / "damaged.ecg").notes
    assert notes == ["damaged.ecg: the header's checksum does not match it (a damaged header, or one written by a "
                     "program that does not compute it); its fields are read as they are",
                     "damaged.ecg: lead II marked 'frequent noise' in the header"]
    zero = bytearray(data)
    zero[206:208] = struct.pack("<h", 0)  # lead II's amplitude resolution
    (tmp_path / "zero.ecg").write_bytes(bytes(zero))
    with pytest.raises(RecordError, match=r"zero\.ecg: broken header: amplitude resolution .* of lead\(s\) II 0"):
        read_ishne_signal(tmp_path / "zero.ecg", [0])
    assert read_ishne_signal(tmp_path / "zero.ecg", [1])[2] == ["V1"]  # a lead not read may be broken


def test_a_long_gap_between_beats_is_carried_by_timeouts(holter_233: Path, tmp_path: Path) -> None:
    from ecgadapt.data.ishne import write_ishne_annotations

    sample = np.array([500, 900, 900 + 3 * 65535 + 7, 900 + 3 * 65535 + 300])  # 9 minutes without a beat at 360 Hz
    write_ishne_annotations(tmp_path / "gap.ann", holter_233, sample, ["N", "V", "F", "S"])
    raw = (tmp_path / "gap.ann").read_bytes()[526:]
    assert raw[::4].decode() == "NV!!!US"  # three timeouts, then the beat
    back = read_annotations(tmp_path / "gap", "ann")
    assert back.sample.tolist() == sample.tolist() and back.symbol.tolist() == ["N", "V", "Q", "S"]
