"""Language-independent extraction rules: a gazetteer built from the document itself,
lexical relation cues inside a sentence, and the structure of headings, lists and
``Key: value`` lines.

The NER model finds people, organisations and places but not a company's own
vocabulary (teams, projects, services). Those follow naming patterns ("Platform
Team", "Project Millrace") or are defined by the layout ("### Tally — billing"
under "## Services"); once found, every other occurrence in the document is a
mention too.

Relations come from a cue phrase between a subject and an object in one
sentence (the closest cue before the object wins: "lead and member of the X
Team" is MEMBER_OF). A sentence without its own subject ("Reports to Rahul
Menon.") borrows the subject of its list item, and ``Owner: X`` lines and list
items under a heading attach to what the heading names.
"""

from __future__ import annotations

import functools
import itertools
import re
from bisect import bisect_right
from dataclasses import dataclass

from core.types import Chunk, Entity, Mention
from core.extraction import Extraction, Span, normalise_name, usable_name
from core.markdown import Heading, blank_markup, heading_path, headings
from core.vocabulary import GROUPS, PEOPLE, PLACES, THINGS
from ingest.extract.evidence import head_type
from ingest.extract.layout import enumerations, item_name, record_key

# ---- gazetteer ------------------------------------------------------------------
_TEAM = re.compile(r"\b((?:[A-Z][\w&]*[ \t]+){1,3}Team)\b")
_PROJECT = re.compile(r"\bProject[ \t]+(?!(?:Brief|Owner|Lead|Manager|Plan|Status|Update|Team|Charter)\b)([A-Z][\w-]+)")
# "Project Brief: Tern", "Project: Tern" name a project too.
_PROJECT_TITLE = re.compile(r"\bProject(?:[ \t]+(?:Brief|Charter|Plan))?[ \t]*:[ \t]*([A-Z][\w-]+)")
# Offices and sites are places, whatever the NER model makes of "Leeds Office".
_SITE = re.compile(r"\b((?:[A-Z][\w-]+[ \t]+){1,2}(?:Office|HQ|Headquarters|Campus|Warehouse|Plant|Lab))\b")
_DEFINED = re.compile(r"^([A-Z][\w.-]*(?: [A-Z][\w.-]*){0,2})\s+[—–-]\s+\S")
_PRODUCT_SECTIONS = re.compile(r"\b(services|products|systems|components|applications)\b", re.IGNORECASE)
_NOT_A_NAME = frozenset({"the", "a", "an", "our", "your", "my", "their", "his", "her", "its", "this", "that", "each",
                         "every", "any", "all", "new", "see", "team"})
# Job titles: a name next to one is a person ("Helena Marsh (CEO)", "**Nadia Farouk** — Team lead").
ROLE_WORDS = frozenset({
    "ceo", "cto", "cfo", "coo", "cio", "vp", "chief", "officer", "head", "lead", "manager", "engineer", "director",
    "founder", "co-founder", "cofounder", "president", "designer", "analyst", "specialist", "administrator",
    "coordinator", "architect", "developer", "scientist", "recruiter", "accountant", "intern",
})
_ROLE = r"(?i:(?:[\w&-]+[ \t]+){0,3}?(?:" + "|".join(sorted(ROLE_WORDS, key=len, reverse=True)) + r"))\b"
_PERSON_NAME = r"[A-Z][a-z'’-]+(?:[ \t]+[A-Z][a-z'’-]+){1,2}"
_PERSON_ROLE = re.compile(
    rf"(?<![\w])({_PERSON_NAME})(?:\*\*|__)?(?:[ \t]*\([ \t]*|[ \t]*[—–][ \t]*|,[ \t]+){_ROLE}"
)
_ROLE_PERSON = re.compile(rf"\b(?:CEO|CTO|CFO|COO)[ \t]+({_PERSON_NAME})\b")
# "- **Kestrel** — our autonomous mobile picking robot": a defined term, typed by what defines it.
_DEFINITION_ITEM = re.compile(
    r"^[ \t]*(?:[-*•]|\d+[.)])[ \t]+(?:\*\*|__)([A-Z][^*_\n]{1,40}?)(?:\*\*|__)[ \t]*[—–:][ \t]*(.{0,80})",
    re.MULTILINE,
)
_PRODUCT_WORDS = re.compile(
    r"\b(?:robots?|software|service|platform|app|application|product|device|system|engine|tool)\b", re.IGNORECASE
)
# A one-word name followed by the kind of thing it is: "Kestrel robots", "Relay service".
_PRODUCT_NOUN = re.compile(r"(?<![\w-])([A-Z][a-z]\w+)[ \t]+(?:robots?|software|service|app)\b")
# A name ending in a company or industry word is an organisation, whatever the NER model says.
ORG_WORDS = frozenset({"inc", "ltd", "gmbh", "llc", "corp", "co", "ag", "plc", "group", "logistics", "payments",
                       "robotics", "cells", "chain", "ventures", "bank", "university", "labs", "capital", "partners",
                       "holdings", "industries", "technologies", "systems", "solutions", "foods", "motors"})
EVENT_WORDS = frozenset({"review", "meeting", "sync", "kickoff", "kick-off", "offsite", "summit", "conference",
                         "workshop", "retrospective", "standup", "all-hands", "go/no-go"})
# "Head of People & Finance": what someone is head of is a unit of the company.
# A website named in prose ("USA.gov", "Login.gov", "cloud.gov"), not inside an address or a URL.
_WEBSITE_NAME = re.compile(r"(?<![\w@./:-])([A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*)*\.(?:gov|com|org|io|net))(?![\w/@-])")
_LOWER_TEAM = re.compile(r"\b((?:[A-Z0-9][\w&-]*[ \t]+){1,3})team\b")
_MARKED = re.compile(r"\*\*([^*\n]{2,80})\*\*|\[([^\]\n]{2,80})\]\(")
_HEAD_OF = re.compile(r"\bHead of ((?:[A-Z][\w-]*)(?:[ \t]+(?:&|and|[A-Z][\w-]*)){0,3})")
# Chinese sites: "上海办公室" (Shanghai Office), "北京总部" (Beijing HQ).
_SITE_ZH = re.compile(r"([\u4e00-\u9fff]{2,6}?(?:办公室|总部|园区|仓库|工厂|实验室))")
# The title ends at its last non-space: "[^\n]*\S[^\n]*" would backtrack quadratically on long lines.


def is_role_word(word: str) -> bool:
    return word.casefold() in ROLE_WORDS


def has_org_word(name: str) -> bool:
    words = name.replace(",", " ").split()
    return len(words) >= 2 and words[-1].casefold().strip(".") in ORG_WORDS


@functools.lru_cache(maxsize=1024)
def defines_acronym(text: str, acronym: str) -> bool:
    """Whether the text spells the acronym out: "Quarry Payments (QP)" or "QP (Quarry Payments)"."""
    letters = acronym.rstrip("s")
    for match in re.finditer(rf"\(\s*{re.escape(acronym)}\s*\)", text):
        words = re.findall(r"[A-Za-z][\w-]*", text[max(0, match.start() - 120) : match.start()])[-len(letters) :]
        # Spelled out as a name ("Quarry Payments (QP)"), not as a phrase ("Paid time off (PTO)").
        if "".join(w[0] for w in words) == letters:
            return True
    for match in re.finditer(rf"\b{re.escape(acronym)}\s*\(([^)]{{3,80}})\)", text):
        if "".join(w[0] for w in re.findall(r"[A-Za-z][\w-]*", match.group(1))) == letters:
            return True
    return False


_CAPITALISED_RUN = re.compile(r"[A-Z][\w&-]*(?:[ \t]+[A-Z][\w&.-]*)*")
_WORD_RUN = re.compile(r"[\w-]+")


# The document-wide scans below are asked again for every entity of a document: each keeps the last
# few documents' answers (a str caches its hash, so a hit costs no rescan of the text).
@functools.lru_cache(maxsize=4)
def _capitalised_runs(text: str) -> tuple[str, ...]:
    return tuple(_CAPITALISED_RUN.findall(text))


@functools.lru_cache(maxsize=4)
def _word_runs(text: str) -> frozenset[str]:
    return frozenset(_WORD_RUN.findall(text))


def occurs_as_word(text: str, word: str) -> bool:
    """Whether ``word`` occurs in ``text`` with no letter, digit, ``_`` or ``-`` on either side."""
    if _WORD_RUN.fullmatch(word):
        return word in _word_runs(text)
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def abbreviates(acronym: str, text: str) -> bool:
    """Whether a name in the text is what the acronym stands for: "ACME" for "Acme Corp.", "QP" for
    "Quarry Payments"; or the text spells it out."""
    return defines_acronym(text, acronym) or acronym in _text_abbreviations(text)


@functools.lru_cache(maxsize=65536)
def name_abbreviations(name: str) -> frozenset[str]:
    """The acronyms a name could stand behind: its initials ("QP" for "Quarry Payments", company words
    aside) and its first word in capitals ("ACME" for "Acme Corp.")."""
    words = [w for w in name.replace(",", " ").split() if w.casefold().strip(".") not in ORG_WORDS or w == name]
    if name.upper() == name or not words:
        return frozenset()
    initials = {"".join(w[0] for w in words).upper()} if len(words) >= 2 else set()
    return frozenset({words[0].upper(), *initials})


@functools.lru_cache(maxsize=4)
def _text_abbreviations(text: str) -> frozenset[str]:
    return frozenset().union(*map(name_abbreviations, _capitalised_runs(text)))


_SPEAKER_LABEL = re.compile(r"^[^\n:]{1,40}:\s+")
_NAME_LIKE = re.compile(r"[A-Z0-9]")
_PRONOUN_I = frozenset({"I", "I'm", "I'll", "I've", "I'd"})
# Capitalised in talk but never a name: transcripts write "OK" and "Mm" mid-sentence.
_INTERJECTIONS = frozenset({"OK", "Okay", "Mm", "Mmm", "Hmm", "Uh", "Um", "Yeah", "Yep", "Yes", "Alright", "Oh", "Ah",
                            "Huh", "Oops", "Wow", "Hi", "Hey", "Hello", "Bye"})
_SENTENCE_END = (".", "!", "?")
# Where talk restarts, capitalised: a disfluency mark ("{disfmarker}", "[inaudible]") or a bare dash.
_RESTART = re.compile(r"^(?:[{\[].*[}\]]|[-–—]+)$")


def lowercase_words(text: str) -> frozenset[str]:
    """The words the text uses in lower case: a capitalised word among them is most likely not a name."""
    return frozenset(re.findall(r"(?<![\w-])[a-z][\w'-]*", text))


def may_name(sentence: str, lowercase: frozenset[str]) -> bool:
    """Whether a sentence could hold a name or a dated fact: a capitalised word or a number that does not
    open a sentence (a speaker label "Grad F:" aside; "I" and interjections such as "OK" are no names), or an
    opening word the text never writes in lower case ("Camille, can you..."). Transcripts often put several
    short sentences in one ("Mm - hmm . Yeah ."): a word after a full stop, a dash or a disfluency mark
    opens a sentence too. Meeting
    talk is mostly sentences with neither, and NER costs the most."""
    opening = True
    for token in _SPEAKER_LABEL.sub("", sentence, count=1).split():
        word = token.strip(".,!?;:'\"()[]{}")
        if word and word not in _PRONOUN_I and word not in _INTERJECTIONS and _NAME_LIKE.search(word) and (
                not opening or word.lower() not in lowercase):
            return True
        opening = token.endswith(_SENTENCE_END) or bool(_RESTART.match(token))
    return False


@functools.lru_cache(maxsize=4096)  # asked for every occurrence of a word the NER model tags
def capitalised_mid_sentence(text: str, word: str) -> bool:
    """Whether ``word`` occurs capitalised somewhere other than the start of a line or sentence, or next to
    another capitalised word (as part of a longer name): the evidence that a capitalised word is a name."""
    for match in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text):
        # Table cells start afresh too: "| Standard | $95 |".
        before = text[text.rfind("\n", 0, match.start()) + 1 : match.start()].rsplit("|", 1)[-1]
        initial = not before.strip(" \t#>*_-•:0123456789.)([") or re.search(r"[.!?:]['\")\]*_]*\s+$", before)
        if not initial:
            return True
        if re.match(r"[ \t]+[A-Z0-9][\w-]*", text[match.end() :]) or re.search(r"[A-Z][\w-]*[ \t]+$", before):
            return True
    return False


def gazetteer(text: str) -> dict[str, str]:
    """Names -> entity type found by naming patterns and layout in one document's text."""
    found: dict[str, str] = {}
    for match in _LOWER_TEAM.finditer(text):
        # "The Talent team", "18F Business Development team": the capitalised words name the team;
        # an acronym alone ("the TTS team") is the organisation, not a team of its own.
        words = match.group(1).split()
        while words and words[0].lower() in _NOT_A_NAME:
            words = words[1:]
        if not words or all(w.isupper() or any(ch.isdigit() for ch in w) for w in words):
            continue
        # Capitals that open a line or a sentence ("Your team lead", "Executive team:") say nothing.
        first = match.start(1) + match.group(1).index(words[0])
        before = text[text.rfind("\n", 0, first) + 1 : first].strip(" \t-*•#>_")
        if before and not before.endswith((".", "!", "?", ":")):
            found.setdefault(" ".join(words) + " team", "Team")
    for match in _TEAM.finditer(text):
        words = match.group(1).split()
        while words and words[0].lower() in _NOT_A_NAME:
            words = words[1:]
        if len(words) >= 2:
            found.setdefault(" ".join(words), "Team")
    for match in _SITE.finditer(text):
        words = match.group(1).split()
        while words and words[0].lower() in _NOT_A_NAME:
            words = words[1:]
        if len(words) >= 2:
            found.setdefault(" ".join(words), "Location")
    for match in _SITE_ZH.finditer(text):
        found.setdefault(match.group(1), "Location")
    for match in _HEAD_OF.finditer(text):
        unit = match.group(1).strip()
        if not has_org_word(unit) and unit.split()[-1] not in ("&", "and"):
            found.setdefault(unit, "Team")
    for match in itertools.chain(_PROJECT.finditer(text), _PROJECT_TITLE.finditer(text)):
        found.setdefault(f"Project {match.group(1)}", "Project")
    all_headings = headings(text)
    for heading in all_headings:
        parents = heading_path(all_headings, heading.start)[:-1]
        defined = _DEFINED.match(heading.text)
        if defined and parents and _PRODUCT_SECTIONS.search(parents[-1].text):
            found.setdefault(defined.group(1), "Product")
        # "1. Brenner Logistics GmbH", "Fernhill Robotics - Key Partners": a heading that opens with a company name.
        lead = re.split(r"[ \t]+[—–:-][ \t]+|:[ \t]+", re.sub(r"^\d+[.)][ \t]+", "", heading.text))[0].strip()
        if has_org_word(lead) and all(w[:1].isupper() for w in lead.split()):
            found.setdefault(lead, "Organization")
    for match in _DEFINITION_ITEM.finditer(text):
        name, definition = normalise_name(match.group(1)), match.group(2)
        first_words = " ".join(definition.split()[:6])
        if any(is_role_word(w.strip(",.;()")) for w in first_words.split()):
            found.setdefault(name, "Person")
        elif re.match(r"(?i:our|a|an|the)\b", definition) and _PRODUCT_WORDS.search(first_words) \
                and all(w[:1].isupper() or w[:1].isdigit() for w in name.split()):
            found.setdefault(name, "Product")
    for pattern in (_PERSON_ROLE, _ROLE_PERSON):
        for match in pattern.finditer(text):
            name = match.group(1)
            if not has_org_word(name) and not any(is_role_word(w) for w in name.split()):
                found.setdefault(name, "Person")
    prose = blank_markup(text)
    for enumeration in enumerations(prose):
        for name, _, _ in enumeration.items:
            found.setdefault(name, enumeration.kind_type)
    for match in _WEBSITE_NAME.finditer(prose):
        found.setdefault(match.group(1), "Product")
    for line in text.split("\n"):
        if (key := record_key(line)) is not None:  # a table row's key, of the kind its first header says
            found.setdefault(*key)
    for match in _MARKED.finditer(text):
        # Bold and link text the author wrote in Title Case ("[TTS Consulting Handbook](...)"), typed
        # by what its last word says it is; a marked phrase with no such word claims nothing.
        name = item_name(match.group(1) or match.group(2))
        if name and len(name.split()) >= 2 and (kind := head_type(name)) is not None:
            found.setdefault(name, kind)
    for match in _PRODUCT_NOUN.finditer(text):
        word = match.group(1)
        # A word that also occurs in lower case is a common one ("The app", "Customer robots").
        if (word.casefold() not in ROLE_WORDS and not occurs_as_word(text, word.lower())
                and capitalised_mid_sentence(text, word)):
            found.setdefault(word, "Product")
    return found


def shouted_forms(text: str, names: dict[str, str]) -> dict[str, str]:
    """Upper-case spellings of known names in the text ("BRENNER LOGISTICS GMBH" for "Brenner Logistics
    GmbH"), as plain-text headings write them: surface -> name."""
    forms: dict[str, str] = {}
    for name in names:
        shouted = name.upper()
        if (len(name) > 3 and shouted != name and shouted in text  # the plain search first: it rules out most
                and re.search(rf"(?<![\w]){re.escape(shouted)}(?![\w])", text)):
            forms[shouted] = name
    return forms


def short_forms(names: dict[str, str]) -> dict[str, str]:
    """"Project Millrace" is also "Millrace", "Fleet Apps Team" also "Fleet Apps", inside the document
    that names them (one-word team names like "Platform" are too common to count)."""
    forms: dict[str, str] = {}
    for name, entity_type in names.items():
        if entity_type == "Project" and name.startswith("Project "):
            forms[name[len("Project ") :]] = name
        elif entity_type == "Team" and name.endswith(" Team") and len(name.split()) >= 3:
            forms[name[: -len(" Team")]] = name
    return forms


# ---- relation cues ----------------------------------------------------------------
@dataclass(frozen=True)
class Cue:
    pattern: re.Pattern[str]
    type: str
    reverse: bool = False  # "X is owned by Y": the object is the source
    subject_types: frozenset[str] = frozenset()
    object_types: frozenset[str] = frozenset()


_ANY = frozenset()


def _cue(pattern: str, type_: str, subjects=_ANY, objects=_ANY, reverse: bool = False) -> Cue:
    return Cue(re.compile(pattern, re.IGNORECASE), type_, reverse, frozenset(subjects), frozenset(objects))


CUES: tuple[Cue, ...] = (
    _cue(r"\breports?\s+(?:directly\s+)?to\b", "REPORTS_TO", PEOPLE, PEOPLE),
    _cue(r"\b(?:team\s+lead|site\s+lead|leads?|led|leading|heads?|headed|head\s+of|runs|manages|in\s+charge\s+of)\b",
         "LEADS", PEOPLE, GROUPS | PLACES | THINGS),
    _cue(r"\b(?:led|headed|managed|run)\s+by\b", "LEADS", GROUPS | PLACES | THINGS, PEOPLE, reverse=True),
    _cue(r"\b(?:member\s+of|members?\s+of|joined|joins|part\s+of|belongs?\s+to)\b", "MEMBER_OF", PEOPLE, GROUPS),
    _cue(r"\bon\s+the\b", "MEMBER_OF", PEOPLE, frozenset({"Team"})),  # "Alice is on the Platform Team"
    _cue(r"\b(?:works?\s+on|working\s+on|contributes?\s+to|assigned\s+to|works?\s+for)\b", "WORKS_ON", PEOPLE, THINGS),
    # One system using another depends on it ("Loomline uses our Dispatch engine"); a team or an
    # organisation using a product is a user of it.
    _cue(r"\b(?:depends?\s+on|dependent\s+on|dependency\s+on|relies\s+on|rely\s+on|relying\s+on|requires|needs|built\s+on|sits\s+on\s+top\s+of|uses|calls|blocked\s+by|waits?\s+(?:for|on))\b",
         "DEPENDS_ON", THINGS, THINGS | GROUPS),
    _cue(r"\b(?:depends?\s+on|dependent\s+on|relies\s+on|rely\s+on|relying\s+on|requires|needs|blocked\s+by)\b",
         "DEPENDS_ON", GROUPS, GROUPS),
    _cue(r"\b(?:uses|use|used|adopted|adopts|runs\s+on)\b", "USES", GROUPS, THINGS),
    _cue(r"\b(?:used\s+by|adopted\s+by)\b", "USES", THINGS, GROUPS, reverse=True),
    _cue(r"\b(?:(?:is|are|as|became|becomes)\s+(?:a\s+|an\s+)?(?:part|unit|division|office|component)\s+of|part\s+of|within|inside|nested\s+(?:with)?in|under|moved\s+into|came\s+together\s+under|belongs?\s+to|reports?\s+(?:up\s+)?(?:in)?to)\b",
         "PART_OF", GROUPS, GROUPS),
    _cue(r"\b(?:owns|own|owned|owner\s+of|makes|builds|develops)\b", "OWNS", PEOPLE | GROUPS, THINGS),
    _cue(r"\b(?:owned\s+by|maintained\s+by|made\s+by)\b", "OWNS", THINGS, PEOPLE | GROUPS, reverse=True),
    _cue(r"\b(?:partners?\s+(?:with)?|partnership\s+with|vendor|supplier|supplies|design\s+partner)\b", "PARTNERS_WITH",
         frozenset({"Organization"}), frozenset({"Organization"})),
    _cue(r"\b(?:based\s+(?:in|at)|located\s+(?:in|at)|headquartered\s+in|works?\s+from|offices?\s+in|sits\s+in)\b",
         "LOCATED_IN", PEOPLE | GROUPS, PLACES),
)

# "Owner: Platform Team." / "Project owner: Gareth Pryce" under something that has a name.
_DEPENDENCY_SECTION = re.compile(r"\bdependenc", re.IGNORECASE)
_TEAM_SECTION = re.compile(r"\b(team|people|staff|responsibilit|members?)\b", re.IGNORECASE)
_OWNER_WORD = re.compile(r"\bowner\b", re.IGNORECASE)
_OWNER_LINE = re.compile(r"^\W*(?:project\s+|product\s+)?owner\W*:\W*", re.IGNORECASE)
_LOCATION_LINE = re.compile(r"^\W*location\W*:", re.IGNORECASE)
_TYPE_LINE = re.compile(r"^\W*type\W*:.*\b(partner|vendor|supplier)\b", re.IGNORECASE)
# What may stand before the entity that a list item is about: the bullet, bold markup, an honorific.
_ITEM_LEAD = re.compile(r"[ \t]*(?:[-*•]|\d+[.)])[ \t]+(?:\*\*|__)?[ \t]*(?:(?:dr|mr|mrs|ms|mx|prof)\.?[ \t]+)?", re.IGNORECASE)
_POSSESSOR = re.compile(r"['’]s?[ \t]+(?:existing[ \t]+|own[ \t]+|new[ \t]+)?")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)", re.MULTILINE)
# A name followed by common nouns and then the sentence's verb ("TTSC pulse check surveys have been
# conducted within 18F") qualifies those nouns: the sentence is about the surveys, not about TTSC.
_MODIFIER = re.compile(r"(?:[*_]{2})?(?:[ \t]+(?!(?:[a-z]+ly|the|a|an|that|which|who|and|or|to|of)\b)[a-z][\w-]*(?:[*_]{2})?){1,4}"
                       r"[ \t]+(?:have|has|had|are|is|was|were|will|would|can|could|should|must|do|does|did)\b")




def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a chunk (used where no parser is available); lines end sentences too."""
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]


def _compatible(cue: Cue, subject: Entity, obj: Entity) -> bool:
    return (not cue.subject_types or subject.type in cue.subject_types) and (
        not cue.object_types or obj.type in cue.object_types
    )


def best_cue(window: str, subject: Entity, obj: Entity) -> Cue | None:
    """The cue closest to the object in the text between subject and object that fits both types."""
    best: tuple[int, Cue] | None = None
    for cue in CUES:
        # Types are those of the sentence's subject and object, before a reverse cue swaps them.
        if not _compatible(cue, subject, obj):
            continue
        for match in cue.pattern.finditer(window):
            if best is None or match.end() > best[0]:
                best = (match.end(), cue)
    return best[1] if best else None


def cue_relations(
    extraction: Extraction, chunk: Chunk, spans: list[Span], sentence_spans: list[tuple[int, int]],
    items: list[tuple[int, int, Entity]],
) -> None:
    """Typed relations from cue phrases, sentence by sentence.

    ``items`` are the chunk's list items (start, end, subject): a sentence inside
    one that names no subject of its own borrows the item's.
    """
    starts = [s.start for s in spans]
    for sent_start, sent_end in sentence_spans:
        inside = spans[bisect_right(starts, sent_start - 1) : bisect_right(starts, sent_end - 1)]
        inside = [s for s in inside if s.end <= sent_end and s.entity.type not in ("Date", "Event")]
        borrowed = next((e for start, end, e in items if start <= sent_start < end), None)
        candidates: list[Span] = list(inside)
        # A sentence that does not open with an entity ("Reports to Rahul Menon.") has no subject of its own.
        opening = chunk.text[sent_start : inside[0].start if inside else sent_end]
        opening = re.sub(r"^(?:the|a|an|our)\b", "", opening.strip(" \t-*•—–:.,"), flags=re.IGNORECASE).strip()
        if borrowed is not None and opening and (not inside or inside[0].entity.id != borrowed.id):
            candidates.insert(0, Span(sent_start, sent_start, borrowed))
        # A possessor names whose thing the next entity is ("moved into GSA's Federal Acquisition
        # Service"): the cue before it belongs to the thing, not to the possessor.
        candidates = [c for i, c in enumerate(candidates) if i == 0 or i + 1 >= len(candidates)
                      or not _POSSESSOR.match(chunk.text, c.end) or _POSSESSOR.match(chunk.text, c.end).end() != candidates[i + 1].start]
        subject = candidates[0] if candidates else None
        if subject is None or (subject.end > subject.start and _MODIFIER.match(chunk.text, subject.end, sent_end)):
            continue
        for i, obj in enumerate(candidates[1:], start=1):
            # The subject is the first entity of the sentence; the cue must sit between the previous entity and the object.
            window = chunk.text[candidates[i - 1].end : obj.start]
            if len(window) > 80:
                continue
            cue = best_cue(window, subject.entity, obj.entity)
            if cue is None:
                # "Shanghai Office lead": the cue right after the object, for LEADS only.
                after = chunk.text[obj.end : min(obj.end + 8, sent_end)]
                if subject.entity.type == "Person" and re.match(r"\s+lead\b", after) and obj.entity.type in ("Team", "Location", "Project"):
                    extraction.add_relation(subject.entity, "LEADS", obj.entity, chunk, (sent_start, sent_end))
                continue
            source, target = (obj.entity, subject.entity) if cue.reverse else (subject.entity, obj.entity)
            extraction.add_relation(source, cue.type, target, chunk, (sent_start, sent_end))


def possessive_relations(extraction: Extraction, chunk: Chunk, spans: list[Span],
                         sentence_spans: list[tuple[int, int]]) -> None:
    """"GSA's Federal Acquisition Service": a unit of an organisation is PART_OF it;
    "NIST's Risk Management Framework": an organisation's product or project is one it OWNS."""
    bounds = sorted(sentence_spans)
    for owner, thing in itertools.pairwise(spans):
        link = _POSSESSOR.match(chunk.text, owner.end)
        if link is None and chunk.text[owner.start : owner.end].endswith(("'s", "’s")):
            link = re.compile(r"[ \t]+").match(chunk.text, owner.end)  # the span took the "'s" with it
        if link is None or link.end() != thing.start or owner.entity.id == thing.entity.id:
            continue
        sentence = next(((a, b) for a, b in bounds if a <= owner.start and thing.end <= b), (owner.start, thing.end))
        if owner.entity.type in GROUPS and thing.entity.type in GROUPS:
            extraction.add_relation(thing.entity, "PART_OF", owner.entity, chunk, sentence)
        elif owner.entity.type in GROUPS | PEOPLE and thing.entity.type in THINGS:
            extraction.add_relation(owner.entity, "OWNS", thing.entity, chunk, sentence)


def structural_relations(
    extraction: Extraction, text: str, chunks: list[Chunk], spans_by_chunk: dict[str, list[Span]],
    subject: Entity | None, home: Entity | None,
) -> dict[str, list[tuple[int, int, Entity]]]:
    """Relations stated by layout; returns, per chunk, its list items (start, end, subject entity).

    * a list item that starts with a person, under a heading naming a team:
      the person is a MEMBER_OF the team (unless the item says they lead it);
    * ``Owner: X`` lines: X OWNS what the nearest heading names (or the document's subject);
    * ``Location: X`` lines: the heading's entity is LOCATED_IN X;
    * ``Type: ... partner/vendor/supplier``: the document's home organisation PARTNERS_WITH the heading's entity.
    """
    all_headings = headings(text)
    item_subjects: dict[str, list[tuple[int, int, Entity]]] = {}
    for chunk in chunks:
        spans = spans_by_chunk.get(chunk.id, [])
        subjects: list[tuple[int, int, Entity]] = []
        item_subjects[chunk.id] = subjects
        line_start = 0
        current_item: Entity | None = None
        for line in chunk.text.split("\n"):
            line_end = line_start + len(line)
            stripped = line.lstrip()
            in_line = [s for s in spans if line_start <= s.start and s.end <= line_end]
            is_item = stripped[:1] in ("-", "*", "•") or bool(re.match(r"\d+\.\s", stripped))
            if is_item or not stripped:
                current_item = None
            if is_item and in_line and _ITEM_LEAD.fullmatch(line[: in_line[0].start - line_start]):
                current_item = in_line[0].entity
            heading_entity = _heading_entity(all_headings, chunk.start + line_start, spans_by_chunk, chunks)
            owner_of = heading_entity or subject
            sentence_bounds = (line_start, line_end)
            if _OWNER_LINE.match(stripped) and owner_of is not None:
                owners = [s.entity for s in in_line if s.entity.type in ("Person", "Team", "Organization")]
                if owners and owners[0].id != owner_of.id and owner_of.type in ("Product", "Project", "Organization"):
                    extraction.add_relation(owners[0], "OWNS", owner_of, chunk, sentence_bounds)
            elif _LOCATION_LINE.match(stripped) and heading_entity is not None:
                places = [s.entity for s in in_line if s.entity.type == "Location"]
                if places:
                    extraction.add_relation(heading_entity, "LOCATED_IN", places[0], chunk, sentence_bounds)
            elif _TYPE_LINE.match(stripped) and heading_entity is not None and home is not None:
                if heading_entity.type == "Organization":
                    extraction.add_relation(home, "PARTNERS_WITH", heading_entity, chunk, sentence_bounds)
            if current_item is not None:
                subjects.append((line_start, line_end + 1, current_item))
            path = heading_path(all_headings, chunk.start + line_start)
            section = path[-1].text if path else ""
            if is_item and current_item is not None and subject is not None and subject.type in ("Project", "Product"):
                if _DEPENDENCY_SECTION.search(section) and current_item.type not in ("Date", "Event") and current_item.id != subject.id:
                    # "## Dependencies" of a project: each item names something the project depends on,
                    # unless the item states its own dependency ("Project Beacon depends on Millrace").
                    if not re.search(r"\bdepends?\s+on\b", line, re.IGNORECASE):
                        extraction.add_relation(subject, "DEPENDS_ON", current_item, chunk, sentence_bounds)
                elif _TEAM_SECTION.search(section) and current_item.type == "Person" and not _OWNER_WORD.search(line):
                    extraction.add_relation(current_item, "WORKS_ON", subject, chunk, sentence_bounds)
            if is_item and current_item is not None and current_item.type == "Person" and heading_entity is not None:
                if heading_entity.type == "Team" and not re.search(r"\blead\b", line, re.IGNORECASE):
                    extraction.add_relation(current_item, "MEMBER_OF", heading_entity, chunk, sentence_bounds)
            line_start = line_end + 1
    return item_subjects


def _heading_entity(
    all_headings: list[Heading], offset: int, spans_by_chunk: dict[str, list[Span]], chunks: list[Chunk]
) -> Entity | None:
    """The entity the innermost heading in force names, if it names one (the first entity in it)."""
    path = heading_path(all_headings, offset)
    if not path:
        return None
    heading = path[-1]
    for chunk in chunks:
        if chunk.start <= heading.start < chunk.start + len(chunk.text):
            local = heading.start - chunk.start
            line_end = chunk.text.find("\n", local)
            line_end = len(chunk.text) if line_end < 0 else line_end
            for span in spans_by_chunk.get(chunk.id, []):
                if local <= span.start and span.end <= line_end and span.entity.type not in ("Date", "Event"):
                    return span.entity
            return None
    return None


def find_occurrences(text: str, names: dict[str, str]) -> list[tuple[int, int, str, str]]:
    """Every whole-word occurrence of the names in ``text``: (start, end, surface, name)."""
    found = []
    for surface, name in names.items():
        if surface not in text or not usable_name(surface):  # the plain search rules most names out cheaply
            continue
        for match in _whole_word(surface).finditer(text):
            found.append((match.start(), match.end(), surface, name))
    return found


@functools.lru_cache(maxsize=65536)
def _whole_word(surface: str) -> re.Pattern[str]:
    """The pattern of ``surface`` as a whole word. Compiled once per name: entity-dense text looks up
    thousands of names, far more than the ``re`` module's own cache of 512 patterns holds."""
    boundary_left = r"(?<![\w])" if surface[:1].isalnum() else ""
    boundary_right = r"(?![\w])" if surface[-1:].isalnum() else ""
    return re.compile(boundary_left + re.escape(surface) + boundary_right)


def resolve_spans(
    extraction: Extraction, chunk: Chunk, ner: list[tuple[int, int, str, str]], typed_names: dict[str, str],
    aliases: dict[str, str],
) -> list[Span]:
    """Mentions of a chunk from NER spans and gazetteer names, without overlaps; longest span wins.

    ``ner`` holds (start, end, surface, type). ``typed_names`` maps a name to the
    type the document gives it; ``aliases`` maps short surface forms to names.
    """
    candidates: list[tuple[int, int, str, str, int]] = []  # start, end, surface, type, priority
    for start, end, surface, name in find_occurrences(chunk.text, {n: n for n in typed_names}):
        candidates.append((start, end, surface, typed_names[name], 2))
    for start, end, surface, name in find_occurrences(chunk.text, aliases):
        candidates.append((start, end, name, typed_names.get(name, "Other"), 1))
    for start, end, surface, entity_type in ner:
        name = normalise_name(surface)
        candidates.append((start, end, surface, typed_names.get(name, entity_type), 0))
    # A span over two names the document lists ("Design, Engineering", as the NER model read
    # "Design, Engineering, Product Management") is the list, not a name.
    listed = [(c[0], c[1]) for c in candidates]
    candidates = [c for c in candidates if "," not in c[2]
                  or sum(c[0] <= a and b <= c[1] and (a, b) != (c[0], c[1]) for a, b in listed) < 2]
    # Longer spans first, then the more reliable source, then position.
    candidates.sort(key=lambda c: (-(c[1] - c[0]), -c[4], c[0]))
    taken: list[tuple[int, int]] = []
    spans: list[Span] = []
    for start, end, surface, entity_type, _ in candidates:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        name = normalise_name(surface)
        if not usable_name(name):
            continue
        entity = extraction.add_entity(name, entity_type)
        taken.append((start, end))
        spans.append(Span(start, end, entity))
        extraction.mentions.append(
            Mention(entity_id=entity.id, chunk_id=chunk.id, text=chunk.text[start:end], start=start, end=end)
        )
    spans.sort(key=lambda s: s.start)
    return spans
