"""`videolights demo` in a real browser: the app on a free loopback port with a tiny checkpoint, driven by headless
Chromium (Playwright, the system Chromium as in tests/test_docs.py): upload a generated video, ask a query, check the
moments table, the saliency plot, the thumbnails and seeking; that the console has no errors and that every request
went to the demo's loopback address; and that bad input shows a one-line message on the page.

Set VIDEOLIGHTS_DEMO_SCREENSHOT=nbs/images/demo.png to refresh the screenshot shown in nbs/apps/06_demo.ipynb.
"""
import os, socket, threading, time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("VIDEOLIGHTS_CHROMIUM", "/usr/bin/chromium")
SHOT = os.environ.get("VIDEOLIGHTS_DEMO_SCREENSHOT")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "The demo app served by uvicorn in a thread, on a loopback socket bound to a free port."
    import uvicorn
    from transformers.utils import logging as hf_logging
    from videolights.apps.demo import DemoSession, create_app, write_example_video
    from videolights.apps.predictor import Predictor
    from videolights.testing.tiny import make_demo_checkpoint
    hf_logging.set_verbosity_error()
    d = tmp_path_factory.mktemp("demo")
    predictor = Predictor.from_checkpoint(make_demo_checkpoint(d), device="cpu", frame_size=32)
    session = DemoSession(predictor, top_k=5)
    example = write_example_video(session.dir / "example.mp4", seconds=12, size=(64, 36))
    session.add_video(example, "test pattern (generated)", example=True)
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(session), log_level="warning", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline and thread.is_alive(), "the demo server did not start"
        time.sleep(0.05)
    yield dict(url=f"http://127.0.0.1:{port}", dir=d, session=session)
    srv.should_exit = True
    thread.join(15)
    sock.close()
    assert not session.dir.exists(), "stopping the app must delete the uploads"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM,
                               args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        ctx = b.new_context(viewport={"width": 1280, "height": 680})
        yield ctx
        ctx.close()
        b.close()


def _open(ctx, url):
    "A new page on the demo that records console errors, page errors, every request and every response."
    log = {"errors": [], "requests": [], "responses": []}
    page = ctx.new_page()
    page.on("console", lambda m: m.type == "error" and log["errors"].append(m.text))
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.on("request", lambda r: log["requests"].append(r.url))
    page.on("response", lambda r: log["responses"].append((r.url, r.status)))
    page.goto(url, wait_until="load")
    page.wait_for_function("() => document.querySelectorAll('#example option').length === 2")  # /api/info answered
    return page, log


def _only_loopback(log, url):
    assert log["requests"], "no request recorded"
    off = [u for u in log["requests"] if not u.startswith(url + "/")]
    assert not off, f"requests that left the demo's loopback address: {off}"


def test_upload_query_results(server, browser, tmp_path):
    from videolights.apps.demo import write_example_video
    url = server["url"]
    page, log = _open(browser, url)
    video = write_example_video(tmp_path / "my video.mp4", seconds=16, size=(160, 90), seed=3)
    page.set_input_files("#video-file", str(video))
    page.fill("#query", "a white square crosses the screen")
    page.evaluate("""() => { window.stages = []; new MutationObserver(() => window.stages.push($stage()))
        .observe(document.getElementById('stage'), {childList: true, characterData: true, subtree: true}); }"""
                  .replace("$stage()", "document.getElementById('stage').textContent"))
    page.click("#run")
    page.wait_for_selector("#moments tbody tr", timeout=60_000)
    stages = page.evaluate("window.stages")
    job_stages = ("waiting for the worker", "extracting clip + blip features of 8 clips")  # the first poll sees one
    assert "uploading my video.mp4" in stages and any(s.startswith(job_stages) for s in stages), stages
    assert page.locator("#status").is_hidden() and page.locator("#message").is_hidden()
    rows = page.evaluate("Array.from(document.querySelectorAll('#moments tbody tr'), "
                         "r => Array.from(r.cells, c => +c.textContent))")
    assert 1 <= len(rows) <= 5, rows
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert all(0 <= st < ed <= 16 for _, st, ed, _ in rows), rows
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True), rows
    # the plot: one point per 2-s clip on the curve, the top windows drawn, time ticks
    d = page.get_attribute("#saliency path.curve", "d")
    assert d.startswith("M") and d.count("L") == 16 // 2 - 1, d
    assert page.locator("#saliency rect.window").count() == min(3, len(rows))
    assert page.locator("#saliency text").count() > 5
    # the thumbnails of the four best clips, loaded (JPEGs from the server)
    page.wait_for_function("""() => { const im = document.querySelectorAll('#thumbs img');
        return im.length === 4 && Array.from(im).every(i => i.complete && i.naturalWidth > 0); }""", timeout=20_000)
    assert page.evaluate("document.querySelector('#thumbs img').naturalWidth") == 160
    # a click on a row seeks the player there (the video is served with HTTP Range)
    page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=20_000)
    k, start = max(enumerate(r[1] for r in rows), key=lambda x: x[1])
    page.locator("#moments tbody tr").nth(k).click()
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {start}) < 1.5",
                           timeout=10_000)
    page.evaluate("document.getElementById('player').pause()")
    assert any("/api/videos/" in u and s == 206 for u, s in log["responses"]), log["responses"]
    assert not page.locator("#message").is_visible()
    shot = tmp_path / "demo.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if SHOT:
        page.screenshot(path=SHOT, full_page=True)
    page.close()
    assert not log["errors"], log["errors"]
    _only_loopback(log, url)


def test_example_and_second_query(server, browser):
    "An example needs no upload; a second query on the same video reuses its features."
    page, log = _open(browser, server["url"])
    page.select_option("#example", label="test pattern (generated) (12 s)")
    for query in ("a dog", "a red background"):
        page.fill("#query", query)
        page.click("#run")
        page.wait_for_function("() => !document.getElementById('run').disabled "
                               "&& !document.getElementById('results').hidden")
        assert page.locator("#saliency path.curve").get_attribute("d").count("L") == 12 // 2 - 1
    posts = [u for u in log["requests"] if u.endswith("/api/videos")]
    assert not posts, posts
    page.close()
    assert not log["errors"], log["errors"]
    _only_loopback(log, server["url"])


@pytest.mark.parametrize("case, needle", [("not a video", "notes.mp4 cannot be read by PyAV"),
                                          ("too short", "short.mp4 lasts 1.00 s, shorter than one clip"),
                                          ("empty query", "is empty")])
def test_bad_input_shows_a_message(server, browser, tmp_path, case, needle):
    from videolights.apps.demo import write_example_video
    page, log = _open(browser, server["url"])
    if case == "not a video":
        page.set_input_files("#video-file", {"name": "notes.mp4", "mimeType": "video/mp4", "buffer": b"my notes " * 50})
    elif case == "too short":
        page.set_input_files("#video-file", str(write_example_video(tmp_path / "short.mp4", seconds=1, size=(64, 36))))
    else:
        page.select_option("#example", index=1)
    page.fill("#query", "   " if case == "empty query" else "a dog")
    page.click("#run")
    page.wait_for_selector("#message:not([hidden])", timeout=30_000)
    text = page.inner_text("#message")
    assert needle in text and "Traceback" not in page.content(), text
    assert len(text.splitlines()) == 1 and str(server["session"].dir) not in text, text
    assert page.locator("#results").is_hidden()
    page.close()
    # the refused request is a 400, which Chromium reports as a failed resource; nothing else may be logged
    assert all("status of 400" in e for e in log["errors"]), log["errors"]
    _only_loopback(log, server["url"])
