"""The int8 ONNX encoder: exported from the packaged model, cached, close to fp32, chosen by ``auto``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from api.service import LoreService
from core.errors import IndexMismatchError, ModelLoadError
from core.settings import Settings
from retrieval.embedder import choose_encoder, load_embedder, local_model_dir
from retrieval.onnx_embedder import EncoderLayout, OnnxEmbedder
from retrieval.query import Query
from storage.vectors import stored_manifest

MODEL = Settings().embedding_model

PASSAGES = [
    "Maria Chen leads the Platform team and approves its quarterly roadmap.",
    "The cafeteria on the third floor serves lunch from noon until two.",
    "Deployments to production need a green build and a second reviewer.",
    "Travel expenses are reimbursed within thirty days of the receipt.",
    "The remote control prototype uses a rubber case and a kinetic battery.",
]
QUERIES = ["Who is in charge of the platform group?", "When can I eat lunch?", "How do I get paid back for a trip?"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-models")


@pytest.fixture(scope="module")
def encoders(cache):
    return (load_embedder(MODEL, "torch-fp32", cache_dir=cache), load_embedder(MODEL, "onnx-int8", cache_dir=cache))


def test_int8_vectors_stay_close_to_fp32_and_rank_alike(encoders):
    fp32, int8 = encoders
    assert isinstance(int8, OnnxEmbedder) and int8.variant == "onnx-int8" and int8.dimension == fp32.dimension
    texts = PASSAGES + QUERIES + ["", "word " * 400]  # an empty text and one past the 256-token limit
    a, b = fp32.embed(texts), int8.embed(texts)
    assert a.shape == b.shape and b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)
    cosine = (a * b).sum(axis=1)
    assert cosine.mean() > 0.98 and cosine.min() > 0.95, cosine
    q_fp32, q_int8 = fp32.embed(QUERIES), int8.embed(QUERIES)
    p_fp32, p_int8 = fp32.embed(PASSAGES), int8.embed(PASSAGES)
    assert ((q_fp32 @ p_fp32.T).argmax(1) == (q_int8 @ p_int8.T).argmax(1)).all()
    # Order does not change a text's vector.
    assert np.array_equal(int8.embed(texts[::-1])[::-1], b)
    assert int8.embed([]).shape == (0, int8.dimension)


def test_a_text_gets_the_same_int8_vector_alone_and_beside_others(encoders, cache):
    """Activations are quantized with one scale per input tensor: padded into a batch, a text's
    vector would depend on its companions; run alone it never does, so a chunk's vector at
    ingest, a query's in a live search and one warmed for an evaluation are the same."""
    from retrieval.retrievers.dense import DenseRetriever

    int8 = encoders[1]
    alone = int8.embed([QUERIES[0]])[0]
    beside_others = int8.embed([QUERIES[0], "word " * 300, "x"] + PASSAGES * 30)[0]
    assert np.array_equal(alone, beside_others)
    small_batches = load_embedder(MODEL, "onnx-int8", cache_dir=cache, batch_size=2, threads=1)
    assert np.array_equal(small_batches.embed(PASSAGES), int8.embed(PASSAGES))
    dense = DenseRetriever(int8, vectors=None, catalog=None, metadata=None)
    dense.warm([QUERIES[0], "word " * 300, "x"])
    assert np.array_equal(dense.query_vector(QUERIES[0]), alone)


def test_export_is_cached_by_weights_and_reused(encoders, cache):
    exports = list((cache / "onnx").iterdir())
    assert len(exports) == 1
    # Nothing but the model, its tokenizer and its provenance: no quantizer scratch files.
    assert {p.suffix for p in exports[0].iterdir()} <= {".onnx", ".json", ".txt"}
    assert [p.name for p in exports[0].glob("*.onnx")] == ["model.int8.onnx"]
    model_file = exports[0] / "model.int8.onnx"
    provenance = json.loads((exports[0] / "export.json").read_text())
    assert provenance["variant"] == "onnx-int8" and provenance["fused"] and provenance["pooling"] == "mean"
    assert provenance["fingerprint"] in exports[0].name
    # Quantized weights: a quarter of the fp32 file, or close.
    assert model_file.stat().st_size < 0.4 * EncoderLayout.read(local_model_dir(MODEL)).weights.stat().st_size
    before = model_file.stat().st_mtime_ns
    again = load_embedder(MODEL, "onnx-int8", cache_dir=cache)
    assert model_file.stat().st_mtime_ns == before and not list((cache / "onnx").glob(".*"))
    assert np.allclose(again.embed(QUERIES), encoders[1].embed(QUERIES))


def test_a_model_it_cannot_export_is_refused_by_name(tmp_path):
    (tmp_path / "modules.json").write_text(json.dumps([{"path": "", "type": "custom.Thing"}]))
    assert EncoderLayout.read(tmp_path) is None
    assert choose_encoder("auto", str(tmp_path), device="cpu", index_encoder=None) == "torch-fp32"
    with pytest.raises(ModelLoadError, match="not a plain text encoder"):
        load_embedder(str(tmp_path), "onnx-int8", cache_dir=tmp_path / "cache")


def test_auto_picks_int8_on_cpu_torch_on_gpu_and_the_index_encoder_first():
    assert choose_encoder("auto", MODEL, device="cpu", index_encoder=None) == "onnx-int8"
    assert choose_encoder("auto", MODEL, device="cuda", index_encoder=None) == "torch-fp32"
    assert choose_encoder("auto", MODEL, device="cpu", index_encoder="torch-fp32") == "torch-fp32"
    assert choose_encoder("torch-fp32", MODEL, device="cpu", index_encoder="onnx-int8") == "torch-fp32"


def test_an_index_remembers_its_encoder_across_settings(tmp_path, graph_env, cache):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "platform.md").write_text("# Platform\n\n" + PASSAGES[0] + "\n\n" + PASSAGES[2] + "\n")
    base = dict(graph_env, data_dir=tmp_path / "lore", shared_model_dir=cache, embedding_device="cpu")
    with LoreService.from_settings(Settings(**base)) as service:
        assert service.ingest([docs]).ok
        assert service.parts.encoder == "onnx-int8"
        hits = service.search(Query(text="Who leads the Platform team?", mode="dense")).passages
        assert hits and "Maria Chen" in hits[0].text
    assert stored_manifest(Settings(**base).index_dir).encoder == "onnx-int8"
    with pytest.raises(IndexMismatchError, match="LORE_EMBEDDING_BACKEND=onnx-int8"):
        with LoreService.from_settings(Settings(**base, embedding_backend="torch-fp32")) as service:
            service.search("Who leads the Platform team?")
