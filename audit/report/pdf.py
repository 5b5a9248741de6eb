"""report.pdf: the HTML report printed by headless Chromium (``[report] pdf = true`` or ``--pdf``).

Radiology groups file PDFs.  Chromium is found at ``$BRAIN_AUDIT_CHROMIUM``, ``/usr/bin/chromium``
or on the PATH (``chromium``, ``chromium-browser``, ``google-chrome``); without one, no PDF is
written and the run says why.  The print stylesheet of the report opens collapsed sections and
drops the navigation; the PDF is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["find_chromium", "write_pdf"]


def find_chromium() -> str | None:
    """Path of a Chromium-family browser, or None."""
    given = os.environ.get("BRAIN_AUDIT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pdf(html: Path, pdf: Path, timeout_s: float = 120.0) -> str:
    """Print ``html`` to ``pdf``; returns "" on success, else the reason no PDF was written."""
    browser = find_chromium()
    if browser is None:
        return "no Chromium found (install Debian's chromium, or set BRAIN_AUDIT_CHROMIUM)"
    partial = pdf.with_name(f".{pdf.name}.partial-{os.getpid()}")
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-pdf-header-footer", f"--print-to-pdf={partial}", Path(html).resolve().as_uri(),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        partial.unlink(missing_ok=True)
        return f"Chromium did not print the report: {type(exc).__name__}: {exc}"
    if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return f"Chromium exited with {done.returncode} without a PDF ({tail[0][:200]})"
    partial.replace(pdf)
    return ""
