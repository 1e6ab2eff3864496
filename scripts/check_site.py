"""Check the built site in headless Chromium, as a reader would see it.

    python scripts/check_site.py [--html _build/html] [--shots _build/screenshots]

For every page in the table of contents: it loads without a JavaScript error and
without fetching anything from the network (the site must work offline: MathJax is
served from the site itself), its formulas are typeset by MathJax, every
<img> has a non-zero natural size, each figure the executed notebook produced is on
the page as an <img>, and no internal link points to a missing file or anchor. A
screenshot of each page is saved. Exits 1 with one line per problem.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1280,900"]


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
return {imgs, links, ids, remote, math, typeset, title: document.title,
        height: document.documentElement.scrollHeight};
"""


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
            for page in toc_pages(ROOT / "_toc.yml"):
                page_file = html_root / f"{page}.html"
                if not page_file.is_file():
                    problems.append(f"{page}: page missing from the built site ({page_file})")
                    continue
                browser.get(page_file.as_uri())
                facts = browser.execute_script("return (async () => {" + WAIT_FOR_MATHJAX + PAGE_FACTS + "})();")
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
                browser.set_window_size(1280, min(max(900, facts["height"]), 16000))
                shot = args.shots / (page.replace("/", "__") + ".png")
                browser.save_screenshot(str(shot))
                browser.set_window_size(1280, 900)
                # errors raised by the page's scripts while it was resized for the screenshot
                late = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
                problems += [f"{page}: console error (after resizing): {m}" for m in late]
                print(f"ok? {page}: {shown}/{wanted} figures, {len(set(facts['links']))} links -> {shot.name}")
        finally:
            browser.quit()
    for problem in problems:
        print("PROBLEM", problem)
    print(f"site check: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
