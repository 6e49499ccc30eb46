"""The demo in a real browser: Debian's Chromium driven by Python playwright (no browser download).

Upload a generated clip, switch audio off, run, and check that the score and both model plots
render. The screenshot is kept in test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.demo_support import TRANSCRIPT, make_clip, make_predictor

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*"),
]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    import app

    demo = app.build_demo(make_predictor(tmp_path_factory.mktemp("ck")))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_upload_toggle_run_and_plots_render(url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    clip = make_clip(tmp_path / "talk.mp4", seconds=3.0)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            outside = []  # the page must not reach beyond the app (offline, no analytics)
            own = (url, "data:", "blob:")
            page.on("request", lambda r: None if r.url.startswith(own) else outside.append(r.url))
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.locator("#analyse").wait_for(timeout=60_000)
            page.locator("#clip input[type=file]").set_input_files(str(clip))
            page.locator("#transcript textarea").fill(TRANSCRIPT)
            page.locator("#use-audio input[type=checkbox]").uncheck()
            page.locator("#analyse").click()
            score = page.locator("#score")
            score.get_by_text("student:").wait_for(timeout=180_000)
            text = score.inner_text()
            assert "student:" in text and "teacher:" in text and "on −3…+3" in text
            for plot in ("#gates-plot", "#attention-plot"):
                page.locator(f"{plot} .js-plotly-plot").first.wait_for(timeout=30_000)
                assert page.locator(f"{plot} .js-plotly-plot .main-svg").count() > 0
            page.locator("#availability").get_by_text("switched off").first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
            assert not outside, f"the page requested outside resources: {outside[:5]}"
        finally:
            browser.close()
    assert (ARTIFACTS / "demo.png").stat().st_size > 10_000
