"""`lore eval` end to end on small slices: two QMSum meetings and a few CMRC2018 paragraphs, ingested through
the real pipeline (real graph server, FAISS, embedding model), retrieval per mode and baseline, two answers
from the default local model; and the CLI on a tiny corpus of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app as cli_app
from evaluation import EvalOptions, evaluate, load_dataset
from evaluation import report as eval_report
from evaluation.datasets import load_qmsum
from core.settings import Settings
from evaluation.retrieval import shared_data_dir

SHARED = shared_data_dir(Path(__file__))
QMSUM_SLICE = [SHARED / "qmsum" / "val_TS3010a.json", SHARED / "qmsum" / "val_TS3010b.json"]
CMRC = SHARED / "cmrc2018" / "trial.json"
MODES = ("dense", "sparse", "graph", "hybrid")
BASELINES = ("rrf (plain)", "bm25 (rank-bm25)", "dense (plain)")


@pytest.fixture(scope="module")
def qmsum_report(tmp_path_factory, graph_env):
    if not all(p.is_file() for p in QMSUM_SLICE):
        pytest.skip(f"QMSum data not found under {SHARED}")
    from graph import GraphStore

    with GraphStore(graph_env["graph_uri"], (graph_env["graph_user"], graph_env["graph_password"]),
                    graph_env["graph_database"]) as store:
        store.clear()
    work = tmp_path_factory.mktemp("eval")
    settings = Settings(data_dir=work / "kb", max_new_tokens=24, **graph_env)
    data = load_qmsum(SHARED / "qmsum", files=QMSUM_SLICE, limit=6)
    options = EvalOptions(ks=(1, 5, 10, 20), generators=("base", "tuned"), answer_limit=2)
    report = evaluate(settings, data, options, work_dir=work)
    out = eval_report.write(report, work / "out")
    return report, out


def test_qmsum_slice_report_structure(qmsum_report):
    report, out = qmsum_report
    payload = json.loads(out["json"].read_text())
    assert {"dataset", "format", "questions", "documents", "chunks", "retrieval", "generation", "settings",
            "options", "embedding_ms_per_query"} <= set(payload)
    assert payload["format"] == "qmsum" and payload["questions"] == 6 and payload["documents"] == 2
    assert [r["system"] for r in payload["retrieval"]] == [*MODES, *BASELINES]
    assert set(payload["retrieval"][0]) >= {"recall", "mrr10", "latency_p50_ms", "latency_p95_ms", "queries"}
    markdown = out["markdown"].read_text()
    assert "| system | kind | queries | recall@1 | recall@5 | recall@10 | recall@20 | MRR@10 | p50 ms | p95 ms |" in markdown
    assert "| hybrid | mode | 6 |" in markdown and "| bm25 (rank-bm25) | baseline | 6 |" in markdown
    for png in ("recall", "quality_latency"):
        assert out[png].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out[png].stat().st_size > 10_000


def test_qmsum_slice_metrics_are_in_range(qmsum_report):
    report, _ = qmsum_report
    for r in report.retrieval:
        recalls = [r.recall[k] for k in range(1, 21)]
        assert all(0.0 <= v <= 1.0 for v in recalls) and 0.0 <= r.mrr10 <= 1.0, r.system
        assert r.recall[10] >= r.recall[5] and recalls == sorted(recalls), r.system
        assert r.latency_p50_ms > 0 and r.latency_p95_ms >= r.latency_p50_ms
    by = {r.system: r for r in report.retrieval}
    # About 40 chunks a meeting: the text retrievers find most gold spans in their top 20.
    assert by["sparse"].recall[20] > 0.5 and by["hybrid"].recall[20] > 0.5
    # Lore's BM25 and the rank-bm25 baseline score the same chunks with the same tokens.
    assert abs(by["sparse"].recall[10] - by["bm25 (rank-bm25)"].recall[10]) <= 0.34


def test_qmsum_slice_answers(qmsum_report):
    report, _ = qmsum_report
    base, tuned = report.generation
    assert base.generator == "base" and base.skipped is None and base.questions == 2
    for value in (base.exact_match, base.f1, base.abstention_accuracy):
        assert value is not None and 0.0 <= value <= 1.0
    # 24 new tokens at most; the count comes from re-tokenising the text, which may differ by a token or two.
    assert base.latency_p50_s > 0 and 0 < base.tokens_per_answer <= 30
    assert [p["id"] for p in base.predictions] == ["q1", "q2"]
    # No adapter was trained in this data dir: the fine-tuned run is skipped with the reason.
    assert tuned.skipped and "no fine-tuned adapter is active" in tuned.skipped


def test_cmrc_slice_retrieval(tmp_path, graph_env):
    if not CMRC.is_file():
        pytest.skip("CMRC2018 trial not found")
    data = load_dataset(CMRC, work_dir=tmp_path, limit=4)
    assert data.format == "squad" and len(data.items) == 4 and all(i.answers for i in data.items)
    settings = Settings(data_dir=tmp_path / "kb", **graph_env)
    report = evaluate(settings, data, EvalOptions(modes=("sparse", "hybrid"), generate=False), work_dir=tmp_path)
    by = {r.system: r for r in report.retrieval}
    assert set(by) == {"sparse", "hybrid", *BASELINES} and report.generation == []
    assert report.documents == len(data.documents) <= 4
    # Few paragraphs, Chinese questions: BM25 finds each question's paragraph first.
    assert by["sparse"].recall[1] >= 0.75 and by["bm25 (rank-bm25)"].recall[1] >= 0.75


def test_cli_eval_on_a_jsonl_set_with_its_documents(tmp_path, graph_env, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "travel.md").write_text("# Travel policy\n\nHotels are reimbursed up to 150 euros a night.\n")
    (corpus / "leave.md").write_text("# Leave policy\n\nEmployees get 25 days of paid leave a year.\n")
    # A third document: with two, every term is in half the corpus and Okapi idf (rank-bm25) is zero.
    (corpus / "security.md").write_text("# Security policy\n\nLaptops lock after five minutes without use.\n")
    questions = tmp_path / "qs.jsonl"
    questions.write_text("\n".join([
        json.dumps({"question": "How many days of paid leave do employees get?", "answer": "25 days", "source": "leave.md"}),
        json.dumps({"question": "What is the hotel limit per night?", "answer": "150 euros", "source": "travel.md"}),
        "{broken",
    ]))
    for key, value in graph_env.items():
        monkeypatch.setenv(f"LORE_{key.upper()}", value)
    monkeypatch.setenv("LORE_DATA_DIR", str(tmp_path / "kb"))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, [
        "eval", "--dataset", str(questions), "--documents", str(corpus), "--no-generate", "--modes", "dense,sparse",
        "--k", "1,5", "--out", str(out), "--work-dir", str(tmp_path / "work"),
    ])
    assert result.exit_code == 0, result.output
    assert "qs.jsonl:3:" in result.output.replace("\n", "")  # the broken line is named, the others still run
    payload = json.loads((out / "results.json").read_text())
    assert [r["system"] for r in payload["retrieval"]] == ["dense", "sparse", *BASELINES]
    assert all(r["recall"]["1"] == 1.0 for r in payload["retrieval"])
    assert (out / "recall.png").is_file() and "| sparse | mode | 2 | 1.000 | 1.000 |" in (out / "report.md").read_text()


def test_cli_eval_without_a_dataset_shows_help_and_retrieval_subcommand_still_works():
    runner = CliRunner()
    result = runner.invoke(cli_app, ["eval"])
    assert result.exit_code == 2 and "--dataset" in result.output
    result = runner.invoke(cli_app, ["eval", "retrieval"])
    assert result.exit_code != 0 and "give --qmsum and/or --cmrc" in result.output


def test_cli_eval_retrieval_scores_a_meeting_without_its_minutes_and_stops_its_graph_server(tmp_path, monkeypatch):
    """Minutes written at ingest would compete with their meeting for the gold spans; the local
    graph server started for the evaluation's own data dir must not outlive the command."""
    if not QMSUM_SLICE[0].is_file():
        pytest.skip(f"QMSum data not found under {SHARED}")
    from api.bootstrap import local_graph_server

    folder = tmp_path / "qmsum"
    folder.mkdir()
    (folder / QMSUM_SLICE[0].name).symlink_to(QMSUM_SLICE[0])
    monkeypatch.delenv("LORE_GRAPH_URI", raising=False)
    result = CliRunner().invoke(cli_app, ["eval", "retrieval", "--qmsum", str(folder), "--scope", "meeting",
                                          "--work-dir", str(tmp_path / "work"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "out" / "results.json").read_text())["QMSum val (meeting)"]
    assert scores["hybrid"]["queries"] == len(load_qmsum(folder).items)
    assert scores["bm25"]["recall"]["20"] > 0.5
    import sqlite3

    data_dir = tmp_path / "work" / "qmsum-val"
    with sqlite3.connect(data_dir / "lore.sqlite3") as db:
        assert db.execute("SELECT kind, count(*) FROM documents GROUP BY kind").fetchall() == [("meeting", 1)]
    assert (data_dir / "graph").is_dir()  # a local server did run there
    assert local_graph_server(Settings(data_dir=data_dir)).status() is None
