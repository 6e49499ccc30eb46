"""The demo in a real browser: Debian's Chromium driven by Python playwright (no browser download).

Each clip is uploaded, its preview must play (no "Video not playable" toast), the analysis must
complete, and switching audio off must re-run the model; a screenshot of each state goes to
test-artifacts/browser/ (git-ignored) for a person to look at. Clips: a recording made with
Chromium's fake camera and microphone, a generated talking head, the three examples, and every clip of
the shared media folder (`media` marker; the three the examples are byte-for-byte copies of are
analysed once, as examples). One browser page serves every test, as one visitor trying clip after
clip would (each test starts by clearing the clip and the transcript and switching every modality on),
on the session's one app server. The page must request nothing outside the app.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.conftest import shared_dir
from tests.demo_support import TRANSCRIPT, make_clip

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in (".wav", ".mpg", ".flv"))
MEDIA_EXT = (".wav", ".mpg", ".flv", ".mp4", ".avi", ".webm")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*"),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def media_clips() -> list[Path]:
    """The shared media clips, less those an example is an exact copy of (analysed once, as that example)."""
    root = shared_dir()
    if root is None or not (root / "media").is_dir():
        return []
    examples = {_digest(p) for p in EXAMPLES}
    return sorted(p for p in (root / "media").rglob("*") if p.suffix.lower() in MEDIA_EXT and _digest(p) not in examples)


@pytest.fixture(scope="module")
def url(demo_url):
    return demo_url  # the session's server (tests/conftest.py), shared with the bad-input tests


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def open_page(browser, url):
    """(page, outside requests): one page for the module, loaded once."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2000}, permissions=["camera", "microphone"])
    page = ctx.new_page()
    outside = []  # the page must not reach beyond the app (offline, no analytics)
    own = (url, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(own) else outside.append(r.url))
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.locator("#analyse").wait_for(timeout=60_000)
    yield page, outside
    ctx.close()


@pytest.fixture
def page(open_page):
    """The module's page with no clip, no transcript and every modality on; no outside request after the test."""
    page, outside = open_page
    clear = page.locator('#clip button[aria-label="Clear"]')
    if clear.count():
        clear.first.click()
    page.locator("#clip input[type=file]").wait_for(state="attached", timeout=30_000)
    page.wait_for_function("() => !document.querySelector('#preview video')", timeout=30_000)  # no stale preview
    page.locator("#transcript textarea").fill("")
    page.locator("#use-audio input[type=checkbox]").check()
    yield page
    assert not outside, f"the page requested outside resources: {outside[:5]}"


def shot(page, name: str, state: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    page.screenshot(path=str(ARTIFACTS / f"{safe}-{state}.png"), full_page=True)


def no_error_toast(page) -> None:
    toasts = page.locator('[data-testid="toast-body"]')
    texts = [toasts.nth(i).inner_text() for i in range(toasts.count())]
    assert not [t for t in texts if "error" in t.lower() or "not playable" in t.lower()], texts


def wait_preview_plays(page) -> None:
    """The preview <video> has decoded its first frame (readyState >= 2) and reports no media error."""
    page.wait_for_function(
        "() => { const v = document.querySelector('#preview video');"
        " return v && v.readyState >= 2 && !v.error; }", timeout=60_000)


def wait_analysed(page, clip_name: str | None) -> None:
    """The message says this clip was analysed ("Analysed <clip_name> ..."). The page is shared, so the message
    of the previous clip (another name) must not count; without a name, no clip may have been analysed before."""
    if clip_name is None:
        assert "Analysed" not in page.locator("#message").inner_text(), "give the clip's name: the page is not fresh"
    page.wait_for_function(
        "(name) => { const t = document.querySelector('#message').innerText;"
        " return t.includes(name ? 'Analysed ' + name : 'Analysed'); }", arg=clip_name, timeout=180_000)


def analyse_and_toggle(page, name: str, transcript: str | None = None, clip_name: str | None = None) -> str:
    """Preview plays -> Analyse -> result -> audio off -> result again; a screenshot at each state."""
    wait_preview_plays(page)
    no_error_toast(page)
    shot(page, name, "1-preview")
    if transcript:
        page.locator("#transcript textarea").fill(transcript)
    page.locator("#analyse").click()
    wait_analysed(page, clip_name)
    page.locator("#score").get_by_text("student:").wait_for(timeout=30_000)
    page.locator("#contributions-plot .js-plotly-plot").first.wait_for(timeout=30_000)
    no_error_toast(page)
    shot(page, name, "2-analysed")
    assert "switched off" not in page.locator("#availability").inner_text()  # this analysis, every modality on
    text = page.locator("#score").inner_text()
    page.locator("#use-audio input[type=checkbox]").uncheck()
    page.locator("#availability").get_by_text("switched off").first.wait_for(timeout=30_000)
    no_error_toast(page)
    shot(page, name, "3-audio-off")
    return text


def upload(page, path: Path) -> None:
    page.locator("#clip input[type=file]").set_input_files(str(path))


def test_webcam_and_microphone_recording_is_analysed(page):
    """Chromium's fake camera and microphone: record two seconds, the recording becomes the clip, analyse it.
    First in the module: its recording's name is not known here, so it must run before any other analysis."""
    page.get_by_text("or record with the webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    button = page.locator("#webcam button.capture-button")  # one button starts and stops the recording
    button.click(timeout=30_000)
    page.wait_for_timeout(2500)
    button.click(timeout=30_000)
    shot(page, "webcam", "0-recorded")
    analyse_and_toggle(page, "webcam", TRANSCRIPT)
    message = page.locator("#message").inner_text()
    assert "Analysed" in message


def test_upload_toggle_run_and_plots_render(page, tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", seconds=3.0)
    upload(page, clip)
    text = analyse_and_toggle(page, "generated_talk.mp4", TRANSCRIPT, clip.name)
    assert "student:" in text and "teacher:" in text and "on −3…+3" in text and "baseline" in text
    for plot in ("#gates-plot", "#attention-plot", "#contributions-plot"):
        assert page.locator(f"{plot} .js-plotly-plot .main-svg").count() > 0


@pytest.mark.parametrize("clip", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_clip_previews_and_is_analysed(page, clip):
    upload(page, clip)
    analyse_and_toggle(page, f"example_{clip.name}", clip_name=clip.name)
    if clip.suffix == ".wav":  # audio only: the page says vision is missing from the clip
        assert "missing" in page.locator("#availability").inner_text()


def test_examples_row_fills_the_clip(page):
    page.locator("#examples").get_by_text("jfk.wav").first.click()
    wait_preview_plays(page)
    no_error_toast(page)
    shot(page, "examples_row_jfk", "1-preview")


@pytest.mark.media
@pytest.mark.parametrize("clip", media_clips(), ids=[p.name for p in media_clips()])
def test_every_shared_clip_previews_and_is_analysed(page, clip):
    upload(page, clip)
    analyse_and_toggle(page, f"media_{clip.name}", clip_name=clip.name)
