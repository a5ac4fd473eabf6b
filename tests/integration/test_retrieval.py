"""Retrievers, filters, modes, sync, the LangChain retriever and the evaluation, on the real
graph server, real FAISS, the real embedding model and two real QMSum meetings."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import CrossEncoder
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.service import LoreService
from core.errors import ModelLoadError
from core.settings import Settings
from core.types import Document
from evaluation import retrieval as ev
from retrieval.embedder import SentenceTransformerEmbedder, resolve_model_path
from retrieval.filters import SearchFilters
from retrieval.langchain import LoreRetriever
from retrieval.reranker import CrossEncoderReranker
from retrieval.retrievers import HybridRetriever
from retrieval.tokenize import tokenize
from retrieval.query import Query

SHARED = ev.shared_data_dir(Path(__file__))
QMSUM_SLICE = [SHARED / "qmsum" / "val_TS3010a.json", SHARED / "qmsum" / "val_TS3010b.json"]

CORPUS = {
    "meetings/kestrel-review.md": """# Kestrel gripper review
Date: 2024-03-05
Attendees: Priya Raman, Tom Okafor

Priya Raman presented the torque results of the Kestrel gripper. The new servo holds 12 newton metres
without slipping. Tom Okafor asked for a thermal test before the pilot with Harbour Logistics.
""",
    "meetings/beacon-planning.md": """# Beacon launch planning
Date: 2024-06-10
Attendees: Lena Fischer, Marco Bianchi

Lena Fischer set the Beacon launch budget at forty thousand euros. Marco Bianchi will book the venue in Lisbon
and send invitations to the press list by the end of the month.
""",
    "docs/travel-policy.md": """# Travel and expenses policy

Employees book trains for trips under four hours. Hotel costs are reimbursed up to one hundred and
fifty euros a night. Receipts go into the expenses tool within thirty days.
""",
    "docs/partners.md": """# Partners

Northwind Freight Services runs the pilot warehouse in Rotterdam for the Kestrel gripper.
Since last spring NFS is part of Brightwater Holdings Ltd.
""",
    "docs/shanghai.txt": """上海办公室

上海办公室位于浦东新区，负责亚洲客户的机器人维修服务。办公室有十二名工程师，经理是陈静。
""",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for name, text in CORPUS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def service(tmp_path_factory, graph_env, corpus):
    if not all(p.is_file() for p in QMSUM_SLICE):
        pytest.skip(f"QMSum data not found under {SHARED}")
    # Derived minutes documents would compete with their meetings in these rankings.
    settings = Settings(data_dir=tmp_path_factory.mktemp("lore-retrieval"), minutes_at_ingest=False, **graph_env)
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        report = service.ingest([corpus, *QMSUM_SLICE])
        assert report.failed == [], report.failed
        yield service


def _doc_id(path: Path) -> str:
    return Document.make_id(str(path.resolve()))


def _titles(passages) -> list[str]:
    return [p.title for p in passages]


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_each_text_mode_ranks_the_relevant_document_first(service, mode):
    found = service.search(Query(text="torque of the Kestrel gripper servo", k=3, mode=mode))
    assert found.passages[0].title == "Kestrel gripper review"
    for p in found.passages:
        assert "fused" in p.scores
        assert p.score == pytest.approx(p.scores["fused"])
    if mode == "hybrid":
        top = found.passages[0].scores
        assert {"dense", "sparse"} <= set(top), top
    else:
        assert mode in found.passages[0].scores


def test_sparse_matches_chinese_words(service):
    found = service.search(Query(text="浦东新区的机器人维修", k=2, mode="sparse"))
    assert found.passages and found.passages[0].title == "上海办公室"


def test_graph_mode_links_a_person_and_returns_facts_with_provenance(service, corpus):
    found = service.search(Query(text="What did Lena Fischer decide?", k=3, mode="graph"))
    assert found.passages, "the linked entity's chunks are ranked by PageRank"
    assert found.passages[0].document_id == _doc_id(corpus / "meetings/beacon-planning.md")
    assert found.passages[0].scores["graph"] > 0
    assert found.facts, "facts about the linked entity"
    chunk_ids = set(service.graph.chunk_ids())
    for fact in found.facts:
        assert "Lena Fischer" in (fact.subject, fact.object)
        assert fact.chunk_ids and set(fact.chunk_ids) <= chunk_ids


def test_graph_mode_without_a_linked_entity_returns_nothing(service):
    assert service.search(Query(text="zzqx nothing here", k=3, mode="graph")).passages == []


def test_graph_retriever_links_speakers_and_fuzzy_names(service):
    entities, speakers = service.engine.graph.link("What did the Project Manager say about the remote?")
    assert "project manager" in speakers
    entities, _ = service.engine.graph.link("What did Lena Fischr decide?")  # misspelt
    names = {e.name for e in service.graph.entity_names() if e.id in entities}
    assert "Lena Fischer" in names


def test_a_question_that_uses_a_documents_other_spelling_links_the_entity_and_its_facts(service):
    # The document says "NFS" once; resolution named the entity Northwind Freight Services.
    question = "What is NFS part of?"
    entities, _ = service.engine.graph.link(question)
    names = {e.name for e in service.graph.entity_names() if e.id in entities}
    assert "Northwind Freight Services" in names
    found = service.search(Query(text=question, k=3, mode="graph"))
    rendered = [fact.render() for fact in found.facts]
    assert "Northwind Freight Services (NFS) part of Brightwater Holdings Ltd" in rendered, rendered
    # Asked by its full name, the fact still shows the initialism the document uses, so a model that
    # answers "NFS" answers from what it was shown.
    found = service.search(Query(text="What is Northwind Freight Services part of?", k=3, mode="graph"))
    assert "Northwind Freight Services (NFS) part of Brightwater Holdings Ltd" in [f.render() for f in found.facts]


def _with_graph(hybrid: HybridRetriever, **changes) -> HybridRetriever:
    """The hybrid retriever with the graph ranking weighted in (the default leaves it out)."""
    weights = {**hybrid.settings.weights, "graph": 0.5}
    return HybridRetriever(hybrid.dense, hybrid.sparse, hybrid.graph, replace(hybrid.settings, weights=weights, **changes))


def test_hybrid_includes_graph_components_when_an_entity_is_linked_and_the_graph_is_weighted(service):
    assert "graph" not in service.search(Query(text="Lena Fischer budget", k=3, mode="hybrid")).passages[0].scores
    found = _with_graph(service.engine.hybrid).search("Lena Fischer budget", 3)
    assert found.passages[0].title == "Beacon launch planning"
    assert "graph" in found.passages[0].scores


def test_document_evidence_points_to_the_meeting_whose_whole_text_matches(service):
    """Whole-document and best-chunk BM25 single out the meeting, and hybrid passages carry it."""
    engine = service.engine
    catalog = engine.catalog
    tokens = tokenize("remote control buttons and the budget of the design")
    evidence = engine.hybrid.document_evidence(tokens, engine.sparse.rank("remote control buttons and the budget of the design", 200, None))
    assert evidence.shape == (catalog.document_count,)
    best = catalog.document_ids[int(evidence.argmax())]
    assert Path(catalog.documents[best].source).stem.startswith("val_TS3010")
    found = service.search(Query(text="remote control buttons and the budget of the design", k=5, mode="hybrid"))
    assert all("document" in p.scores for p in found.passages)
    assert found.passages[0].title.startswith("val_TS3010")
    # The Kestrel review scores lowest for the question about the remote control.
    kestrel = catalog.document_ids.index(next(d for d, doc in catalog.documents.items()
                                              if doc.source.endswith("kestrel-review.md")))
    assert evidence[kestrel] < evidence.max()


def test_document_evidence_counts_overlapping_chunks_once(service):
    """Consecutive chunks share their overlap: two of them matching is one passage, not two."""
    engine = service.engine
    catalog = engine.catalog
    rows_of = lambda doc: {c.index: r for r, c in enumerate(catalog.rows) if c.document_id == doc}
    meetings = [d for d, doc in catalog.documents.items() if Path(doc.source).stem.startswith("val_TS3010")]
    a, b = rows_of(meetings[0]), rows_of(meetings[1])
    tokens = tokenize("remote control")
    code = {d: i for i, d in enumerate(catalog.document_ids)}

    def lead(hits):  # evidence of meeting a minus meeting b (their whole-document BM25 is fixed)
        evidence = engine.hybrid.document_evidence(tokens, hits)
        return evidence[code[meetings[0]]] - evidence[code[meetings[1]]]

    adjacent = lead([(b[0], 7.0), (a[2], 5.0), (a[3], 5.0)])
    apart = lead([(b[0], 7.0), (a[2], 5.0), (a[5], 5.0)])
    single = lead([(b[0], 7.0), (a[2], 5.0)])
    assert adjacent == pytest.approx(single)
    assert apart > adjacent


def test_hybrid_ranks_the_same_with_threads_and_without(service):
    hybrid = _with_graph(service.engine.hybrid)
    sequential = _with_graph(service.engine.hybrid, parallel=False)
    for query in ("Lena Fischer budget", "What did the Project Manager say about the remote?", "浦东新区的机器人维修"):
        threaded = [(p.chunk_id, round(p.score, 9)) for p in hybrid.search(query, 8).passages]
        alone = [(p.chunk_id, round(p.score, 9)) for p in sequential.search(query, 8).passages]
        assert threaded == alone, query
    assert "graph" in hybrid.search("Lena Fischer budget", 3).passages[0].scores


# ---- reranking -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory) -> Path:
    """A real cross-encoder on disk: the packaged MiniLM encoder under a seeded one-logit head
    (no trained reranker weights ship offline; the tests check what Lore does with the scores)."""
    torch.manual_seed(0)
    model = CrossEncoder(resolve_model_path(Settings().embedding_model), num_labels=1, local_files_only=True)
    path = tmp_path_factory.mktemp("cross-encoder")
    model.save_pretrained(str(path))
    return path


def test_reranker_returns_the_best_of_the_fused_shortlist_not_just_of_the_top_k(service, cross_encoder_dir):
    hybrid = service.engine.hybrid
    settings = replace(hybrid.settings, rerank_candidates=12, mmr_lambda=1.0)
    plain = HybridRetriever(hybrid.dense, hybrid.sparse, hybrid.graph, settings)
    reranked = HybridRetriever(hybrid.dense, hybrid.sparse, hybrid.graph, settings,
                               reranker=CrossEncoderReranker.from_pretrained(str(cross_encoder_dir)))
    query = "What did the Project Manager say about the remote?"
    shortlist = plain.search(query, 12).passages
    assert len(shortlist) == 12
    scores = CrossEncoder(str(cross_encoder_dir), local_files_only=True).predict([(query, p.text) for p in shortlist])
    best = [int(i) for i in np.argsort(-scores, kind="stable")[:4]]
    # Only meaningful when the cross-encoder's best four reach past fusion's top four.
    assert max(best) >= 4
    found = reranked.search(query, 4).passages
    assert [p.chunk_id for p in found] == [shortlist[i].chunk_id for i in best]
    for p, i in zip(found, best):
        assert p.score == pytest.approx(float(scores[i]), abs=1e-5)
        assert p.scores["rerank"] == p.score
        assert p.scores["fused"] == pytest.approx(shortlist[i].scores["fused"])  # why fusion proposed it stays visible


def test_cli_search_uses_the_configured_reranker(service, graph_env, cross_encoder_dir, monkeypatch):
    monkeypatch.setenv("LORE_DATA_DIR", str(service.settings.data_dir))
    for key, value in graph_env.items():
        monkeypatch.setenv(f"LORE_{key.upper()}", value)
    monkeypatch.setenv("LORE_RERANKER_MODEL", str(cross_encoder_dir))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["search", "Beacon launch budget", "--top-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    passages = json.loads(result.stdout[result.stdout.index("{"):])["passages"]
    assert len(passages) == 3
    assert all(p["scores"]["rerank"] == p["score"] and "fused" in p["scores"] for p in passages)
    monkeypatch.setenv("LORE_RERANKER_MODEL", str(cross_encoder_dir / "missing"))
    result = runner.invoke(cli_app, ["search", "Beacon launch budget"])
    assert result.exit_code != 0
    assert "cannot load reranker model" in result.output and "missing" in result.output


@pytest.mark.parametrize("load, what", [(CrossEncoderReranker.from_pretrained, "reranker model"),
                                        (SentenceTransformerEmbedder.from_pretrained, "embedding model")])
def test_an_uncached_hub_model_is_refused_without_downloading(load, what):
    with pytest.raises(ModelLoadError) as refused:
        load("lore-tests/no-such-model")
    message = str(refused.value)
    assert f"cannot load {what} 'lore-tests/no-such-model'" in message and "LORE_ALLOW_DOWNLOADS" in message


def test_document_bm25_follows_ingest_and_delete(service, corpus):
    extra = corpus / "docs" / "greenhouse.md"
    extra.write_text("# Greenhouse\n\nThe greenhouse grows basil and chillies for the canteen.\n", encoding="utf-8")
    service.ingest([extra])
    catalog = service.engine.catalog
    scores = catalog.document_scores(tokenize("basil chillies"))
    assert catalog.document_ids[int(scores.argmax())] == _doc_id(extra) and scores.max() > 0
    assert service.delete_document(_doc_id(extra))
    assert catalog.document_scores(tokenize("basil chillies")).max() == 0


def test_mention_index_matches_the_graph_and_follows_ingest_and_delete(service, corpus):
    engine = service.engine
    mentions = engine.graph.mentions
    chunk_ids = [row.chunk_id for row in engine.catalog.rows]
    assert sorted(mentions.entities_in(chunk_ids)) == sorted(set(service.graph.entities_in_chunks(chunk_ids)))
    extra = corpus / "docs" / "venue-visit.md"
    extra.write_text("# Venue visit\n\nLena Fischer visited the Lisbon venue with Marco Bianchi in May.\n",
                     encoding="utf-8")
    service.ingest([extra])
    new_chunks = [row.chunk_id for row in engine.catalog.rows if row.document_id == _doc_id(extra)]
    pairs = mentions.entities_in(new_chunks)
    assert pairs and sorted(pairs) == sorted(set(service.graph.entities_in_chunks(new_chunks)))
    lena = engine.graph.link("Lena Fischer")[0]
    assert any(c in new_chunks for ids in mentions.chunks_mentioning(lena, 50).values() for c in ids)
    assert service.delete_document(_doc_id(extra))
    assert mentions.entities_in(new_chunks) == []
    assert not any(c in new_chunks for ids in mentions.chunks_mentioning(lena, 50).values() for c in ids)


def test_unknown_mode_is_refused(service):
    with pytest.raises(ValueError, match="unknown search mode 'fuzzy'"):
        service.search(Query(text="anything", k=3, mode="fuzzy"))


# ---- filters ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["dense", "sparse", "graph", "hybrid"])
def test_document_filter_keeps_recall_for_a_low_ranked_document(service, corpus, mode):
    """Filtered to the travel policy, a query about the Kestrel still returns the policy's chunk:
    dense over-fetches past the higher-ranked chunks of other documents."""
    target = _doc_id(corpus / "docs/travel-policy.md")
    query = "Priya Raman Kestrel gripper hotel" if mode == "graph" else "Kestrel gripper hotel"
    found = service.search(Query(text=query, k=5, mode=mode, filters=SearchFilters(document_ids=[target])))
    if mode == "graph":
        # The linked person is not in the policy, so the graph has nothing inside the filter.
        assert all(p.document_id == target for p in found.passages)
    else:
        assert [p.document_id for p in found.passages] == [target]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(kinds=["meeting"]), {"Kestrel gripper review", "Beacon launch planning", "val_TS3010a", "val_TS3010b"}),
        (SearchFilters(kinds=["document"]), {"Travel and expenses policy", "Partners", "上海办公室"}),
        (SearchFilters(date_from=date(2024, 5, 1)), {"Beacon launch planning"}),
        (SearchFilters(date_to=date(2024, 3, 31)), {"Kestrel gripper review"}),
        (SearchFilters(people=["tom okafor"]), {"Kestrel gripper review"}),
        (SearchFilters(collections=["sales"]), set()),
    ],
)
def test_metadata_filters(service, filters, expected):
    for mode in ("dense", "sparse", "hybrid"):
        found = service.search(Query(text="budget torque hotel remote control design 机器人", k=50, mode=mode, filters=filters))
        assert set(_titles(found.passages)) <= expected, (mode, filters)
        if expected and mode != "sparse":
            assert set(_titles(found.passages)) == expected, (mode, filters)


def test_source_prefix_and_language_filters(service, corpus):
    prefix = str((corpus / "docs").resolve())
    found = service.search(Query(text="policy", k=20, mode="hybrid", filters=SearchFilters(source_prefix=prefix)))
    assert found.passages and all(p.source.startswith(prefix) for p in found.passages)
    assert service.search(Query(text="policy", k=5, mode="dense", filters=SearchFilters(languages=["xx"]))).passages == []


# ---- sync with ingest and delete --------------------------------------------------------
def test_bm25_follows_reingest_and_delete(service, corpus, tmp_path):
    extra = corpus / "docs" / "canteen.md"
    extra.write_text("# Canteen\n\nThe canteen serves quinoa salad on Fridays.\n", encoding="utf-8")
    service.ingest([extra])
    assert _titles(service.search(Query(text="quinoa", k=3, mode="sparse")).passages) == ["Canteen"]
    extra.write_text("# Canteen\n\nThe canteen serves lentil soup on Fridays.\n", encoding="utf-8")
    service.ingest([extra])
    assert service.search(Query(text="quinoa", k=3, mode="sparse")).passages == []
    assert _titles(service.search(Query(text="lentil", k=3, mode="sparse")).passages) == ["Canteen"]
    assert service.delete_document(_doc_id(extra))
    assert service.search(Query(text="lentil", k=3, mode="sparse")).passages == []
    assert "Canteen" not in _titles(service.search(Query(text="lentil soup canteen", k=5, mode="hybrid")).passages)


# ---- CLI and LangChain ------------------------------------------------------------------
def test_cli_search_mode_and_filters(service, graph_env, monkeypatch):
    monkeypatch.setenv("LORE_DATA_DIR", str(service.settings.data_dir))
    for key, value in graph_env.items():
        monkeypatch.setenv(f"LORE_{key.upper()}", value)
    runner = CliRunner()
    result = runner.invoke(cli_app, ["search", "Kestrel torque", "--mode", "sparse", "--kind", "meeting", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{"):])
    assert payload["passages"][0]["scores"]["sparse"] > 0
    result = runner.invoke(cli_app, ["search", "x", "--mode", "fuzzy"])
    assert result.exit_code == 2 and "fuzzy" in result.output
    result = runner.invoke(cli_app, ["search", "x", "--from", "not-a-date"])
    assert result.exit_code == 2 and "date_from" in result.output


def test_langchain_retriever(service):
    retriever = LoreRetriever(service=service, k=2, mode="hybrid")
    documents = retriever.invoke("Beacon launch budget")
    assert len(documents) == 2
    assert documents[0].metadata["title"] == "Beacon launch planning"
    assert documents[0].metadata["scores"]["fused"] == documents[0].metadata["score"]
    assert "forty thousand euros" in documents[0].page_content


# ---- evaluation on a two-meeting slice ------------------------------------------------------
def test_qmsum_evaluation_on_two_meetings(service, tmp_path):
    queries = ev.qmsum_queries(QMSUM_SLICE)
    assert len(queries) == 9 and all(q.spans for q in queries)
    results = {"slice (meeting)": ev.evaluate_qmsum(service.engine, queries, scope="meeting")}
    scores = results["slice (meeting)"]
    assert set(scores) == {"bm25", "dense", "rrf", "graph", "hybrid-no-graph", "hybrid"}
    for name, s in scores.items():
        recalls = [s.recall[k] for k in ev.KS]
        assert all(0.0 <= r <= 1.0 for r in recalls)
        assert recalls == sorted(recalls), name  # recall@k never drops as k grows
    # Each meeting has about 40 chunks: the top 20 of a text retriever covers most gold spans.
    assert scores["bm25"].recall[20] > 0.5 and scores["hybrid"].recall[20] > 0.5
    assert scores["hybrid"].mrr10 > 0
    ev.plot_recall(results, tmp_path / "recall.png")
    assert (tmp_path / "recall.png").stat().st_size > 10_000
    table = ev.markdown_table(results)
    assert "| hybrid | 9 |" in table
    assert json.loads(json.dumps(ev.to_json(results)))["slice (meeting)"]["dense"]["queries"] == 9


def test_cmrc_corpus_writer(tmp_path):
    trial = SHARED / "cmrc2018" / "trial.json"
    if not trial.is_file():
        pytest.skip("CMRC2018 trial not found")
    queries = ev.write_cmrc_corpus(trial, tmp_path / "paragraphs")
    assert len(list((tmp_path / "paragraphs").glob("*.txt"))) == 256
    assert len(queries) == 1002


def test_a_chinese_question_gets_its_dense_ranking_from_the_chinese_index(service):
    question = "浦东新区的机器人维修"
    (chinese,) = service.parts.language_indexes
    assert service.engine.dense.index_for(question) is chinese
    assert service.engine.dense.index_for("robot repair in Shanghai") is None
    found = service.search(Query(text=question, k=2, mode="hybrid"))
    assert found.passages[0].title == "上海办公室" and "dense" in found.passages[0].scores
    # The dense score is e5's cosine over the Chinese index, not the English model's.
    vector = chinese.embedder.embed_queries([question])[0]
    best_id, best_score = chinese.store.search(vector, 1)[0]
    top = service.search(Query(text=question, k=1, mode="dense")).passages[0]
    assert top.title == "上海办公室" and top.score == pytest.approx(best_score, abs=1e-5)
    assert "dense" in service.search(Query(text="robot repair in Shanghai", k=2, mode="hybrid")).passages[0].scores


def test_unseen_terms_are_the_question_words_no_chunk_holds_in_any_form(service):
    engine = service.engine
    # "sabbatical" and "mascot" are nowhere in the corpus; "office" is not either, but is too common a
    # word to say anything; "reimbursement" shares its stem's first letters with "reimbursed",
    # "gripper's" is "gripper"; short words and numbers are never reported.
    assert engine.unseen_terms("How many weeks of sabbatical, and what is the office mascot?") == ["sabbatical", "mascot"]
    assert engine.unseen_terms("What is the hotel reimbursement limit for the Kestrel gripper's pilot in 2024?") == []
    assert engine.unseen_terms("上海办公室有多少名工程师？") == []
    # "outright" is unseen too, but it says how a thing is bought, not what: no abstention.
    assert engine.unseen_terms("What does a Kestrel gripper cost if we buy it outright?") == []
    found = service.search_for_answer("How many weeks of sabbatical do employees get?")
    assert found.unseen_terms == ["sabbatical"]
    answer = service.ask("How many weeks of sabbatical do employees get?")
    assert answer.abstained and answer.abstention_rule == "not-in-knowledge-base" and answer.citations == ()
