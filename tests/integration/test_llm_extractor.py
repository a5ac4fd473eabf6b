"""LLMExtractor against a real OpenAI-compatible HTTP server (FastAPI on loopback) returning canned triples."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request

from api.bootstrap import Parts, build
from core.errors import ConfigurationError
from core.settings import Settings
from core.types import Chunk, Document, content_id
from ingest.extract import CombinedExtractor, build_extractor
from ingest.enrich import StoredEnrichments
from ingest.extract.llm import LLMExtractor, TextGenerator, parse_triples
from ingest.extract.resolution import ResolvingExtractor

TEXT = "Dana Reyes leads the Apollo project. Apollo depends on Gatehouse."
CANNED = {
    "entities": [{"name": "Dana Reyes", "type": "person"}, {"name": "Apollo", "type": "PROJECT"},
                 {"name": "Gatehouse", "type": "Product"}],
    "relations": [
        {"source": "Dana Reyes", "type": "leads", "target": "Apollo"},
        {"source": "Apollo", "type": "DEPENDS_ON", "target": "Gatehouse"},
        {"source": "Dana Reyes", "type": "LIKES", "target": "Apollo"},  # not a relation type: dropped
        {"source": "Zed Unknown", "type": "OWNS", "target": "Apollo"},  # not in the text: dropped
        {"source": "Gatehouse", "type": "REPORTS_TO", "target": "Dana Reyes"},  # a product reports to no one: dropped
        {"source": "Dana Reyes", "type": "WORKS_ON", "target": "Gatehouse"},  # two sentences apart: dropped
    ],
}


class Replies:
    def __init__(self) -> None:
        self.content = ""
        self.requests: list[dict] = []


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Replies]]:
    replies = Replies()
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request):
        body = await request.json()
        replies.requests.append(body)
        return {"id": "x", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": replies.content},
                             "finish_reason": "stop"}]}

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1", replies
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


def one_chunk(text: str = TEXT) -> tuple[Document, list[Chunk]]:
    doc = Document(id=Document.make_id("a.md"), source="a.md", title="A", text=text, content_hash=content_id(text))
    return doc, [Chunk(id=Chunk.make_id(doc.id, 0, text), document_id=doc.id, index=0, text=text, start=0, end=len(text))]


def llm_settings(url: str, extractor: str = "llm", **fields) -> Settings:
    return Settings(llm_backend="openai", llm_base_url=url, llm_model="extractor", extractor=extractor, **fields)


@pytest.fixture
def parts_for(graph_env, tmp_path) -> Iterator:
    """``parts_for(url, extractor)``: the composition root's parts over the session graph server."""
    built: list[Parts] = []

    def make(url: str, extractor: str = "llm") -> Parts:
        built.append(build(llm_settings(url, extractor, data_dir=tmp_path / f"data{len(built)}", **graph_env)))
        return built[-1]

    yield make
    for parts in built:
        parts.close()


def inner(extractor):
    """The extractor entity resolution wraps (the composition root always adds resolution), less the
    stored enrichments it always composes in (what `lore graph enrich` wrote; nothing here)."""
    assert isinstance(extractor, ResolvingExtractor)
    composed = extractor.inner
    assert isinstance(composed, CombinedExtractor) and isinstance(composed.extractors[-1], StoredEnrichments)
    parts = composed.extractors[:-1]
    return parts[0] if len(parts) == 1 else CombinedExtractor(*parts)


def test_llm_extractor_keeps_only_typed_triples_grounded_in_the_chunk(server, parts_for) -> None:
    url, replies = server
    replies.content = "Here you go:\n```json\n" + json.dumps(CANNED) + "\n```"
    extractor = parts_for(url).extractor
    assert isinstance(inner(extractor), LLMExtractor)
    doc, chunks = one_chunk()
    x = extractor.extract(doc, chunks)

    names = {e.name: e.type for e in x.entities.values()}
    assert names == {"Dana Reyes": "Person", "Apollo": "Project", "Gatehouse": "Product"}
    got = {(x.entities[r.source_id].name, r.type, x.entities[r.target_id].name) for r in x.relations}
    assert got == {("Dana Reyes", "LEADS", "Apollo"), ("Apollo", "DEPENDS_ON", "Gatehouse")}
    for r in x.relations:  # evidence is the chunk's own sentence, located by offsets
        assert chunks[0].text[r.start : r.end].strip() == r.evidence
    assert all(chunks[0].text[m.start : m.end].casefold() == m.text.casefold() for m in x.mentions)
    request = replies.requests[-1]
    assert request["model"] == "extractor" and request["messages"][-1]["content"] == TEXT


def test_unreadable_answers_yield_nothing_instead_of_failing(server, parts_for) -> None:
    url, replies = server
    replies.content = "I could not find any relations, sorry."
    doc, chunks = one_chunk()
    x = parts_for(url).extractor.extract(doc, chunks)
    assert x.entities == {} and x.relations == []


def test_spacy_plus_llm_unions_both(server, parts_for) -> None:
    url, replies = server
    replies.content = json.dumps({"entities": [{"name": "Apollo", "type": "Project"}, {"name": "Gatehouse", "type": "Product"}],
                                  "relations": [["Apollo", "DEPENDS_ON", "Gatehouse"]]})
    extractor = parts_for(url, "spacy+llm").extractor
    assert isinstance(inner(extractor), CombinedExtractor)
    doc, chunks = one_chunk()
    x = extractor.extract(doc, chunks)
    types = {r.type for r in x.relations}
    assert "DEPENDS_ON" in types and "MENTIONED_WITH" in types  # the LLM's triple and spaCy's co-occurrence


def test_llm_extraction_takes_its_model_from_the_composition_root(server, parts_for) -> None:
    url, _ = server
    # The configured generation backend is a TextGenerator; ingest alone has no model to call.
    parts = parts_for(url)
    extractor = inner(parts.extractor)
    assert isinstance(extractor, LLMExtractor) and isinstance(extractor.backend, TextGenerator)
    # One backend for the process: the extractor and the answerer share the provider, loaded once.
    assert extractor.backend is parts.llm
    assert not parts.llm.loaded
    parts.extractor.extract(*one_chunk())
    assert parts.llm.loaded and parts.llm.get() is parts.llm.get()
    with pytest.raises(ConfigurationError, match="text generator"):
        build_extractor(llm_settings(url))


@pytest.mark.parametrize(
    ("answer", "relations"),
    [
        ('{"relations": [{"source": "A", "type": "OWNS", "target": "B"},]}', 1),  # trailing comma
        ('[["A", "OWNS", "B"], ["bad"]]', 1),  # a bare list of triples
        ("not json at all", 0),
        ('{"relations": "oops"}', 0),
    ],
)
def test_parse_triples_is_defensive(answer: str, relations: int) -> None:
    assert len(parse_triples(answer)[1]) == relations
