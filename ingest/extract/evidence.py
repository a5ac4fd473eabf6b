"""What the text says a name is: the evidence an entity type needs before the graph states it.

The small NER model types by the shape of a name, and on text unlike its training
data it guesses: a help-desk product, a job title and a heading became people, a
chat tool an organisation, a monitoring service a place. A type the graph stores
is a claim people act on, so the guess is checked against the document:

* **Person** needs a name that looks personal: Title-case words, the first of them
  a given name (the given-name lists of Faker's 86 locales, about 31,000 names),
  or an honorific before it ("Dr", "Ms"). Speakers, attendees and the names the
  layout rules type ("Maria Chen — Team lead") carry their own evidence and are
  not checked here.
* **Product** and **Organization** are told apart by the words right beside the
  name's mentions: "Slack channel", "Figma plugins", "using GitHub", "sign into
  Zendesk" say product; "GSA staff", "18F's mission", "at TTS", "join 18F" say
  organisation. A website's name ("Login.gov", "usa.gov") is a product.

A name whose type has no support is kept untyped (``Other``): still a node that
search and the Browser can reach, but no false statement about what it is.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections import Counter

_PRODUCT_AFTER = frozenset({
    "plugin", "plugins", "plug-in", "plug-ins", "channel", "channels", "account", "accounts", "workspace",
    "workspaces", "app", "apps", "application", "file", "files", "folder", "folders", "repo", "repos", "repository",
    "repositories", "base", "bases", "board", "boards", "integration", "integrations", "license", "licenses",
    "licence", "licences", "tool", "tools", "website", "websites", "instance", "instances", "extension",
    "extensions", "template", "templates", "dashboard", "dashboards", "profile", "profiles", "feature", "features",
    "environment", "desktop", "login", "homepage", "settings", "notifications", "messages", "thread",
    "threads", "sandbox", "release", "version", "subscription", "calendar", "invite", "link",
})
_PRODUCT_BEFORE = frozenset({
    "use", "uses", "using", "used", "via", "install", "installed", "installing", "download", "downloaded",
    "into", "open", "launch", "configure", "configured", "enable", "enabled", "integrate", "integrates",
})
_ORG_AFTER = frozenset({
    "staff", "employees", "employee", "teams", "office", "offices", "director", "directors", "leadership",
    "supervisors", "supervisor", "mission", "members", "alumni", "colleagues", "officials", "chapters", "chapter",
    "division", "divisions", "agency", "agencies", "department", "departments", "programs", "headquarters", "people",
    "leaders", "executives", "partners", "budget", "hiring", "values", "culture",
    "organization", "organisation", "employment", "workforce",
})
_FUNCTION_WORDS = frozenset({"for", "to", "and", "or", "with", "in", "at", "by", "if", "when", "where", "so", "but",
                             "about", "as", "from", "or", "that", "which", "is", "are", "was", "were", "you", "we"})
_ORG_BEFORE = frozenset({"at", "join", "joined", "joining", "within", "joins", "agency", "department", "ministry"})
_PROJECT_HEADS = frozenset({"program", "programme", "initiative", "project", "pilot", "campaign"})
_PRODUCT_HEADS = frozenset({"system", "framework", "platform", "portal", "toolkit", "app", "website", "guide", "handbook",
                            "tracker", "library", "playbook", "dashboard", "database", "registry", "guides", "handbooks",
                            "blog"})
# Laws and rules are not organisations, whatever the acronym beside them: "Paperwork Reduction Act (PRA)".
_OTHER_HEADS = frozenset({"act", "law", "regulation", "regulations", "amendment", "directive", "statute", "order"})
# A street address is a value, not an entity: "1800 F St. NW", "230 S. Dearborn St".
_ADDRESS = re.compile(r"(?:^|\s)(?:st|st\.|street|ave|ave\.|avenue|blvd|road|rd|plaza|nw|ne|sw|se)$", re.IGNORECASE)
_ORG_HEADS = frozenset({
    "service", "services", "institute", "administration", "agency", "department", "council", "committee",
    "commission", "foundation", "government", "ministry", "bureau", "authority", "university", "college",
    "association", "society", "office", "division", "centre", "center", "fund", "court", "parliament", "assembly",
})
_COMMON_ZIPF = 3.0  # wordfreq's Zipf scale: 3 is about once per million words
_CODE_NAME = re.compile(r"^(?=[A-Z]*\d)(?=\d*[A-Z])[A-Z\d]{2,6}$")
_HONORIFICS = frozenset({"mr", "mrs", "ms", "mx", "dr", "prof", "professor", "sir", "dame", "lady", "lord"})
_WEBSITE = re.compile(r"^[\w-]+(?:\.[\w-]+)*\.(?:gov|com|org|net|io|edu|mil|us|co|app|dev)$", re.IGNORECASE)
_WORD = re.compile(r"[\w'’-]+")
_POSSESSIVE = re.compile(r"^['’]s?\b")


@functools.cache
def given_names() -> frozenset[str]:
    """Given names of every locale Faker ships (read from its person providers' data)."""
    import faker.providers.person as person

    names: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attribute in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
            values = provider.__dict__.get(attribute)  # some locales compute these: a property, not data
            if isinstance(values, dict | list | tuple | set | frozenset):
                names.update(str(v) for v in values)
    return frozenset(names)


def personal_word(word: str) -> bool:
    """A word shaped like part of a Latin-script personal name: "Chen", "O'Brien", "McKay", "Finch-Saunders".

    Not an acronym ("GSA"), not a word with capitals inside ("SecOps", "JoinTTS") except
    after "Mc", "Mac", "O'" or a hyphen, not a word with digits or dots ("18F", "USA.gov").
    """
    if len(word) < 2 or not word[0].isupper() or word.isupper():
        return False
    for i, ch in enumerate(word[1:], start=1):
        if ch.isupper():
            if not (word[i - 1] in "-'’" or word[:i] in ("Mc", "Mac", "O'", "O’", "De", "Di", "La", "Le")):
                return False
        elif not (ch.isalpha() or ch in "-'’"):
            return False
    return True


def looks_like_person(name: str, text: str) -> bool:
    """Name-shape evidence that ``name`` names a person: personal words, the first a given name,
    or an honorific before one of its mentions in ``text``. Names in scripts without letter case
    (Chinese) are left to their own NER model and pass."""
    words = name.split()
    if not any(ch.isascii() and ch.isalpha() for ch in name):
        return True
    if not 1 <= len(words) <= 4 or not all(map(personal_word, words)):
        return False
    return words[0] in given_names() or has_honorific(name, text)


def has_honorific(name: str, text: str) -> bool:
    """An honorific stands before a mention of ``name``: "Dr Amara Okafor", "Ms. Lin"."""
    for start, _ in _mentions(name, text):
        before = _WORD.findall(text[max(0, start - 12) : start])
        if before and before[-1].casefold().rstrip(".") in _HONORIFICS:
            return True
    return False


def _mentions(name: str, text: str) -> list[tuple[int, int]]:
    """(start, end) of every whole-word occurrence of ``name`` in ``text`` (a plain search: a
    compiled pattern per name would thrash the regex cache on text that names hundreds)."""
    found, at = [], text.find(name)
    while at >= 0:
        end = at + len(name)
        if (at == 0 or not (text[at - 1].isalnum() or text[at - 1] in "._")) and (end == len(text) or not text[end].isalnum()):
            found.append((at, end))
        at = text.find(name, at + 1)
    return found


def context_votes(name: str, text: str) -> Counter[str]:
    """Product and Organization cues beside the mentions of ``name`` in ``text``."""
    votes: Counter[str] = Counter()
    if _WEBSITE.match(name):
        votes["Product"] += 2
    for start, end in _mentions(name, text):
        before = _WORD.findall(text[max(0, start - 40) : start])
        rest = text[end : end + 40]
        possessive = _POSSESSIVE.match(rest)
        after = _WORD.findall(rest[possessive.end() :] if possessive else rest)
        previous = before[-1].casefold() if before else ""
        following = after[0].casefold() if after else ""
        if following in _PRODUCT_AFTER:
            votes["Product"] += 1
        if previous in _PRODUCT_BEFORE:
            votes["Product"] += 1
        elif before and before[-1] == "on" and (not after or not after[0].islower() or following in _FUNCTION_WORDS):
            # "on Slack for help", "posted on GitHub." (not "on Portland test floor", nor a topic: "On Quarry:")
            votes["Product"] += 1
        if following in _ORG_AFTER or (following == "team" and not possessive):
            votes["Organization"] += 1
        if previous in _ORG_BEFORE:
            votes["Organization"] += 1
    return votes


def head_type(name: str) -> str | None:
    """The type the last word of a name states: "Bug Bounty Program" is a project,
    "U.S. Web Design System" a product, "Federal Acquisition Service" an organisation."""
    words = name.split()
    if len(words) < 2:
        return None
    head = words[-1].casefold()
    if head in _OTHER_HEADS or _ADDRESS.search(name):
        return "Other"
    if head in _PROJECT_HEADS:
        return "Project"
    if head in _PRODUCT_HEADS:
        return "Product"
    if head in _ORG_HEADS or any(w.casefold() in ("office", "ministry", "department", "bureau") for w in words[:1]):
        return "Organization"
    return None


def everyday_word(word: str, zipf: float = 4.2) -> bool:
    """A word common enough in English to be a word before it is a name: at or above ``zipf`` on
    wordfreq's scale ("design" 5.2, "acquisition" 4.3; not "roster" 4.1, "slack" 3.7)."""
    return not word.isupper() and _zipf(word.casefold()) >= zipf


@functools.lru_cache(maxsize=65536)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def common_phrase(name: str) -> bool:
    """Every word of ``name`` is an everyday English word ("Standard Operating Procedures",
    "Business Development"): capitalised as a heading or a label, which is no evidence of a name."""
    words = _WORD.findall(name)
    if len(words) < 2 or any(w.casefold() in _ORG_HEADS for w in words):
        return False  # one word is the NER model's and the lower-case check's to judge
    return all(not w.isupper() and _zipf(w.casefold()) >= _COMMON_ZIPF for w in words)


def checked_type(name: str, ner_type: str, text: str) -> str:
    """The type ``name`` keeps once the document's evidence is weighed (see the module docstring)."""
    if ner_type not in ("Person", "Organization", "Location", "Product", "Other"):
        return ner_type
    votes = context_votes(name, text)
    product, organization = votes["Product"], votes["Organization"]
    if ner_type == "Person" and looks_like_person(name, text):
        return "Person"
    if " " in name and all(map(personal_word, name.split())) and has_honorific(name, text):
        return "Person"  # "Dr Amara Okafor", whatever the NER model made of the name
    # A place needs more than one product cue to become a product ("Portland test floor robots").
    if product > organization and ner_type != "Product" and (ner_type != "Location" or product >= 2):
        return "Product"
    if organization > product and ner_type == "Product" and _CODE_NAME.match(name):
        return "Organization"  # "18F staff", "18F's mission": a code that names an organisation
    if (head := head_type(name)) is not None and (ner_type != "Location" or head != "Product"):
        return head
    if ner_type in ("Person", "Other"):
        return "Organization" if organization else "Other"
    if ner_type == "Organization" and not organization and not _named_with_article(name, text) and (
            common_phrase(name) or (" " not in name and everyday_word(name, 4.0))):
        return "Other"  # "Standard Operating Procedures", "Management": a label, not an organisation's name
    return ner_type


def _named_with_article(name: str, text: str) -> bool:
    """"the White House", "the Home Office": everyday words with an article and capitals are a proper name."""
    return any(_WORD.findall(text[max(0, start - 6) : start])[-1:] in (["the"], ["The"])
               for start, _ in _mentions(name, text))
