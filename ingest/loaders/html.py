"""HTML pages (BeautifulSoup): visible text with ``h1``-``h6`` turned into Markdown headings."""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup

from ingest.loaders.base import Parsed, check_text_bytes, require_text, tidy

# Not content: code, styling, and page chrome repeated on every page of a site.
_DROP = ["script", "style", "noscript", "template", "svg", "iframe", "nav", "aside", "footer", "form"]
_BLOCKS = ["p", "div", "section", "article", "li", "tr", "br", "pre", "blockquote", "table", "ul", "ol", "dd", "dt"]


def html_to_markdown(markup: str | bytes) -> tuple[str, str | None, dict]:
    """(text, page title, metadata) of an HTML document."""
    soup = BeautifulSoup(markup, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    metadata: dict = {}
    for name in ("author", "date"):
        meta = soup.find("meta", attrs={"name": name})
        if meta and meta.get("content"):
            metadata[name] = meta["content"].strip()
    for tag in soup(_DROP):
        tag.decompose()
    if soup.head:
        soup.head.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    for tag in soup.find_all("li"):
        tag.insert(0, "- ")
    for tag in soup.find_all(["td", "th"]):
        tag.append(" | ")
    for tag in soup.find_all(_BLOCKS):
        tag.append("\n")
        if tag.name in ("p", "pre", "blockquote", "table", "ul", "ol"):
            tag.insert(0, "\n")
    lines = (" ".join(line.split()) if not line.startswith("#") else line.strip() for line in soup.get_text().splitlines())
    return tidy("\n".join(lines)), title, metadata


def html(path: Path, data: bytes) -> Parsed:
    check_text_bytes(path, data)
    # BeautifulSoup finds the encoding from the bytes (BOM, <meta charset>, or a guess).
    text, title, metadata = html_to_markdown(data)
    require_text(path, text, "no visible text in the HTML page")
    if not title:
        first = next((line for line in text.splitlines() if line.startswith("#")), "")
        title = first.lstrip("# ").strip() or path.stem
    return Parsed(text=text, title=title, metadata={**metadata, "format": "html"})
