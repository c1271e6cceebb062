"""Run folders made by the real commands, and a headless Debian Chromium that opens the pages.

The browser is Debian's ``chromium`` (installed by ``make test`` like ngspice), driven by
playwright with ``executable_path``: playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: Debian's browser (the package `chromium`); CHROMIUM=/path overrides
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: seconds a page may take to load and draw
PAGE_TIMEOUT_S = 30

#: in the page: what every plot, image, headline and table looks like once drawn
_INSPECT_JS = """
() => {
  const plots = Array.from(document.querySelectorAll('.plotly-graph-div')).map(el => {
    const r = el.getBoundingClientRect();
    return {id: el.id, svg: !!el.querySelector('svg.main-svg'), width: r.width, height: r.height,
            marks: el.querySelectorAll('g.trace, g.hm, .heatmaplayer image, g.point').length,
            traces: (el.data || []).length};
  });
  const images = Array.from(document.querySelectorAll('img')).map(img =>
      ({alt: img.alt, complete: img.complete, width: img.naturalWidth}));
  const headlines = Array.from(document.querySelectorAll('.headline')).map(h =>
      ({source: h.dataset.source, key: h.dataset.key, value: h.dataset.value,
        text: h.querySelector('.value').textContent, label: h.querySelector('.label').textContent,
        run: h.closest('section.run').dataset.path}));
  const tables = document.querySelectorAll('table.data.sortable').length;
  return {plots, images, headlines, tables, title: document.title, text: document.body.innerText,
          sections: Array.from(document.querySelectorAll('section.run')).map(s => s.dataset.kind)};
}
"""


class Browser:
    """One headless Chromium for the test module; ``open(path)`` loads a page and reports what it shows."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            raise RuntimeError(
                f"{CHROMIUM} missing: install Debian's chromium (make test does: apt-get install chromium)"
            )
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(
            executable_path=CHROMIUM,
            timeout=PAGE_TIMEOUT_S * 1000,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )

    def open(self, path: Path, *, width: int = 1280, screenshot: Path | None = None) -> tuple[dict, list[str], object]:
        page = self.browser.new_page(viewport={"width": width, "height": 900})
        page.set_default_timeout(PAGE_TIMEOUT_S * 1000)
        errors: list[str] = []
        page.on(
            "console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        )
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on(
            "request",
            lambda req: (
                errors.append(f"network request: {req.url}")
                if not req.url.startswith(("file:", "data:", "about:"))
                else None
            ),
        )
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.wait_for_function("""() => Array.from(document.querySelectorAll('.plotly-graph-div'))
                                   .every(el => el._fullLayout && el.querySelector('svg.main-svg'))""")
        info = page.evaluate(_INSPECT_JS)
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        return info, errors, page

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()
