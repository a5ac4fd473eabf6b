"""Checks an answer against the sources it was given: every sentence cited, its facts in the sources.

Small models forget markers, pad them ("[1][2][3]") and invent specifics. Three rules, applied
after generation:

* **Attribution.** A sentence without a marker is given the source whose words it shares most
  (content words, case-folded), when it shares at least ``ATTRIBUTION_OVERLAP`` of them;
  otherwise it is listed as unsupported.
* **Precision.** A marker stays only on a sentence its source supports: the source holds one of
  the sentence's specifics (numbers, names) or, for a sentence without any, ``SUPPORT_OVERLAP``
  of its content words. When no cited source passes, the first one cited stays. A stray marker
  after the last sentence joins the sentence before it.
* **Specifics.** Numbers and capitalised names in the answer must occur in the sources the
  model was shown. An answer whose specifics are mostly absent made them up: it is replaced by
  the abstention sentence, and the rule that fired is reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.sentences import sentences
from core.types import Fact, Passage
from core.vocabulary import NUMBER_WORDS
from generation.citations import parse_markers

# Share of a sentence's content words one source must hold for the sentence to be attributed to it.
ATTRIBUTION_OVERLAP = 0.5
# Share of a sentence's content words a cited source must hold when the sentence states no specifics.
SUPPORT_OVERLAP = 0.3
# Share of the answer's specifics (numbers, names) that may be missing from every source.
MISSING_SPECIFICS_ALLOWED = 0.5

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# A number stands alone: the digits of a code ("18F", "K9") are part of its name, not a figure the
# answer states. Chinese writes "1963年" with no space, so only Latin letters and digits bound it.
_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d+(?:[.,:]\d+)*(?![0-9A-Za-z])")
# Codes that name things: capitals and digits together ("18F", "K9", "GS15"), checked as names are.
_WORD_OF_NUMBER = {digits: word for word, digits in NUMBER_WORDS.items()}
_CODE = re.compile(r"(?<![0-9A-Za-z])(?=[A-Z]*\d)(?=\d*[A-Z])[A-Z\d]{2,8}(?![0-9A-Za-z])")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*\b")
_STOPWORDS = frozenset(
    "a an the of to in on at for by with from and or but is are was were be been being has have had do does "
    "did it its this that these those as not no so if then than which who whom whose what when where why how "
    "i you he she we they them his her their our your my me us can could would should will may might must "
    "about into over under after before also there here all any each some such only just very".split()
)


@dataclass(frozen=True)
class Grounding:
    text: str  # the answer with a marker added to each sentence that was attributed
    cited: list[int]  # source numbers cited, first-seen order
    attributed: list[int] = field(default_factory=list)  # numbers added by attribution, not by the model
    unsupported: list[str] = field(default_factory=list)  # sentences no source supports
    missing_specifics: list[str] = field(default_factory=list)  # numbers and names found in no source


def end_at_sentence(text: str) -> str:
    """``text`` up to its last complete sentence (an answer cut off by the token limit); unchanged
    when it has no sentence end at all."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] in ".!?。！？" or re.search(r"[\]】]$", stripped):
        return stripped
    ends = [m.end() for m in re.finditer(r"[.!?。！？](?:\s*[\[【][^\]】]*[\]】])?(?=\s|$)", stripped)]
    return stripped[: ends[-1]] if ends else stripped


def _content_words(text: str) -> set[str]:
    words = {w.casefold() for w in _WORD.findall(text)}
    cjk = {ch for ch in text if "\u4e00" <= ch <= "\u9fff"}  # Chinese: characters stand for words
    return {w for w in words if w not in _STOPWORDS and not ("\u4e00" <= w[0] <= "\u9fff")} | cjk


def _strip_markers(text: str) -> str:
    for marker in reversed(parse_markers(text)):
        text = text[: marker.start] + text[marker.end :]
    return text


def specifics(text: str) -> list[str]:
    """Numbers and capitalised names in ``text``; a sentence's first word counts only as part of a
    longer name (it is capitalised anyway)."""
    text = _strip_markers(text)  # "[1]" is a citation, not a number the answer states
    found: list[str] = [m.group() for m in _NUMBER.finditer(text)] + [m.group() for m in _CODE.finditer(text)]
    for sentence in sentences(text):
        for match in _NAME.finditer(sentence):
            name = match.group()
            if match.start() == len(sentence) - len(sentence.lstrip()) and " " not in name:
                continue
            if name.casefold() not in _STOPWORDS:
                found.append(name)
    return list(dict.fromkeys(found))


def ground(text: str, sources: Sequence[Passage], facts: Sequence[Fact] = ()) -> Grounding:
    """Attribute unmarked sentences of ``text`` to ``sources`` (numbered from 1) and find the
    specifics no source holds; a name or number a graph fact the model was shown states
    ("18F part of TTS") is held by that fact, whose own sentence is its source."""
    # A source is read with the headings it stands under ("Annual leave": "15+ years: 8 hours").
    source_words = [_content_words(f"{p.title} {p.metadata.get('context', '')} {p.text}") for p in sources]
    pieces: list[str] = []
    cited: list[int] = []
    attributed: list[int] = []
    unsupported: list[str] = []
    for sentence in sentences(text):
        markers = parse_markers(sentence)
        if markers:
            numbers = [n for m in markers for n in dict.fromkeys(m.numbers) if 1 <= n <= len(sources)]
            if pieces and (_says_nothing(sentence) or _points_at(sentence, sources)):
                # "… per pay period [4]. [4]" or "… [4]. This is stated in [2][3].": a marker left on its
                # own, or on a sentence that only says where the answer came from, belongs to the one
                # before, which then keeps the sources that hold it best, as its own markers would.
                previous = _strip_markers(pieces[-1])
                had = [n for m in parse_markers(pieces[-1]) for n in m.numbers]
                extra = [n for n in numbers if n not in had and _supports(previous, sources[n - 1])]
                if extra:
                    pieces[-1] = _with_markers(previous, _best_supported(previous, list(dict.fromkeys(had + extra)),
                                                                         sources) or had)
                continue
            kept = _best_supported(sentence, list(dict.fromkeys(numbers)), sources)
            if not kept:  # the model named the wrong source: the one that holds the sentence, else its first
                best = _best_source(_content_words(_strip_markers(sentence)), source_words)
                kept = [best] if best and _supports(sentence, sources[best - 1]) else numbers[:1]
            if kept != list(dict.fromkeys(numbers)):
                sentence = _keep_markers(sentence, kept)
            cited.extend(kept)
            pieces.append(sentence)
            continue
        words = _content_words(sentence) - _META_WORDS  # "Based on the available documents, ..." is framing
        if pieces and (_says_nothing(sentence) or _points_at(sentence, sources)):
            continue  # "This information is provided in the sources." with nothing cited: noise
        best = _best_source(words, source_words) or _holding_source(sentence, sources)
        if best:
            pieces.append(_with_marker(sentence, best))
            cited.append(best)
            attributed.append(best)
        else:
            pieces.append(sentence)
            if words:
                unsupported.append(sentence)
    # What the model was shown: each source's heading (title, file) as well as its text.
    haystack = " ".join([f"{p.title} {p.source} {p.text} {p.metadata.get('context', '')}" for p in sources]
                        + [fact.render() for fact in facts])
    missing = [s for s in specifics(text) if not _holds(s, haystack)]
    # What the text cites as it now stands (a marker moved to the sentence before may have replaced one).
    cited = [n for piece in pieces for marker in parse_markers(piece) for n in marker.numbers]
    return Grounding(" ".join(pieces), list(dict.fromkeys(cited)), list(dict.fromkeys(attributed)),
                     unsupported, missing)


def invented(grounding: Grounding, text: str) -> bool:
    """Whether the answer made up what it states: most of its numbers are in no source (one is enough
    when it states one: "$195 per person"), or most of its specifics are, at least two of them."""
    stated = specifics(text)
    numbers = [s for s in stated if _NUMBER.fullmatch(s)]
    missing_numbers = [s for s in grounding.missing_specifics if _NUMBER.fullmatch(s)]
    if numbers and len(missing_numbers) > MISSING_SPECIFICS_ALLOWED * len(numbers):
        return True
    return len(grounding.missing_specifics) >= 2 and len(grounding.missing_specifics) > MISSING_SPECIFICS_ALLOWED * len(stated)


# Words of a sentence that only says where the answer came from ("This is stated in [3].").
_META_WORDS = frozenset(
    "information info stated state states source sources supported support supports provided provides provide "
    "based according mentioned mention given found document documents above below second first third fourth "
    "specifically passage passages context cited shown listed answer reference references per available "
    "knowledge graph facts".split()
)
_DANGLING = [(re.compile(r"\s+(?:and|or|&)\s*(?=[,.;:!?]|$)"), ""), (re.compile(r"\b(in|from|by|see)\s+(?:and|or)\b"), r"\1"),
             (re.compile(r"\s+([,.;:!?])"), r"\1"), (re.compile(r",\s*,"), ","), (re.compile(r"\s{2,}"), " ")]


def _says_nothing(sentence: str) -> bool:
    return _content_words(_strip_markers(sentence)) <= _META_WORDS


# "This is stated in the Employee Handbook, in the section on Remote Work [1][2][3].": where, not what.
_PROVENANCE = re.compile(r"^(?:this|that|it|the (?:answer|information|above))\b.{0,40}?\b(?:is|was|are|can be)\s+"
                         r"(?:stated|mentioned|based on|found|provided|taken|described|specified|outlined|covered|"
                         r"explained|listed|given|detailed)\b", re.IGNORECASE)


def _points_at(sentence: str, sources: Sequence[Passage]) -> bool:
    """Whether ``sentence`` only says which document or section holds the answer: a provenance
    opening, and no name or number but the titles and headings of the sources. "This is stated in
    the handbook, which sets the nightly cap at £180 [2]" states a figure and is no pointer."""
    if not _PROVENANCE.match(_strip_markers(sentence).strip()):
        return False
    headings = " ".join(f"{p.title} {p.metadata.get('context', '')} {p.source}" for p in sources)
    return all(_holds(specific, headings) for specific in specifics(sentence))


def _keep_markers(sentence: str, kept: Sequence[int]) -> str:
    """``sentence`` with each marker narrowed to the ``kept`` numbers where it stands (markers left with
    none removed, and the "and" they leave behind); ``kept`` appended when no marker named them."""
    pieces, position, placed = [], 0, []
    for marker in parse_markers(sentence):
        mine = [n for n in marker.numbers if n in kept and n not in placed]
        before = sentence[position:marker.start]
        pieces.append(before + "".join(f"[{n}]" for n in mine) if mine else before.rstrip())
        placed.extend(mine)
        position = marker.end
    pieces.append(sentence[position:])
    text = "".join(pieces)
    for pattern, replacement in _DANGLING:
        text = pattern.sub(replacement, text)
    missing = [n for n in kept if n not in placed]
    return _with_markers(text, missing) if missing else text.strip()


def _best_source(words: set[str], source_words: list[set[str]]) -> int:
    """The number of the source sharing most of ``words``, when it shares ``ATTRIBUTION_OVERLAP``; else 0."""
    best, share = 0, 0.0
    for number, held in enumerate(source_words, 1):
        overlap = len(words & held) / len(words) if words else 0.0
        if overlap > share:
            best, share = number, overlap
    return best if share >= ATTRIBUTION_OVERLAP else 0


def _holding_source(sentence: str, sources: Sequence[Passage]) -> int:
    """The number of the source holding most of ``sentence``'s figures and names, when one holds more
    than any other; else 0. A rephrased answer shares few words with its source but keeps its figure
    ("The most I can pay ... is £180, excluding taxes" from "Nightly cap of $260 ... and £180 ...")."""
    stated = specifics(sentence)
    held = [sum(_holds(x, f"{p.title} {p.text}") for x in stated) for p in sources]
    best = max(held, default=0)
    return held.index(best) + 1 if best and held.count(best) == 1 else 0


def _holds(specific: str, text: str) -> bool:
    # Whole tokens only: "4" is not held by "14 characters". Only Latin letters and digits bound a
    # token: Chinese writes "1963年" with no space.
    # A name is held in the singular or the plural ("Technology Transformation Services" by
    # "... Service"): documents and models write both.
    if specific in _WORD_OF_NUMBER:  # "4" is held by "four hours"
        pattern = rf"(?:{specific}|{_WORD_OF_NUMBER[specific]})"
    elif specific[-1:].isalpha() and specific[-1:].islower():
        stem = specific[:-1] if specific.endswith("s") and len(specific.split()[-1]) > 3 else specific
        pattern = rf"{re.escape(stem)}s?"
    else:
        pattern = re.escape(specific)
    return re.search(rf"(?<![0-9A-Za-z]){pattern}(?![0-9A-Za-z])", text, re.IGNORECASE) is not None


def _best_supported(sentence: str, cited: list[int], sources: Sequence[Passage]) -> list[int]:
    """The cited sources that support ``sentence`` best. With specifics stated, those holding the most of
    them; when another source holds more than any cited one, that source instead ("Rahul Menon leads the
    Platform team" is held by "Rahul Menon, team lead, Platform Team", not by "Reports to Rahul Menon")."""
    stated = specifics(sentence)
    if not stated:
        return [n for n in cited if _supports(sentence, sources[n - 1])]
    held = [sum(_holds(x, f"{p.title} {p.text}") for x in stated) for p in sources]
    best_cited = max(held[n - 1] for n in cited)
    if max(held) > best_cited:
        return [held.index(max(held)) + 1]
    return [n for n in cited if held[n - 1] == best_cited] if best_cited else []


def _supports(sentence: str, source: Passage) -> bool:
    """Whether ``source`` holds what ``sentence`` states: one of its specifics, or failing any, enough of its words."""
    text = f"{source.title} {source.text}"
    stated = specifics(sentence)
    if stated:
        return any(_holds(specific, text) for specific in stated)
    words = _content_words(_strip_markers(sentence))
    return not words or len(words & _content_words(text)) / len(words) >= SUPPORT_OVERLAP


def _with_marker(sentence: str, number: int) -> str:
    return _with_markers(sentence, [number])


def _with_markers(sentence: str, numbers: Sequence[int]) -> str:
    body = " ".join(sentence.split())
    body = re.sub(r"\s+([.!?。！？])$", r"\1", body)
    markers = "".join(f"[{n}]" for n in numbers)
    if body and body[-1] in ".!?。！？":
        return f"{body[:-1]} {markers}{body[-1]}"
    return f"{body} {markers}"
