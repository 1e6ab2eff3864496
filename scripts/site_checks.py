"""Reader-facing checks of a built page, run by ``scripts/check_site.py`` in headless Chromium.

Accessibility rules come from axe-core (the copy that ``axe-selenium-python`` ships), run in the
page the browser has open:

- ``color-contrast``: text below 4.5:1 (3:1 for large text) against its background, run once in
  the light and once in the dark theme;
- ``duplicate-id`` (and its ``-active``/``-aria`` variants): two elements with one id, so a link
  lands on the first;
- ``image-alt``: an image without alt text.

Hand-written checks cover what axe does not (:data:`LAYOUT_FACTS`): code blocks or figures wider
than the text column, literal backslashes in rendered math ("train\\_acc"), figures without a
caption, and a long page without a visible in-page contents. Each returns one line per problem.
"""
from __future__ import annotations

import json
from pathlib import Path

#: The axe-core rules the site check runs (https://dequeuniversity.com/rules/axe/).
AXE_RULES = ("color-contrast", "duplicate-id", "duplicate-id-active", "duplicate-id-aria", "image-alt")
#: Only contrast depends on the theme, so the dark pass runs only it.
AXE_DARK_RULES = ("color-contrast",)
#: A page taller than this (px, at 1400 x 900) needs an in-page contents a reader can see.
LONG_PAGE_PX = 3 * 900
#: Images smaller than this (px, either side) are icons or badges, not figures.
ICON_PX = 48


def axe_script() -> str:
    """The source of axe-core, from the ``axe-selenium-python`` package."""
    import axe_selenium_python

    path = Path(axe_selenium_python.__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
    if not path.is_file():
        raise SystemExit(f"axe-core not found at {path}: pip install -r requirements.txt (axe-selenium-python)")
    return path.read_text(encoding="utf-8")


def run_axe(browser, rules: tuple[str, ...]) -> list[dict]:
    """axe-core's violations of ``rules`` on the page open in ``browser`` (injected if needed)."""
    browser.execute_script(  # no CSS transition in flight (the theme fades its colours when it switches)
        "const s = document.createElement('style'); s.textContent = '*, *::before, *::after "
        "{transition: none !important; animation: none !important}'; document.head.appendChild(s);")
    if not browser.execute_script("return typeof window.axe !== 'undefined';"):
        browser.execute_script(axe_script())
    options = json.dumps({"runOnly": {"type": "rule", "values": list(rules)}, "resultTypes": ["violations"]})
    browser.set_script_timeout(120)
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"axe.run(document, {options}).then(r => done(r.violations)).catch(e => done([{{id: 'axe-error', "
        "help: String(e), nodes: []}]));")
    return result or []


def axe_problems(page: str, violations: list[dict], scheme: str = "") -> list[str]:
    """One line per element that violates an axe rule: the rule, what it says, the element."""
    where = f" ({scheme})" if scheme else ""
    found = []
    for violation in violations:
        nodes = violation.get("nodes") or [{}]
        for node in nodes[:20]:
            target = " ".join(str(t) for t in node.get("target", []))
            if violation["id"].startswith("duplicate-id"):  # the element itself says which id
                target = (target + " " + " ".join((node.get("html") or "").split())[:100]).strip()
            summary = (node.get("failureSummary") or "").replace("\n", " ").replace("Fix any of the following:", "")
            found.append(f"{page}{where}: axe {violation['id']}: {violation.get('help', '')}: {target}"
                         + (f" ({summary.strip()[:160]})" if summary.strip() else ""))
        if len(nodes) > 20:
            found.append(f"{page}{where}: axe {violation['id']}: {len(nodes) - 20} more elements")
    return found


# What axe does not check: read after MathJax has typeset the page, at 1400 px.
LAYOUT_FACTS = """
const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const column = article.getBoundingClientRect();
const text = e => (e.innerText || e.textContent || '').trim().split('\\n')[0].slice(0, 60);
const code = Array.from(article.querySelectorAll('pre'))
    .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > column.right + 1)
    .map(e => ({what: text(e), width: Math.max(e.scrollWidth, e.getBoundingClientRect().width), column: column.width}));
const images = Array.from(article.querySelectorAll('img, svg.cgnb-figure'))
    .filter(e => { const r = e.getBoundingClientRect(); return r.width >= ICON && r.height >= ICON; });
const wide = images.filter(e => e.getBoundingClientRect().right > column.right + 1 || e.getBoundingClientRect().left < column.left - 1)
    .map(e => ({what: (e.getAttribute('src') || e.getAttribute('alt') || 'svg').split('/').pop(),
                width: e.getBoundingClientRect().width, column: column.width}));
const uncaptioned = images.filter(e => { const f = e.closest('figure');
        const c = f && f.querySelector('figcaption'); return !(c && c.textContent.trim()); })
    .map(e => (e.getAttribute('src') || e.getAttribute('alt') || 'svg').split('/').pop());
const backslashes = new Set();
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const parent = n.parentElement;
  if (!parent || !n.textContent.includes('\\\\')) continue;
  const inMath = !!parent.closest('mjx-container');  // typeset math: a backslash there was shown literally
  if (parent.closest('pre, code, script, style, textarea, .highlight') || (!inMath && parent.closest('.math'))) continue;
  if (inMath || /\\\\[_{}%$#&a-zA-Z]/.test(n.textContent)) backslashes.add(n.textContent.trim().slice(0, 60));
}
const toc = Array.from(document.querySelectorAll('nav.page-toc, .bd-sidebar-secondary nav, #pst-page-toc-nav'))
    .filter(e => Array.from(e.querySelectorAll('a')).some(a => { const r = a.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(a).visibility !== 'hidden'; }));
const headings = article.querySelectorAll('section > h2, section > h3').length;
return {code, wide, uncaptioned, backslashes: Array.from(backslashes), toc: toc.length, headings,
        height: document.documentElement.scrollHeight};
"""


def layout_facts(browser) -> dict:
    """:data:`LAYOUT_FACTS` of the page open in ``browser``."""
    return browser.execute_script(f"const ICON = {ICON_PX};" + LAYOUT_FACTS)


def layout_problems(page: str, facts: dict) -> list[str]:
    """One line per code block or figure wider than its column, literal backslash in rendered text or
    math, figure without a caption, and a long page without a visible in-page contents."""
    found = [f"{page}: code block wider than its column ({c['width']:.0f} px in {c['column']:.0f}): {c['what']!r}"
             for c in facts["code"]]
    found += [f"{page}: figure {f['what']} wider than the text column ({f['width']:.0f} px in {f['column']:.0f})"
              for f in facts["wide"]]
    found += [f"{page}: literal backslash in rendered text or math: {t!r}" for t in facts["backslashes"]]
    found += [f"{page}: figure {name} has no caption (a <figure> with a <figcaption>)" for name in facts["uncaptioned"]]
    if facts["height"] > LONG_PAGE_PX and not facts["toc"]:
        found.append(f"{page}: {facts['height']} px long ({facts['headings']} section headings) but no visible "
                     f"in-page contents")
    return found
