"""The documentation site, tested as a reader meets it (issue #28).

It builds ``docs/`` with warnings as errors into a temporary folder (the README's command, with ``-E``), runs
the guides' code blocks and the README's first network as doctests, then opens the Conv2D API page and a
chapter's gallery page in a real headless browser (Debian's ``chromium``) and checks that the maths was
typeset by the MathJax copy the site serves itself (MathJax's ``mjx-container`` elements in the rendered DOM,
no raw ``\\frac`` left in the visible text), that the chapter's figures load as PNGs, that no page loads
anything from another host, and that no internal link of any page is broken. It takes screenshots of both
pages; ``SCRATCHNET_DOCS_SHOTS=DIR`` copies them into DIR.

The build runs every chapter with ``--quick`` (about a minute and a half on two cores; sphinx-gallery skips
the chapters that did not change since the last build of the same checkout), so the suite runs this module
only with ``SCRATCHNET_DOCS=1``; ``.ci/run`` sets it. Needs ``pip install -e ".[docs]"`` and a Chromium
(``apt-get install chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CONV2D_PAGE = "api/generated/scratchnet.layers.conv.html"
GALLERY_PAGE = "gallery/ch02_linear_regression.html"  # a chapter that draws figures even in --quick mode
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = [
    pytest.mark.docs,
    pytest.mark.skipif(
        os.environ.get("SCRATCHNET_DOCS") != "1",
        reason="builds the whole documentation site (chapters included): set SCRATCHNET_DOCS=1",
    ),
]


def _sphinx(*args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def _explain(done: subprocess.CompletedProcess) -> str:
    """Sphinx's warnings and errors (not the chapters' own log lines), then the end of the output."""
    text = done.stdout + done.stderr
    problems = re.findall(r"^(?:\S+: )?(?:WARNING|ERROR|CRITICAL|SEVERE): .*$|^\S+Error: .*$", text, re.M)
    return "\n".join(problems[:60]) + "\n...\n" + text[-6000:]


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """The site built as the README says (warnings are errors), into a temporary folder."""
    pytest.importorskip("sphinx", reason='the docs extra is not installed: pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("docs")
    done = _sphinx(
        "-W", "--keep-going", "-E", "-b", "html", "-d", str(out / "doctrees"), "docs", str(out / "html")
    )
    assert done.returncode == 0, f"the site does not build warning-free:\n{_explain(done)}"
    return out


@pytest.fixture(scope="module")
def html(build) -> Path:
    return build / "html"


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("SCRATCHNET_DOCS_BROWSER") == "0":  # .ci/run: apt-get could not install it here
        pytest.skip("Chromium could not be installed (.ci/run printed why): the browser checks did not run")
    pytest.fail("no Chromium on PATH: apt-get install -y chromium (.ci/run installs it)")


def _browser(chromium: str, profile: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=30000",  # MathJax typesets and the images load before the page is read
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


# A page of the built site that opens another in a frame and reports, once MathJax has finished, what a reader
# would see: MathJax's output elements, raw TeX left in the visible text, and each image's decoded size.
PROBE = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="PAGE" style="width:1280px;height:2000px"></iframe>
<script>
async function probe(frame) {
  const w = frame.contentWindow, d = frame.contentDocument;
  if (w.MathJax && w.MathJax.startup && w.MathJax.startup.promise) await w.MathJax.startup.promise;
  const images = [...d.images];
  await Promise.all(images.map(img => {
    img.loading = "eager";
    return img.complete ? Promise.resolve() : new Promise(done => { img.onload = img.onerror = done; });
  }));
  return {title: d.title, mathjax: !!(w.MathJax && w.MathJax.startup),
          typeset: d.querySelectorAll("mjx-container").length,
          raw_tex: ["\\\\frac", "\\\\partial", "\\\\mathrm"].filter(t => d.body.innerText.includes(t)),
          images: images.map(i => ({src: i.getAttribute("src"), width: i.naturalWidth, height: i.naturalHeight}))};
}
const frame = document.getElementById("page");
frame.addEventListener("load", () => probe(frame).then(
  r => { document.getElementById("result").textContent = JSON.stringify(r); },
  e => { document.getElementById("result").textContent = JSON.stringify({error: String(e)}); }));
</script></body></html>
"""


def _probe(chromium: str, html: Path, page: str, tmp_path: Path) -> dict:
    probe = html / f"_probe_{Path(page).stem}.html"
    probe.write_text(PROBE.replace("PAGE", page), encoding="utf-8")
    try:
        done = _browser(
            chromium, tmp_path / "profile", "--allow-file-access-from-files", "--dump-dom", probe.as_uri()
        )
    finally:
        probe.unlink()
    match = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert match, f"chromium gave no DOM for {page}:\n{done.stderr[-3000:]}"
    text = (
        match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    assert text != "pending", f"{page} did not finish loading within chromium's time budget"
    return json.loads(text)


def test_the_conv2d_page_shows_its_equations_typeset(chromium, html, tmp_path):
    page = html / CONV2D_PAGE
    assert page.is_file()
    source = page.read_text(encoding="utf-8")
    assert r"\frac" in source and "math notranslate" in source, "the page carries Conv2D's equations"
    assert "scratchnet.fast.conv.conv2d_forward" in source, (
        "the page names the fast path that runs by default"
    )
    mathjax = re.search(r'<script[^>]+src="([^"]*mathjax[^"]*)"', source)
    assert mathjax and not urlsplit(mathjax.group(1)).scheme, "MathJax is served by the site itself"
    assert (page.parent / urlsplit(mathjax.group(1)).path).is_file()

    seen = _probe(chromium, html, CONV2D_PAGE, tmp_path)
    assert "error" not in seen, seen
    assert seen["mathjax"], "MathJax did not start"
    assert seen["typeset"] >= source.count('class="math notranslate'), seen  # every formula typeset
    assert seen["raw_tex"] == [], f"raw TeX left in the visible text: {seen['raw_tex']}"


def test_a_gallery_page_shows_its_figures(chromium, html, tmp_path):
    page = html / GALLERY_PAGE
    source = page.read_text(encoding="utf-8")
    assert "--quick" in source and "quick mode" in source, "the page says it shows a quick run"
    assert 'id="the-full-run"' in source, "the page has its full-run section"
    sources = re.findall(r'<img[^>]+src="([^"]+)"', source)
    assert len(sources) >= 2, "the chapter's figures are on its page"
    for src in sources:
        image = (page.parent / unquote(urlsplit(src).path)).resolve()
        assert image.is_file() and image.stat().st_size > 1000, src
        assert image.read_bytes()[:8] == PNG_MAGIC, f"{src} is not a PNG"

    seen = _probe(chromium, html, GALLERY_PAGE, tmp_path)
    assert "error" not in seen, seen
    assert {i["src"] for i in seen["images"]} >= set(sources)
    broken = [i for i in seen["images"] if i["width"] == 0 or i["height"] == 0]
    assert broken == [], f"figures the browser could not show: {broken}"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append((tag, name, value))


def test_no_internal_link_is_broken_and_nothing_comes_from_another_host(html):
    pages = {path: _Links() for path in html.rglob("*.html")}
    for path, parser in pages.items():
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    broken, external = [], []
    for path, parser in pages.items():
        for tag, attribute, value in parser.links:
            url = urlsplit(value)
            if url.scheme in ("http", "https") or value.startswith("//"):
                if tag in ("script", "link", "img", "iframe"):  # loaded, not merely linked to
                    external.append(f"{path.relative_to(html)}: <{tag} {attribute}={value}>")
                continue
            if url.scheme in ("mailto", "data", "javascript") or (not url.path and not url.fragment):
                continue
            target = (path.parent / unquote(url.path)).resolve() if url.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(html)}: {value}")
            elif url.fragment and target.suffix == ".html" and target in pages:
                if unquote(url.fragment) not in pages[target].ids:
                    broken.append(f"{path.relative_to(html)}: {value} (no such anchor)")
    assert broken == [], "\n".join(broken[:50])
    assert external == [], "\n".join(external[:50])
    cdn = [str(p.relative_to(html)) for p in pages if re.search(r"cdn\.|cdnjs|jsdelivr|unpkg", p.read_text())]
    assert cdn == [], f"pages naming a CDN: {cdn}"


def test_every_chapter_is_a_gallery_page(html):
    chapters = sorted(p.stem for p in (REPO / "chapters").glob("ch[0-9][0-9]_*.py"))
    assert chapters, "no chapters found"
    missing = [c for c in chapters if not (html / "gallery" / f"{c}.html").is_file()]
    assert missing == []
    index = (html / "gallery" / "index.html").read_text(encoding="utf-8")
    assert all(f"{c}.html" in index for c in chapters)


def test_the_guides_and_the_readme_run_as_doctests(build):
    done = _sphinx(
        "-W", "--keep-going", "-b", "doctest", "-D", "plot_gallery=0",
        "-d", str(build / "doctrees"), "docs", str(build / "doctest"),
    )  # fmt: skip
    assert done.returncode == 0, f"doctests failed:\n{done.stdout[-6000:]}{_explain(done)}"
    summary = re.search(r"(\d+) tests\n\s+0 failures in tests", done.stdout)
    assert summary and int(summary.group(1)) >= 20, done.stdout[-2000:]
    assert "Document: guides/getting_started" in done.stdout  # the README's first network runs there


def test_screenshots_of_both_pages(chromium, html, tmp_path):
    """The Conv2D page, and the gallery page at its top, its quick run's figures and its full run; a section
    is shown through a frame opened at its anchor (a screenshot of the page itself always shows its top)."""
    shots = {
        "conv2d_api.png": CONV2D_PAGE,
        "gallery_ch02_top.png": GALLERY_PAGE,
        "gallery_ch02_quick_run.png": GALLERY_PAGE + "#the-quick-run",
        "gallery_ch02_full_run.png": GALLERY_PAGE + "#the-full-run",
    }
    for name, page in shots.items():
        target, frame = tmp_path / name, None
        if "#" in page:
            address, anchor = page.split("#")
            frame = html / f"_shot_{Path(name).stem}.html"
            frame.write_text(
                f'<!DOCTYPE html><html><body style="margin:0"><iframe id="page" src="{address}" '
                'style="border:0;width:1280px;height:1600px"></iframe><script>'
                'const f = document.getElementById("page");'
                f'f.addEventListener("load", () => f.contentDocument.getElementById("{anchor}").scrollIntoView({{behavior: "instant"}}));'
                "</script></body></html>",
                encoding="utf-8",
            )
        try:
            done = _browser(
                chromium,
                tmp_path / "profile",
                "--allow-file-access-from-files",  # the page around the frame scrolls it to the section
                "--window-size=1280,1600",
                f"--screenshot={target}",
                (frame or html / page).as_uri(),
            )
        finally:
            if frame is not None:
                frame.unlink()
        assert target.is_file() and target.stat().st_size > 10_000, done.stderr[-2000:]
        assert target.read_bytes()[:8] == PNG_MAGIC
    destination = os.environ.get("SCRATCHNET_DOCS_SHOTS")
    if destination:
        Path(destination).mkdir(parents=True, exist_ok=True)
        for name in shots:
            shutil.copyfile(tmp_path / name, Path(destination) / name)
