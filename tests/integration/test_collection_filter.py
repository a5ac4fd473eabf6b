"""Collection filtering inside FAISS: the top-k is filled from allowed ids only."""

from __future__ import annotations

import numpy as np

from storage.vectors import FaissVectorStore


def test_search_with_allowed_ids_ranks_only_those(tmp_path):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = FaissVectorStore(tmp_path, embedding_model="test", dimension=16)
    store.upsert(np.arange(1, 201), vectors)
    query = vectors[0]  # id 1 is the nearest overall
    assert store.search(query, 5)[0][0] == 1
    allowed = list(range(101, 201))
    hits = store.search(query, 10, allowed_ids=allowed)
    assert len(hits) == 10 and all(101 <= vid <= 200 for vid, _ in hits)
    # The same as brute force over the allowed vectors alone.
    scores = vectors[100:] @ query
    expected = [int(i) + 101 for i in np.argsort(-scores)[:10]]
    assert [vid for vid, _ in hits] == expected
    assert store.search(query, 5, allowed_ids=[]) == []
