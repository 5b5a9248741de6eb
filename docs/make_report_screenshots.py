"""docs/report-1280.png and docs/report-800.png: the first screen of a report at two widths, in Chromium.

python docs/make_report_screenshots.py reports/default/report.html
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from audit.report.pdf import find_chromium

DOCS = Path(__file__).resolve().parent


def main(report: str) -> None:
    url = Path(report).resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=find_chromium(),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        for width, height in ((1280, 900), (800, 1000)):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url, wait_until="load")
            scroll = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            page.screenshot(path=str(DOCS / f"report-{width}.png"))
            print(f"report-{width}.png: scrollWidth {scroll[0]} at innerWidth {scroll[1]}")
            page.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "reports/default/report.html")
