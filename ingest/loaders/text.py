"""Markdown, plain text and plain-text transcripts (``Speaker: words`` lines, optional timestamps)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import yaml

from ingest.loaders.base import Parsed, Turn, decode, transcript

log = logging.getLogger(__name__)

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# "[00:01:02] Ana Ruiz: words", "00:01:02 Ana: words", "Ana Ruiz: words". A speaker
# name is short and starts with a capital letter or digit (Speaker 1, PM, Dr. Lee).
_TRANSCRIPT_LINE = re.compile(
    r"^\s*(?:\[?(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)\]?\s*[-–]?\s*)?"
    r"(?P<speaker>[A-Z0-9][\w.'’ -]{0,39}?)\s*:\s+(?P<text>\S.*)$"
)
# Header fields of meeting notes look like speaker lines; they are not turns.
_NOT_SPEAKERS = {"date", "attendees", "participants", "subject", "title", "time", "location", "agenda", "note", "notes"}
TRANSCRIPT_SHARE = 0.6  # share of non-empty lines that must look like turns
TRANSCRIPT_MIN_TURNS = 3


# YAML front matter: a first line of "---", the YAML, a line of "---" (or "...").
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?P<yaml>.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)
# Front-matter keys, by what they say about the document (Jekyll, Hugo, MkDocs and Pandoc spellings).
_AUTHOR_KEYS = ("author", "authors")
_DATE_KEYS = ("date", "created", "updated", "last_modified", "last_updated", "modified")
_TAG_KEYS = ("tags", "keywords", "categories")


def markdown(path: Path, data: bytes) -> Parsed:
    text = decode(path, data)
    text, metadata = front_matter(path, text)
    text, rows = table_rows(text)
    if rows:
        metadata["table_rows"] = rows
    match = _HEADING.search(text)
    declared = metadata.get("front_matter", {}).get("title")
    title = declared.strip() if isinstance(declared, str) and declared.strip() else (
        match.group(1).strip() if match else path.stem)
    if metadata and not text.strip():
        # A page that is all front matter (a redirect, a stub) is still a document: its title is its text.
        text = f"# {title}\n"
    return Parsed(text=text, title=title, metadata=metadata)


def front_matter(path: Path, text: str) -> tuple[str, dict]:
    """The text without its YAML front matter, and what the front matter says as metadata:
    ``authors``, ``dates`` (key -> ISO date), ``tags``, and every field as read (``front_matter``,
    whose ``title`` becomes the document's title). Front matter that is not valid YAML mapping stays in the text, with a warning
    naming the file: nothing is lost."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return text, {}
    try:
        fields = yaml.safe_load(match.group("yaml"))
    except yaml.YAMLError as exc:
        log.warning("%s: front matter is not valid YAML, kept as text: %s", path, str(exc).splitlines()[0])
        return text, {}
    if not isinstance(fields, dict):
        return text, {}
    fields = _plain(fields)
    metadata: dict = {"front_matter": fields}
    authors = [a for key in _AUTHOR_KEYS for a in _strings(fields.get(key))]
    if authors:
        metadata["authors"] = list(dict.fromkeys(authors))
    dates = {key: str(fields[key]) for key in _DATE_KEYS if fields.get(key) not in (None, "")}
    if dates:
        metadata["dates"] = dates
    tags = [t for key in _TAG_KEYS for t in _strings(fields.get(key), split_commas=True)]
    if tags:
        metadata["tags"] = list(dict.fromkeys(tags))
    return text[match.end():].lstrip("\r\n"), metadata


_CELL_BREAK = re.compile(r"\s*<br\s*/?>\s*", re.IGNORECASE)


def table_rows(text: str) -> tuple[str, int]:
    """Pipe tables rewritten as one list item per row, each cell beside its column header:
    "- Resource: Tock; Point of contact: 18F Director of Engineering". (the text, rows written)

    A row is a fact (its key, a header, a value), and once a table is split into chunks a
    row far from the header row no longer says what its cells are; written this way every
    row carries its headers into its chunk, its citation and the extraction rules (which read
    ``Header: value`` pairs: see ``ingest.extract.layout``). markdown-it-py
    finds the tables, so pipes in code spans, escaped pipes and alignment rows are read as
    the CommonMark/GFM spec says.
    """
    if "|" not in text:
        return text, 0
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    lines = text.split("\n")
    replaced: list[tuple[int, int, list[str]]] = []
    i = 0
    while i < len(tokens):
        if tokens[i].type != "table_open" or tokens[i].map is None:
            i += 1
            continue
        first, last = tokens[i].map
        rows: list[list[str]] = []
        while tokens[i].type != "table_close":
            if tokens[i].type == "tr_open":
                rows.append([])
            elif tokens[i].type == "inline" and rows:
                rows[-1].append(_CELL_BREAK.sub(" ", tokens[i].content).strip())
            i += 1
        header, body = rows[0], rows[1:]
        written = []
        for row in body:
            pairs = [f"{name or 'Column ' + str(n + 1)}: {cell}" for n, (name, cell) in enumerate(zip(header, row)) if cell]
            if pairs:
                written.append("- " + "; ".join(pairs))
        replaced.append((first, last, written))
        i += 1
    count = 0
    for first, last, written in reversed(replaced):
        lines[first:last] = written
        count += len(written)
    return "\n".join(lines), count


def _plain(value):
    """YAML values as JSON-safe ones: dates as ISO strings, keys as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _strings(value, *, split_commas: bool = False) -> list[str]:
    """A front-matter field as a list of names: "a, b" (when ``split_commas``), ["a", "b"], or {name: ...} items."""
    if isinstance(value, str):
        parts = value.split(",") if split_commas else [value]
        return [p.strip() for p in parts if p.strip()]
    if isinstance(value, list):
        return [s for item in value for s in (_strings(item) if not isinstance(item, dict)
                                              else _strings(item.get("name")))]
    return []


def plain_text(path: Path, data: bytes) -> Parsed:
    text = decode(path, data)
    turns = transcript_turns(text)
    if turns is not None:
        return transcript(path, turns, title=path.stem, fmt="transcript")
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    # A short first line reads as a title; a paragraph does not.
    return Parsed(text=text, title=first_line if 0 < len(first_line) <= 100 else path.stem)


def transcript_turns(text: str) -> list[Turn] | None:
    """Turns when most non-empty lines read ``[time] Speaker: words``; else None.

    A line that does not match continues the previous turn (wrapped text).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    turns: list[Turn] = []
    matched = 0
    for line in lines:
        match = _TRANSCRIPT_LINE.match(line)
        if match and match.group("speaker").strip().lower() not in _NOT_SPEAKERS:
            matched += 1
            turns.append(Turn(speaker=match.group("speaker").strip(), text=match.group("text").strip(),
                              time=match.group("time")))
        elif turns:
            last = turns[-1]
            turns[-1] = Turn(last.speaker, f"{last.text} {line.strip()}", last.time)
    if matched < TRANSCRIPT_MIN_TURNS or matched < TRANSCRIPT_SHARE * len(lines):
        return None
    return turns
