"""Check a rendered report in a headless browser and screenshot its first screen.

    python3 benchmarks/report_page.py REPORT_DIR/index.html docs/report_first_screen.png

Needs Chromium (Debian: ``apt install chromium``) and ``pip install playwright`` (the Python package only:
it drives the system's /usr/bin/chromium, nothing is downloaded). Prints, for a 1,400 x 900 px window,
the page's width, every table, image or figure that runs past the window's right edge (there should be
none: wide tables scroll inside the page), how many tables scroll, and how many images there are; exits 1
when something runs off the page. Not part of the test suite: CI has no browser.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MEASURE = """() => {
  const vw = document.documentElement.clientWidth;
  const off = [...document.querySelectorAll('table, img, figure, pre')]
    .filter(e => e.getBoundingClientRect().right > vw + 1)
    .map(e => (e.tagName + ' ' + (e.querySelector('caption')?.textContent || e.alt || '')).slice(0, 80));
  const tables = [...document.querySelectorAll('table.scores')];
  return {window_width: vw, page_width: document.documentElement.scrollWidth, off_page: off,
          tables: tables.length, scrolling_tables: tables.filter(t => t.scrollWidth > t.clientWidth + 1).length,
          images: document.images.length};
}"""


def main(page: str, shot: str, width: int = 1400, height: int = 900) -> int:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": width, "height": height})
        tab.goto(Path(page).resolve().as_uri())
        tab.screenshot(path=shot)
        info = tab.evaluate(MEASURE)
        browser.close()
    print(json.dumps(info, indent=1))
    return 1 if info["off_page"] or info["page_width"] > info["window_width"] else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
