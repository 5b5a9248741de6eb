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

            # Picture first, at a desktop and a narrow width: no sideways scroll, the verdict and
            # the attention chart in the first screen, the check strip linking to its cards.
            for width in (1280, 800):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(url, wait_until="load")
                scroll = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
                assert scroll[0] <= scroll[1], (width, scroll)
                for selector in (".ba-verdict", "#attention-chart svg"):
                    box = page.locator(selector).bounding_box()
                    assert box and box["y"] + box["height"] <= 900 and box["width"] > 200, (width, selector, box)
                assert page.locator(".ba-verdict .ba-label").inner_text().startswith("Verdict: ")
                assert page.locator("#attention-chart svg rect").count() > 10
            cards = page.evaluate(
                "() => Array.from(document.querySelectorAll('#galleries .gallery')).map(g => "
                "new Set(Array.from(g.children).map(c => Math.round(c.getBoundingClientRect().top))).size"
                " < g.children.length || g.children.length < 2)"
            )
            assert cards and all(cards)  # several cards per row
            assert page.locator(".card .tag").count() > 0  # class and correctness on each card
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith("file://") and not u.startswith("data:")] == []
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_pdf_through_headless_chromium(quick_run, tmp_path):
    from audit.report.pdf import find_chromium, write_pdf

    if find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no Chromium for the PDF: `make test` installs Debian's chromium package")
        pytest.skip("Chromium not installed")
    _, out, _ = quick_run
    why = write_pdf(out / "report.html", tmp_path / "report.pdf")
    assert why == "" and (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "report.pdf").stat().st_size > 50_000
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # the partial file renamed away


def test_no_chromium_means_no_pdf_and_a_reason(quick_run, tmp_path, monkeypatch):
    from audit.report.pdf import write_pdf

    monkeypatch.setenv("BRAIN_AUDIT_CHROMIUM", str(tmp_path / "no-such-browser"))
    _, out, _ = quick_run
    assert write_pdf(out / "report.html", tmp_path / "report.pdf").startswith("no Chromium found")
    assert not (tmp_path / "report.pdf").exists()


def _column(page, name: str) -> int:
    heads = page.evaluate(
        "() => Array.from(document.querySelectorAll('#per-image-table thead th')).map(t => t.textContent)"
    )
    return heads.index(name) - 1
