"""Every case of the tester's report (../shared/reports/bad-inputs.md, section 1) under its id, re-created from a copy
of a real record and run through the command line: a bad input is an error naming the file and the problem (exit 2),
a good one works (exit 0), and nothing is silently wrong. Cases kept elsewhere, beside the feature they test, are
named in ``ELSEWHERE``; docs/bad-inputs.md lists every case with where it is tested.

The base record is the first 5 minutes of embedded MIT-BIH 233 (format 212, 2 leads, 360 Hz), so that a case runs
in about a second.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import wfdb
from typer.testing import CliRunner

from ecgadapt.cli import app

runner = CliRunner()
N = 360 * 300  # samples of the base record: 5 minutes

#: cases tested beside the feature they concern (test file::test)
ELSEWHERE = {
    "H04": "test_sampling_rates.py", "H10": "test_messages.py", "H11": "test_messages.py", "H12": "test_trust.py",
    "H13": "test_messages.py", "H14": "test_messages.py", "H15": "test_messages.py", "H22": "test_messages.py",
    "H25": "test_messages.py", "H29": "test_messages.py", "H30": "test_sampling_rates.py",
    "H31": "test_sampling_rates.py", "H32": "test_messages.py", "A03": "test_messages.py", "A10": "test_trust.py",
    "S05": "test_trust.py", "S14": "test_sampling_rates.py", "S15": "test_sampling_rates.py",
    "S16": "test_sampling_rates.py", "E07": "test_trust.py", "M02": "test_trust.py", "M04": "test_safe_loading.py",
    "M05": "test_safe_loading.py", "M06": "test_safe_loading.py", "M07": "test_messages.py", "M08": "test_trust.py",
    "M09": "test_safe_loading.py", "O08": "test_trust.py", "O09": "test_trust.py", "O10": "test_messages.py",
    "O12": "test_messages.py", "O13": "test_trust.py", "B02": "test_annotate_batch.py",
    "B03": "test_annotate_batch.py", "B06": "test_annotate_batch.py", "B08": "test_annotate_batch.py",
    "B01": "test_annotate_batch.py", "B04": "test_annotate_batch.py", "B05": "test_annotate_batch.py",
    "O06": "test_annotate_batch.py",
    "P01": "test_messages.py", "P07": "test_trust.py",
}


@pytest.fixture(scope="module")
def base(embedded: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 5 minutes of 233, written as MIT-BIH writes it (format 212, checksums in the header)."""
    folder = tmp_path_factory.mktemp("base")
    rec = wfdb.rdrecord(str(embedded / "233"), sampto=N, physical=False)
    ann = wfdb.rdann(str(embedded / "233"), "atr", sampto=N - 1)
    wfdb.wrsamp("233", fs=360, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal, fmt=["212", "212"],
                adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(folder))
    wfdb.wrann("233", "atr", ann.sample, symbol=ann.symbol, aux_note=ann.aux_note, write_dir=str(folder))
    return folder


def _header_line(r: Path, index: int, old: str, new: str) -> None:
    hea = r.with_suffix(".hea")
    lines = hea.read_text().splitlines()
    assert old in lines[index], (old, lines[index])
    lines[index] = lines[index].replace(old, new, 1)
    hea.write_text("\n".join(lines) + "\n")


def _dat(r: Path, change: Callable[[bytes], bytes]) -> None:
    dat = r.with_suffix(".dat")
    dat.write_bytes(change(dat.read_bytes()))


def _record(folder: Path, name: str, signal: np.ndarray, fs: float, leads: list[str], fmt: str = "16",
            ann: wfdb.Annotation | None = None) -> Path:
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=leads, p_signal=signal, fmt=[fmt] * len(leads),
                adc_gain=[200.0] * len(leads), baseline=[0] * len(leads), write_dir=str(folder))
    if ann is not None:
        wfdb.wrann(name, "atr", ann.sample, symbol=ann.symbol, write_dir=str(folder))
    return folder / name


def _resampled(r: Path, fs: float, seconds: float) -> Path:
    """233's first ``seconds`` resampled to ``fs`` (annotations moved with it), as 233 in the same folder."""
    from scipy.signal import resample_poly

    rec, ann = wfdb.rdrecord(str(r), sampto=int(360 * seconds)), wfdb.rdann(str(r), "atr", sampto=int(360 * seconds))
    up, down = int(fs), 360
    signal = resample_poly(rec.p_signal, up, down, axis=0)
    keep = ann.sample < 360 * seconds - 1
    moved = wfdb.Annotation("233", "atr", np.round(ann.sample[keep] * fs / 360).astype(np.int64),
                            symbol=list(np.asarray(ann.symbol)[keep]))
    for ext in ("hea", "dat", "atr"):
        r.with_suffix(f".{ext}").unlink()
    return _record(r.parent, "233", signal, fs, rec.sig_name, ann=moved)


def _edf(r: Path, change: Callable[[bytearray], None] | None = None, atr: bool = True) -> Path:
    from tests.test_personalize import _write_edf

    rec = wfdb.rdrecord(str(r), physical=False)
    path = r.parent / "e233.edf"
    _write_edf(path, rec, 360 * 120)
    if atr:
        ann = wfdb.rdann(str(r), "atr", sampto=360 * 120 - 1)
        wfdb.wrann("e233", "atr", ann.sample, symbol=ann.symbol, write_dir=str(r.parent))
    if change is not None:
        data = bytearray(path.read_bytes())
        change(data)
        path.write_bytes(bytes(data))
    return path


def _ishne(r: Path, change: Callable[[bytearray], None] | None = None) -> Path:
    from tests.test_ishne import write_ishne

    rec = wfdb.rdrecord(str(r), physical=False)
    digital = (rec.d_signal - np.asarray(rec.baseline)).astype(np.int16)
    path = write_ishne(r.parent / "i233.ecg", digital, [6, 11], fs=360, resolution_nv=5000)
    ann = wfdb.rdann(str(r), "atr")
    wfdb.wrann("i233", "atr", ann.sample, symbol=ann.symbol, write_dir=str(r.parent))
    if change is not None:
        data = bytearray(path.read_bytes())
        change(data)
        path.write_bytes(bytes(data))
    return path


def _labels(r: Path, text: str, encoding: str = "utf-8") -> list[str]:
    csv = r.parent / "labels.csv"
    csv.write_bytes(text.encode(encoding))
    return ["personalize", "--record", str(r), "--labels", str(csv), "--labelled-minutes", "2", "--method",
            "finetune-head", "--param", "steps=2", "--no-guard"]


def _control_labels(r: Path) -> str:
    ann = wfdb.rdann(str(r), "atr", sampto=360 * 120)
    beats = [(s, y) for s, y in zip(ann.sample, ann.symbol) if y in "NVAF"]
    return "sample,label\n" + "".join(f"{s},{y}\n" for s, y in beats)


def _model(tmp: Path, state: object) -> list[str]:
    torch.save(state, tmp / "model.pt")
    return ["--model", str(tmp / "model.pt")]


ANNOTATE, PERSONALIZE = "annotate", "personalize"
FAST_PERSONALIZE = ["--method", "finetune-head", "--param", "steps=2", "--no-guard"]


def _case(case: str, r: Path, tmp: Path) -> list[str]:  # noqa: C901 - one branch a case, as the report lists them
    """Damage the copy of the base record ``r`` as case ``case`` does; the command's arguments (without --out)."""
    rec_args = ["--record", str(r)]
    a = [ANNOTATE, *rec_args]
    hea = r.with_suffix(".hea")
    if case == "W01":
        _dat(r, lambda b: b"")
    elif case == "W02":
        _dat(r, lambda b: b[:1])
    elif case == "W03":
        _dat(r, lambda b: b[:len(b) // 2])
    elif case == "W04":
        _dat(r, lambda b: b[:-1])
    elif case == "W05":
        _dat(r, lambda b: b[:-3])
    elif case == "W06":
        _dat(r, lambda b: b + b"\0\0\0")
    elif case == "W07":
        _dat(r, lambda b: b + bytes(10 << 20))
    elif case == "W08":
        _dat(r, lambda b: b + b"\0\0")
    elif case == "H01":
        _header_line(r, 0, f" {N}", f" {N // 2}")
    elif case == "H02":
        _header_line(r, 0, f" {N}", f" {N * 2}")
    elif case == "H03":
        _header_line(r, 0, f" 360 {N}", " 360")
    elif case in ("H05", "H26"):
        _header_line(r, 0, " 360 ", " 0 ")
        a = [PERSONALIZE, *rec_args, *FAST_PERSONALIZE] if case == "H26" else a
    elif case == "H06":
        _header_line(r, 0, " 360 ", " -360 ")
    elif case == "H07":
        _header_line(r, 0, " 360 ", " nan ")
    elif case == "H27":
        _header_line(r, 0, " 360 ", " abc ")
        a = [PERSONALIZE, *rec_args, *FAST_PERSONALIZE]
    elif case == "H08":
        _header_line(r, 1, " 200.0(", " 0(")
    elif case == "H09":
        _header_line(r, 1, " 200.0(", " -200.0(")
    elif case == "H16":
        hea.write_bytes(hea.read_bytes().replace(b"V1", b"V1\xe9") + b"# caf\xe9 \xff\n")
    elif case == "H17":
        hea.write_bytes(hea.read_bytes().replace(b" 360 ", b" 360 \xe9", 1))
    elif case == "H18":
        hea.write_bytes(b"")
    elif case == "H19":
        hea.write_bytes(np.random.default_rng(19).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes())
    elif case == "H20":
        text = hea.read_text().replace(" MLII", "").replace(" V1", "")
        hea.write_text(text)
    elif case == "H21":
        hea.write_text(hea.read_text().replace(" MLII", " ECG1").replace(" V1", " ECG2"))
    elif case == "H23":
        _dat(r, lambda b: np.random.default_rng(23).integers(0, 256, len(b), dtype=np.uint8).tobytes())
    elif case == "H24":
        _dat(r, lambda b: b[:540 * 60] + bytes(540 * 60) + b[540 * 120:])  # minute 1 to 2 zeroed
    elif case == "H28":
        _header_line(r, 1, " 212 ", " 212+99999999 ")
    elif case == "A01":
        _dat(r, lambda b: b)
        atr = r.with_suffix(".atr")
        data = atr.read_bytes()
        atr.write_bytes(data[:len(data) // 4 * 2])
    elif case == "A02":
        r.with_suffix(".atr").write_bytes(np.random.default_rng(2).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif case == "A04":  # the signal cut to its first half, as a recorder would write it; the annotations not
        rec = wfdb.rdrecord(str(r), sampto=N // 2, physical=False)
        wfdb.wrsamp("233", fs=360, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal,
                    fmt=["212", "212"], adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(r.parent))
    elif case == "A05":
        r.with_suffix(".atr").write_bytes(b"\0\0")  # the end-of-file marker alone
    elif case == "A06":
        wfdb.wrann("233", "atr", np.array([1]), symbol=["+"], aux_note=["(N"], write_dir=str(r.parent))
        a = [PERSONALIZE, *rec_args, *FAST_PERSONALIZE]
    elif case == "A07":
        r.with_suffix(".atr").write_bytes(b"")
    elif case == "A08":
        ann = wfdb.rdann(str(r), "atr")
        wfdb.wrann("233", "atr", np.insert(ann.sample, 10, ann.sample[10]), symbol=np.insert(ann.symbol, 10, "V"),
                   write_dir=str(r.parent))
    elif case == "A09":
        ann = wfdb.rdann(str(r), "atr")
        wfdb.wrann("233", "atr", ann.sample[:3], symbol=["+", "~", "+"], write_dir=str(r.parent))
        a = [*a, "--beats", "annotated"]
    elif case in ("S01", "S02", "S03", "S04", "S06", "S09", "S10", "S11", "S13"):
        rec = wfdb.rdrecord(str(r))
        ann = wfdb.rdann(str(r), "atr")
        for ext in ("hea", "dat", "atr"):
            r.with_suffix(f".{ext}").unlink()
        signal, leads, keep_ann = rec.p_signal.copy(), list(rec.sig_name), ann
        if case in ("S01", "S02"):
            signal[:] = 0.1
            keep_ann = ann if case == "S01" else None
        elif case == "S03":
            signal[:, 0] = np.nan
        elif case == "S04":
            signal[:, 1] = np.nan
        elif case == "S06":
            signal = signal[:360]
            keep_ann = wfdb.Annotation("233", "atr", ann.sample[ann.sample < 360], symbol=list(
                np.asarray(ann.symbol)[ann.sample < 360]))
            a = [PERSONALIZE, *rec_args, *FAST_PERSONALIZE]
        elif case == "S09":
            signal, leads = signal[:, :1], leads[:1]
        elif case == "S10":
            noise = np.random.default_rng(10).normal(0, 0.05, (len(signal), 14))
            signal = np.column_stack([signal, noise])
            leads = [*leads, *(f"X{i}" for i in range(14))]
        elif case == "S11":
            signal = np.random.default_rng(11).normal(0, 0.005, (360 * 20, 2))
            keep_ann = None
        elif case == "S13":
            signal[360 * 60:360 * 120, 0] = np.nan
        _record(r.parent, "233", signal, 360, leads, ann=keep_ann)
    elif case == "S07":
        _resampled(r, 50, 300)
    elif case == "S08":
        _resampled(r, 10_000, 60)
    elif case == "S12":
        one = tmp / "folder"
        one.mkdir()
        for ext in ("hea", "dat", "atr"):
            shutil.copy(r.with_suffix(f".{ext}"), one / f"233.{ext}")
        rec = wfdb.rdrecord(str(r), sampto=360)
        _record(one, "short", rec.p_signal, 360, rec.sig_name)
        a = [ANNOTATE, "--record", str(one)]
    elif case == "E00":
        a = [ANNOTATE, "--record", str(_edf(r))]
    elif case == "E01":
        a = [ANNOTATE, "--record", str(_edf(r, lambda d: d.__setitem__(slice(0, 16), b"garbage!garbage!")))]
    elif case in ("E02", "E03", "E04"):
        count = {"E02": b"240     ", "E03": b"60      ", "E04": b"-1      "}[case]
        a = [ANNOTATE, "--record", str(_edf(r, lambda d: d.__setitem__(slice(236, 244), count)))]
    elif case == "E05":
        a = [ANNOTATE, "--record", str(_edf(r, lambda d: d.__delitem__(slice(len(d) // 2, None))))]
    elif case == "E06":
        def same_range(d: bytearray) -> None:  # physical minimum = physical maximum on the first signal
            ns = int(d[252:256])
            at = 256 + ns * (16 + 80 + 8)
            d[at + ns * 8:at + ns * 8 + 8] = d[at:at + 8]
        a = [ANNOTATE, "--record", str(_edf(r, same_range))]
    elif case == "I00":
        a = [ANNOTATE, "--record", str(_ishne(r))]
    elif case == "I01":
        a = [ANNOTATE, "--record", str(_ishne(r, lambda d: d.__setitem__(slice(8, 10), b"\0\0")))]
    elif case == "I02":
        a = [ANNOTATE, "--record", str(_ishne(r, lambda d: d.__setitem__(slice(0, 8), b"NOTISHNE")))]
    elif case == "I03":
        a = [ANNOTATE, "--record", str(_ishne(r, lambda d: d.__delitem__(slice(len(d) // 2, None))))]
    elif case == "I04":
        a = [ANNOTATE, "--record", str(_ishne(r, lambda d: d.__setitem__(slice(10 + 262, 10 + 264), b"\0\0")))]
    elif case == "I05":
        a = [ANNOTATE, "--record", str(_ishne(r, lambda d: d.__setitem__(slice(10 + 196, 10 + 198), b"\0\0")))]
    elif case == "L00":
        a = _labels(r, _control_labels(r))
    elif case == "L01":
        a = _labels(r, _control_labels(r).replace(",N\n", ",X\n", 1))
    elif case == "L02":
        a = _labels(r, _control_labels(r) + "1000000000,N\n")
    elif case == "L03":
        a = _labels(r, "time_s,label\n-1.5,N\n2.0,N\n")
    elif case == "L04":
        a = _labels(r, "sample\n100\n")
    elif case == "L05":
        a = _labels(r, "label\nN\n")
    elif case == "L06":
        a = _labels(r, "\ufeff" + _control_labels(r))
    elif case == "L07":
        rows = _control_labels(r).splitlines()[1:]
        a = _labels(r, "time_s;label\n" + "".join(f"{int(s) / 360:.4f};{y}\n".replace(".", ",")
                                                  for s, y in (row.split(",") for row in rows)))
    elif case == "L10":
        a = _labels(r, _control_labels(r), encoding="utf-16")
    elif case == "L11":
        rows = _control_labels(r).splitlines()[1:]
        a = _labels(r, '"sample","label"\n' + "".join(f'"{s}.0","{y}"\n' for s, y in (x.split(",") for x in rows)))
    elif case == "L12":
        rows = _control_labels(r).splitlines()[1:]
        a = _labels(r, "time_s,label\n" + "".join(f"{int(s) / 360 * 1000:.1f},{y}\n"
                                                  for s, y in (x.split(",") for x in rows)))
    elif case == "M01":
        (tmp / "model.pt").write_text("not a model")
        a = [*a, "--model", str(tmp / "model.pt")]
    elif case == "M03":
        a = [*a, *_model(tmp, torch.zeros(3))]
    elif case == "O01":
        (tmp / "out").write_text("a file")
    elif case == "O07":
        (tmp / "parent").write_text("a file")
    elif case == "O11":
        a = [ANNOTATE, "--record", str(tmp / "no" / "such")]
    elif case == "O05":
        spaced = tmp / "patient ü 1"
        spaced.mkdir()
        for ext in ("hea", "dat", "atr"):
            shutil.copy(r.with_suffix(f".{ext}"), spaced / f"233.{ext}")
        a = [ANNOTATE, "--record", str(spaced / "233")]
    elif case in ("L08", "L09"):  # 100,000 rows: many labels at one sample; or empty labels around the real ones
        rows = _control_labels(r).splitlines()[1:]
        filler = [f"{i % N},N" for i in range(100_000)] if case == "L08" else [f"{i % N}," for i in range(100_000)]
        a = _labels(r, "sample,label\n" + "\n".join([*rows, *filler] if case == "L08" else [*filler, *rows]) + "\n")
    elif case == "O02":  # a file system no one may write to (sysfs): the folder cannot be made
        a = [*a, "--out", "/sys/ecgadapt-out"]
    elif case == "O03":  # an existing folder no one may write into
        a = [PERSONALIZE, *rec_args, *FAST_PERSONALIZE, "--out", "/sys/kernel"]
    elif case == "O14":
        holter = tmp / "Holter [patient 2]"
        holter.mkdir()
        shutil.copy(r.with_suffix(".hea"), holter / "233.hea")
        a = [ANNOTATE, "--record", str(holter / "233")]
    elif case == "B07":
        batch = tmp / "batch"
        batch.mkdir()
        for name, rate in (("233", "360"), ("100", "0"), ("101", "nan")):
            for ext in ("hea", "dat", "atr"):
                shutil.copy(r.with_suffix(f".{ext}"), batch / f"{name}.{ext}")
            hea100 = batch / f"{name}.hea"
            hea100.write_text(hea100.read_text().replace("233", name).replace(" 360 ", f" {rate} "))
        rec = wfdb.rdrecord(str(r), sampto=360)
        _record(batch, "102", rec.p_signal, 360, rec.sig_name)
        a = [ANNOTATE, "--record", str(batch)]
    elif case == "P02":
        a = [PERSONALIZE, *rec_args, "--labelled-minutes", "inf"]
    elif case == "P03":
        a = [PERSONALIZE, *rec_args, "--labelled-start", "40", *FAST_PERSONALIZE]
    elif case == "P04":
        a = [PERSONALIZE, *rec_args, "--param", "lr=nan"]
    elif case == "P05":
        a = [PERSONALIZE, *rec_args, "--param", "steps=-5"]
    elif case == "P06":
        a = [PERSONALIZE, *rec_args, "--labelled-minutes", "0.01", "--method", "finetune-head"]
    elif case == "P08":
        a = [PERSONALIZE, *rec_args, "--seed", str(2 ** 40), *FAST_PERSONALIZE]
    elif case == "D01":
        (r.parent / "999.hea").write_bytes(b"\xff\xfe garbage")
        a = ["data", "info", "mitdb", str(r.parent)]
    elif case in ("D02", "D03"):  # D03 (not the report's): every record of the folder bad
        if case == "D02":
            for ext in ("hea", "dat", "atr"):
                shutil.copy(r.with_suffix(f".{ext}"), r.parent / f"100.{ext}")
            hea100 = r.parent / "100.hea"
            hea100.write_text(hea100.read_text().replace("233", "100"))
        _dat(r, lambda b: b[:len(b) // 2])
        a = ["data", "prepare", "mitdb", str(r.parent), "--workers", "1"]
    else:
        raise AssertionError(f"no builder for {case}")
    return a


ANNOTATED = "233: 517 beats (annotated R peaks)"  # the base record read whole, as clean
TRUNCATED = "233.dat: truncated:"
#: case -> (exit code, what the output says); each re-created by ``_case``
EXPECTED: dict[str, tuple[int, str]] = {
    "W01": (2, f"{TRUNCATED} 0 bytes, header promises 324000"), "W02": (2, f"{TRUNCATED} 1 bytes"),
    "W03": (2, f"{TRUNCATED} 162000 bytes"), "W04": (2, f"{TRUNCATED} 323999 bytes"),
    "W05": (2, f"{TRUNCATED} 323997 bytes"),
    "W06": (0, ANNOTATED),  # 3 bytes more: under the 4 bytes of padding tolerated
    "W07": (2, "233.dat: header/data length mismatch: 10809760 bytes"), "W08": (0, ANNOTATED),
    "H01": (2, "233.dat: header/data length mismatch: 324000 bytes, header's 54000 samples need 162000"),
    "H02": (2, f"{TRUNCATED} 324000 bytes, header promises 648000"), "H03": (0, ANNOTATED),
    "H05": (2, "233.hea: sampling rate 0 Hz on the record line: it must be a positive number"),
    "H06": (2, "233.hea: sampling rate -360 Hz on the record line: it must be a positive number"),
    "H07": (2, "233.hea: sampling rate nan Hz on the record line: it must be a positive number"),
    "H08": (0, "lead(s) MLII uncalibrated (header gain 0)"),
    "H09": (0, "WARNING: lead(s) MLII (-200) have a negative gain in the header, so they are read upside down"),
    "H16": (0, ANNOTATED), "H17": (0, ANNOTATED),
    "H18": (2, "233.hea: an empty header: no record line"),
    "H19": (2, "233.hea: not a WFDB header: its first line is no record line"),
    "H20": (2, "233: lead 'MLII' missing (record has ch0, ch1); --lead NAME"),
    "H21": (0, "lead ECG1 used in place of the model's MLII (its stand-in"),
    "H23": (2, "233.dat: lead MLII: its samples do not match the header's checksum"),
    "H24": (2, "233.dat: lead MLII: its samples do not match the header's checksum"),  # was read: zeros flagged
    "H26": (2, "233.hea: sampling rate 0 Hz"), "H27": (2, "233.hea: sampling rate 'abc' on the record line is not"),
    "H28": (2, f"{TRUNCATED} 324000 bytes, header promises 100323999"),
    "A01": (2, "233.atr: truncated or not a WFDB annotation file (no end-of-file marker)"),
    "A02": (2, "233.atr: truncated or not a WFDB annotation file"),
    "A04": (2, "233.atr: annotation beyond the end of the signal (263 of 537"),
    "A05": (0, "233.atr holds no beat annotations (rhythm or other events only): no beat labels"),
    "A06": (2, "233.atr has no beat annotation in the first 5 minutes, so they have no labels"),
    "A07": (2, "233.atr: truncated or not a WFDB annotation file"),
    "A08": (2, "233.atr: 1 beat annotation(s) not after the beat before them"),
    "A09": (2, "233.atr: no beat annotations in it: use beats='detected'"),
    "S01": (2, "233: lead MLII is a flat line (constant value)"),
    "S02": (2, "233: lead MLII is a flat line (constant value)"), "S03": (2, "233: lead MLII has no valid sample"),
    "S04": (0, ANNOTATED), "S06": (2, "233: none of its 2 beat(s) lies 0.25 s after the start"),
    "S07": (0, "record sampled at 50 Hz, resampled to the model's 360 Hz"),
    "S08": (0, "record sampled at 10000 Hz, resampled to the model's 360 Hz"),
    "S09": (0, ANNOTATED), "S10": (0, ANNOTATED),
    "S11": (0, "where R-peak detectors agree on fewer than 50% of the beats"),
    "S12": (0, "only 1 beat(s): RR features need at least 2 1 of 2 recordings annotated, 1 skipped"),
    "S13": (0, "60.0 s of invalid samples (lead off?) in 1 stretch(es) of lead(s) MLII"),
    "E00": (0, "e233: 208 beats (annotated R peaks)"),
    "E01": (2, "e233.edf: unreadable EDF/BDF (the file is not EDF(+) or BDF(+) compliant"),
    "E02": (2, "e233.edf: unreadable EDF/BDF (the file is not EDF(+) or BDF(+) compliant (Filesize)"),
    "E03": (2, "e233.edf: the header counts 60 data records, the file holds 120"),
    "E04": (2, "e233.edf: unreadable EDF/BDF (the file is not EDF(+) or BDF(+) compliant (Number of Datarecords))"),
    "E05": (2, "e233.edf: unreadable EDF/BDF (the file is not EDF(+) or BDF(+) compliant (Filesize)"),
    "E06": (2, "e233.edf: unreadable EDF/BDF (the file is not EDF(+) or BDF(+) compliant (Physical Maximum))"),
    "I00": (0, "i233: 517 beats (annotated R peaks)"),
    "I01": (0, "i233.ecg: the header's checksum does not match it"),
    "I02": (2, "i233.ecg: not an ISHNE Holter file (it starts with b'NOTISHNE'"),
    "I03": (2, "i233.ecg: truncated: 215739 bytes of samples"),
    "I04": (2, "i233.ecg: broken header: sampling rate 0 Hz"),
    "I05": (2, "i233.ecg: broken header: amplitude resolution (nV a unit) of lead(s) II 0"),
    "L00": (0, "210 beat labels read from labels.csv (0.00 to 1.99 min)"),
    "L01": (2, "labels.csv: line 3: label 'X' is no beat label"),
    "L02": (2, "labels.csv: annotation beyond the end of the signal (1 of 211"),
    "L03": (2, "labels.csv: line 2: time_s -1.5 is before the recording's start"),
    "L04": (2, "labels.csv: no label or reference column (its columns: sample)"),
    "L05": (2, "labels.csv: no sample or time_s column (its columns: label)"),
    "L06": (0, "210 beat labels read from labels.csv"), "L07": (0, "210 beat labels read from labels.csv"),
    "L10": (2, "labels.csv: a UTF-16 text file: save it as CSV UTF-8"),
    "L11": (0, "210 beat labels read from labels.csv"),
    "L12": (2, "labels.csv: annotation beyond the end of the signal (209 of 210"),
    "M01": (2, "model.pt: unreadable checkpoint: not a PyTorch file"),
    "M03": (2, "model.pt: a PyTorch file but not an ecgadapt checkpoint"),
    "O01": (2, "out: cannot be an output folder: a file of that name exists"),
    "O05": (0, ANNOTATED), "O07": (2, "parent/out: cannot be an output folder:"),
    "O11": (2, "no/such.hea: header file missing"),
    "P02": (2, "labelled minutes = inf: must be a number, 0 or more"),
    "P03": (2, "233: the record lasts 5.00 min, shorter than the 5 labelled minutes asked for from minute 40"),
    "P04": (2, "strategy 'finetune': lr='nan': must be above 0"),
    "P05": (2, "strategy 'finetune': steps='-5': must be 0 or more"),
    "P06": (2, "233.atr has no beat annotation in the first 0.01 minutes"),
    "P08": (0, "233: 517 beats, method finetune-head, kept personalized (guard off)"),
    "D01": (0, "999.hea: not a WFDB header: its first line is no record line"),
    "D02": (0, "1 prepared now"),
    "L08": (2, "labels.csv: 210 beat annotation(s) not after the beat before them"),
    "L09": (0, "210 beat labels read from labels.csv"),
    "O02": (2, "error: /sys/ecgadapt-out: Operation not permitted"),
    "O03": (2, "error: /sys/kernel/personalized.pt: Permission denied"),
    "O14": (2, "Holter [patient 2]/233.dat: signal file missing"),
    "B07": (0, "1 of 4 recordings annotated, 3 skipped"),
    "D03": (2, "none of its 1 record(s) could be prepared (233: "),
}


def _cases() -> list[str]:
    return sorted(EXPECTED)


@pytest.mark.parametrize("case", _cases())
def test_report_case(case: str, base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(base, folder)
    args = _case(case, folder / "233", tmp_path)
    out = tmp_path / "parent" / "out" if case == "O07" else tmp_path / "out"
    if args[0] in (ANNOTATE, PERSONALIZE) and "--out" not in args:
        args = [*args, "--out", str(out)]
    if args[0] == "data" and args[1] == "prepare":
        args = [*args, "--cache", str(tmp_path / "cache")]
    code, says = EXPECTED[case]
    one = args[0] in (ANNOTATE, PERSONALIZE) and not Path(args[args.index("--record") + 1]).is_dir()
    if code == 0 and one:  # what is checked is the console's: no report rendered (the suite's time)
        args = [*args, "--outputs", ("model," if args[0] == PERSONALIZE else "") + "annotations,beats,holter,summary"]
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == code and says in text, f"{case}: exit {result.exit_code}: {text[-600:]}"
    assert "Traceback" not in text


def test_o04_outputs_inside_the_input_folder_are_no_recordings(base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    shutil.copytree(base, folder)
    for _ in range(2):  # the rerun finds the first run's outputs in the folder, and takes none for a recording
        result = runner.invoke(app, ["annotate", "--record", str(folder), "--out", str(folder / "out")])
        assert result.exit_code == 0 and "1 of 1 recordings annotated" in " ".join(result.output.split())
    assert "done earlier" in " ".join(result.output.split())


def test_every_case_of_the_report_is_kept_as_a_test(shared_data: Path) -> None:
    import re

    from tests.conftest import _shared_archive

    report = _shared_archive().parent / "reports" / "bad-inputs.md"
    ids = re.findall(r"^\| \*\*([A-Z][0-9]{2})\*\*", report.read_text(), flags=re.M)
    assert len(ids) == 134
    assert [i for i in ids if i not in EXPECTED and i not in ELSEWHERE and i != "O04"] == []
