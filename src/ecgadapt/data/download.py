"""Download a database from PhysioNet with checksums and resume.

PhysioNet publishes ``SHA256SUMS.txt`` at the root of every project version
(``https://physionet.org/files/<slug>/<version>/``). Every listed file is fetched into ``DEST`` keeping the
project's own layout, into ``<file>.part`` first: an interrupted download resumes with an HTTP Range request,
and a file only appears under its real name once its SHA-256 matches. Files already present with the right
checksum are skipped, so a rerun completes what is missing. ``base_url`` points elsewhere (a mirror, or a
test server on 127.0.0.1).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ecgadapt._atomic import output_folder
from ecgadapt._progress import progress_bar
from ecgadapt.data.base import get_adapter
from ecgadapt.errors import ConfigError, EcgAdaptError

PHYSIONET_FILES_URL = "https://physionet.org/files"
_CHUNK = 1 << 20


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


def parse_checksums(text: str, source: str) -> dict[str, str]:
    sums = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DownloadError(f"{source}: line {n} is not '<sha256>  <path>': {line[:80]!r}")
        path = parts[1].strip().lstrip("*")
        if path.startswith("/") or ".." in Path(path).parts:
            raise DownloadError(f"{source}: line {n}: unsafe path {path!r}")
        sums[path] = parts[0].lower()
    return sums


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download_dataset(name: str, dest: str | Path, *, base_url: str | None = None, only: list[str] | None = None,
                     progress: bool = True, timeout: float = 60.0) -> DownloadReport:
    """Fetch every file of ``SHA256SUMS.txt`` (or those matching the ``only`` glob patterns) into ``dest``."""
    url = project_url(name, base_url)
    dest = output_folder(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sums_url = url + "SHA256SUMS.txt"
    try:
        with urllib.request.urlopen(sums_url, timeout=timeout) as resp:
            sums = parse_checksums(resp.read().decode("utf-8", "replace"), sums_url)
    except urllib.error.URLError as err:
        raise DownloadError(f"{sums_url}: cannot fetch the checksum list ({err})") from err
    if only:
        sums = {p: h for p, h in sums.items() if any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(Path(p).name, pat)
                                                     for pat in only)}
        if not sums:
            raise ConfigError(f"{sums_url}: no file matches {only}")
    report = DownloadReport(url=url, dest=str(dest))
    with progress_bar(progress, f"download {name}", len(sums)) as advance:
        for rel, expected in sums.items():
            target = dest / rel
            try:
                if target.is_file() and sha256_of(target) == expected:
                    report.skipped.append(rel)
                else:
                    _fetch(url + rel, target, expected, timeout)
                    report.downloaded.append(rel)
            except (DownloadError, OSError, urllib.error.URLError) as err:
                report.failed[rel] = str(err)
            advance()
    return report


def _fetch(url: str, target: Path, expected: str, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the .part is already complete
            resp = None
        else:
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
    if resp is not None:
        with resp:
            resumed = have and resp.status == 206
            with part.open("ab" if resumed else "wb") as f:
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    f.write(block)
    actual = sha256_of(part)
    if actual != expected:
        part.unlink()
        raise DownloadError(f"{target}: checksum mismatch (got {actual[:12]}..., expected {expected[:12]}...); "
                            "the partial file was removed, run again to retry")
    os.replace(part, target)
