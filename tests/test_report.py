"""The HTML report: escaping of untrusted strings, and a real browser (Debian's Chromium via Playwright)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from audit.pipeline import cached_outputs

CHROMIUM = os.environ.get("BRAIN_AUDIT_CHROMIUM", "/usr/bin/chromium")
EVIL = "<script>alert(1)</script>"


def test_strings_from_data_are_escaped(quick_run, tmp_path):
    from audit.pipeline import report_input
    from audit.report.render import write_outputs

    cfg, out, run = quick_run
    outputs = cached_outputs(cfg, out, "checks")
    # The class is renamed everywhere it appears (class lists, count and metric keys).
    results = json.loads((out / "results.json").read_text().replace('"healthy"', json.dumps(EVIL)))
    results["experiment"] = EVIL
    per_image = outputs["scores"].per_image.copy()
    per_image["class"] = per_image["class"].replace({"healthy": EVIL})
    per_image = per_image.rename(columns={"prob_healthy": f"prob_{EVIL}"})
    outputs["scores"] = dataclasses.replace(outputs["scores"], per_image=per_image)
    inputs = dataclasses.replace(report_input(outputs), class_names=(EVIL, "tumor"))
    write_outputs(tmp_path, cfg, results, inputs)
    html = (tmp_path / "report.html").read_text()
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert (tmp_path / "figures" / "roc.png").stat().st_size > 0


def test_report_in_a_real_browser(quick_run, tmp_path):
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    _, out, _ = quick_run
    report = tmp_path / "report"
    shutil.copytree(out, report, ignore=shutil.ignore_patterns("cache"))
    url = (report / "report.html").resolve().as_uri()
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(30_000)
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(url, wait_until="load")
            page.evaluate("() => Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))")
            images = page.evaluate("() => Array.from(document.images).map(i => [i.alt, i.naturalWidth])")
            assert images and all(width > 0 for _, width in images), [a for a, w in images if not w][:5]
            assert all(alt for alt, _ in images)
            assert page.locator("#verdict").is_visible()
            assert page.locator("#verdict h2").inner_text().startswith("Verdict: ")

            rows = page.locator("#per-image-table tbody tr")
            n = rows.count()
            first_ids = lambda: page.evaluate(  # noqa: E731
                "() => Array.from(document.querySelectorAll('#per-image-table tbody tr')).slice(0, 5)"
                ".map(r => r.cells[1].textContent)"
            )
            before = first_ids()
            header = page.locator("#per-image-table thead th", has_text="energy_off_target")
            header.click()
            col = 1 + _column(page, "energy_off_target")
            ascending = page.evaluate(
                "() => Array.from(document.querySelectorAll('#per-image-table tbody tr'))"
                f".map(r => parseFloat(r.cells[{col}].dataset.value))"
            )
            assert first_ids() != before
            values = [v for v in ascending if v == v]  # NaN last
            assert values == sorted(values)
            header.click()
            assert page.locator("#per-image-table thead th[aria-sort=descending]").count() == 1

            page.fill("#table-filter", "tumor")
            visible = page.evaluate(
                "() => Array.from(document.querySelectorAll('#per-image-table tbody tr'))"
                ".filter(r => r.style.display !== 'none').length"
            )
            assert 0 < visible < n
            assert page.locator("#table-count").inner_text() == f"{visible} of {n} images"
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith("file://") and not u.startswith("data:")] == []
    assert (tmp_path / "report.png").stat().st_size > 10_000


def _column(page, name: str) -> int:
    heads = page.evaluate(
        "() => Array.from(document.querySelectorAll('#per-image-table thead th')).map(t => t.textContent)"
    )
    return heads.index(name) - 1
