"""Each check of scripts/check_site.py fails on a tiny page that has its defect, and passes on a clean one.

The pages are opened in the same headless Chromium the site check drives; the tests are skipped
where Chromium or chromedriver is missing.
"""
import shutil
import tempfile

import pytest

from repo_files import load_module

check_site = load_module("scripts/check_site.py")
site_checks = check_site.site_checks

pytestmark = pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                                reason="needs Chromium and chromedriver")

FIGURE = ('<img src="data:image/svg+xml;utf8,<svg xmlns=%22http://www.w3.org/2000/svg%22 width=%22{w}%22 '
          'height=%2260%22><rect width=%22{w}%22 height=%2260%22 fill=%22%23369%22/></svg>" width="{w}" '
          'height="60" alt="{alt}">')
CLEAN = f"""
<p>Plain text, dark on white. Math: <span class="math"><mjx-container>x_i</mjx-container></span>.</p>
<pre>short code</pre>
<figure>{FIGURE.format(w=200, alt="a bar")}<figcaption>Figure 1: a bar.</figcaption></figure>
"""


def page(body: str, head: str = "") -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>t</title>"
            f"<style>body{{margin:0;font:16px sans-serif;color:#222;background:#fff}}"
            f"article.bd-article{{width:400px;margin-left:20px}}</style>{head}</head>"
            f"<body><main><article class='bd-article'>{body}</article></main></body></html>")


@pytest.fixture(scope="module")
def browser():
    with tempfile.TemporaryDirectory(prefix="cgnb-test-chromium-") as profile:
        driver = check_site.driver(profile)
        try:
            yield driver
        finally:
            driver.quit()


def open_page(browser, tmp_path, html: str, scheme: str = "light"):
    check_site.color_scheme(browser, scheme)
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    browser.get(path.as_uri())


def problems(browser, tmp_path, body: str, head: str = "", scheme: str = "light") -> list[str]:
    open_page(browser, tmp_path, page(body, head), scheme)
    rules = site_checks.AXE_RULES if scheme == "light" else site_checks.AXE_DARK_RULES
    found = site_checks.axe_problems("p", site_checks.run_axe(browser, rules), scheme)
    return found + site_checks.layout_problems("p", site_checks.layout_facts(browser))


def test_a_clean_page_passes(browser, tmp_path):
    assert problems(browser, tmp_path, CLEAN) == []
    assert problems(browser, tmp_path, CLEAN, scheme="dark") == []


def test_low_contrast_text_is_caught_in_light(browser, tmp_path):
    found = problems(browser, tmp_path, CLEAN + '<p style="color:#aaaaaa">pale grey text on white</p>')
    assert any("axe color-contrast" in p and "(light)" in p for p in found), found


def test_low_contrast_text_is_caught_in_dark_only(browser, tmp_path):
    """The claims page's old chapter headings: white on a light-grey card in the dark theme."""
    dark = ("<style>@media (prefers-color-scheme: dark) {h2.card {background:#d0d0d0;color:#ffffff}}</style>")
    body = CLEAN + '<h2 class="card">A chapter heading</h2>'
    assert problems(browser, tmp_path, body, dark) == []
    found = problems(browser, tmp_path, body, dark, scheme="dark")
    assert any("axe color-contrast" in p and "(dark)" in p and "h2" in p for p in found), found


def test_duplicate_ids_are_caught(browser, tmp_path):
    found = problems(browser, tmp_path, CLEAN + '<p id="claim-c5-2">one</p><p id="claim-c5-2">two</p>')
    assert any("axe duplicate-id" in p and "claim-c5-2" in p for p in found), found


def test_an_image_without_alt_text_is_caught(browser, tmp_path):
    body = CLEAN + "<figure>" + FIGURE.format(w=100, alt="").replace(' alt=""', "") + "<figcaption>c</figcaption></figure>"
    found = problems(browser, tmp_path, body)
    assert any("axe image-alt" in p for p in found), found


def test_a_code_block_wider_than_its_column_is_caught(browser, tmp_path):
    body = CLEAN + '<pre style="overflow-x:auto">' + "x = 1  # " + "a long comment " * 20 + "</pre>"
    found = problems(browser, tmp_path, body)
    assert any("code block wider than its column" in p for p in found), found


def test_a_figure_wider_than_its_column_is_caught(browser, tmp_path):
    body = CLEAN + f"<figure>{FIGURE.format(w=700, alt='wide')}<figcaption>Wide.</figcaption></figure>"
    found = problems(browser, tmp_path, body)
    assert any("wider than the text column" in p for p in found), found


def test_literal_backslashes_in_rendered_math_and_text_are_caught(browser, tmp_path):
    math = CLEAN + r'<p><span class="math"><mjx-container><mjx-utext>train\_acc</mjx-utext></mjx-container></span></p>'
    assert any("literal backslash" in p and "train" in p for p in problems(browser, tmp_path, math))
    prose = CLEAN + r"<p>the w\_scale parameter</p>"
    assert any("literal backslash" in p for p in problems(browser, tmp_path, prose))
    code = CLEAN + r"<pre>print('a\_b')</pre>"  # in code a backslash is what the reader should type
    assert not any("literal backslash" in p for p in problems(browser, tmp_path, code))


def test_a_figure_without_a_caption_is_caught(browser, tmp_path):
    found = problems(browser, tmp_path, CLEAN + f"<p>{FIGURE.format(w=120, alt='a bare figure')}</p>")
    assert any("has no caption" in p for p in found), found


def test_a_long_page_without_visible_contents_is_caught(browser, tmp_path):
    tall = CLEAN + '<section><h2 id="a">A</h2><div style="height:4000px"></div></section>'
    assert any("no visible in-page contents" in p for p in problems(browser, tmp_path, tall))
    hidden = '<nav class="page-toc" style="display:none"><a href="#a">A</a></nav>'
    assert any("no visible in-page contents" in p for p in problems(browser, tmp_path, tall + hidden))
    shown = '<nav class="page-toc"><a href="#a">A</a></nav>'
    assert not any("in-page contents" in p for p in problems(browser, tmp_path, tall + shown))


def test_axe_problem_lines_name_the_rule_and_element():
    violations = [{"id": "duplicate-id", "help": "ids must be unique", "nodes": [{"target": ["#x"]}] * 22}]
    lines = site_checks.axe_problems("book/claims", violations, "light")
    assert lines[0] == "book/claims (light): axe duplicate-id: ids must be unique: #x"
    assert len(lines) == 21 and lines[-1].endswith("2 more elements")
