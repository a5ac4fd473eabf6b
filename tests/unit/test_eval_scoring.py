"""`lore eval` pure logic: dataset adapters, gold hits, answer scoring and deltas, on tiny hand-made inputs."""

from __future__ import annotations

import json

import pytest

from evaluation import EvalOptions, load_dataset, variant
from evaluation.datasets import EvalItem, detect_format, load_lore
from evaluation.report import deltas, deltas_table, generation_table, retrieval_table
from evaluation.runner import EvalReport, GenerationScores, RetrievalScores, _score_answers
from core.errors import ConfigurationError
from core.settings import Settings
from core.types import Answer, Citation, Document, Passage
from evaluation.retrieval import covered_counts, score_counts


def passage(chunk: str, document: str, *, source: str = "/kb/x.md", turns: tuple[int, int] | None = None) -> Passage:
    metadata = {"turn_start": turns[0], "turn_end": turns[1]} if turns else {}
    return Passage(chunk_id=chunk, document_id=document, source=source, title="t", text="x", score=1.0, metadata=metadata)


# ---- gold hits --------------------------------------------------------------------
def test_span_hits_need_the_same_document_and_overlapping_turns():
    item = EvalItem(id="q", question="?", document_ids=("m1",), spans=((3, 5), (10, 12)))
    assert item.gold_count == 2
    assert item.hits(passage("c", "m1", turns=(5, 9))) == {0}  # touches the first span's last turn
    assert item.hits(passage("c", "m1", turns=(0, 20))) == {0, 1}
    assert item.hits(passage("c", "m1", turns=(6, 9))) == set()
    assert item.hits(passage("c", "m2", turns=(3, 5))) == set()  # another meeting
    assert item.hits(passage("c", "m1")) == set()  # a chunk without turns


def test_document_and_source_suffix_hits():
    item = EvalItem(id="q", question="?", answers=("a",), document_ids=("d1",), sources=("docs/leave.md",))
    assert item.gold_count == 2
    assert item.hits(passage("c", "d1")) == {0}
    assert item.hits(passage("c", "d9", source="/corpus/docs/leave.md")) == {1}
    assert item.hits(passage("c", "d9", source="/corpus/olddocs/leave.md")) == set()  # suffix on a path boundary


def test_recall_and_mrr_from_covered_counts():
    item = EvalItem(id="q", question="?", document_ids=("m",), spans=((0, 1), (5, 6)))
    ranked = [passage("a", "m", turns=(8, 9)), passage("b", "m", turns=(5, 5)), passage("c", "m", turns=(0, 6))]
    covered = covered_counts(ranked, item.hits, depth=20)
    assert covered[:4] == [0, 1, 2, 2] and covered[-1] == 2
    # A second query that finds nothing: recall@2 = (1/2 + 0) / 2, MRR@10 = (1/2 + 0) / 2.
    scores = score_counts([covered, [0] * 20], [2, 1], [2, None])
    assert scores.recall[1] == 0.0 and scores.recall[2] == pytest.approx(0.25) and scores.recall[3] == pytest.approx(0.5)
    assert scores.mrr10 == pytest.approx(0.25) and scores.queries == 2


# ---- adapters ----------------------------------------------------------------------
def test_lore_jsonl_keeps_good_lines_and_names_bad_ones(tmp_path):
    path = tmp_path / "qs.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", "question": "Who?", "answer": "Priya", "source": "docs/x.md"}),
        "not json",
        json.dumps({"question": "", "answer": "x"}),
        json.dumps({"question": "What is unknown?", "answers": []}),
        json.dumps({"question": "Span?", "answers": ["y"], "document_ids": ["d"], "spans": [[4, 2]]}),
        json.dumps({"question": "Two?", "answers": ["1", "one"], "document_ids": ["d"], "spans": [["2", "4"]]}),
        json.dumps({"id": "u", "question": "Sabbatical?", "answer": None, "answerable": False}),
    ]), encoding="utf-8")
    data = load_lore(path)
    assert [i.id for i in data.items] == ["a", "line4", "line6", "u"]
    assert not data.items[3].answerable
    assert data.items[0].sources == ("docs/x.md",) and data.items[0].answers == ("Priya",)
    assert not data.items[1].answerable and data.items[1].gold_count == 0
    assert data.items[2].spans == ((2, 4),) and data.items[2].answers == ("1", "one")
    assert len(data.errors) == 3
    assert data.errors[0].startswith(f"{path}:2:")
    assert "field 'question' is missing or empty" in data.errors[1] and f"{path}:3:" in data.errors[1]
    assert "first turn comes after its last turn" in data.errors[2]
    assert data.documents == []  # questions go to the configured knowledge base


def test_lore_jsonl_without_any_usable_line_is_an_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"answer": "x"}\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="no usable questions"):
        load_lore(path)


def test_qmsum_adapter_reads_spans_answers_and_needed_meetings(tmp_path):
    folder = tmp_path / "qmsum"
    folder.mkdir()
    for name, queries in (("val_a", 2), ("val_b", 1)):
        (folder / f"{name}.json").write_text(json.dumps({
            "meeting_transcripts": [{"speaker": "A", "content": "hello"}] * 6,
            "specific_query_list": [{"query": f"{name} q{i}", "answer": f"ans {i}", "relevant_text_span": [["1", "2"], ["4", "4"]]}
                                    for i in range(queries)],
        }), encoding="utf-8")
    assert detect_format(folder) == "qmsum" and detect_format(folder / "val_a.json") == "qmsum"
    data = load_dataset(folder, work_dir=tmp_path / "work")
    assert data.format == "qmsum" and len(data.items) == 3 and len(data.documents) == 2
    first = data.items[0]
    assert first.spans == ((1, 2), (4, 4)) and first.answers == ("ans 0",)
    assert first.document_ids == (Document.make_id(str((folder / "val_a.json").resolve())),)
    limited = load_dataset(folder, work_dir=tmp_path / "work", limit=2)
    assert [p.name for p in limited.documents] == ["val_a.json"]  # only the meetings asked about are ingested


def test_squad_adapter_writes_paragraphs_and_keeps_span_answers(tmp_path):
    path = tmp_path / "trial.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [
        {"id": "P1", "context": "上海办公室位于浦东。", "qas": [
            {"id": "Q1", "question": "办公室在哪里？", "answers": [{"text": "浦东", "answer_start": 7}, {"text": "浦东", "answer_start": 7}]}]},
        {"id": "P2", "context": "经理是陈静。", "qas": [{"id": "Q2", "question": "经理是谁？", "answers": [{"text": "陈静"}]}]},
    ]}]}, ensure_ascii=False), encoding="utf-8")
    assert detect_format(path) == "squad"
    data = load_dataset(path, work_dir=tmp_path / "work", limit=1)
    assert [i.id for i in data.items] == ["Q1"] and data.items[0].answers == ("浦东",)
    assert [p.name for p in data.documents] == ["P1.txt"]
    assert data.items[0].document_ids == (Document.make_id(str(data.documents[0].resolve())),)


def test_unknown_format_and_missing_dataset_are_clear_errors(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ConfigurationError, match="cannot tell the dataset format"):
        load_dataset(tmp_path / "x.csv", work_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_dataset(tmp_path / "nope.jsonl", work_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="format 'csv'"):
        load_dataset(tmp_path / "x.csv", "csv", work_dir=tmp_path)


# ---- answer scoring ------------------------------------------------------------------
def answer(text: str, cited: list[Passage], shown: list[Passage], *, abstained: bool = False, tokens: int = 4) -> Answer:
    citations = tuple(Citation(number=shown.index(p) + 1, chunk_id=p.chunk_id, document_id=p.document_id, source=p.source,
                               start=0, end=1, snippet="x") for p in cited)
    return Answer(question="?", text=text, citations=citations, passages=tuple(shown), abstained=abstained,
                  timings={"completion_tokens": float(tokens)})


def test_answer_scores_by_hand():
    gold_doc = passage("g", "d1")
    other = passage("o", "d2")
    items = [
        EvalItem(id="1", question="?", answers=("22 days",), document_ids=("d1",)),
        EvalItem(id="2", question="?", answers=("Priya Raman",), document_ids=("d1",)),
        EvalItem(id="3", question="?"),  # unanswerable
    ]
    answers = [
        (items[0], answer("22 days [1]", [gold_doc], [gold_doc, other]), 1.0),  # EM 1, cites gold only
        (items[1], answer("Priya [1][2]", [gold_doc, other], [gold_doc, other], tokens=6), 3.0),  # F1 2/3, P 1/2
        (items[2], answer("I don't know.", [], [other], abstained=True, tokens=2), 2.0),  # right abstention
    ]
    s = _score_answers(GenerationScores(generator="base", mode="hybrid", questions=3, answerable=2), answers)
    assert s.exact_match == pytest.approx(0.5)
    assert s.f1 == pytest.approx((1.0 + 2 / 3) / 2)
    assert s.citation_precision == pytest.approx((1.0 + 0.5) / 2)
    assert s.citation_recall == pytest.approx(1.0)
    assert s.abstention_accuracy == pytest.approx(1.0) and s.false_abstention == 0.0
    assert s.latency_p50_s == pytest.approx(2.0) and s.latency_p95_s == pytest.approx(2.9)
    assert s.tokens_generated == 12 and s.tokens_per_answer == pytest.approx(4.0)
    assert [p["id"] for p in s.predictions] == ["1", "2", "3"]


def test_refusing_an_answerable_question_counts_against_abstention():
    item = EvalItem(id="1", question="?", answers=("x",), document_ids=("d1",))
    s = _score_answers(GenerationScores(generator="base", mode="hybrid", questions=1, answerable=1),
                       [(item, answer("I don't know.", [], [], abstained=True), 1.0)])
    assert s.abstention_accuracy == 0.0 and s.false_abstention == 1.0
    assert s.citation_precision is None and s.citation_recall == 0.0


# ---- options, variants, reports -------------------------------------------------------
def test_options_refuse_unknown_modes_and_k():
    with pytest.raises(ConfigurationError, match="unknown mode"):
        EvalOptions(modes=("dense", "vector"))
    with pytest.raises(ConfigurationError, match="between 1 and 20"):
        EvalOptions(ks=(5, 50))


def test_compare_variants(tmp_path):
    base = Settings(data_dir=tmp_path)
    options = EvalOptions()
    toml = tmp_path / "small.toml"
    toml.write_text("top_k = 3\nfusion_weight_sparse = 1.0\n")
    settings, same = variant(str(toml), base, options)
    assert settings.top_k == 3 and settings.fusion_weight_sparse == 1.0 and settings.data_dir == tmp_path
    assert same == options
    assert variant("v2", base, options)[1].generators == ("v2",)
    assert variant("base", base, options)[1].generators == ("base",)
    with pytest.raises(ConfigurationError, match="neither"):
        variant("bigger", base, options)
    (tmp_path / "bad.toml").write_text("top_k = 'many'\n")
    with pytest.raises(ConfigurationError, match="bad.toml is not a valid Lore settings file"):
        variant(str(tmp_path / "bad.toml"), base, options)


def _report(recall10: float, f1: float) -> EvalReport:
    return EvalReport(
        dataset="d", format="lore", questions=2, documents=1, chunks=3, settings={}, options={"ks": [1, 10], "scope": "all"},
        embedding_ms_per_query=1.0,
        retrieval=[RetrievalScores("hybrid", "mode", 2, {1: 0.5, 10: recall10}, 0.5, 2.0, 4.0)],
        generation=[GenerationScores("base", "hybrid", 2, 2, exact_match=0.0, f1=f1)],
    )


def test_deltas_pair_systems_and_generators():
    rows = deltas(_report(0.6, 0.2), _report(0.9, 0.5))
    by = {(r["what"], r["metric"]): r for r in rows}
    assert by[("retrieval hybrid", "recall@10")]["delta"] == pytest.approx(0.3)
    assert by[("answers base", "f1")]["delta"] == pytest.approx(0.3)
    assert by[("answers base", "citation_precision")]["delta"] is None
    table = deltas_table(rows, "a.toml", "b.toml")
    assert "| retrieval hybrid | recall@10 | 0.600 | 0.900 | +0.300 |" in table


def test_markdown_tables():
    r = _report(0.6, 0.2)
    assert "| hybrid | mode | 2 | 0.500 | 0.600 | 0.500 | 2.0 | 4.0 |" in retrieval_table(r.retrieval, (1, 10))
    skipped = GenerationScores("tuned", "hybrid", 2, 2, skipped="tuned: no fine-tuned adapter is active")
    assert "skipped: tuned: no fine-tuned adapter is active" in generation_table([skipped])
