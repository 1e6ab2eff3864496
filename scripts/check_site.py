"""Check the built site in headless Chromium, as a reader would see it.

    python scripts/check_site.py [--html _build/html] [--shots _build/screenshots]

For every page in the table of contents: it loads without a JavaScript error and
without fetching anything from the network (the site must work offline: MathJax is
served from the site itself), its formulas are typeset by MathJax, every
<img> has a non-zero natural size, each figure the executed notebook produced is on
the page as an <img>, and no internal link points to a missing file or anchor.

What a reader needs to read it (at 1400 px unless said):

- every output figure is shown at >= 85% of its natural width (the book's figures are drawn at
  100 dpi with >= 10 pt text, so their labels stay >= 11 px high), links to its full-size PNG,
  and has an alt text that is not a file name;
- no code output scrolls sideways, and no output is a lone ``True`` or ``False``;
- every chapter shows its status line and one inline result per expected claim, the status page
  has a row for every chapter, and the executed notebook is what its download gives;
- Colab links only on chapter pages, without ``/./``;
- at 400 px the claims page's last column is on screen and no page scrolls sideways;
- axe-core (``site_checks.py``): text contrast of at least 4.5:1 in the light and the dark theme,
  no duplicate ids, alt text on every image;
- by hand (``site_checks.py``, what axe does not cover): no code block or figure wider than the
  text column, no literal backslash in rendered math, a caption on every figure, a visible
  in-page contents on every long page.

Three screenshots of each page (light and dark at 1400 px, light at 400 px) are saved under
``--shots``. Exits 1 with one line per problem.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_checks  # noqa: E402  (axe-core and the layout checks)
from cgnb.engine.ledger import anchor  # noqa: E402  (the id each inline claim result carries)

WIDE, NARROW, HEIGHT = 1400, 400, 900
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", f"--window-size={WIDE},{HEIGHT}",
         "--hide-scrollbars", "--force-device-scale-factor=1"]
#: A figure shown narrower than this fraction of its natural width is too small to read.
MIN_FIGURE_SCALE = 0.85
#: A Colab link to a chapter notebook (the landing page's findings link each chapter's).
CHAPTER_NOTEBOOK = re.compile(r"/notebooks/\d\d_\w+\.ipynb$")


def toc_pages(toc: Path) -> list[str]:
    """Document names (without suffix) in ``_toc.yml``, root first."""
    spec = yaml.safe_load(toc.read_text())
    pages = [spec["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in spec.get("parts", []):
        walk(part.get("chapters"))
    walk(spec.get("chapters"))
    return pages


def expected_figures(page: str) -> int:
    """Number of image outputs in the executed notebook behind ``page`` (0 for Markdown pages)."""
    executed = ROOT / "_build" / "jupyter_execute" / f"{page}.ipynb"
    if not executed.is_file():
        return 0
    nb = json.loads(executed.read_text())
    return sum(1 for cell in nb["cells"] for out in cell.get("outputs", [])
               if "image/png" in out.get("data", {}))


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise SystemExit("no Chromium found: install Debian's `chromium` and `chromium-driver` packages")


def driver(profile_dir: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary()
    for flag in FLAGS + [f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    chromedriver = shutil.which("chromedriver")
    if not chromedriver:
        raise SystemExit("no chromedriver found: install Debian's `chromium-driver` package")
    return webdriver.Chrome(service=Service(chromedriver), options=options)


# Wait (up to 10 s) until MathJax, when the page loads it, has finished typesetting.
WAIT_FOR_MATHJAX = """
const t0 = Date.now();
while (window.MathJax && MathJax.startup && MathJax.startup.promise === undefined && Date.now() - t0 < 10000) {
  await new Promise(r => setTimeout(r, 100));
}
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  await Promise.race([MathJax.startup.promise, new Promise(r => setTimeout(r, 10000))]);
}
"""

PAGE_FACTS = """
const imgs = Array.from(document.images).map(i => ({src: i.getAttribute('src'), w: i.naturalWidth,
    h: i.naturalHeight, complete: i.complete, output: !!i.closest('.cell_output, .output')}));
const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'));
const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id);
const remote = performance.getEntriesByType('resource').map(e => e.name)
    .filter(n => /^https?:/.test(n));
const math = document.querySelectorAll('.math').length;
const typeset = document.querySelectorAll('mjx-container').length;
const figures = Array.from(document.querySelectorAll('.cell_output img')).map(i => ({
    src: i.getAttribute('src'), alt: i.getAttribute('alt') || '',
    natural: parseFloat(i.getAttribute('width')) || parseFloat(i.style.width) || i.naturalWidth,  // a 2x PNG shows at its width (attribute or style)
    shown: i.getBoundingClientRect().width, linked: !!(i.closest('a') && i.closest('a').getAttribute('href'))}));
const scrolling = Array.from(document.querySelectorAll('.cell_output pre, .cell_output .output, .cell_output table, .cell_output div'))
    .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
    .map(e => (e.innerText || '').trim().split('\\n')[0].slice(0, 60));
const stray = Array.from(document.querySelectorAll('.cell_output .output, .cell_output > div'))
    .filter(e => !e.querySelector('.output') && ['True', 'False'].includes((e.innerText || '').trim()))
    .map(e => (e.innerText || '').trim());
const claims = Array.from(document.querySelectorAll('[id^="claim-"]')).map(e => e.id);
const status = document.querySelectorAll('p.cgnb-status').length;
const colab = Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]')).map(a => a.getAttribute('href'));
return {imgs, links, ids, remote, math, typeset, title: document.title, figures, scrolling, stray, claims,
        status, colab, height: document.documentElement.scrollHeight};
"""

# At a narrow width: does anything (the claims table's last column above all) reach past the screen?
NARROW_FACTS = """
const view = document.documentElement.clientWidth;
const main = document.querySelector('main') || document.body;
const cells = Array.from(document.querySelectorAll('table.cgnb-claims tr > td:last-child'));
const offscreen = cells.filter(c => c.getBoundingClientRect().right > view + 1).length;
const wide = Array.from(main.querySelectorAll('table, pre, img')).filter(e => e.getBoundingClientRect().right > view + 1
    && !e.closest('.cell_input') && getComputedStyle(e.parentElement).overflowX === 'visible').length;
return {view, cells: cells.length, offscreen, wide, scroll: document.documentElement.scrollWidth};
"""


def chapter_problems(page: str, facts: dict, expected_claims: dict[str, tuple[str, ...]]) -> list[str]:
    """What a chapter page must show: its status line and an inline result of every claim it decides
    (an id ``anchor(claim)`` or one that extends it with the check's rule and cell).

    ``expected_claims`` maps a chapter's page (``notebooks/04_coherent_gradients``) to its claim ids.
    """
    found = []
    if not facts["status"]:
        found.append(f"{page}: no status line under the title (book/_ext/cgnb_book.py)")
    shown = set(facts["claims"])
    missing = [c for c in expected_claims.get(page, ())
               if not any(i == anchor(c) or i.startswith(anchor(c) + "-") for i in shown)]
    if missing:
        found.append(f"{page}: no inline result for claims {missing}")
    return found


def figure_problems(page: str, facts: dict) -> list[str]:
    found = []
    for f in facts["figures"]:
        name = (f["src"] or "").rsplit("/", 1)[-1]
        if f["natural"] and f["shown"] < MIN_FIGURE_SCALE * f["natural"]:
            found.append(f"{page}: figure {name} shown at {f['shown']:.0f} px of its {f['natural']} px "
                         f"({f['shown'] / f['natural']:.0%} < {MIN_FIGURE_SCALE:.0%}): its labels are too small")
        if not f["linked"]:
            found.append(f"{page}: figure {name} does not link to its full-size image")
        if not f["alt"].strip() or f["alt"].strip().lower().endswith((".png", ".svg", ".jpg")):
            found.append(f"{page}: figure {name} has no alt text (alt={f['alt']!r})")
    found += [f"{page}: a code output scrolls sideways: {text!r}" for text in facts["scrolling"]]
    found += [f"{page}: stray {text} output (a bare expression's value)" for text in facts["stray"]]
    return found


def download_problems(page: str, html_root: Path) -> list[str]:
    """A chapter's notebook download (the _sources copy) must be the executed notebook."""
    copy = html_root / "_sources" / f"{page}.ipynb"
    if not copy.is_file():
        return [f"{page}: no notebook to download ({copy.relative_to(html_root)})"]
    nb = json.loads(copy.read_text())
    if not any(cell.get("outputs") for cell in nb["cells"] if cell["cell_type"] == "code"):
        return [f"{page}: the notebook download has no outputs (the source, not the executed notebook)"]
    return []


def expected_claims() -> dict[str, tuple[str, ...]]:
    """Each chapter's page (its notebook without ``.ipynb``) -> the ids of the claims it decides (those with rules)."""
    from cgnb.chapters import all_chapters

    return {c.notebook.removesuffix(".ipynb"): tuple(k.id for k in c.claims if k.rules) for c in all_chapters()}


def color_scheme(browser, scheme: str) -> None:
    """Make the page see the system colour scheme ``scheme`` ("light" or "dark")."""
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                            {"features": [{"name": "prefers-color-scheme", "value": scheme}]})


def screenshot(browser, path: Path, width: int, height: int) -> None:
    browser.set_window_size(width, min(max(HEIGHT, height), 16000))
    browser.save_screenshot(str(path))
    browser.set_window_size(WIDE, HEIGHT)


def check_link(page_file: Path, href: str, html_root: Path, anchors: dict[Path, set[str]]) -> str | None:
    parsed = urlparse(href)
    if parsed.scheme in ("http", "https", "mailto", "javascript", "data") or href.startswith("//"):
        return None
    target = page_file if not parsed.path else (page_file.parent / unquote(parsed.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"broken link {href!r} (no file {target.relative_to(html_root) if target.is_relative_to(html_root) else target})"
    if parsed.fragment and target.suffix == ".html":
        if target not in anchors:
            text = target.read_text(errors="replace")
            import re
            anchors[target] = set(re.findall(r'id="([^"]+)"', text))
        if unquote(parsed.fragment) not in anchors[target]:
            return f"broken anchor {href!r}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--shots", type=Path, default=ROOT / "_build" / "screenshots")
    args = parser.parse_args()
    html_root = args.html.resolve()
    if not (html_root / "index.html").is_file():
        raise SystemExit(f"no built site in {html_root}: build the book first (see README)")
    args.shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    anchors: dict[Path, set[str]] = {}
    with tempfile.TemporaryDirectory(prefix="cgnb-chromium-") as profile_dir:
        browser = driver(profile_dir)
        try:
            color_scheme(browser, "light")
            pages = toc_pages(ROOT / "_toc.yml")
            claims = expected_claims()
            for page in pages:
                page_file = html_root / f"{page}.html"
                if not page_file.is_file():
                    problems.append(f"{page}: page missing from the built site ({page_file})")
                    continue
                for attempt in range(3):  # a page read while still loading shows no links at all: read it again
                    browser.get(page_file.as_uri())
                    facts = browser.execute_script("return (async () => {" + WAIT_FOR_MATHJAX + PAGE_FACTS + "})();")
                    if facts["links"]:
                        break
                errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
                problems += [f"{page}: console error: {m}" for m in errors]
                problems += [f"{page}: fetched {url} from the network (the site must work offline)"
                             for url in facts["remote"]]
                if facts["math"] and not facts["typeset"]:
                    problems.append(f"{page}: {facts['math']} formulas but none typeset by MathJax")
                bad = [i["src"] for i in facts["imgs"] if not (i["complete"] and i["w"] > 0 and i["h"] > 0)]
                problems += [f"{page}: image {src!r} has no natural size (not loaded)" for src in bad]
                shown = sum(1 for i in facts["imgs"] if i["output"] and i["w"] > 0)
                wanted = expected_figures(page)
                if shown < wanted:
                    problems.append(f"{page}: shows {shown} output figures, the executed notebook made {wanted}")
                for href in sorted(set(facts["links"])):
                    problem = check_link(page_file, href, html_root, anchors)
                    if problem:
                        problems.append(f"{page}: {problem}")
                chapter = page.startswith("notebooks/")
                problems += figure_problems(page, facts)
                problems += site_checks.layout_problems(page, site_checks.layout_facts(browser))
                problems += site_checks.axe_problems(page, site_checks.run_axe(browser, site_checks.AXE_RULES), "light")
                if chapter:
                    problems += chapter_problems(page, facts, claims)
                    problems += download_problems(page, html_root)
                    if not facts["colab"]:
                        problems.append(f"{page}: no Colab launch link")
                elif [url for url in facts["colab"] if not CHAPTER_NOTEBOOK.search(url)]:
                    problems.append(f"{page}: a Colab launch link on a page that is not a notebook chapter "
                                    f"(only links to the chapters' notebooks belong there, e.g. the landing page's)")
                problems += [f"{page}: Colab link with '/./': {url}" for url in facts["colab"] if "/./" in url]
                if page == "book/status":
                    chapters = [p for p in pages if p.startswith("notebooks/")]
                    rows = browser.execute_script(
                        "return Array.from(document.querySelectorAll('table.cgnb-status-table tbody tr a')).map(a => a.getAttribute('href'));")
                    for chapter_page in chapters:
                        if not any(Path(h.split("#")[0]).stem == Path(chapter_page).name for h in rows):
                            problems.append(f"{page}: no status row for {chapter_page}")
                stem = page.replace("/", "__")
                screenshot(browser, args.shots / f"{stem}__light.png", WIDE, facts["height"])
                color_scheme(browser, "dark")  # a reader whose system is set to dark (the site follows it)
                browser.get(page_file.as_uri())
                browser.execute_script("return (async () => {" + WAIT_FOR_MATHJAX + "})();")
                if browser.execute_script("return document.documentElement.dataset.theme;") != "dark":
                    problems.append(f"{page}: does not switch to the dark theme when the system is dark")
                problems += site_checks.axe_problems(page, site_checks.run_axe(browser, site_checks.AXE_DARK_RULES), "dark")
                screenshot(browser, args.shots / f"{stem}__dark.png", WIDE, facts["height"])
                color_scheme(browser, "light")
                browser.set_window_size(NARROW, HEIGHT)
                browser.get(page_file.as_uri())  # laid out at 400 px from the start, as on a phone
                browser.execute_script("return (async () => {" + WAIT_FOR_MATHJAX + "})();")
                narrow = browser.execute_script(NARROW_FACTS)
                if narrow["offscreen"]:
                    problems.append(f"{page}: at {NARROW} px the last column of {narrow['offscreen']} of "
                                    f"{narrow['cells']} claim rows is off-screen")
                if page == "book/claims" and not narrow["cells"]:
                    problems.append(f"{page}: no claims table (table.cgnb-claims)")
                if narrow["scroll"] > narrow["view"] + 1:
                    problems.append(f"{page}: at {NARROW} px the page scrolls sideways "
                                    f"({narrow['scroll']} px wide in a {narrow['view']} px window)")
                height = browser.execute_script("return document.documentElement.scrollHeight;")
                screenshot(browser, args.shots / f"{stem}__{NARROW}.png", NARROW, height)
                # errors raised by the page's scripts while it was resized for the screenshots
                late = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
                problems += [f"{page}: console error (after resizing): {m}" for m in late]
                small = [f for f in facts["figures"] if f["natural"] and f["shown"] < MIN_FIGURE_SCALE * f["natural"]]
                print(f"ok? {page}: {shown}/{wanted} figures ({len(small)} shrunk), {len(facts['claims'])} inline "
                      f"claim results, {len(set(facts['links']))} links -> {stem}__{{light,dark,{NARROW}}}.png")
        finally:
            browser.quit()
    for problem in problems:
        print("PROBLEM", problem)
    print(f"site check: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
