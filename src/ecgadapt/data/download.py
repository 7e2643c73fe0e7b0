"""Download a database from PhysioNet with checksums and resume.

PhysioNet publishes ``SHA256SUMS.txt`` at the root of every project version
(``https://physionet.org/files/<slug>/<version>/``). Every listed file is fetched into ``DEST`` keeping the
project's own layout, into ``<file>.part`` first: an interrupted download resumes with an HTTP Range request (a
connection the server drops is resumed at once, a few times, and the partial file kept for a rerun after that), and a
file only appears under its real name once its SHA-256 matches. Files already present with the right checksum are
skipped, so a rerun completes what is missing. ``base_url`` points elsewhere (a mirror, or a test server on
127.0.0.1).

Bounds: a file is never written beyond the length the server announces, nor beyond ``max_file_bytes`` or the free
disk space; a server that sends fewer than ``MIN_BYTES_PER_STALL`` bytes in ``stall_s`` seconds is given up on; the
checksum list is parsed line by line as it arrives. A listed name that cannot be a file name (a NUL byte) fails
alone; a path out of the folder refuses the whole list.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.client
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ecgadapt._atomic import output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.data.base import get_adapter
from ecgadapt.errors import ConfigError, EcgAdaptError

PHYSIONET_FILES_URL = "https://physionet.org/files"
_CHUNK = 1 << 20
#: the largest file written unless told otherwise (PhysioNet's largest single files are a few GB)
MAX_FILE_BYTES = 16 << 30
#: a server sending less than this in ``stall_s`` seconds is stalled
MIN_BYTES_PER_STALL = 1024
#: times a dropped connection is resumed within one run
RESUMES = 3


class DownloadError(EcgAdaptError):
    pass


@dataclass
class DownloadReport:
    url: str
    dest: str
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def project_url(name: str, base_url: str | None = None) -> str:
    adapter = get_adapter(name)
    if adapter.physionet is None:
        raise ConfigError(f"{name}: no PhysioNet project is known for this dataset")
    base = (base_url or os.environ.get("ECGADAPT_PHYSIONET_URL") or PHYSIONET_FILES_URL).rstrip("/")
    return f"{base}/{adapter.physionet.slug}/{adapter.physionet.version}/"


def parse_checksums(lines: str | Iterable[str], source: str, only: list[str] | None = None) -> dict[str, str]:
    """``SHA256SUMS.txt`` (its text, or its lines as they arrive) -> {path: sha256}, only the paths matching the
    ``only`` glob patterns (on the path or its file name) if given. A path out of the folder refuses the list."""
    sums = {}
    for n, line in enumerate(lines.splitlines() if isinstance(lines, str) else lines, 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DownloadError(f"{source}: line {n} is not '<sha256>  <path>': {line[:80]!r}")
        path = parts[1].strip().lstrip("*")
        if path.startswith("/") or ".." in Path(path).parts:
            raise DownloadError(f"{source}: line {n}: unsafe path {path!r}")
        if only and not any(fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(Path(path).name, pat) for pat in only):
            continue
        sums[path] = parts[0].lower()
    return sums


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download_dataset(name: str, dest: str | Path, *, base_url: str | None = None, only: list[str] | None = None,
                     progress: bool = True, timeout: float = 60.0, stall_s: float = 60.0,
                     max_file_bytes: int = MAX_FILE_BYTES) -> DownloadReport:
    """Fetch every file of ``SHA256SUMS.txt`` (or those matching the ``only`` glob patterns) into ``dest``.
    ``timeout``: to connect; ``stall_s``: the longest a server may send next to nothing."""
    url = project_url(name, base_url)
    dest = output_folder(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sums_url = url + "SHA256SUMS.txt"
    try:
        with urllib.request.urlopen(sums_url, timeout=timeout) as resp:
            sums = parse_checksums((raw.decode("utf-8", "replace") for raw in resp), sums_url, only)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise DownloadError(f"{sums_url}: cannot fetch the checksum list ({err})") from err
    if only and not sums:
        raise ConfigError(f"{sums_url}: no file matches {only}")
    report = DownloadReport(url=url, dest=str(dest))
    with progress_bar(progress, f"download {name}", len(sums)) as advance:
        for rel, expected in sums.items():
            try:
                if "\x00" in rel:
                    raise DownloadError(f"{rel!r}: a NUL byte in the name: no file can be named so")
                target = dest / rel
                if target.is_file() and sha256_of(target) == expected:
                    report.skipped.append(rel)
                else:
                    _fetch(url + rel, target, expected, timeout, stall_s, max_file_bytes)
                    report.downloaded.append(rel)
            except (DownloadError, OSError, ValueError, urllib.error.URLError, http.client.HTTPException) as err:
                report.failed[rel] = str(err)
            advance()
    return report


def _fetch(url: str, target: Path, expected: str, timeout: float, stall_s: float, max_file_bytes: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    for attempt in range(RESUMES + 1):
        have = part.stat().st_size if part.is_file() else 0
        try:
            complete = _fetch_part(url, part, have, timeout, stall_s, max_file_bytes)
        except _Dropped as dropped:
            if attempt < RESUMES:
                continue  # resumed from where it stopped
            raise DownloadError(f"{url}: the server closed the connection {RESUMES + 1} times, the last after "
                                f"{dropped.received:,} of {dropped.total:,} bytes: the partial file is kept, run again "
                                "to resume") from None
        if complete:
            break
    actual = sha256_of(part)
    if actual != expected:
        part.unlink()
        raise DownloadError(f"{target}: checksum mismatch (got {actual[:12]}..., expected {expected[:12]}...); "
                            "the partial file was removed, run again to retry")
    os.replace(part, target)


class _Dropped(Exception):
    def __init__(self, received: int, total: int):
        super().__init__(received, total)
        self.received, self.total = received, total


def _fetch_part(url: str, part: Path, have: int, timeout: float, stall_s: float, max_file_bytes: int) -> bool:
    """Append to ``part`` what the server sends from byte ``have`` on; True when it sent all it announced."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(request, timeout=min(timeout, stall_s))
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the .part is already complete
            return True
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
    with resp:
        resumed = bool(have) and resp.status == 206
        start = have if resumed else 0
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length is not None and length.isdigit() else None
        limit = min(max_file_bytes, start + shutil.disk_usage(part.parent).free)
        if total is not None and total > limit:
            raise DownloadError(f"{url}: the server announces {total:,} bytes, more than "
                                f"{'the free disk space' if limit < max_file_bytes else 'the size limit'} "
                                f"({limit:,} bytes): not written")
        written, window_start, window_bytes = start, time.monotonic(), 0
        with part.open("ab" if resumed else "wb") as f:
            while True:
                block = resp.read1(_CHUNK)
                if not block:
                    break
                end = (total if total is not None else limit) - written
                if len(block) > end:  # more than announced, or than may be written: the rest is not ours
                    f.write(block[:max(end, 0)])
                    raise DownloadError(f"{url}: the server sent more than the {end + written:,} bytes "
                                        f"{'it announced' if total is not None else 'a file may have here'}")
                f.write(block)
                written += len(block)
                window_bytes += len(block)
                if time.monotonic() - window_start > stall_s:
                    if window_bytes < MIN_BYTES_PER_STALL:
                        raise DownloadError(f"{url}: stalled: {window_bytes} bytes in the last {stall_s:g} s; the "
                                            "partial file is kept, run again to resume")
                    window_start, window_bytes = time.monotonic(), 0
    if total is not None and written < total:
        raise _Dropped(written, total)
    return True
