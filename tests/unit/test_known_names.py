"""The index of names the knowledge base holds: what a document writes, first names, acronyms."""

from __future__ import annotations

from ingest.extract.known import KnownNames


def test_a_document_is_asked_only_about_the_names_it_writes() -> None:
    known = KnownNames({"Brenner Logistics GmbH": "Organization", "Project Falcon": "Project", "Acme": "Organization",
                        "林文杰": "Person"})
    text = "BRENNER LOGISTICS GMBH\n\nWe met about Project Falcon with Acmeco and 林文杰."
    # Verbatim or shouted in a heading, a name written inside another word ("Acmeco") is not written,
    # and a Chinese name (no word boundary to index by) is still found.
    assert known.written_in(text) == {"Brenner Logistics GmbH": "Organization", "Project Falcon": "Project",
                                      "林文杰": "Person"}
    assert known.written_in("Nothing known here.") == {}


def test_names_keep_the_first_type_given_and_their_order() -> None:
    known = KnownNames([("Falcon", "Project"), ("Quarry Payments", "Organization"), ("Falcon", "Person")])
    assert known["Falcon"] == "Project" and len(known) == 2
    assert list(known.written_in("Quarry Payments and Falcon")) == ["Falcon", "Quarry Payments"]


def test_first_names_of_people_and_acronyms_of_names() -> None:
    known = KnownNames({"Alice Chen": "Person", "Northwind Traders": "Organization", "Acme Corp.": "Organization",
                        "Bob": "Person"})
    assert known.is_first_name_of_person("Alice")
    assert not known.is_first_name_of_person("Chen") and not known.is_first_name_of_person("Bob")
    # Initials, or the first word in capitals; a company word is no initial ("ACME", not "AC").
    assert known.abbreviates("NT") and known.abbreviates("ACME") and not known.abbreviates("NWT")
    known.update([("Nadia Farouk", "Person")])
    assert known.is_first_name_of_person("Nadia") and "Nadia Farouk" in known.written_in("Ask Nadia Farouk.")
