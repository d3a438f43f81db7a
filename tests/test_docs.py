"""The documentation site: `videolights docs` builds it from nbs/, then headless Chromium checks it offline.

Needs the system Chromium (`apt-get install -y chromium`); set VIDEOLIGHTS_SKIP_BROWSER=1 to run only the
build and the static checks.
"""
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(os.environ.get("VIDEOLIGHTS_DOCS_ROOT") or Path(__file__).resolve().parents[1])  # override: a trimmed checkout
CHROMIUM = os.environ.get("VIDEOLIGHTS_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "reports" / "docs-screenshots"
CLI = [sys.executable, "-c", "import sys; from videolights.cli import main; sys.exit(main())"]

pytestmark = pytest.mark.slow


def _build(out, *extra, cwd=ROOT):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t = time.time()
    r = subprocess.run(CLI + ["docs", "--output-dir", str(out), *extra], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=3600)
    return r, time.time() - t


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r, dt = _build(out)
    assert r.returncode == 0, f"videolights docs failed:\n{r.stdout}\n{r.stderr}"
    print(f"docs build: {dt:.1f}s")
    return out


def _notebooks():
    from videolights.docs import list_notebooks, doc_name
    return [doc_name(p) for p in list_notebooks(ROOT / "nbs")]


def _sidebar():
    "The sidebar the site must show: `[(caption, [page, ...])]` for the sections that have pages."
    from videolights.docs import site_sections, page_name
    return [(caption, [page_name(e) for e in entries]) for caption, entries in site_sections(ROOT / "nbs") if entries]


def _text(html: str) -> str:
    "The visible text of a page: tags dropped, entities decoded (code is split into highlighted spans)."
    import html as h
    return h.unescape(re.sub(r"<[^>]+>", "", html))


def _pages(site):
    return sorted(site.rglob("*.html"))


def _is_external(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url.strip()))


# ---------------------------------------------------------------- static checks (no browser)

def test_every_page_is_built(site):
    expected = [f"{n}.html" for n in _notebooks()] + ["api.html", "configuration.html", "reports/index.html", "search.html"]
    expected += [p.relative_to(ROOT / "reports").with_suffix(".html").as_posix() for p in (ROOT / "reports").rglob("*.md")
                 if p.name != "index.md" and not any(s.startswith(".") for s in p.parts)]
    missing = [e for e in expected if not (site / e).exists() and not (site / "reports" / e).exists()]
    assert not missing, f"pages missing from the site: {missing}"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_sidebar_follows_the_reading_path(site):
    "The sidebar shows the captioned sections in the reading order, each with its pages in order (the method first)."
    html = (site / "index.html").read_text()
    captions = re.findall(r'<p class="caption" role="heading"><span class="caption-text">([^<]+)</span>', html)
    assert captions == ["Tutorial", "Method", "Data", "Training", "Applications", "Studies", "Explanations", "API",
                        "Reports"], captions
    assert captions == [c for c, _ in _sidebar()]
    nav = re.findall(r'class="toctree-l1[^"]*"><a class="reference internal" href="([^"#]+)\.html"', html)
    assert nav == [p for _, pages in _sidebar() for p in pages], nav
    sections = dict(_sidebar())
    assert sections["Tutorial"][0] == "overview"
    assert sections["Method"][:10] == ["spans", "layers", "fra", "bicmf", "transformer", "videolights", "matcher",
                                       "losses", "postprocess", "metrics"], sections["Method"]
    assert {"quirks", "training_parity", "speed"} <= set(sections["Explanations"])
    assert {"api", "configuration", "config", "cli", "docs"} <= set(sections["API"])
    assert sections["Reports"] == ["reports/index"]
    assert _notebooks()[0] == "index" and len(_notebooks()) == len(set(_notebooks()))


def test_method_pages_show_their_code(site):
    "The FRA page shows the code of `FeatureRefinement.forward` (its cell is `#|exports`), so the method reads with it."
    assert "def forward(self, vid, txt, vid_mask, txt_mask)" in _text((site / "fra.html").read_text())


def test_no_external_resources(site):
    "No <script>/<link>/<img>/<iframe> and no CSS url() points off the site: everything is served locally."
    bad = []
    for p in _pages(site):
        html = p.read_text()
        for tag, attr in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src")):
            for url in re.findall(rf'<{tag}\b[^>]*\b{attr}="([^"]*)"', html):
                if _is_external(url): bad.append((p.name, tag, url))
    for css in site.rglob("*.css"):
        bad += [(css.name, "css", u) for u in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", css.read_text())]
    assert not bad, bad


def test_internal_links_resolve(site):
    "Every relative link of every page points at a file of the site (and at an existing id when it has an anchor)."
    broken, anchors, n = [], {}, 0
    for p in _pages(site):
        for href in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', p.read_text()):
            if _is_external(href) or href.startswith(("mailto:", "javascript:", "data:")) or href.startswith("#"): continue
            path, _, frag = href.partition("#")
            target = (p.parent / unquote(path.split("?")[0])).resolve() if path else p
            n += 1
            if not target.exists(): broken.append((p.relative_to(site).as_posix(), href)); continue
            if frag and target.suffix == ".html":
                ids = anchors.setdefault(target, set(re.findall(r'\bid="([^"]+)"', target.read_text())))
                if frag not in ids: broken.append((p.relative_to(site).as_posix(), href))
    assert n > 20, n
    assert not broken, f"{len(broken)} broken link(s) of {n}: {broken[:20]}"


def test_configuration_reference(site):
    from dataclasses import fields, is_dataclass
    from videolights.core.config import VideoLightsConfig, PRESETS
    html = (site / "configuration.html").read_text()
    cfg = VideoLightsConfig.from_preset("qvhighlights")
    for f in fields(cfg):
        sec = getattr(cfg, f.name)
        if is_dataclass(sec):
            for g in fields(sec): assert f"{f.name}.{g.name}" in html, f"{f.name}.{g.name} missing from the config reference"
    for p in PRESETS: assert f"<th class=\"head\"><p>{p}</p></th>" in html, p
    assert "transformer width d" in html  # the field's trailing comment


def test_api_reference(site):
    html = (site / "api.html").read_text()
    assert "videolights.core.config" in html and "override" in html and "VideoLightsConfig" in html
    assert "cfg:VideoLightsConfig" in re.sub(r"<[^>]+>", "", html)  # a real signature
    assert 'href="config.html"' in html  # links to the notebook that explains the module


def _mini_root(tmp, notebooks):
    "A checkout with only `notebooks` (copies) to build in isolation from notebooks being edited."
    shutil.copy(ROOT / "settings.ini", tmp / "settings.ini")
    (tmp / "nbs").mkdir(); (tmp / "docs").symlink_to(ROOT / "docs")
    for n in notebooks:
        dst = tmp / "nbs" / f"{n}.ipynb"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "nbs" / f"{n}.ipynb", dst)
    return tmp


def test_rebuild_uses_cache(tmp_path):
    "A rebuild with unchanged notebooks executes none of them; a changed notebook is executed again."
    root = _mini_root(tmp_path, ["index", "core/02_config", "cli"])
    r1, t1 = _build(tmp_path / "s1", cwd=root)
    assert r1.returncode == 0, r1.stderr
    assert "0 notebook(s) cached, executing 3" in r1.stderr, r1.stderr
    r2, t2 = _build(tmp_path / "s2", cwd=root)
    assert r2.returncode == 0 and "3 notebook(s) cached, executing 0" in r2.stderr, r2.stderr
    nb = root / "nbs" / "cli.ipynb"; d = json.loads(nb.read_text())
    d["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["Edited for the cache test."]})
    nb.write_text(json.dumps(d))
    r3, t3 = _build(tmp_path / "s3", cwd=root)
    assert r3.returncode == 0 and "2 notebook(s) cached, executing 1: cli" in r3.stderr, r3.stderr
    assert "Edited for the cache test." in (tmp_path / "s3" / "cli.html").read_text()
    print(f"mini site: first build {t1:.1f}s, cached rebuild {t2:.1f}s, one notebook changed {t3:.1f}s")


def test_failing_notebook_fails_the_build(tmp_path):
    import nbformat
    from videolights.core.errors import VideoLightsError
    from videolights.docs import build_docs
    _mini_root(tmp_path, [])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Bad\n> fails"), nbformat.v4.new_code_cell("1/0")])
    nbformat.write(nb, tmp_path / "nbs" / "05_bad.ipynb")
    with pytest.raises(VideoLightsError, match=r"05_bad\.ipynb failed to execute \(cell 1\): ZeroDivisionError"):
        build_docs(tmp_path, tmp_path / "site", tmp_path / "cache")
    assert not (tmp_path / "site" / "index.html").exists()


# ---------------------------------------------------------------- headless Chromium

@pytest.fixture(scope="module")
def browser():
    if os.environ.get("VIDEOLIGHTS_SKIP_BROWSER") == "1": pytest.skip("VIDEOLIGHTS_SKIP_BROWSER=1")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(or set VIDEOLIGHTS_SKIP_BROWSER=1 to skip the browser checks)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        ctx = b.new_context(offline=True, viewport={"width": 1280, "height": 900})
        yield ctx
        ctx.close(); b.close()


def _open(ctx, url, log):
    page = ctx.new_page()
    page.on("console", lambda m: m.type == "error" and log["errors"].append(f"{url}: {m.text}"))
    page.on("pageerror", lambda e: log["errors"].append(f"{url}: {e}"))
    page.on("request", lambda r: not r.url.startswith(("file:", "data:", "blob:", "about:")) and log["external"].append(r.url))
    page.on("requestfailed", lambda r: log["failed"].append(f"{url}: {r.url} {r.failure}"))
    page.goto(url, wait_until="load")
    return page


def test_pages_in_browser(site, browser):
    "Every page loads offline without console errors or external requests; math, figures and links work."
    log = {"errors": [], "external": [], "failed": []}
    n_math = n_img = 0; broken = []
    for p in _pages(site):
        page = _open(browser, p.as_uri(), log)
        if page.locator(".math").count():
            page.wait_for_selector("mjx-container", timeout=20000)
            n_math += page.locator("mjx-container").count()
        page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=20000)
        imgs = page.evaluate("Array.from(document.images, i => [i.src, i.naturalWidth])")
        broken += [(p.name, s) for s, w in imgs if w == 0]
        n_img += sum(w > 0 for _, w in imgs)
        for href in page.evaluate("Array.from(document.querySelectorAll('a[href]'), a => a.href)"):
            u = urlparse(href)
            if u.scheme == "file" and not Path(unquote(u.path)).exists(): broken.append((p.name, href))
        page.close()
    assert not log["errors"], log["errors"][:10]
    assert not log["external"], log["external"][:10]
    assert not log["failed"], log["failed"][:10]
    assert not broken, broken[:10]
    assert n_math > 0, "no equation rendered by MathJax (mjx-container)"
    assert n_img > 0, "no figure rendered (<img> with naturalWidth > 0)"


def test_overview_renders_its_figure(site, browser):
    "The overview tutorial shows the forward-pass diagram (a matplotlib output) as a loaded image."
    log = {"errors": [], "external": [], "failed": []}
    page = _open(browser, (site / "overview.html").as_uri(), log)
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=20000)
    widths = page.evaluate("Array.from(document.querySelectorAll('article .cell_output img'), i => i.naturalWidth)")
    page.close()
    assert widths and all(w > 300 for w in widths), widths
    assert not log["errors"] and not log["failed"], log


def test_search_and_screenshots(site, browser):
    "Screenshots of the home page and a module page (scrolled to its first equation); the search box finds a name."
    log = {"errors": [], "external": [], "failed": []}
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = _open(browser, (site / "config.html").as_uri(), log)
    page.wait_for_selector("mjx-container", timeout=20000)
    page.locator("mjx-container").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "module-config.png"))
    page.close()
    page = _open(browser, (site / "index.html").as_uri(), log)
    page.screenshot(path=str(SHOTS / "index.png"))
    page.fill("input[name=q]", "VideoLightsConfig")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"search\.html"), timeout=20000)
    page.wait_for_function("document.querySelectorAll('#search-results ul.search li').length > 0", timeout=30000)
    hits = page.evaluate("Array.from(document.querySelectorAll('#search-results ul.search li a'), a => a.getAttribute('href'))")
    assert any(h.startswith("config.html") for h in hits), hits
    page.close()
    assert not log["external"], log["external"]
    assert not log["errors"], log["errors"]
    for shot in ("index.png", "module-config.png"): assert (SHOTS / shot).stat().st_size > 10_000
