"""The real FAISS index and the real SQLite store, in tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import IndexMismatchError
from core.types import Chunk, Document
from storage.metadata import SqliteMetadataStore
from storage.vectors import MANIFEST_FILE, FaissVectorStore, stored_manifest


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_upsert_replaces_instead_of_duplicating(tmp_path):
    store = FaissVectorStore(tmp_path, embedding_model="m", dimension=8)
    first = _unit(3, 8, 0)
    store.upsert(np.array([1, 2, 3]), first)
    replacement = _unit(1, 8, 1)
    store.upsert(np.array([2]), replacement)
    assert len(store) == 3
    top_id, score = store.search(replacement[0], 1)[0]
    assert top_id == 2 and score == pytest.approx(1.0, abs=1e-5)
    store.delete(np.array([2]))
    assert sorted(store.ids().tolist()) == [1, 3]
    assert all(i != 2 for i, _ in store.search(replacement[0], 3))


def test_save_load_round_trip_and_manifest_guard(tmp_path):
    store = FaissVectorStore(tmp_path, embedding_model="model-a", dimension=8)
    vectors = _unit(5, 8, 2)
    store.upsert(np.arange(10, 15), vectors)
    store.save()
    assert not list(tmp_path.glob(".*.tmp")), "temporary files must be renamed into place"
    loaded = FaissVectorStore.open(tmp_path, embedding_model="model-a", dimension=8)
    assert len(loaded) == 5
    assert loaded.search(vectors[3], 1)[0][0] == 13
    with pytest.raises(IndexMismatchError, match="model-a"):
        FaissVectorStore.open(tmp_path, embedding_model="model-b", dimension=8)


def test_manifest_records_the_encoder_and_refuses_another(tmp_path):
    store = FaissVectorStore(tmp_path, embedding_model="model-a", dimension=8, encoder="onnx-int8")
    store.upsert(np.arange(3), _unit(3, 8, 4))
    store.save()
    assert stored_manifest(tmp_path).encoder == "onnx-int8"
    assert len(FaissVectorStore.open(tmp_path, embedding_model="model-a", dimension=8, encoder="onnx-int8")) == 3
    with pytest.raises(IndexMismatchError, match="onnx-int8 encoder"):
        FaissVectorStore.open(tmp_path, embedding_model="model-a", dimension=8, encoder="torch-fp32")


def test_manifest_without_an_encoder_was_built_by_torch(tmp_path):
    store = FaissVectorStore(tmp_path, embedding_model="model-a", dimension=8)
    store.upsert(np.arange(2), _unit(2, 8, 5))
    store.save()
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    del manifest["encoder"]  # as an index saved before encoders were recorded
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert stored_manifest(tmp_path).encoder == "torch-fp32"
    with pytest.raises(IndexMismatchError):
        FaissVectorStore.open(tmp_path, embedding_model="model-a", dimension=8, encoder="onnx-int8")


def test_empty_index_search(tmp_path):
    assert FaissVectorStore(tmp_path, embedding_model="m", dimension=4).search(np.ones(4), 5) == []


def _document(source: str, text: str) -> tuple[Document, list[Chunk]]:
    doc = Document(id=Document.make_id(source), source=source, title="T", text=text, content_hash=str(hash(text)))
    chunks = [Chunk(id=Chunk.make_id(doc.id, i, t), document_id=doc.id, index=i, text=t, start=0, end=len(t))
              for i, t in enumerate(text.split("|"))]
    return doc, chunks


def test_metadata_replace_and_delete(tmp_path):
    store = SqliteMetadataStore(tmp_path / "m.sqlite3").open()
    doc, chunks = _document("/a.md", "one|two|three")
    removed, added = store.replace_document(doc, chunks)
    assert removed == [] and len(added) == 3
    assert store.content_hash_for("/a.md") == doc.content_hash
    assert store.unsynced_document_ids() == [doc.id]
    store.mark_graph_synced(doc.id)
    assert store.unsynced_document_ids() == []

    doc2, chunks2 = _document("/a.md", "uno|dos")
    removed2, added2 = store.replace_document(doc2, chunks2)
    assert sorted(removed2) == sorted(added)
    # Row ids are never reused, so a stale vector can never be taken for a new chunk.
    assert min(added2) > max(added)
    assert store.unsynced_document_ids() == [doc.id]
    by_vector = store.chunks_by_vector_ids(added2)
    assert [by_vector[v].chunk.text for v in added2] == ["uno", "dos"]
    assert by_vector[added2[0]].source == "/a.md"
    by_id = store.chunks_by_ids([chunks2[1].id, "missing"])
    assert list(by_id) == [chunks2[1].id] and by_id[chunks2[1].id].chunk.text == "dos"

    assert sorted(store.delete_document(doc.id)) == sorted(added2)
    assert store.documents() == [] and store.vector_ids() == set()
    store.close()
