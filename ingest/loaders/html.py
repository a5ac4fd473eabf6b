"""HTML pages (lxml): visible text with ``h1``-``h6`` turned into Markdown headings.

One walk over the tree libxml2 builds, start and end events, never editing it: the time is
linear in the page, whatever its shape. (Rewriting a BeautifulSoup tree in place was quadratic
in nesting depth: 20,000 nested ``div``s took 17 s.) libxml2 stops at 256 levels of nesting
and at 10 MB of text in one run; a page that reaches either is refused rather than read in part.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from core.errors import IngestError
from ingest.loaders.base import Parsed, check_text_bytes, require_text, tidy

# Not content: code, styling, and page chrome repeated on every page of a site.
_DROP = frozenset({"head", "script", "style", "noscript", "template", "svg", "iframe", "nav", "aside", "footer", "form"})
_BLOCKS = frozenset({"p", "div", "section", "article", "li", "tr", "br", "pre", "blockquote", "table", "ul", "ol",
                     "dd", "dt"})
_SPACED = frozenset({"p", "pre", "blockquote", "table", "ul", "ol"})  # a blank line before them
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_SPACE = re.compile(r"\s+")
# libxml2's messages when a page passes one of its limits (256 levels of nesting, 10 MB in one
# text run): it stops there, and reading only the page's top would be silently partial.
_LIMITS = {"Excessive depth": "nested more than 256 levels deep", "Resource limit exceeded": "over libxml2's "
           "10 MB limit for one run of text or markup"}


class PageTooComplex(ValueError):
    """The page passes one of libxml2's limits; the message says which."""

    pass


def html_to_markdown(markup: str | bytes) -> tuple[str, str | None, dict]:
    """(text, page title, metadata) of an HTML document. Bytes are decoded by their ``<meta charset>``
    (UTF-8 without one)."""
    if isinstance(markup, str):
        markup = markup.encode("utf-8")
        parser = lxml_html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)
    else:
        parser = lxml_html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = lxml_html.document_fromstring(markup, parser=parser)
    except etree.ParserError:  # nothing but whitespace or comments
        return "", None, {}
    for entry in parser.error_log:
        for needle, reason in _LIMITS.items():
            if needle in entry.message:
                raise PageTooComplex(reason)
    title = _squash(root.findtext(".//title") or "") or None
    metadata: dict = {}
    for meta in root.iterfind(".//meta[@name]"):
        name, content = (meta.get("name") or "").lower(), (meta.get("content") or "").strip()
        if name in ("author", "date") and content and name not in metadata:
            metadata[name] = content
    return tidy(_visible_text(root)), title, metadata


def _visible_text(root) -> str:
    out: list[str] = []
    depth = 0
    skipping: int | None = None  # depth of the dropped element or heading being passed over
    in_pre = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            depth += 1
            if skipping is not None:
                continue
            if tag in _DROP:
                skipping = depth
                continue
            if tag in _HEADINGS:
                out.append(f"\n\n{'#' * _HEADINGS[tag]} {_squash(element.text_content())}\n\n")
                skipping = depth
                continue
            if tag == "pre":
                in_pre += 1
            if tag in _SPACED:
                out.append("\n")
            if tag == "li":
                out.append("- ")
            if element.text:
                out.append(element.text if in_pre else _SPACE.sub(" ", element.text))
            continue
        if skipping == depth:
            skipping = None
        elif skipping is None:
            if tag in ("td", "th"):
                out.append(" | ")
            if tag in _BLOCKS:
                out.append("\n")
            if tag == "pre":
                in_pre -= 1
        depth -= 1
        if skipping is None and element.tail and depth > 0:
            out.append(element.tail if in_pre else _SPACE.sub(" ", element.tail))
    lines = (line.strip() if line.startswith("#") else " ".join(line.split()) for line in "".join(out).splitlines())
    return "\n".join(lines)


def _squash(text: str) -> str:
    return " ".join(text.split())


def html(path: Path, data: bytes) -> Parsed:
    check_text_bytes(path, data)
    try:
        text, title, metadata = html_to_markdown(data)
    except PageTooComplex as exc:
        raise IngestError(path, f"HTML page {exc}") from None
    require_text(path, text, "no visible text in the HTML page")
    if not title:
        first = next((line for line in text.splitlines() if line.startswith("#")), "")
        title = first.lstrip("# ").strip() or path.stem
    return Parsed(text=text, title=title, metadata={**metadata, "format": "html"})
