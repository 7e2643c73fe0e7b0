"""`ecgadapt data download` against a real HTTP server on 127.0.0.1 serving a PhysioNet-like tree."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from ecgadapt.data import get_adapter
from ecgadapt.data.download import DownloadError, download_dataset, parse_checksums


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """http.server plus 'Range: bytes=N-' (as PhysioNet's server supports), logging what was asked."""

    requests: list[tuple[str, str | None]] = []

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        RangeHandler.requests.append((self.path, self.headers.get("Range")))
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
    RangeHandler.requests = []
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

