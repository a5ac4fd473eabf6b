"""The name rules of entity resolution and name normalisation (pure logic)."""

from __future__ import annotations

import pytest

from core.extraction import make_entity, normalise_name
from ingest.extract.resolution import KnownEntities, acronym_match, first_name_match, name_key, short_form_match
from core.extraction import Extraction, Span
from core.types import Chunk
from ingest.extract.rules import best_cue, cue_relations, gazetteer, short_forms


def e(name: str, type_: str = "Organization"):
    return make_entity(name, type_)


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Dr. Alice Chen", "Alice Chen"), ("Ms  Bo   Li", "Bo Li"), ("Acme's", "Acme"), ("the Platform Team", "Platform Team"),
     ("**Rahul Menon**", "Rahul Menon"), ("Roster ◀", "Roster"), ("Sofia Lindqvist (Firmware", "Sofia Lindqvist")],
)
def test_normalise_name(raw: str, name: str) -> None:
    assert normalise_name(raw) == name


def test_same_name_after_normalisation_is_the_same_entity() -> None:
    assert make_entity("Dr. Alice Chen", "Person").id == make_entity("alice chen", "Person").id


def test_first_name_rule() -> None:
    assert first_name_match(e("Alice", "Person"), e("Alice Chen", "Person"))
    assert first_name_match(e("Alice", "Location"), e("Alice Chen", "Person"))  # NER mistyped the alias
    assert not first_name_match(e("Chen", "Person"), e("Alice Chen", "Person"))
    assert not first_name_match(e("Alice Chen", "Person"), e("Alice Chen", "Person"))
    assert not first_name_match(e("Alice"), e("Alice Springs", "Location"))
    assert not first_name_match(e("Kestrel"), e("Kestrel K1", "Person"))  # a mistyped product, not a person


def test_acronym_rule() -> None:
    assert acronym_match(e("ACME"), e("Acme Corp."))
    assert acronym_match(e("QP"), e("Quarry Payments"))
    assert not acronym_match(e("Acme"), e("Acme Corp."))  # not all capitals: the short-form rule's job
    assert not acronym_match(e("QX"), e("Quarry Payments"))
    assert not acronym_match(e("EU"), e("EU Central"))
    assert acronym_match(e("IBM"), e("IBM Corp."))
    # A unit of the organisation, not the organisation: it stays apart.
    assert not acronym_match(e("TTS"), e("TTS Office", "Location"))
    assert not acronym_match(e("GSA"), e("GSA Team", "Team"))
    assert acronym_match(e("TTS"), e("Technology Transformation Services"))


def test_short_form_rule() -> None:
    assert short_form_match(e("Brenner"), e("Brenner Logistics GmbH"))
    assert short_form_match(e("Millrace", "Person"), e("Project Millrace", "Project"))
    assert short_form_match(e("Acme"), e("Acme Corp."))
    assert not short_form_match(e("Logistics"), e("Brenner Logistics"))
    assert not short_form_match(e("Brenner Logistics"), e("Brenner"))
    assert not short_form_match(e("Quarry Payments"), e("Quarry Payments API Team"))
    assert not short_form_match(e("Hamburg", "Location"), e("Hamburg time", "Location"))
    assert not short_form_match(e("Kestrel", "Product"), e("Kestrel K1", "Product"))


def test_gazetteer_finds_teams_projects_and_listed_services() -> None:
    text = ("# Arch\n\nThe Fleet Apps Team and Project Kite, at the Leeds Office.\n\n## Services\n\n### Tally — billing\n\n"
            "Project Brief: Gull\n")
    found = gazetteer(text)
    assert found == {"Fleet Apps Team": "Team", "Project Kite": "Project", "Tally": "Product", "Project Gull": "Project",
                     "Leeds Office": "Location"}
    assert short_forms(found) == {"Fleet Apps": "Fleet Apps Team", "Kite": "Project Kite", "Gull": "Project Gull"}


def test_a_product_name_before_robots_or_app_is_not_a_common_word() -> None:
    # Transcribed speech capitalises words mid-sentence ("I think, um, The app"): no evidence of a name
    # when the word also occurs in lower case.
    text = ("Industrial Designer: I think, um, The app should be simple. Marketing: the app and the Beacon app.\n"
            "Our Beacon app ships in May. We also sell Kestrel robots.")
    found = gazetteer(text)
    assert found.get("Beacon") == "Product" and found.get("Kestrel") == "Product"
    assert "The" not in found and "Our" not in found


def test_cue_closest_to_the_object_wins_and_types_must_fit() -> None:
    lin, team, office = e("Lin Wenjie", "Person"), e("Customer Operations Team", "Team"), e("Leeds", "Location")
    assert best_cue(" — Shanghai Office lead and member of the ", lin, team).type == "MEMBER_OF"
    assert best_cue(" is based in ", lin, office).type == "LOCATED_IN"
    assert best_cue(" reports to ", lin, team) is None  # REPORTS_TO needs a person on both ends
    assert best_cue(" is owned by ", e("Tally", "Product"), team).reverse


@pytest.mark.parametrize(
    ("sentence", "relations"),
    [("TTS is part of GSA.", [("TTS", "PART_OF", "GSA")]),
     ("TTS quietly became part of GSA.", [("TTS", "PART_OF", "GSA")]),
     # The name qualifies the nouns after it; what sits within GSA is the surveys.
     ("TTS pulse check surveys have been conducted separately within GSA.", []),
     ("TTS staff are part of GSA.", []),
     ("- **TTS pulse check surveys** have been conducted within GSA.", [])],
)
def test_a_name_that_qualifies_the_nouns_after_it_is_not_the_subject_of_the_cue(sentence, relations) -> None:
    tts, gsa = e("TTS", "Organization"), e("GSA", "Organization")
    chunk = Chunk(id="chk", document_id="doc", index=0, text=sentence, start=0, end=len(sentence))
    spans = [Span(sentence.index(x.name), sentence.index(x.name) + len(x.name), x) for x in (tts, gsa)]
    extraction = Extraction()
    cue_relations(extraction, chunk, spans, [(0, len(sentence))], [])
    names = {tts.id: "TTS", gsa.id: "GSA"}
    assert [(names[r.source_id], r.type, names[r.target_id]) for r in extraction.relations] == relations


CATALOGUE = [e("Alice Chen", "Person"), e("Alice Moreau", "Person"), e("Bob Stone", "Person"), e("Acme Corp."),
             e("Quarry Payments"), e("Brenner Logistics GmbH"), e("Brenner Logistics"),
             e("Project Millrace", "Project"),
             e("Fleet Apps Team", "Team"), e("Loomline 3.0", "Product"), e("Loomline Standard", "Product"),
             e("Hamburg", "Location"), e("Kestrel K1", "Product"), e("EU Central", "Location")]
ALIASES = [e("Alice", "Person"), e("Alice", "Location"), e("ACME"), e("QP"), e("Brenner"), e("Millrace", "Person"),
           e("Fleet Apps", "Team"), e("Loomline", "Product"), e("Kestrel", "Product"), e("EU", "Location"),
           e("Bob", "Person"), e("Nobody", "Person")]


@pytest.mark.parametrize("alias", ALIASES, ids=lambda a: f"{a.name}/{a.type}")
def test_the_index_offers_every_entity_a_rule_accepts(alias) -> None:
    known = KnownEntities(CATALOGUE)
    offered = {c.id for c in known.rule_candidates(alias)}
    for test in (first_name_match, acronym_match, short_form_match):
        accepted = {c.id for c in CATALOGUE if test(alias, c)}
        assert accepted <= offered, test.__name__


def test_the_index_scores_names_of_the_aliass_type_like_rapidfuzz() -> None:
    from rapidfuzz import fuzz

    known = KnownEntities(CATALOGUE)
    alias = e("Brenner Logistic")
    found = known.similar_candidates(alias, 0.8)
    expected = [(c.name, fuzz.token_sort_ratio(name_key(alias.name), name_key(c.name)) / 100) for c in CATALOGUE
                if c.type == alias.type and fuzz.token_sort_ratio(name_key(alias.name), name_key(c.name)) >= 80]
    assert [(c.name, s) for c, s in found] == expected and len(expected) == 2
