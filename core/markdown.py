"""Markdown structure shared by extraction, meeting notes and minutes: ATX and setext headings."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*$", re.MULTILINE)
_SETEXT = re.compile(r"^([^\n]*\S)[^\S\n]*\n[ \t]*(=+|-+)[ \t]*$", re.MULTILINE)
_CORPORATE_CASE = {"gmbh": "GmbH", "inc": "Inc.", "ltd": "Ltd", "llc": "LLC", "ag": "AG", "plc": "plc"}


def _title_name(text: str) -> str:
    """A shouted heading as a name: "BRENNER LOGISTICS GMBH" -> "Brenner Logistics GmbH"."""
    words = []
    for word in text.split():
        key = word.casefold().strip(".,")
        words.append(_CORPORATE_CASE.get(key, word if len(word) <= 3 and key in ("it", "hq") else word.capitalize()))
    return " ".join(words)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    start: int  # document offset


def headings(text: str) -> list[Heading]:
    """Markdown headings: ATX ("## Name") and setext (a line underlined with "===" or "---", as plain-text
    files write them). Shouted setext headings are returned in title case ("1. BRENNER LOGISTICS GMBH" ->
    "1. Brenner Logistics GmbH") so that names in them read as names."""
    found = [Heading(len(m.group(1)), m.group(2).strip(), m.start()) for m in _HEADING.finditer(text)]
    for m in _SETEXT.finditer(text):
        title = m.group(1).strip()
        if title.startswith(("#", "-", "*", "|")) or set(title) <= set("=-"):
            continue
        letters = [ch for ch in title if ch.isalpha()]
        if letters and all(ch.isupper() for ch in letters):
            title = _title_name(title)
        found.append(Heading(1 if m.group(2)[0] == "=" else 2, title, m.start()))
    return sorted(found, key=lambda h: h.start)


def heading_path(all_headings: list[Heading], offset: int) -> list[Heading]:
    """The headings in force at a document offset, outermost first."""
    path: list[Heading] = []
    for heading in all_headings:
        if heading.start > offset:
            break
        while path and path[-1].level >= heading.level:
            path.pop()
        path.append(heading)
    return path


# Link targets, bare URLs, template tags and HTML tags: characters that are markup, not prose.
_MARKUP = re.compile(r"\]\([^)\s]*\)|<?https?://[^\s)>\]]+>?|\{%.*?%\}|\{\{.*?\}\}|</?[A-Za-z][^<>\n]*>")


def blank_markup(text: str) -> str:
    """``text`` with link targets, URLs, template tags and HTML tags replaced by spaces.

    Same length, so offsets still point into the original: a model reading the result
    does not mistake "pagyCKyWNdrBCgvP1" in an Airtable link, or a Twitter handle in a
    URL, for a name. A link's own text stays ("[Tock](/tock)" reads "[Tock" + spaces).
    """
    return _MARKUP.sub(lambda m: "]" + " " * (len(m.group()) - 1) if m.group().startswith("](") else " " * len(m.group()),
                       text)
