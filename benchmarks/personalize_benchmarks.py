"""Speed of the personalization engine on this CPU (2 cores).

    python benchmarks/personalize_benchmarks.py [--out benchmarks/results/personalize_benchmarks.json]

1. Whole-record annotation: embedded MIT-BIH record 233 (30 min, 2 leads in the file, MLII used) read with wfdb,
   filtered, cut into beats, classified by the shipped population model, WFDB annotations + CSV written;
   median of 5 runs after a warm-up. Goal: <= 1 s.
2. Personalization time of each method on the same record (first 5 min labelled), guard off and on, seed 0,
   population beats from MIT-BIH DS1 (needs --mitdb for the methods that use them).

    python benchmarks/personalize_benchmarks.py --holter-hours 24 --out benchmarks/results/personalize_holter24.json

3. Instead of 1 and 2: a Holter-length record, 233 repeated to the given hours (signal and beat annotations, MIT-BIH's
   format 212), run through the two commands as a user would, each in its own process: ``ecgadapt annotate`` with
   the shipped model (on the annotated beats, then on R peaks it detects), and ``ecgadapt personalize`` (finetune, guard on, 5 labelled minutes). Wall time and the
   process's peak memory (max RSS) of each. ``--holter-channels 12``: 12 channels (MLII, then V1 repeated) in
   format 16, as a 12-lead Holter would have. ``--holter-format edf``: the 2 leads as an EDF+ file written by pyedflib
   (whole seconds, digital values kept), with the beat annotations in a WFDB file beside it. ``--holter-format
   ishne``: the 2 leads as an ISHNE Holter file written by ishneholterlib (lead codes II and V1, so the commands read
   ``--lead II``), the beat annotations in a WFDB file beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import wfdb

from ecgadapt._atomic import atomic_write_json
from ecgadapt.data import embedded_root
from ecgadapt.personalize import list_strategies
from ecgadapt.pipeline.annotate import annotate_record
from ecgadapt.pipeline.personalize import personalize_record
from ecgadapt.population.training import population_beats
from ecgadapt.population.shipped import shipped_model_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/results/personalize_benchmarks.json")
    ap.add_argument("--mitdb", type=Path, default=None, help="MIT-BIH folder (population beats for dann/mmd/coral/maml/protonet)")
    ap.add_argument("--methods", nargs="*", default=None)
    ap.add_argument("--holter-hours", type=float, default=None, help="time a record this long instead (section 3)")
    ap.add_argument("--holter-channels", type=int, default=2, help="channels of that record (section 3)")
    ap.add_argument("--holter-format", choices=("wfdb", "edf", "ishne"), default="wfdb", help="its file format (section 3)")
    args = ap.parse_args()
    if args.holter_hours:
        atomic_write_json(args.out, holter(args.holter_hours, args.holter_channels, args.holter_format))
        return
    record = embedded_root("mitdb") / "233"
    model = shipped_model_path()
    results: dict = {"threads": torch.get_num_threads(), "record": "mitdb/233 (embedded)"}
    with tempfile.TemporaryDirectory() as tmp:
        annotate_record(model, record, Path(tmp) / "warm")
        runs = [annotate_record(model, record, Path(tmp) / f"a{i}") for i in range(5)]
    results["annotate"] = {"beats": runs[0]["beats"], "duration_s": runs[0]["duration_s"],
                           "leads_in_record": runs[0]["leads_in_record"],
                           "median_total_s": statistics.median(r["seconds"]["total"] for r in runs),
                           "median_read_and_cut_s": statistics.median(r["seconds"]["read_and_cut"] for r in runs),
                           "median_inference_s": statistics.median(r["seconds"]["inference"] for r in runs)}
    print(results["annotate"], flush=True)
    pop = population_beats(args.mitdb, model, progress=False) if args.mitdb else None
    rows = []
    cache = Path(tempfile.mkdtemp())  # meta-learned initialisations: trained once (timed apart), then reused
    for method in args.methods or list_strategies():
        if method in ("maml", "protonet") and pop is not None:
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                personalize_record(model, record, Path(tmp), method=method, guard=False, population=pop, cache_dir=cache)
                rows.append({"method": method, "meta_training_once_s": round(time.perf_counter() - t0, 2)})
        for guard in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    t0 = time.perf_counter()
                    r = personalize_record(model, record, Path(tmp), method=method, guard=guard, population=pop,
                                           cache_dir=cache)
                except Exception as err:  # noqa: BLE001 - a method without population data is reported, not fatal
                    rows.append({"method": method, "guard": guard, "error": str(err)})
                    continue
                row = {"method": method, "guard": guard, "adapt_s": r.summary["seconds"]["adapt"],
                       "total_s": round(time.perf_counter() - t0, 2), "kept": r.summary["kept"]}
                print(row, flush=True)
                rows.append(row)
    results["personalize"] = rows
    atomic_write_json(args.out, results)


_PEAK_RSS = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def holter(hours: float, channels: int = 2, file_format: str = "wfdb") -> dict:
    source = embedded_root("mitdb") / "233"
    rec, ann = wfdb.rdrecord(str(source), physical=False), wfdb.rdann(str(source), "atr")
    copies = int(np.ceil(hours * 3600 / (rec.sig_len / rec.fs)))
    beat = np.isin(ann.symbol, list("NLRejAaJSVEF/fQ"))
    results: dict = {"record": f"mitdb/233 (embedded) x {copies}", "hours": round(copies * rec.sig_len / rec.fs / 3600, 2),
                     "channels": channels, "format": file_format, "beats_annotated": int(beat.sum()) * copies}
    cli = shutil.which("ecgadapt")
    record = {"edf": "holter.edf", "ishne": "holter.ecg"}.get(file_format, "holter")
    lead = ["--lead", "II"] if file_format == "ishne" else []  # ISHNE has a code for lead II, none for MLII
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if file_format in ("edf", "ishne") and channels != 2:
            raise SystemExit(f"--holter-format {file_format} writes the 2 leads of 233")
        if file_format == "edf":
            results["beats_annotated"] = _write_edf_holter(folder, rec, ann.sample[beat], np.asarray(ann.symbol)[beat],
                                                           copies)
        elif file_format == "ishne":
            _write_ishne_holter(folder / record, rec, copies)
        elif channels == 2:  # as MIT-BIH: format 212
            wfdb.wrsamp("holter", fs=rec.fs, units=rec.units, sig_name=rec.sig_name, d_signal=np.tile(rec.d_signal, (copies, 1)),
                        fmt=["212"] * rec.n_sig, adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=tmp)
        else:  # a many-lead Holter: MLII, then V1 again and again; format 16, written a copy at a time
            names = ["MLII", "V1"] + [f"C{i + 1}" for i in range(2, channels)]
            frame = np.column_stack([rec.d_signal[:, 0]] + [rec.d_signal[:, 1]] * (channels - 1)).astype("<i2")
            with open(folder / "holter.dat", "wb") as f:
                for _ in range(copies):
                    frame.tofile(f)
            (folder / "holter.hea").write_text(f"holter {channels} {rec.fs:g} {copies * rec.sig_len}\n" + "".join(
                f"holter.dat 16 {rec.adc_gain[0]:g}({rec.baseline[0]})/mV 11 0 0 0 0 {name}\n" for name in names))
        if file_format in ("wfdb", "ishne"):
            wfdb.wrann("holter", "atr", np.concatenate([ann.sample[beat] + i * rec.sig_len for i in range(copies)]),
                       symbol=list(np.asarray(ann.symbol)[beat]) * copies, write_dir=tmp)
        for name, args in (("annotate", ["annotate"]), ("annotate_detected", ["annotate", "--beats", "detected"]),
                           ("personalize_finetune_guard", ["personalize", "--method", "finetune"])):
            t0 = time.perf_counter()
            # a wrapper process with this one child: its children's peak RSS is the command's own
            done = subprocess.run([sys.executable, "-c", _PEAK_RSS, cli, *args, *lead, "--record", str(folder / record),
                                   "--out", str(folder / name)], check=True, capture_output=True, text=True)
            results[name] = {"wall_s": round(time.perf_counter() - t0, 1),
                             "max_rss_mib": round(int(done.stdout.split()[-1]) / 1024)}
            if name.startswith("personalize"):
                results[name]["seconds"] = json.loads((folder / name / "summary.json").read_text())["seconds"]
            print(name, results[name], flush=True)
    return results


def _write_edf_holter(folder: Path, rec: wfdb.Record, sample: np.ndarray, symbol: np.ndarray, copies: int) -> int:
    """``holter.edf`` (EDF+, whole seconds, the 11-bit digital values kept) and its beats in ``holter.atr``; returns
    how many beats were annotated."""
    from pyedflib import highlevel

    n = copies * rec.sig_len // int(rec.fs) * int(rec.fs)  # EDF stores whole data records (1 s)
    digital = [np.tile(rec.d_signal[:, i].astype(np.int32) - rec.baseline[i], copies)[:n] for i in range(rec.n_sig)]
    headers = [highlevel.make_signal_header(name, dimension="mV", sample_frequency=rec.fs, physical_min=-1024 / 200,
                                            physical_max=1023 / 200, digital_min=-1024, digital_max=1023)
               for name in rec.sig_name]
    highlevel.write_edf(str(folder / "holter.edf"), digital, headers, digital=True)
    samples = np.concatenate([sample + i * rec.sig_len for i in range(copies)])
    within = samples < n
    wfdb.wrann("holter", "atr", samples[within], symbol=list(np.tile(symbol, copies)[within]), write_dir=str(folder))
    return int(within.sum())


def _write_ishne_holter(path: Path, rec: wfdb.Record, copies: int) -> None:
    """An ISHNE 1.0 file of 233's 2 leads repeated ``copies`` times (5 uV a unit, as MIT-BIH's 200 units a mV)."""
    import datetime

    from ishneholterlib import Holter, Lead

    h = Holter.__new__(Holter)
    h.filename, h.is_annfile, h.beat_anns, h.var_block = str(path), False, [], None
    h.file_version, h.first_name, h.last_name, h.id, h.sex, h.race = 1, "", "", "holter", 0, 0
    h.birth_date, h.record_date, h.start_time = None, datetime.date(2026, 1, 1), datetime.time(8, 0, 0)
    h.pm, h.recorder_type, h.sr, h.proprietary, h.copyright, h.reserved = 0, b"digital", int(rec.fs), "", "", ""
    h.lead = []
    for i, spec in enumerate((6, 11)):  # II, V1
        lead = Lead(spec, 1, int(round(1e6 / rec.adc_gain[i])))
        lead.data = np.tile((rec.d_signal[:, i] - rec.baseline[i]).astype(np.int16), copies)
        h.lead.append(lead)
    h.write_file(overwrite=True, convert_data=False)


if __name__ == "__main__":
    main()
