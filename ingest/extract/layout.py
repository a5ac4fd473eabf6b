"""What the layout of a document states: names listed after a kind noun, and table rows as records.

Two patterns authors use for facts that prose would need a sentence for each:

* **Enumerations.** "18F is organized into five chapters: Design, Engineering, ...",
  "TTS SaaS Products: Airtable, Figma", or "We have six centers:" over a list: the kind noun
  types the names it lists (chapters are teams, products are products), and the relation
  to the container named before it follows from the kind (a chapter is PART_OF 18F, a
  SaaS product is one TTS USES).
* **Records.** A table row as the Markdown loader writes it, ``- Header: value; Header:
  value`` (``ingest/loaders/text.py:table_rows``): its first value is the row's key, a
  name of the kind its column header says; a column whose header names a relation
  ("Owner", "Location", "Team") relates the key to the entity in its value.

Precision first: a list whose entries are sentences, not names, types nothing.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from core.extraction import Extraction, Span
from core.types import Chunk, Entity
from core.vocabulary import GROUPS, PEOPLE, PLACES, THINGS, name_key

_WORD_RUN = re.compile(r"[\w-]+")

# ---- enumerations ------------------------------------------------------------------
# "18F is organized into five chapters: Design, Engineering, ...", "TTS SaaS Products: Airtable, Figma",
# "We have six centers, each focused on ...:" over a list: the kind noun types the names it lists.
_KIND_NOUNS: dict[str, str] = {
    **dict.fromkeys(("chapters", "teams", "centers", "centres", "divisions", "offices", "units", "groups",
                     "departments", "practice areas", "branches", "squads", "portfolios", "business units",
                     "committees", "programs", "programmes"), "Team"),
    **dict.fromkeys(("products", "tools", "apps", "applications", "platforms", "systems", "software", "websites",
                     "sites", "services"), "Product"),
    **dict.fromkeys(("partners", "vendors", "suppliers", "agencies", "companies", "organizations", "organisations",
                     "customers", "clients"), "Organization"),
}
_KIND = re.compile(r"\b(" + "|".join(sorted((k.replace(" ", r"\s+") for k in _KIND_NOUNS), key=len, reverse=True))
                   + r")\b", re.IGNORECASE)
# A table's first column header, singular: what the row's key is.
_COLUMN_KINDS: dict[str, str] = {
    **dict.fromkeys(("system", "service", "tool", "product", "app", "application", "platform", "resource",
                     "website", "site", "software", "repository", "component"), "Product"),
    **dict.fromkeys(("team", "unit", "department", "division", "group", "chapter", "squad", "office"), "Team"),
    **dict.fromkeys(("company", "partner", "vendor", "supplier", "agency", "organization", "organisation",
                     "customer", "client"), "Organization"),
    **dict.fromkeys(("project", "initiative", "program", "programme"), "Project"),
    **dict.fromkeys(("location", "city", "country", "region"), "Location"),
}
_USED_KINDS = re.compile(r"\b(?:saas|tools|software|platforms|apps|applications|providers)\b", re.IGNORECASE)
_PARTNER_KINDS = re.compile(r"\b(?:partners|vendors|suppliers)\b", re.IGNORECASE)
# Between the container and the kind noun: a verb of having parts, or nothing ("TTS SaaS Products:").
_CONTAINS = re.compile(r"\b(?:organi[sz]ed|divided|split|grouped|made\s+up|composed|consists?|comprises?|contains?|"
                       r"includes?|has|have|runs|operates|offers|maintains|manages)\b", re.IGNORECASE)
_MARKUP_CHARS = re.compile(r"\*\*|__|`|\[|\]")
_LIST_ITEM = re.compile(r"^([ \t]*)(?:[-*•]|\d+[.)])[ \t]+(.*)$")
_ITEM_NAME_WORD = re.compile(r"^(?:[A-Z0-9][\w.&+'’/-]*|of|and|&|for|the|en|de|del|la|le|on|in)$")


@dataclass(frozen=True)
class Enumeration:
    """Names listed after a kind noun: the list's offsets, the kind's entity type, the relation
    each name has to the container named before the kind noun (None: no container or no relation)."""

    start: int  # document offsets of the whole statement (intro line and list)
    end: int
    kind_type: str
    relation: str | None
    container: tuple[int, int]  # document offsets where the container may be named
    items: tuple[tuple[str, int, int], ...]  # (name, start, end of its line)


def item_name(raw: str) -> str | None:
    """The name a list entry gives, or None when the entry is a sentence and not a name.

    The entry is its bold lead ("**18F** provides ..."), else its text up to a separator
    ("Tally — billing", "Data Analytics: ...", "Centers of Excellence (CoEs)"); every word of
    that must be a name word.
    """
    raw = raw.strip()
    bold = re.match(r"^(?:\*\*|__)(.+?)(?:\*\*|__)", raw)
    lead = bold.group(1) if bold else re.split(r"\s+[—–-]\s+|:\s+|\s+\(", raw, maxsplit=1)[0]
    lead = re.split(r"\s+\(", _MARKUP_CHARS.sub("", lead), maxsplit=1)[0]
    words = lead.strip(" .;:,").split()
    if words and words[0].casefold() == "the":
        words = words[1:]
    if not words or len(words) > 6 or not all(_ITEM_NAME_WORD.match(w) for w in words):
        return None
    if not (words[0][:1].isupper() or words[0][:1].isdigit()) or words[-1].casefold() in _CONNECTOR_WORDS:
        return None
    return " ".join(words)


_CONNECTOR_WORDS = frozenset({"of", "and", "&", "for", "the", "on", "in", "en", "de", "del", "la", "le"})


def _relation_for(kind: str, kind_phrase: str) -> str | None:
    if kind == "Team":
        return "PART_OF"
    if kind == "Product":
        return "USES" if _USED_KINDS.search(kind_phrase) else "OWNS"
    return "PARTNERS_WITH" if _PARTNER_KINDS.search(kind_phrase) else None


def _introduction(lines: list[str], i: int, colon: int) -> tuple[int, str]:
    """The sentence that ends at line ``i``'s colon, joined over the lines a paragraph wraps:
    (index of its first line, its text)."""
    first = i
    if not _LIST_ITEM.match(lines[i]):
        while first > 0 and lines[first - 1].strip() and not _LIST_ITEM.match(lines[first - 1]) \
                and not lines[first - 1].lstrip().startswith("#"):
            first -= 1
    joined = " ".join(line.strip() for line in lines[first:i] + [lines[i][:colon]])
    return first, re.split(r"(?<=[.!?])\s+", joined)[-1]


def enumerations(text: str) -> list[Enumeration]:
    """Lists of names introduced by a kind noun and a colon, inline or as the list items below.

    Precision first: every entry of the list must be a name (see ``_item_name``), else the
    list is not read at all; a list of instructions or sentences types nothing.
    """
    found: list[Enumeration] = []
    lines = text.split("\n")
    offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    for i, line in enumerate(lines):
        colon = line.rfind(":")
        if colon < 0 or line.lstrip().startswith("#"):
            continue
        first, intro = _introduction(lines, i, colon)
        kinds = list(_KIND.finditer(intro))
        if not kinds or len(intro) > 240:
            continue
        kind_match = kinds[-1]
        after_kind = intro[kind_match.end():].strip(" *_")
        if after_kind and not after_kind.startswith(","):
            continue  # the kind noun ends the introduction ("chapters:") or its clause ("six centers, each ...:")
        kind = _KIND_NOUNS[re.sub(r"\s+", " ", kind_match.group(1).casefold())]
        lead = intro[: kind_match.start()]
        if re.search(r"\b(?:with|to|for|from|of|by|about|among|between)\s+(?:our\s+|the\s+)?$", lead, re.IGNORECASE):
            continue  # "as we engage with partners:" introduces something else (here, values)
        # "18F is organized into five chapters": a verb of having parts; "TTS SaaS Products": nothing between.
        contains = _CONTAINS.search(lead) is not None or len(_WORD_RUN.findall(_MARKUP_CHARS.sub("", lead))) <= 3
        relation = _relation_for(kind, intro[max(0, kind_match.start() - 12) : kind_match.end()]) if contains else None
        tail = line[colon + 1 :]
        items: list[tuple[str, int, int]] = []
        if tail.strip(" *_"):
            parts = re.split(r",\s*(?:and\s+|or\s+)?|;\s*|\s+and\s+|\s+or\s+", _MARKUP_CHARS.sub("", tail).strip(" .*_"))
            names = [item_name(part) for part in parts]
            if len(parts) >= 2 and all(names):
                items = [(name, offsets[i], offsets[i] + len(line)) for name in names if name]
        else:
            indent = None
            for j in range(i + 1, len(lines)):
                item = _LIST_ITEM.match(lines[j])
                if not item:
                    if lines[j].strip() and not lines[j][:1].isspace():
                        break  # the list is over (an indented line continues its item)
                    continue
                if indent is None:
                    indent = len(item.group(1))
                if len(item.group(1)) > indent:
                    continue  # a sub-item describes its parent
                if len(item.group(1)) < indent:
                    break
                name = item_name(item.group(2))
                if name is None:
                    items = []
                    break
                items.append((name, offsets[j], offsets[j] + len(lines[j])))
        if len(items) >= 2:
            # Where the introduction starts in the text (it may wrap over lines): the container is named there.
            region = text[offsets[first] : offsets[i] + colon]
            opening = r"\s+".join(map(re.escape, intro.split()[:6]))
            starts = [m.start() for m in re.finditer(opening, region)] if opening else []
            intro_start = offsets[first] + (starts[-1] if starts else 0)
            kind_at = text.rfind(kind_match.group(1).split()[0], intro_start, offsets[i] + colon)
            found.append(Enumeration(intro_start, items[-1][2], kind, relation,
                                     (intro_start, kind_at if kind_at >= 0 else offsets[i] + colon), tuple(items)))
    return found


def enumeration_relations(extraction: Extraction, chunks: list[Chunk], spans_by_chunk: dict[str, list[Span]],
                          listed: list[Enumeration]) -> None:
    """Each listed name's relation to the container the introduction names (its first entity).

    A long list may run over several chunks: each name's fact is read in a chunk that holds
    its entry, with the introduction as evidence too where the same chunk holds it.
    """
    for enumeration in listed:
        if enumeration.relation is None:
            continue
        container = None
        for chunk in chunks:
            a, b = (x - chunk.start for x in enumeration.container)
            if 0 <= a and b <= len(chunk.text):
                container = next((s.entity for s in spans_by_chunk.get(chunk.id, []) if a <= s.start and s.end <= b
                                  and s.entity.type in ("Organization", "Team", "Project", "Product")), None)
                break
        if container is None:
            continue
        for name, line_start, line_end in enumeration.items:
            for chunk in chunks:
                a, b = line_start - chunk.start, line_end - chunk.start
                if not (0 <= a and b <= len(chunk.text)):
                    continue
                entity = next((s.entity for s in spans_by_chunk.get(chunk.id, [])
                               if a <= s.start and s.end <= b and name_key(s.entity.name) == name_key(name)), None)
                if entity is None:
                    # The entry's lead resolved to another name ("CoEs" for "Centers of Excellence").
                    entity = next((s.entity for s in spans_by_chunk.get(chunk.id, []) if a <= s.start <= a + 12
                                   and s.end <= b and s.entity.type == enumeration.kind_type), None)
                if entity is not None and entity.id != container.id:
                    intro = enumeration.start - chunk.start
                    evidence = (intro if 0 <= intro and b - intro <= 500 else a, b)
                    if enumeration.relation == "PART_OF":
                        extraction.add_relation(entity, "PART_OF", container, chunk, evidence)
                    else:
                        extraction.add_relation(container, enumeration.relation, entity, chunk, evidence)
                break


# ---- records -----------------------------------------------------------------------
# "Header: value" pairs of one list item, as table rows are written ("- Resource: Tock; Owner: 18F").
_RECORD_PAIR = re.compile(r"(?:^[ \t]*[-*•][ \t]+|;[ \t]+)([^:;\n]{1,60}?):[ \t]+([^;\n]*)")
_RECORD_FIELDS: tuple[tuple[re.Pattern[str], str, frozenset[str], frozenset[str], bool], ...] = tuple(
    (re.compile(rf"^(?:{pattern})$", re.IGNORECASE), relation, frozenset(keys), frozenset(values), value_first)
    for pattern, relation, keys, values, value_first in (
        # (header, relation, types of the row's key, types of the value, the value is the relation's source)
        (r"(?:product\s+|project\s+|business\s+)?owners?|owned\s+by|maintainers?|maintained\s+by|responsible(?:\s+team)?",
         "OWNS", THINGS, PEOPLE | GROUPS, True),
        (r"(?:team\s+|project\s+|site\s+)?leads?|leaders?|heads?|director|chair|managed\s+by|led\s+by",
         "LEADS", GROUPS | THINGS | PLACES, PEOPLE, True),
        (r"manager|reports\s+to|line\s+manager|supervisor", "REPORTS_TO", PEOPLE, PEOPLE, False),
        (r"locations?|offices?|city|site|based\s+in|country|region|headquarters|hq", "LOCATED_IN",
         PEOPLE | GROUPS, PLACES, False),
        (r"teams?|groups?|departments?|division|unit|org(?:ani[sz]ation)?", "MEMBER_OF", PEOPLE, GROUPS, False),
        (r"teams?|groups?|departments?|division|unit|parent(?:\s+org(?:ani[sz]ation)?)?|part\s+of", "PART_OF",
         GROUPS, GROUPS, False),
        (r"depends\s+on|dependencies|requires|upstream", "DEPENDS_ON", THINGS, THINGS | GROUPS, False),
        (r"partners?|vendors?|suppliers?", "PARTNERS_WITH", frozenset({"Organization"}), frozenset({"Organization"}),
         False),
        (r"uses|tools?|platforms?|stack|built\s+with|software", "USES", GROUPS, THINGS, False),
    )
)


def field_label(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` sits in the header of a ``Header: value`` pair of a record line."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    pairs = list(_RECORD_PAIR.finditer(line))
    return len(pairs) >= 2 and pairs[0].start() == 0 and any(
        line_start + pair.start(1) <= start and end <= line_start + pair.end(1) for pair in pairs)


def record_relations(extraction: Extraction, chunk: Chunk, spans: list[Span]) -> None:
    """Facts of a record line (a table row as the Markdown loader writes it): the row's key is
    the first pair's entity; a pair whose header names a relation ("Owner", "Location", "Team")
    relates the key to the entity in its value, with the row as evidence."""
    line_start = 0
    for line in chunk.text.split("\n"):
        line_end = line_start + len(line)
        pairs = list(_RECORD_PAIR.finditer(line))
        if len(pairs) >= 2 and pairs[0].start() == 0:
            in_line = [s for s in spans if line_start <= s.start and s.end <= line_end]

            def entity_in(pair: re.Match[str]) -> Entity | None:
                a, b = line_start + pair.start(2), line_start + pair.end(2)
                return next((s.entity for s in in_line if a <= s.start and s.end <= b
                             and s.entity.type not in ("Date", "Event", "Topic", "Other")), None)

            key = entity_in(pairs[0])
            for pair in pairs[1:] if key is not None else ():
                value = entity_in(pair)
                header = pair.group(1).strip(" *_")
                for pattern, relation, keys, values, value_first in _RECORD_FIELDS:
                    if value is None or value.id == key.id or not pattern.match(header):
                        continue
                    if key.type in keys and value.type in values:
                        source, target = (value, key) if value_first else (key, value)
                        extraction.add_relation(source, relation, target, chunk, (line_start, line_end))
                        break
        line_start = line_end + 1


def record_key(line: str) -> tuple[str, str] | None:
    """(name, type) of a record line's key when its first header says what the rows are
    ("- System: **PACS Viewer**; Owner: Radiology" -> ("PACS Viewer", "Product"))."""
    pairs = list(_RECORD_PAIR.finditer(line))
    if len(pairs) < 2 or pairs[0].start() != 0:
        return None
    kind = _COLUMN_KINDS.get(pairs[0].group(1).strip(" *_").casefold())
    name = item_name(pairs[0].group(2)) if kind else None
    return (name, kind) if name else None
