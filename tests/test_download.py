"""`ecgadapt data download` against a real HTTP server on 127.0.0.1 serving a PhysioNet-like tree."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from ecgadapt.data import get_adapter
from ecgadapt.data.download import DownloadError, download_dataset, parse_checksums


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """http.server plus 'Range: bytes=N-' (as PhysioNet's server supports), logging what was asked."""

    requests: list[tuple[str, str | None]] = []
    #: URL path -> how the server misbehaves on it: "drop-once", "drop" (always), "huge", "trickle", "overflow"
    faults: dict[str, str] = {}

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        RangeHandler.requests.append((self.path, self.headers.get("Range")))
        fault = RangeHandler.faults.get(self.path)
        if fault and not (fault == "drop-once" and self.headers.get("Range")):
            return self._misbehave(fault)
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not rng or not path.is_file():
            return super().do_GET()
        start = int(rng.split("=")[1].split("-")[0])
        data = path.read_bytes()
        if start >= len(data):
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


    def _misbehave(self, fault: str) -> None:
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(10 ** 13 if fault == "huge" else len(data)))
        self.end_headers()
        if fault in ("drop", "drop-once"):  # half the file, then the connection closes
            self.wfile.write(data[:len(data) // 2])
        elif fault == "huge":
            self.wfile.write(b"\0" * 100_000)
        elif fault == "trickle":  # a byte now and then
            for byte in data[:15]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        elif fault == "overflow":  # more than it announced
            self.wfile.write(data + b"\0" * 50_000)
        self.close_connection = True


@pytest.fixture()
def physionet(tmp_path: Path, embedded: Path):
    """Serve files/mitdb/1.0.0/ with two real records and a SHA256SUMS.txt, like physionet.org/files."""
    site = tmp_path / "site"
    project = site / "mitdb" / "1.0.0"
    project.mkdir(parents=True)
    names = []
    for rec in ("200", "233"):
        for ext in ("hea", "dat", "atr"):
            shutil.copy(embedded / f"{rec}.{ext}", project / f"{rec}.{ext}")
            names.append(f"{rec}.{ext}")
    (project / "RECORDS").write_text("200\n233\n")
    names.append("RECORDS")
    write_checksums(project, names)
    with serving(site) as url:
        yield url, project


def write_checksums(project: Path, names: list[str]) -> None:
    sums = "".join(f"{hashlib.sha256((project / n).read_bytes()).hexdigest()} {n}\n" for n in names)
    (project / "SHA256SUMS.txt").write_text(sums)


@contextlib.contextmanager
def serving(site: Path):
    """A real HTTP server on 127.0.0.1 serving ``site`` (like physionet.org/files); yields its base URL."""
    handler = lambda *a, **kw: RangeHandler(*a, directory=str(site), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RangeHandler.requests, RangeHandler.faults = [], {}
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_checks_and_reads(physionet, tmp_path: Path) -> None:
    url, project = physionet
    dest = tmp_path / "mitdb"
    report = download_dataset("mitdb", dest, base_url=url, progress=False)
    assert sorted(report.downloaded) == sorted(p for p in os.listdir(project) if p != "SHA256SUMS.txt")
    assert not report.failed
    refs = get_adapter("mitdb").records(dest)
    assert [r.name for r in refs] == ["200", "233"]
    assert get_adapter("mitdb").load(refs[1]).n_samples == 650000
    again = download_dataset("mitdb", dest, base_url=url, progress=False)  # nothing left to fetch
    assert again.downloaded == [] and len(again.skipped) == 7


def test_interrupted_download_resumes_with_range(physionet, tmp_path: Path) -> None:
    url, project = physionet
    dest = tmp_path / "mitdb"
    dest.mkdir()
    full = (project / "233.dat").read_bytes()
    (dest / "233.dat.part").write_bytes(full[:700_000])  # as left by an interrupted run
    report = download_dataset("mitdb", dest, base_url=url, only=["233.*"], progress=False)
    assert sorted(report.downloaded) == ["233.atr", "233.dat", "233.hea"]
    assert (dest / "233.dat").read_bytes() == full and not (dest / "233.dat.part").exists()
    assert ("/mitdb/1.0.0/233.dat", "bytes=700000-") in RangeHandler.requests


def test_checksum_mismatch_is_reported_and_nothing_written(physionet, tmp_path: Path) -> None:
    url, project = physionet
    (project / "200.atr").write_bytes(b"tampered")
    report = download_dataset("mitdb", tmp_path / "mitdb", base_url=url, progress=False)
    assert list(report.failed) == ["200.atr"] and "checksum mismatch" in report.failed["200.atr"]
    assert "200.atr" in report.failed["200.atr"]
    assert not (tmp_path / "mitdb" / "200.atr").exists() and not (tmp_path / "mitdb" / "200.atr.part").exists()
    assert len(report.downloaded) == 6  # the rest finished


def test_unreachable_server_and_bad_checksum_list(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"SHA256SUMS\.txt: cannot fetch"):
        download_dataset("mitdb", tmp_path, base_url="http://127.0.0.1:9", progress=False, timeout=2)
    with pytest.raises(DownloadError, match="unsafe path"):
        parse_checksums("a" * 64 + " ../../etc/passwd\n", "SUMS")


def test_ltafdb_download_path(ltafdb_root: Path, tmp_path: Path) -> None:
    """LTAF is not in ../shared; users get it from PhysioNet's ltafdb/1.0.0 project, checked like any other."""
    project = tmp_path / "site" / "ltafdb" / "1.0.0"
    shutil.copytree(ltafdb_root, project)
    write_checksums(project, sorted(p.name for p in project.iterdir()))
    with serving(tmp_path / "site") as url:
        report = download_dataset("ltafdb", tmp_path / "ltafdb", base_url=url, progress=False)
    assert not report.failed and len(report.downloaded) == 7  # 2 x (hea, dat, atr) + RECORDS
    assert all(path.startswith("/ltafdb/1.0.0/") for path, _ in RangeHandler.requests)
    adapter = get_adapter("ltafdb")
    rec = adapter.load(adapter.records(tmp_path / "ltafdb")[1])
    assert rec.name == "01" and [iv.label for iv in rec.rhythms] == ["(AFIB"]



def test_a_dropped_connection_is_resumed_not_called_corrupt(physionet, tmp_path: Path) -> None:
    """Report section 8: the server closes mid-file. Resumed at once with a Range request; where it keeps
    dropping, the partial file is kept for a rerun and the message says so."""
    url, project = physionet
    RangeHandler.faults["/mitdb/1.0.0/233.dat"] = "drop-once"
    report = download_dataset("mitdb", tmp_path / "a", base_url=url, only=["233.dat"], progress=False)
    assert report.downloaded == ["233.dat"] and not report.failed
    assert (tmp_path / "a" / "233.dat").read_bytes() == (project / "233.dat").read_bytes()
    half = len((project / "233.dat").read_bytes()) // 2
    assert ("/mitdb/1.0.0/233.dat", f"bytes={half}-") in RangeHandler.requests

    RangeHandler.faults["/mitdb/1.0.0/233.dat"] = "drop"
    report = download_dataset("mitdb", tmp_path / "b", base_url=url, only=["233.dat"], progress=False)
    assert "the server closed the connection 4 times" in report.failed["233.dat"]
    assert "the partial file is kept, run again to resume" in report.failed["233.dat"]
    assert (tmp_path / "b" / "233.dat.part").stat().st_size == half


def test_a_body_is_bounded_by_what_is_announced_and_what_may_be_written(physionet, tmp_path: Path) -> None:
    url, project = physionet
    RangeHandler.faults["/mitdb/1.0.0/233.dat"] = "huge"  # Content-Length 10^13 for a 1.9-MB file
    report = download_dataset("mitdb", tmp_path / "a", base_url=url, only=["233.dat"], progress=False)
    assert "the server announces 10,000,000,000,000 bytes, more than" in report.failed["233.dat"]
    assert not (tmp_path / "a" / "233.dat.part").exists() or (tmp_path / "a" / "233.dat.part").stat().st_size == 0
    RangeHandler.faults["/mitdb/1.0.0/233.hea"] = "overflow"
    report = download_dataset("mitdb", tmp_path / "b", base_url=url, only=["233.hea"], progress=False)
    assert report.downloaded == ["233.hea"]  # what it sent beyond its Content-Length was never read
    assert (tmp_path / "b" / "233.hea").read_bytes() == (project / "233.hea").read_bytes()
    report = download_dataset("mitdb", tmp_path / "c", base_url=url, only=["233.atr"], progress=False,
                              max_file_bytes=1000)
    assert "more than the size limit (1,000 bytes)" in report.failed["233.atr"]


def test_a_trickling_server_is_given_up_on(physionet, tmp_path: Path) -> None:
    url, _ = physionet
    RangeHandler.faults["/mitdb/1.0.0/233.hea"] = "trickle"
    t0 = time.monotonic()
    report = download_dataset("mitdb", tmp_path / "a", base_url=url, only=["233.hea"], progress=False, stall_s=1.0)
    assert "stalled:" in report.failed["233.hea"] and time.monotonic() - t0 < 5


def test_a_nul_byte_in_a_listed_name_fails_that_file_alone(physionet, tmp_path: Path) -> None:
    url, project = physionet
    sums = (project / "SHA256SUMS.txt").read_text()
    (project / "SHA256SUMS.txt").write_text(sums + "a" * 64 + " bad\x00name.dat\n")
    report = download_dataset("mitdb", tmp_path / "a", base_url=url, progress=False)
    assert list(report.failed) == ["bad\x00name.dat"] and "a NUL byte in the name" in report.failed["bad\x00name.dat"]
    assert len(report.downloaded) == 7


def test_the_checksum_list_is_parsed_as_it_arrives_and_filtered() -> None:
    lines = iter(["a" * 64 + " 100.dat", "b" * 64 + " x/233.hea", ""])
    assert parse_checksums(lines, "SUMS", only=["233.*"]) == {"x/233.hea": "b" * 64}
