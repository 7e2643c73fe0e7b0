"""Render an ecgadapt report in headless Chromium and save a screenshot: the check that the HTML report a user opens
shows what it should (its figures load, nothing is blank), and the picture the README shows.

    python tools/report_screenshot.py demo-out/report.html docs/report.png [--height 1600]

Exits 1 when no Chromium is found or the page renders blank (one colour). Chromium runs with --no-sandbox only when
this runs as root, as in a container.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(report: Path, png: Path, width: int = 1280, height: int = 1600, timeout_s: float = 60.0) -> Path:
    """``report`` (an HTML file) rendered at ``width`` x ``height`` into ``png``; RuntimeError when that fails or the
    page is one colour."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError(f"no Chromium found ({', '.join(CHROMIUM_NAMES)})")
    if not report.is_file():
        raise RuntimeError(f"{report}: no such report")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:  # a throwaway profile: nothing of the user's, nothing left
        args = [chromium, "--headless", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", f"--screenshot={png.resolve()}", report.resolve().as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0 or not png.is_file():
        raise RuntimeError(f"Chromium failed on {report} ({done.returncode}): {done.stderr.strip()[-500:]}")
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("L").getextrema()
    if colours[0] == colours[1]:
        raise RuntimeError(f"{report}: rendered blank (one colour) in {png}")
    return png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1600)
    args = ap.parse_args()
    try:
        print(screenshot(args.report, args.png, args.width, args.height))
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
