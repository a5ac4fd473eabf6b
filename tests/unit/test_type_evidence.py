"""Type evidence, enumerations, table rows and record lines: the rules that keep the graph right on unseen text."""

from __future__ import annotations

import pytest

from core.extraction import Extraction, Span
from core.markdown import blank_markup
from core.types import Chunk
from ingest.extract import layout
from ingest.extract.evidence import checked_type, context_votes, looks_like_person
from ingest.loaders.text import table_rows


@pytest.mark.parametrize("name, text, person", [
    ("Maria Chen", "Maria Chen approved it.", True),
    ("Siobhan O'Neill", "Siobhan O'Neill approved it.", True),
    ("Huw Morris", "Thanks to Dr Huw Morris for the report.", True),   # not a listed given name: the honorific says so
    ("Huw Morris", "Huw Morris approved it.", False),
    ("Controlled Correspondence", "Controlled Correspondence goes to the inbox.", False),
    ("GSA SecOps", "GSA SecOps triages the report.", False),
    ("JoinTTS", "JoinTTS lists open roles.", False),
    ("USA.gov", "Visit USA.gov today.", False),
    ("Zendesk", "Tickets go to Zendesk.", False),
    ("王伟", "王伟负责平台组。", True),  # no letter case: the Chinese NER model decides
])
def test_a_person_needs_a_personal_name(name, text, person):
    assert looks_like_person(name, text) is person


@pytest.mark.parametrize("name, ner_type, text, expected", [
    ("Slack", "Organization", "Ask in the #help Slack channel, or on Slack for tips.", "Product"),
    ("Figma", "Organization", "Figma plugins need no approval.", "Product"),
    ("Zendesk", "Person", "Sign in using Zendesk and file a ticket.", "Product"),
    ("18F", "Other", "Ask 18F staff; 18F's mission is delivery.", "Organization"),
    ("18F", "Product", "Ask 18F staff; 18F's mission is delivery.", "Organization"),
    ("Login.gov", "Person", "Login.gov offers secure sign-in.", "Product"),
    ("Standard Operating Procedures", "Organization", "Read our Standard Operating Procedures first.", "Other"),
    ("White House", "Organization", "An initiative of the White House's office.", "Organization"),
    ("Management", "Organization", "Management reviews it.", "Other"),
    ("Bug Bounty Program", "Organization", "GSA runs a Bug Bounty Program.", "Project"),
    ("Federal Acquisition Service", "Organization", "It sits in the Federal Acquisition Service.", "Organization"),
    ("Paperwork Reduction Act", "Organization", "The Paperwork Reduction Act applies.", "Other"),
    ("230 S. Dearborn St", "Organization", "Write to 230 S. Dearborn St.", "Other"),
    ("Portland", "Location", "Robots on Portland test floors.", "Location"),
    ("Quarry", "Organization", "On Quarry: they retire version 2.", "Organization"),
])
def test_types_follow_the_documents_evidence(name, ner_type, text, expected):
    assert checked_type(name, ner_type, text) == expected


def test_context_reads_words_beside_each_mention_not_inside_other_words():
    votes = context_votes("Tock", "Log time in Tock daily. Use the Tock app. Tockington staff.")
    assert votes["Product"] == 1 and votes["Organization"] == 0


def test_a_kind_noun_types_the_names_it_lists_and_relates_them_to_the_container():
    text = ("## Structure\n\n- 18F is organized into three chapters: Design, Engineering, and Product Management.\n"
            "- There are also two practice areas: Innovation Adoption, Client Services.\n")
    found = layout.enumerations(text)
    assert [(e.kind_type, e.relation, [i[0] for i in e.items]) for e in found] == [
        ("Team", "PART_OF", ["Design", "Engineering", "Product Management"]),
        ("Team", None, ["Innovation Adoption", "Client Services"]),  # "There are": no container named
    ]
    assert text[slice(*found[0].container)].strip(" -") == "18F is organized into three"


def test_a_list_below_a_wrapped_introduction_is_read_item_by_item():
    text = ("TTS is part of GSA and contains several\noffices:\n\n"
            "- **18F** provides consulting\n  to agencies.\n- **The Centers of Excellence (CoEs)** modernise IT.\n"
            "- **Solutions** runs USA.gov.\n\nAfter the list.\n")
    (found,) = layout.enumerations(text)
    assert [i[0] for i in found.items] == ["18F", "Centers of Excellence", "Solutions"]
    assert text[slice(*found.container)].startswith("TTS is part of GSA")


@pytest.mark.parametrize("text", [
    "To get help, follow these steps:\n\n- Plug in your card\n- Click Sign in\n",   # instructions, not names
    "Keep these principles in mind as we engage with partners:\n\n- Empathy\n- Curiosity\n",  # not a list of partners
    "Our tools: we use many of them.\n",
])
def test_lists_that_are_not_names_type_nothing(text):
    assert layout.enumerations(text) == []


def test_tables_become_rows_that_carry_their_headers():
    text = ("# Services\n\nIntro.\n\n| Service | Owner | Notes |\n|---|:---:|---|\n"
            "| **Tally** | Billing Team | handles `a \\| b` codes<br>and refunds |\n| Wren |  | none |\n\nAfter.\n")
    rewritten, rows = table_rows(text)
    assert rows == 2
    assert "- Service: **Tally**; Owner: Billing Team; Notes: handles `a | b` codes and refunds" in rewritten
    assert "- Service: Wren; Notes: none" in rewritten
    assert "|---" not in rewritten and rewritten.endswith("After.\n") and rewritten.startswith("# Services\n\nIntro.")


def test_a_record_line_relates_its_key_to_the_values_its_headers_name():
    text = "- Service: Tally; Owner: Billing Team; Location: Leeds; Notes: Ada Byrne wrote it"
    chunk = Chunk(id="c", document_id="d", index=0, text=text, start=0, end=len(text))
    extraction = Extraction()
    spans = [Span(text.index(n), text.index(n) + len(n), extraction.add_entity(n, t))
             for n, t in (("Tally", "Product"), ("Billing Team", "Team"), ("Leeds", "Location"), ("Ada Byrne", "Person"))]
    layout.record_relations(extraction, chunk, spans)
    names = {e.id: e.name for e in extraction.entities.values()}
    assert {(names[r.source_id], r.type, names[r.target_id]) for r in extraction.relations} == {
        ("Billing Team", "OWNS", "Tally")}  # Leeds: a product is not LOCATED_IN; Notes names no relation
    assert extraction.relations[0].evidence == text
    assert layout.field_label(text, text.index("Owner"), text.index("Owner") + 5)
    assert not layout.field_label(text, text.index("Tally"), text.index("Tally") + 5)


def test_markup_is_blanked_without_moving_offsets():
    text = 'See [Tock](https://tock.18f.gov/x) or {% slack_channel "help" %} <br> now'
    blanked = blank_markup(text)
    assert len(blanked) == len(text) and "tock.18f" not in blanked and "slack_channel" not in blanked
    assert blanked.index("now") == text.index("now") and blanked.startswith("See [Tock]")
