"""The Chinese index: Chinese documents embedded a second time by multilingual-e5-small, searched
for Chinese questions, kept consistent with SQLite through delete and a crash, never loaded for
English."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from api.service import LoreService
from core.settings import Settings
from retrieval.multilingual import E5Embedder
from retrieval.query import Query

CHINESE = {
    "badge.md": "# 门禁卡\n\n新员工入职第一天到二楼前台领取门禁卡。门禁卡丢失后需要在二十四小时内向行政部报告，补办费用为五十元。",
    "travel.md": "# 差旅报销\n\n出差回来后三十天内提交报销单，并附上发票原件。超过三十天提交的报销单需要部门经理另行审批。",
    "canteen.md": "# 食堂\n\n公司食堂位于三楼，午餐时间是中午十一点半到下午一点半。员工凭工牌就餐，每餐补贴十五元。",
}
ENGLISH = {
    "deploys.md": "# Deploys\n\nProduction deploys need a green build and a second reviewer. Friday deploys are frozen after noon.",
}


def _settings(tmp_path, graph_server, **extra) -> Settings:
    info = graph_server.start()
    return Settings(data_dir=tmp_path / "data", graph_uri=info.uri, graph_user=info.user,
                    graph_password=info.password, graph_database=info.database, minutes_at_ingest=False, **extra)


def _write(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def _language_index(service: LoreService):
    (index,) = service.parts.language_indexes
    return index


def test_chinese_documents_get_a_second_index_that_chinese_questions_search(tmp_path, graph_server):
    docs = _write(tmp_path / "docs", CHINESE | ENGLISH)
    with LoreService.from_settings(_settings(tmp_path, graph_server)) as service:
        service.graph.clear()
        report = service.ingest([docs])
        assert report.failed == []
        index = _language_index(service)
        metadata = service.parts.metadata
        chinese_ids = metadata.vector_ids(["zh"])
        assert chinese_ids and chinese_ids < metadata.vector_ids()
        # The second index holds the Chinese chunks, the main index every chunk.
        assert set(index.store.ids().tolist()) == chinese_ids
        assert set(service.parts.vectors.ids().tolist()) == metadata.vector_ids()
        # A question that shares almost no characters with its answer: "What if I lose my access card?"
        question = "如果我的工卡不见了怎么办？"
        dense = service.engine.dense
        assert dense.index_for(question) is index and dense.index_for("Who reviews deploys?") is None
        best = service.search(Query(text=question, mode="dense", k=1)).passages[0]
        assert best.source.endswith("badge.md")
        # Hybrid search fuses that dense ranking for Chinese questions.
        explained = service.search(Query(text="报销单最晚什么时候交？", mode="hybrid", k=3)).passages
        assert explained[0].source.endswith("travel.md")

        # Deleting a Chinese document removes its vectors from both indexes.
        travel = next(d for d in metadata.documents() if d.source.endswith("travel.md"))
        travel_ids = {s.vector_id for s in metadata.chunks_for_document(travel.id)}
        assert service.delete_document(travel.id)
        assert not travel_ids & set(index.store.ids().tolist())
        assert set(index.store.ids().tolist()) == metadata.vector_ids(["zh"])


def test_a_kill_before_the_chinese_index_was_saved_is_repaired_on_open(tmp_path, graph_server):
    docs = _write(tmp_path / "docs", CHINESE)
    settings = _settings(tmp_path, graph_server)
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        service.ingest([docs])
        before = _language_index(service).store.ids()
        vector = _language_index(service).store.search(
            E5Embedder().embed_queries(["食堂在几楼？"])[0], 1)
    # As if the process died after SQLite and the main index were written, before this index was.
    shutil.rmtree(settings.multilingual_index_dir)
    with LoreService.from_settings(settings) as service:
        assert service.search(Query(text="食堂在几楼？", mode="dense", k=1)).passages[0].source.endswith("canteen.md")
        store = _language_index(service).store
        assert np.array_equal(np.sort(store.ids()), np.sort(before))
        assert service.last_reconcile.vectors_added == len(before)
        again = store.search(E5Embedder().embed_queries(["食堂在几楼？"])[0], 1)
        assert again[0][0] == vector[0][0] and again[0][1] == pytest.approx(vector[0][1], abs=1e-6)


def test_english_ingest_and_search_never_load_the_multilingual_encoder(tmp_path, graph_server):
    docs = _write(tmp_path / "docs", ENGLISH)
    with LoreService.from_settings(_settings(tmp_path, graph_server)) as service:
        service.graph.clear()
        service.ingest([docs])
        service.search(Query(text="Who reviews production deploys?", mode="hybrid", k=1))
        index = _language_index(service)
        assert not index.embedder.loaded and len(index.store) == 0


def test_the_index_can_be_turned_off(tmp_path, graph_server):
    docs = _write(tmp_path / "docs", CHINESE)
    settings = _settings(tmp_path, graph_server, multilingual_index=False)
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        service.ingest([docs])
        assert service.parts.language_indexes == ()
        assert service.engine.dense.index_for("食堂在几楼？") is None
        # Without it the English model's ranking of Chinese text is noise: hybrid leaves it out.
        found = service.search(Query(text="食堂在几楼？", mode="hybrid", k=3)).passages
        assert found[0].source.endswith("canteen.md") and all("dense" not in p.scores for p in found)
    assert not settings.multilingual_index_dir.exists()
