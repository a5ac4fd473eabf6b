"""Minutes through the service: at ingest, stored as a derived document and graph facts, removed with the meeting.

Real graph server, real FAISS, real embedding model, real app and CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from api.keys import KeyStore
from api.service import LoreService
from core.settings import Settings
from generation.minutes.derived import minutes_document_id
from retrieval.query import Query

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TURNS = [
    ("Rahul Menon", "Welcome everyone. Today we need to settle the billing database cutover and the Quarry API work."),
    ("Owen Kettering", "The new PostgreSQL cluster is ready in staging and replication from the old billing server is running."),
    ("Camille Dufresne", "I want the cutover on a weekend with a rehearsed rollback. Saturday night traffic is the lowest we have."),
    ("Rahul Menon", "Agreed. We decided the cutover happens on Saturday the 4th of April."),
    ("Owen Kettering", "I'll write the rollback runbook by Friday."),
    ("Marcus Bell", "Owen, can you send me the list of billable usage events by the 27th of March?"),
    ("Owen Kettering", "Yes, I will send it this week."),
    ("Adaeze Okonkwo", "Finance needs parallel invoice runs for the March cycle before anyone switches over."),
    ("Rahul Menon", "Let's fold the Quarry version 3 migration into Millrace, it is the same code path."),
    ("Camille Dufresne", "Who is going to tell the support team about the maintenance window on the weekend?"),
]


def _write_transcript(folder: Path) -> Path:
    path = folder / "cutover-sync.json"
    payload = {"meeting_transcripts": [{"speaker": s, "content": c} for s, c in TURNS]}
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def service(tmp_path_factory, graph_server):
    info = graph_server.start()
    settings = Settings(data_dir=tmp_path_factory.mktemp("lore-minutes"), graph_uri=info.uri, graph_user=info.user,
                        graph_password=info.password, graph_database=info.database, max_new_tokens=32)
    corpus = tmp_path_factory.mktemp("meetings")
    _write_transcript(corpus)
    (corpus / "millrace-kickoff.md").write_text((EXAMPLES / "meetings" / "2026-02-10-millrace-kickoff.md").read_text())
    (corpus / "handbook.md").write_text("# Expenses\n\nReceipts are filed within 30 days of purchase.\n")
    with LoreService.from_settings(settings) as svc:
        svc.graph.clear()
        report = svc.ingest([corpus])
        assert report.failed == [], report.failed
        svc.corpus = corpus
        yield svc


def _doc(service, name: str):
    return next(d for d in service.documents() if d.source.endswith(name))


def test_minutes_are_written_at_ingest_as_derived_searchable_documents(service):
    kinds = {d.source.rsplit("/", 1)[-1]: d.kind for d in service.documents()}
    assert kinds["cutover-sync.json#minutes"] == "minutes"
    assert kinds["millrace-kickoff.md#minutes"] == "minutes"
    assert "handbook.md#minutes" not in kinds  # only meetings get minutes
    meeting = _doc(service, "cutover-sync.json")
    derived = _doc(service, "cutover-sync.json#minutes")
    assert derived.metadata["meeting_id"] == meeting.id
    hits = service.search(Query(text="minutes of the cutover sync decisions and action items", k=10)).passages
    assert derived.id in {p.document_id for p in hits}


def test_transcript_minutes_cite_real_turns(service):
    minutes = service.minutes(str(service.corpus / "cutover-sync.json"))
    assert minutes.turn_count == len(TURNS)
    decided = {d.decided_by: d for d in minutes.decisions}
    assert "Rahul Menon" in decided
    assert any("Saturday" in d.text for d in minutes.decisions)
    owners = {a.owner for a in minutes.action_items}
    assert "Owen Kettering" in owners
    runbook = next(a for a in minutes.action_items if "runbook" in a.task)
    assert runbook.due == "Friday"
    request = next(a for a in minutes.action_items if "billable" in a.task)
    assert request.owner == "Owen Kettering" and request.due == "27th of March"
    for item in [*minutes.decisions, *minutes.action_items, *minutes.open_questions]:
        assert item.turns and all(0 <= t < len(TURNS) for t in item.turns)
    for item in minutes.action_items:  # the cited turn says what the item says
        assert item.task.split()[0] in TURNS[item.turns[0]][1]
    assert any("support team" in q.text for q in minutes.open_questions)


def test_graph_holds_the_meetings_decisions_and_assignments(service):
    stats = service.graph_stats()
    # Notes: 4 decisions + 6 action items from their sections (twice: the notes and their minutes); transcript: cue-based ones.
    assert stats.by_label.get("Decision", 0) >= 4 + 4 + 2
    assert stats.by_label.get("ActionItem", 0) >= 6 + 6 + 2
    assert stats.by_relation_type.get("HAS_DECISION", 0) == stats.by_label["Decision"]
    assert stats.by_relation_type.get("ASSIGNED_TO", 0) >= 12
    owen = service.find_entity("Owen Kettering")
    assert owen is not None
    assigned = [e for e in owen.edges if e.type == "ASSIGNED_TO"]
    assert any("runbook" in (e.evidence or "") for e in assigned)


def test_cli_and_http_return_the_minutes(service, monkeypatch):
    meeting = _doc(service, "cutover-sync.json")
    settings = service.settings
    for name, value in {
        "LORE_DATA_DIR": str(settings.data_dir), "LORE_GRAPH_URI": settings.graph_uri, "LORE_GRAPH_USER": settings.graph_user,
        "LORE_GRAPH_PASSWORD": settings.graph_password.get_secret_value(), "LORE_GRAPH_DATABASE": settings.graph_database or "",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli_app, ["minutes", str(service.corpus / "cutover-sync.json")])
    assert result.exit_code == 0, result.output
    assert "## Decisions" in result.stdout and "Rahul Menon" in result.stdout and "[turns " in result.stdout
    result = CliRunner().invoke(cli_app, ["minutes", meeting.id, "--json"])
    assert json.loads(result.stdout)["meeting_id"] == meeting.id
    assert CliRunner().invoke(cli_app, ["minutes", "no-such-meeting"]).exit_code == 1
    with KeyStore(settings.api_db_path) as keys:
        _, reader = keys.create("minutes-reader", ["read"])
        _, outsider = keys.create("other-collection", ["read"], collections=["elsewhere"])
    app = create_app(service=service)
    with TestClient(app, headers={"Authorization": f"Bearer {reader}"}) as client:
        body = client.get(f"/v1/meetings/{meeting.id}/minutes").json()
        assert body["meeting_id"] == meeting.id
        assert body["decisions"] and body["action_items"] and body["topics"]
        assert client.get("/v1/meetings/doc_nope/minutes").status_code == 404
        # A key limited to another collection cannot tell this meeting exists.
        hidden = client.get(f"/v1/meetings/{meeting.id}/minutes", headers={"Authorization": f"Bearer {outsider}"})
        assert hidden.status_code == 404
        assert client.get(f"/v1/meetings/{meeting.id}/minutes", headers={"Authorization": ""}).status_code == 401


def test_summary_question_cites_the_relevant_turns(service):
    answer = service.ask("Summarize the discussion about the billing database cutover weekend")
    assert answer.citations, answer.text
    meeting = _doc(service, "cutover-sync.json")
    cited_meetings = {c.document_id for c in answer.citations}
    assert cited_meetings <= {meeting.id, _doc(service, "millrace-kickoff.md").id}
    assert "cutover" in answer.text.lower()
    for citation in answer.citations:
        chunk = service.metadata.chunks_by_ids([citation.chunk_id])[citation.chunk_id].chunk
        assert citation.snippet.split(":")[0] in chunk.text[citation.start : citation.end]
    factoid = service.search("How long are receipts kept?").passages  # ordinary questions keep the normal path
    assert factoid


def test_deleting_the_meeting_removes_its_minutes_and_graph_facts(service):
    before = service.graph_stats()
    meeting = _doc(service, "cutover-sync.json")
    derived_id = minutes_document_id(meeting.source)
    assert service.delete_document(meeting.id)
    ids = {d.id for d in service.documents()}
    assert meeting.id not in ids and derived_id not in ids
    assert derived_id not in service.graph.document_ids()
    after = service.graph_stats()
    assert after.by_label.get("Decision", 0) < before.by_label["Decision"]
    assert after.by_label.get("ActionItem", 0) < before.by_label["ActionItem"]
    notes = _doc(service, "millrace-kickoff.md")
    assert service.delete_document(notes.id)
    final = service.graph_stats()
    assert final.by_label.get("Decision", 0) == 0 and final.by_label.get("ActionItem", 0) == 0
