"""Minutes engines on English and Chinese meetings, summary-question routing, the QMSum ROUGE harness.

The embedding model is the real offline one; documents are built in memory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from core.types import Document
from generation.minutes import MinutesBuilder, meeting_turns
from generation.minutes.focused import FocusedSummarizer, focus_of, is_summary_question
from ingest.chunking import Chunker
from ingest.loaders import Turn, load_document, render_transcript
from retrieval.embedder import SentenceTransformerEmbedder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def embedder():
    return SentenceTransformerEmbedder.from_pretrained(Settings().embedding_model)


def _meeting(turns: list[tuple[str, str]], language: str = "en", title: str = "Sync") -> Document:
    text, spans = render_transcript([Turn(s, t) for s, t in turns])
    return Document(id="doc_test", source="/tmp/sync.json", title=title, text=text, content_hash="x", kind="meeting",
                    language=language, metadata={"turns": spans, "attendees": list(dict.fromkeys(s for s, _ in turns))})


def test_notes_keep_their_listed_decisions_and_action_items(embedder):
    document = load_document(EXAMPLES / "meetings" / "2026-02-10-millrace-kickoff.md")
    chunks = Chunker(1000, 150).split(document)
    minutes = MinutesBuilder(embedder).build(document, chunks)
    turns = meeting_turns(document)
    assert len(turns) == minutes.turn_count == 14 and turns[0].speaker == "Rahul Menon"
    assert len(minutes.decisions) == 4 and len(minutes.action_items) == 6
    assert minutes.action_items[0].owner == "Marcus Bell" and minutes.action_items[0].due == "2026-02-13"
    assert minutes.decisions[0].decided_by == "Rahul Menon"
    # Each item cites the turn that supports it: the rollback runbook is Camille's turn.
    runbook = next(a for a in minutes.action_items if "runbook" in a.task)
    assert turns[runbook.turns[0]].speaker == "Camille Dufresne"
    assert minutes.summary and all(0 <= t < len(turns) for t in minutes.summary_turns)
    assert minutes.topics[0].turn_start == 0 and minutes.topics[-1].turn_end == len(turns) - 1


ENGLISH = [
    ("Ana Silva", "Let's look at the launch plan for the mobile app and the support rota."),
    ("Ben Okoro", "The app store review takes about a week, so we should submit early."),
    ("Ana Silva", "We decided to submit the build on Monday and launch on the 12th of May."),
    ("Ben Okoro", "I'll prepare the release notes by Friday."),
    ("Ana Silva", "Ben, can you also check the crash reports before the submission?"),
    ("Ben Okoro", "Sure, I will go through them tomorrow."),
    ("Chen Li", "What happens with the old web dashboard once the app launches, do we keep it running?"),
]


def test_transcript_cues_give_decisions_actions_and_open_questions(embedder):
    document = _meeting(ENGLISH)
    minutes = MinutesBuilder(embedder).build(document)
    assert [d.decided_by for d in minutes.decisions] == ["Ana Silva"]
    assert minutes.decisions[0].turns == (2,)
    notes = next(a for a in minutes.action_items if "release notes" in a.task)
    assert notes.owner == "Ben Okoro" and notes.due == "Friday" and notes.turns == (3,)
    crash = next(a for a in minutes.action_items if "crash reports" in a.task)
    assert crash.owner == "Ben Okoro"  # the person asked, not the speaker
    assert [q.turns for q in minutes.open_questions] == [(6,)]
    rendered = minutes.render()
    assert "## Decisions" in rendered and "[turns 3]" in rendered


CHINESE = [
    ("王芳", "今天我们讨论上海仓库的机器人试点和中文界面的进度。"),
    ("李明", "中文界面还需要两周，五月二十二日之前可以完成。"),
    ("王芳", "那我们决定把试点推迟到六月一日开始。"),
    ("李明", "我来负责通知客户新的开始日期，下周三之前完成。"),
    ("张伟", "数据要不要留在中国境内，客户的安全团队有没有明确要求吗？"),
]


def test_chinese_meeting_gets_chinese_minutes(embedder):
    minutes = MinutesBuilder(embedder).build(_meeting(CHINESE, language="zh", title="上海试点会议"))
    assert minutes.language == "zh"
    assert minutes.decisions and minutes.decisions[0].decided_by == "王芳" and minutes.decisions[0].turns == (2,)
    task = next(a for a in minutes.action_items if "通知客户" in a.task)
    assert task.owner == "李明" and task.due == "下周三"
    assert [q.asked_by for q in minutes.open_questions] == ["张伟"]
    rendered = minutes.render()
    assert "会议纪要" in rendered and "## 决定" in rendered and "## 待办事项" in rendered


@pytest.mark.parametrize("question", [
    "Summarize the discussion about the XML format",
    "summarise what was said about hiring",
    "What did Grad F think about the parser?",
    "What was discussed about the remote control design?",
    "Give me an overview of the budget discussion",
    "总结一下关于试点的讨论",
    "会议上大家讨论了什么？",
])
def test_summary_questions_are_recognised(question):
    assert is_summary_question(question)


@pytest.mark.parametrize("question", [
    "Who leads Project Millrace?",
    "When is the Loomline 3.0 launch?",
    "What is the expense limit for travel?",
    "上海办公室有多少员工？",
])
def test_factoid_questions_are_not_summary_questions(question):
    assert not is_summary_question(question)


def test_focus_drops_the_summary_frame():
    assert focus_of("Summarize the discussion about the current XML format") == "the current XML format"
    assert focus_of("What did Grad F think about the parser?") == "the parser"


def test_focused_summary_covers_the_whole_relevant_discussion(embedder):
    filler = [("Ana Silva", f"Item {i}: the office plants need watering and the kitchen rota is on the wall.") for i in range(12)]
    budget = [
        ("Ben Okoro", "On the marketing budget, we spent forty thousand on trade fairs last quarter."),
        ("Chen Li", "The marketing budget for trade fairs should drop, online campaigns bring more leads."),
        ("Ana Silva", "Then we cut the trade fair budget by half and move it to online campaigns."),
    ]
    turns = filler[:6] + budget + filler[6:]
    document = _meeting(turns)
    summary = FocusedSummarizer(embedder, max_words=60).summarize(
        "Summarize the discussion about the marketing budget", meeting_turns(document))
    assert set(summary.relevant) >= {6, 7, 8}
    assert set(summary.turns) <= set(summary.relevant) and set(summary.turns) & {6, 7, 8}
    assert "budget" in summary.text


def test_rouge_harness_on_a_small_qmsum_slice(embedder):
    from bench.minutes_qmsum import evaluate
    from evaluation.retrieval import shared_data_dir

    files = sorted((shared_data_dir() / "qmsum").glob("val_*.json"))
    if not files:
        pytest.skip("QMSum data not available")
    smallest = min(files, key=lambda p: p.stat().st_size)
    report = evaluate([smallest], embedder, words=60, max_queries=2)
    assert report["queries"] == 2
    systems = report["systems"]
    assert set(systems) == {"lore-extractive", "lead-retrieved", "gold-spans"}
    for scores in systems.values():
        assert scores["n"] == 2 and 0 < scores["rouge1"] <= 100 and scores["rougeL"] <= scores["rouge1"]


def test_ingest_reaches_minutes_only_through_its_derived_documents_seam():
    """The pipeline knows minutes only as ``DerivedDocuments``; the api wires generation's implementation in."""
    import ast

    root = Path(__file__).resolve().parents[2]
    for module in ("ingest/pipeline.py", "ingest/derived.py"):
        tree = ast.parse((root / module).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.split(".")[0] == "generation" for m in imported), (module, imported)
    from generation.minutes.derived import MinutesDocuments, minutes_document_id

    class Unused:
        def build(self, *args):
            pytest.fail("no minutes are built")

    derived = MinutesDocuments(Unused(), at_ingest=False)
    meeting = _meeting([("Ana Silva", "We decided to ship on Friday.")])
    assert derived.derive(meeting, []) is None  # minutes at ingest switched off
    assert derived.derived_id(meeting.source, "meeting") == minutes_document_id(meeting.source)
    assert derived.derived_id("/tmp/handbook.md", "document") is None



def test_accepted_proposals_become_decisions_and_small_talk_is_no_task(embedder):
    document = _meeting([
        ("Gareth Pryce", "I'll start with the bad news. The modules ship on the 10th of April, not in March."),
        ("Sofia Lindqvist", "While we're on firmware: the pilot robots should get firmware through Relay and nothing else."),
        ("Gareth Pryce", "No objection. Nadia, what does the customer need on dates?"),
        ("Nadia Farouk", "They planned for June. I'd rather move the pilot to Monday the 6th of July than slip it twice."),
        ("Gareth Pryce", "Owen, can you start with where the database is today?"),
        ("Owen Kettering", "Sure. I can add a CI check that fails the build by Friday."),
    ])
    document = document.model_copy(update={"metadata": {**document.metadata, "date": "2026-02-24"}})
    minutes = MinutesBuilder(embedder).build(document)
    relay = next(d for d in minutes.decisions if "Relay" in d.text)
    assert relay.decided_by == "Sofia Lindqvist" and relay.turns == (1, 2)  # proposer decides, acceptance cited
    assert all("bad news" not in a.task and "start with" not in a.task for a in minutes.action_items)
    check = next(a for a in minutes.action_items if "CI check" in a.task)
    assert check.owner == "Owen Kettering" and check.due == "Friday" and check.due_date == "2026-02-27"


def test_third_person_minutes_and_pasted_action_lists_are_read():
    from generation.minutes import cues

    assert cues.reported_decider("- Helena Marsh decided to move the launch to 2026-05-12.") == "Helena Marsh"
    assert cues.reported_decider("We decided to move the launch.") is None  # the speaker decides, not "We"
    assert cues.listed_action("- Owen Kettering: Fix the rounding issue (due 2026-04-24)") == ("Owen Kettering", "Fix the rounding issue")
    assert cues.sentences("Deferred to Loomline 3.1. Next.\n- A B: task") == ["Deferred to Loomline 3.1.", "Next.", "- A B: task"]


@pytest.mark.parametrize(("stated", "meeting", "iso"), [
    ("Friday", "2026-02-10", "2026-02-13"), ("this week", "2026-02-10", "2026-02-13"), ("next week", "2026-02-10", "2026-02-20"),
    ("27th of March", "2026-02-10", "2026-03-27"), ("January 5", "2026-11-20", "2027-01-05"), ("end of June", "2026-02-10", "2026-06-30"),
    ("下周三", "2026-03-19", "2026-03-25"), ("5月22日", "2026-03-19", "2026-05-22"), ("2026-04-24", None, "2026-04-24"),
    ("Friday", None, None), ("soon", "2026-02-10", None),
])
def test_due_dates_are_counted_from_the_meeting_date(stated, meeting, iso):
    from generation.minutes import cues

    assert cues.resolve_due(stated, meeting) == iso
