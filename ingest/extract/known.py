"""The names the knowledge base already holds, indexed for the questions one document asks of them.

Extraction asks three things of the names earlier documents established: which of them this
document writes (a service defined in one document is recognised in the next), whether a one-word
name is the first name of a known person, and whether an acronym abbreviates a known name. Asked by
scanning every name, each document cost time in proportion to the whole knowledge base, so an
ingest grew quadratically with it; :class:`KnownNames` answers each from an index instead, and is
extended in place as the graph gains names.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping

from ingest.extract.rules import name_abbreviations

_WORD = re.compile(r"\w+")


def _first_word(name: str) -> str | None:
    """The casefolded first word of a name, or None when it has no Latin-style word boundary
    (a Chinese name is written inside a run of characters with no spaces)."""
    match = _WORD.search(name)
    if match is None or not match.group().isascii():
        return None
    return match.group().casefold()


class KnownNames(Mapping[str, str]):
    """name -> type, the first type given to a name kept (add names most specific type first)."""

    def __init__(self, names: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._types: dict[str, str] = {}
        self._rank: dict[str, int] = {}
        self._by_first_word: dict[str, list[str]] = defaultdict(list)
        self._unindexed: list[str] = []  # names with no ASCII first word: always tested against the text
        self._person_first_words: set[str] = set()
        self._abbreviations: set[str] = set()
        self.update(names.items() if isinstance(names, Mapping) else names)

    def update(self, names: Iterable[tuple[str, str]]) -> None:
        for name, entity_type in names:
            if name in self._types:
                continue
            self._rank[name] = len(self._types)
            self._types[name] = entity_type
            first = _first_word(name)
            (self._by_first_word[first] if first is not None else self._unindexed).append(name)
            if entity_type == "Person" and " " in name:
                self._person_first_words.add(name.split(" ", 1)[0])
            self._abbreviations.update(name_abbreviations(name))

    def __getitem__(self, name: str) -> str:
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def written_in(self, text: str) -> dict[str, str]:
        """The names ``text`` writes verbatim, or in capitals when longer than three letters (a
        plain-text heading shouts "BRENNER LOGISTICS GMBH"), with their types."""
        words = {w.casefold() for w in _WORD.findall(text)}
        candidates = [n for w in words & self._by_first_word.keys() for n in self._by_first_word[w]]
        return {
            name: self._types[name]
            for name in sorted(candidates + self._unindexed, key=self._rank.__getitem__)  # in the order added
            if name in text or (len(name) > 3 and name.upper() in text)
        }

    def is_first_name_of_person(self, word: str) -> bool:
        """Whether ``word`` opens the name of a known person ("Alice" of "Alice Chen")."""
        return word in self._person_first_words

    def abbreviates(self, acronym: str) -> bool:
        """Whether a known name could stand behind ``acronym`` ("QP" for "Quarry Payments")."""
        return acronym in self._abbreviations
