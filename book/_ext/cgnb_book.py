"""Sphinx extension of the book: page order, header buttons, status, figures, downloads.

- The claims and status pages render what the chapters produced in this build (ledger records,
  execution times), so they are read last and on every build, never from Sphinx's cache.
- Header buttons: the launch (Colab) buttons only on chapter notebooks; no "print to PDF" entry;
  the ``.ipynb`` download of a chapter is the notebook *as executed by the build* (copied over the
  source copy when the build finishes).
- ``{cgnb-status}`` renders the status page's table (per chapter: when it ran, how long, profile,
  JAX version, backend and device), and every chapter page gets one status line under its title.
- Figures from cell outputs get an alt text (their section and chapter), a link to the full-size
  PNG (``static/cgnb.js``) and, when wider than the text column, the ``full-width`` layout.
- ``static/cgnb.css``: code outputs and tables wrap instead of scrolling sideways; the claims
  table turns into cards on narrow screens.
- The bibliography's labels are author-year ("Arpit et al. 2017"), LaTeX accents decoded: the
  pybtex style ``cgnb`` (``bibtex_default_style`` in ``_config.yml``).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import struct
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

CLAIMS_DOC = "book/claims"
STATUS_DOC = "book/status"
INTRO_DOC = "book/intro"
REFERENCES_DOC = "book/references"
#: Read in this order, after every chapter: the ledger pages (findings_pages.py), then the full
#: bibliography, so that a citation on a page without its own bibliography resolves to it.
LAST_DOCS = (CLAIMS_DOC, STATUS_DOC, INTRO_DOC, REFERENCES_DOC)
CHAPTER_PREFIX = "notebooks/"
STATIC = Path(__file__).parent / "static"
#: Widest PNG (px) shown unscaled in the text column of a 1400 px window; wider ones go full-width.
COLUMN_PX = 760


# ---- page order ---------------------------------------------------------------------------------

def _last(app, env, docnames: list[str]) -> None:
    for doc in LAST_DOCS:
        if doc in docnames:
            docnames.remove(doc)
            docnames.append(doc)


def _always_outdated(app, env, added, changed, removed) -> list[str]:
    return [doc for doc in LAST_DOCS if doc in env.found_docs]


# ---- header buttons and downloads -------------------------------------------------------------

def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated <script> entries (sphinx-thebe registers its config script twice under
    Jupyter Book 1.0.4, which makes the browser report 'THEBE_JS_URL has already been declared')."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _header_buttons(app, pagename, templatename, context, doctree) -> None:
    """Launch buttons only on chapters; no PDF entry; the notebook download says it is executed."""
    chapter = pagename.startswith(CHAPTER_PREFIX)
    kept = []
    for button in context.get("header_buttons", []):
        if button.get("label") == "launch-buttons" and not chapter:
            continue
        if button.get("label") == "download-buttons":
            button["buttons"] = [b for b in button["buttons"] if b.get("label") != "download-pdf-button"]
            for b in button["buttons"]:
                if chapter and b.get("label") == "download-source-button":
                    b["tooltip"] = "Download the notebook as executed for this page"
        kept.append(button)
    context["header_buttons"] = kept


def _executed_notebooks_for_download(app, exception) -> None:
    """Replace the source copy of each chapter notebook in ``_sources`` with the executed one."""
    if exception is not None or app.builder.format != "html":
        return
    executed = Path(app.outdir).parent / "jupyter_execute"
    for doc in app.env.found_docs:
        source, target = executed / f"{doc}.ipynb", Path(app.outdir) / "_sources" / f"{doc}.ipynb"
        if doc.startswith(CHAPTER_PREFIX) and source.is_file() and target.parent.is_dir():
            shutil.copyfile(source, target)


# ---- status -------------------------------------------------------------------------------------

def _environment() -> dict[str, str]:
    """JAX version, backend and device of the build's Python (the kernels run in the same one)."""
    try:
        import jax

        devices = jax.devices()
        device = f"{len(devices)} × {devices[0].device_kind}" if devices else "none"
        return {"jax": jax.__version__, "backend": jax.default_backend(), "device": device}
    except Exception as error:  # noqa: BLE001 - the page says what went wrong instead
        return {"jax": f"unavailable ({type(error).__name__})", "backend": "?", "device": "?"}


def _chapter_records() -> dict[str, list[dict]]:
    from cgnb.engine import ledger

    by_chapter: dict[str, list[dict]] = {}
    for record in ledger.load_records():
        by_chapter.setdefault(record["chapter"], []).append(record)
    return by_chapter


def _exec_data(env, doc: str) -> dict | None:
    data = getattr(env, "nb_metadata", {}).get(doc, {}).get("exec_data")
    return dict(data) if data else None


def _chapter_id(doc: str) -> str:
    """The chapter name of a chapter page, the name its ledger records carry: ``notebooks/04_coherent_gradients``
    -> ``coherent_gradients`` (a chapter's notebook is ``notebooks/<number:02d>_<name>``, see
    :class:`cgnb.engine.book.Chapter`)."""
    number, _, name = Path(doc).name.partition("_")
    return name if number.isdigit() and name else doc


def _status_facts(app, doc: str) -> dict[str, str]:
    """What the status page and the chapter's status line say about ``doc``."""
    env = app.env
    if not hasattr(env, "cgnb_environment"):
        env.cgnb_environment = _environment()
    data = _exec_data(env, doc)
    records = _chapter_records().get(_chapter_id(doc), [])
    profiles = _profile_order(records) or [os.environ.get("CGNB_PROFILE", "quick")]
    times = sorted(r["time"] for r in records if r.get("time"))
    when = times[-1].replace("T", " ")[:16] + " UTC" if times else "not recorded"
    if data is None:
        ran, seconds = "not executed", "–"
    else:
        ran = "✅ ran" if data.get("succeeded") else "❌ failed"
        seconds = "–" if data.get("runtime") is None else f"{data['runtime']:.0f} s"
    claims = _claims_text(records)
    return {"result": ran, "seconds": seconds, "date": when, "profile": ", ".join(profiles),
            "claims": claims, **env.cgnb_environment}


def _profile_order(records: list[dict]) -> list[str]:
    """The profiles of a chapter's records: the chapter's own run (quick/paper) first, then its stored runs."""
    from cgnb.engine.profiles import PROFILES

    return sorted({r["profile"] for r in records}, key=lambda name: (name not in PROFILES, name))


def _claims_text(records: list[dict]) -> str:
    """Counts of a chapter's claim checks by outcome, per profile (the chapter's own run, then its stored runs)."""
    if not records:
        return "no claim checks recorded"
    from cgnb.engine.verdicts import counts

    parts = []
    for name in _profile_order(records):
        mine = [r for r in records if r["profile"] == name]
        parts.append(f"{name}: {counts([r['verdict'] for r in mine])}")
    return "; ".join(parts)


def _title(env, doc: str) -> str:
    title = env.titles.get(doc)
    return title.astext() if title is not None else doc


class StatusNode(nodes.General, nodes.Element):
    """Placeholder for the status table, filled once every chapter has been executed."""


class StatusDirective(SphinxDirective):
    """``{cgnb-status}``: the table of the status page."""

    def run(self):
        return [StatusNode()]


STATUS_COLUMNS = (("chapter", None), ("execution", "result"), ("run time", "seconds"), ("ran at", "date"),
                  ("profile", "profile"), ("claim checks", "claims"), ("JAX", "jax"), ("backend", "backend"),
                  ("device", "device"))


def _doc_link(app, from_doc: str, to_doc: str, text: str) -> nodes.reference:
    uri = app.builder.get_relative_uri(from_doc, to_doc)
    return nodes.reference("", text, refuri=uri, internal=True)


class StatusTransform(SphinxPostTransform):
    """Fill the status table (HTML, so each cell carries its column name for narrow screens)."""

    default_priority = 8

    def run(self, **kwargs) -> None:
        import html

        app, doc = self.app, self.env.docname
        for node in list(self.document.findall(StatusNode)):
            chapters = sorted(d for d in self.env.found_docs if d.startswith(CHAPTER_PREFIX))
            head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in STATUS_COLUMNS)
            rows = []
            for chapter in chapters:
                facts = _status_facts(app, chapter)
                link = (f'<a class="reference internal" href="{html.escape(app.builder.get_relative_uri(doc, chapter))}">'
                        f"{html.escape(_title(self.env, chapter))}</a>")
                cells = [(STATUS_COLUMNS[0][0], link)] + [(name, html.escape(facts[key])) for name, key in STATUS_COLUMNS[1:]]
                rows.append("<tr>" + "".join(f'<td data-label="{name}">{value}</td>' for name, value in cells) + "</tr>")
            note = nodes.paragraph(text=(
                f"Built {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.system()} "
                f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPU cores. "
                "JAX, backend and device are those of the Python that ran the notebooks."))
            table = (f'<table class="cgnb-claims cgnb-status-table"><thead><tr>{head}</tr></thead>'
                     f'<tbody>{"".join(rows)}</tbody></table>')
            node.replace_self([note, nodes.raw("", table, format="html")])


def _status_line(app, doctree, docname: str) -> None:
    """Under a chapter's title: one line saying when and how this page was executed."""
    if not docname.startswith(CHAPTER_PREFIX) or app.builder.format != "html":
        return
    facts = _status_facts(app, docname)
    line = nodes.paragraph(classes=["cgnb-status"])
    line += nodes.Text(f"Executed for this page: {facts['result'].split(' ', 1)[-1]} in {facts['seconds']} "
                       f"on {facts['date']}, profile {facts['profile']}, JAX {facts['jax']} "
                       f"({facts['backend']}, {facts['device']}); claims: {facts['claims']}. ")
    line += _doc_link(app, docname, STATUS_DOC, "Build status")
    for section in doctree.findall(nodes.section):
        title = section.next_node(nodes.title)
        if title is not None:
            title.parent.insert(title.parent.index(title) + 1, line)
            return


# ---- figures ------------------------------------------------------------------------------------

def _png_width(path: Path) -> int | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">I", head[16:20])[0]


def _section_title(node: nodes.Node) -> str | None:
    while node is not None:
        if isinstance(node, nodes.section):
            title = node.next_node(nodes.title)
            if title is not None:
                return title.astext()
        node = node.parent
    return None


def _figures(app, doctree, docname: str) -> None:
    """Alt text and full-width layout for the figures a notebook's cells output."""
    if not docname.startswith(CHAPTER_PREFIX):
        return
    chapter = _title(app.env, docname)
    counts: dict[str, int] = {}
    for image in doctree.findall(nodes.image):
        cell = image.parent
        while cell is not None and not (isinstance(cell, nodes.container) and "cell" in cell.get("classes", [])):
            cell = cell.parent
        if cell is None:
            continue
        section = _section_title(image) or chapter
        counts[section] = counts.get(section, 0) + 1
        where = section if section == chapter else f"{section} ({chapter})"
        image["alt"] = f"Figure {counts[section]} of {where}" if counts[section] > 1 else f"Figure of {where}"
        uri = image.get("candidates", {}).get("*") or image.get("uri", "")
        shown = str(image.get("width", "")).removesuffix("px")  # a 2x PNG carries its display width
        width = int(float(shown)) if shown.replace(".", "", 1).isdigit() else (
            _png_width(Path(app.srcdir) / uri) if uri else None)
        if width and width > COLUMN_PX and "full-width" not in cell["classes"]:
            cell["classes"].append("full-width")


# ---- bibliography labels ------------------------------------------------------------------------

def _plain(latex: str) -> str:
    import codecs

    import latexcodec  # noqa: F401 - registers the codec

    return codecs.decode(latex, "ulatex").replace("{", "").replace("}", "")


def author_year(entry) -> str:
    """``"Chatterjee 2020"``, ``"Glorot & Bengio 2010"``, ``"Arpit et al. 2017"``; a group author whole."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_plain(" ".join(p.last_names) or " ".join(p.first_names)) for p in people]
    who = (names[0] if len(names) == 1 else f"{names[0]} & {names[1]}" if len(names) == 2
           else f"{names[0]} et al." if names else _plain(entry.fields.get("title", entry.key)))
    return f"{who} {entry.fields.get('year', 'n.d.')}"


def _register_bibtex_style() -> None:
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            labels = [author_year(e) for e in sorted_entries]
            seen: dict[str, int] = {}
            for label in labels:  # the same author and year twice: 2017a, 2017b
                if labels.count(label) == 1:
                    yield label
                else:
                    seen[label] = seen.get(label, -1) + 1
                    yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label]]

    class AuthorYearStyle(Style):
        default_label_style = "cgnb-author-year"
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.labels", "cgnb-author-year", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", "cgnb", AuthorYearStyle, force=True)


def _static_path(app, config) -> None:
    config.html_static_path.append(str(STATIC))


def setup(app):
    app.setup_extension("findings_pages")  # {cgnb-findings}, {cgnb-claims}, {cgnb-cite}, {cgnb-run-locally}
    app.setup_extension("performance_page")  # {cgnb-costs}
    _register_bibtex_style()
    app.add_node(StatusNode)
    app.add_directive("cgnb-status", StatusDirective)
    app.add_post_transform(StatusTransform)
    app.connect("config-inited", _static_path)
    app.add_css_file("cgnb.css")
    app.add_js_file("cgnb.js")
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _header_buttons, priority=901)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("env-before-read-docs", _last)
    app.connect("doctree-resolved", _figures)
    app.connect("doctree-resolved", _status_line)
    app.connect("build-finished", _executed_notebooks_for_download)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
