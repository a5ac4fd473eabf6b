"""FAISS index types: exact below a size, IVF-Flat past it, migrated both ways without losing an id."""

from __future__ import annotations

import numpy as np
import pytest

from storage.vectors import FLAT, IVF, FaissVectorStore, gpu_count, ivf_list_count


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_grows_into_ivf_and_keeps_updates_deletes_and_search(tmp_path):
    store = FaissVectorStore(tmp_path, embedding_model="m", dimension=16, exact_max=300, nprobe=64)
    vectors = _unit(1000, 16, 1)
    store.upsert(np.arange(200), vectors[:200])
    assert store.index_type == FLAT
    store.upsert(np.arange(200, 1000), vectors[200:])
    assert store.index_type == IVF and len(store) == 1000
    assert sorted(store.ids().tolist()) == list(range(1000))
    # nprobe covers every list here, so the approximate index must find each exact match.
    for i in (0, 250, 999):
        assert store.search(vectors[i], 1)[0][0] == i
    # Replace and delete by id, as an updated file does.
    store.upsert(np.array([5]), vectors[[700]])
    store.delete(np.arange(900, 1000))
    assert len(store) == 900 and 950 not in set(store.ids().tolist())
    assert {i for i, _ in store.search(vectors[700], 2)} == {5, 700}
    store.save()
    loaded = FaissVectorStore.open(tmp_path, embedding_model="m", dimension=16, exact_max=300, nprobe=64)
    assert loaded.index_type == IVF and sorted(loaded.ids().tolist()) == sorted(store.ids().tolist())
    assert loaded.search(vectors[250], 1)[0][0] == 250


def test_shrinks_back_to_exact_and_setting_change_applies_on_open(tmp_path):
    store = FaissVectorStore(tmp_path, embedding_model="m", dimension=8, exact_max=100)
    vectors = _unit(400, 8, 2)
    store.upsert(np.arange(400), vectors)
    assert store.index_type == IVF
    store.delete(np.arange(360))
    assert store.index_type == FLAT and sorted(store.ids().tolist()) == list(range(360, 400))
    store.save()
    grown = FaissVectorStore.open(tmp_path, embedding_model="m", dimension=8, exact_max=39)
    assert grown.index_type == IVF and len(grown) == 40


def test_ivf_retrains_after_large_growth(tmp_path):
    store = FaissVectorStore(tmp_path, embedding_model="m", dimension=8, exact_max=50)
    vectors = _unit(2000, 8, 3)
    store.upsert(np.arange(100), vectors[:100])
    first_lists = store._index.nlist
    store.upsert(np.arange(100, 2000), vectors[100:])
    assert store.index_type == IVF and store._index.nlist > first_lists == ivf_list_count(100)


@pytest.mark.gpu
def test_search_runs_on_gpu_when_present(tmp_path):
    if gpu_count() == 0:
        pytest.skip("no GPU visible to FAISS")
    store = FaissVectorStore(tmp_path, embedding_model="m", dimension=8)
    vectors = _unit(50, 8, 4)
    store.upsert(np.arange(50), vectors)
    assert store.use_gpu and store.search(vectors[7], 1)[0][0] == 7
