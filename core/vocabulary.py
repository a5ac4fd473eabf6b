"""The words every layer shares about the knowledge graph: entity and relation types, and name keys.

The sets are closed: Cypher cannot parameterise labels or relationship types, so
``graph/cypher.py`` only ever puts a member of these sets into a statement, and
extractors map whatever they read onto them.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final


class EntityType(StrEnum):
    """Entity labels. ``Other`` catches any type an extractor invents."""

    PERSON = "Person"
    ORGANIZATION = "Organization"
    TEAM = "Team"
    PROJECT = "Project"
    PRODUCT = "Product"
    LOCATION = "Location"
    EVENT = "Event"
    DATE = "Date"
    TOPIC = "Topic"
    OTHER = "Other"


class RelationType(StrEnum):
    """Relationship types between entities. There is no catch-all: an unknown type is an extractor bug."""

    WORKS_ON = "WORKS_ON"
    MEMBER_OF = "MEMBER_OF"
    REPORTS_TO = "REPORTS_TO"
    LEADS = "LEADS"
    OWNS = "OWNS"
    DEPENDS_ON = "DEPENDS_ON"
    DECIDED = "DECIDED"
    ASSIGNED_TO = "ASSIGNED_TO"
    ATTENDED = "ATTENDED"
    MENTIONED_WITH = "MENTIONED_WITH"
    PARTNERS_WITH = "PARTNERS_WITH"
    LOCATED_IN = "LOCATED_IN"
    PART_OF = "PART_OF"
    USES = "USES"


ENTITY_TYPES: Final[frozenset[str]] = frozenset(t.value for t in EntityType)

# Type groups relation rules are written against ("a person LEADS a group or a thing").
PEOPLE: Final[frozenset[str]] = frozenset({"Person"})
GROUPS: Final[frozenset[str]] = frozenset({"Team", "Organization"})
THINGS: Final[frozenset[str]] = frozenset({"Project", "Product"})
ORGS: Final[frozenset[str]] = frozenset({"Organization", "Team", "Project", "Product"})
PLACES: Final[frozenset[str]] = frozenset({"Location"})

# What each relation may join: (source types, target types), as docs/graph-schema.md states them.
# The rules are written to it; what the LLM pass proposes is checked against it.
RELATION_DOMAINS: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "REPORTS_TO": (PEOPLE, PEOPLE),
    "LEADS": (PEOPLE, GROUPS | PLACES | THINGS),
    "MEMBER_OF": (PEOPLE, GROUPS),
    "WORKS_ON": (PEOPLE, THINGS),
    "OWNS": (PEOPLE | GROUPS, THINGS),
    "DEPENDS_ON": (THINGS | GROUPS, THINGS | GROUPS),
    "PARTNERS_WITH": (frozenset({"Organization"}), frozenset({"Organization"})),
    "LOCATED_IN": (PEOPLE | GROUPS, PLACES),
    "PART_OF": (GROUPS, GROUPS),
    "USES": (PEOPLE | GROUPS, THINGS),
}
RELATION_TYPES: Final[frozenset[str]] = frozenset(t.value for t in RelationType)

# Words a question uses when it asks for a relation ("Which offices does TTS contain?" asks for
# PART_OF, "Who is Anika's manager?" for REPORTS_TO): what tells a fact that answers the question
# from one that only names the same entity.
RELATION_QUESTION_WORDS: Final[dict[str, frozenset[str]]] = {
    "WORKS_ON": frozenset("work works working worked project projects staffed".split()),
    "MEMBER_OF": frozenset("member members team teams belong belongs join joined staff".split()),
    "REPORTS_TO": frozenset("report reports manager manages managed boss supervisor line".split()),
    "LEADS": frozenset("lead leads led head heads runs run manage manages managed director chair charge".split()),
    "OWNS": frozenset("own owns owned owner responsible maintain maintains maintained runs run administer "
                      "administers administered hosts host".split()),
    "DEPENDS_ON": frozenset("depend depends dependency dependencies rely relies need needs requires built".split()),
    "DECIDED": frozenset("decide decided decision decisions agree agreed".split()),
    "ASSIGNED_TO": frozenset("assign assigned task tasks action actions todo owner due".split()),
    "ATTENDED": frozenset("attend attended meeting meetings present".split()),
    "PARTNERS_WITH": frozenset("partner partners partnership work works".split()),
    "LOCATED_IN": frozenset("located based office offices city country where location sits".split()),
    "PART_OF": frozenset("part contain contains include includes within under belong belongs office offices "
                         "division divisions unit units organized organised consist consists".split()),
    "USES": frozenset("use uses used using tool tools product products software service services".split()),
}

# A thing named by its relation to another ("the team that owns Tally", "the person who leads the
# Platform Team", "the owner of Roster"): its answer is a fact about an entity the question does not name.
_THROUGH_A_RELATION: Final = re.compile(
    r"\bthe\s+(?:[\w-]+\s+){1,2}(?:that|who|which|whose)\s+\w+"
    r"|\bthe\s+(?:owner|lead|leader|head|manager|members?|team|parent)\s+of\b",
    re.IGNORECASE,
)


def asks_through_a_relation(question: str) -> bool:
    """Whether ``question`` names what it asks about through a relation of something else, so that
    the facts one hop beyond the named entities may hold the answer."""
    return bool(_THROUGH_A_RELATION.search(question))


# Predicate of the facts derived at query time from chunks that mention two entities.
CO_OCCURRENCE: Final[str] = RelationType.MENTIONED_WITH.value

_ENTITY_BY_FOLDED: Final[dict[str, str]] = {t.casefold(): t for t in ENTITY_TYPES}


# ---- closed-set checks --------------------------------------------------------------
def entity_label(type_name: str) -> str:
    """The label for an entity type: case-insensitive match to the closed set, else ``Other``.

    Extractors speak loosely ("person", "PERSON"); the graph keeps one spelling.
    Mapping unknown types to ``Other`` (instead of failing) keeps one odd entity
    from failing a whole document; its original ``type`` string is still stored
    as a property, where it is a parameter and therefore harmless.
    """
    return _ENTITY_BY_FOLDED.get(type_name.strip().casefold(), EntityType.OTHER.value)


def relation_type(name: str) -> str:
    """Canonical relationship type for ``name`` ("works on" -> ``WORKS_ON``); ``ValueError`` if not in the set."""
    canonical = "_".join(name.replace("-", " ").split()).upper()
    if canonical not in RELATION_TYPES:
        raise ValueError(f"unknown relation type {name!r}; expected one of {sorted(RELATION_TYPES)}")
    return canonical


def name_key(name: str) -> str:
    """The look-up key of an entity name: whitespace collapsed and Unicode-casefolded."""
    return " ".join(name.split()).casefold()


# Numbers as English writes them in words: "four hours" and "4 hours" state the same figure.
NUMBER_WORDS: dict[str, str] = {
    w: str(i) for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split())
}
