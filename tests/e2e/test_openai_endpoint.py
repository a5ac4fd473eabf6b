"""Lore as an OpenAI model: the official `openai` SDK and LangChain's `ChatOpenAI` against a running server."""

from __future__ import annotations

import re

import openai
import pytest

from tests.e2e.conftest import LiveServer

QUESTION = "Who leads the Platform team?"


def sdk(live: LiveServer, key: str = "admin") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=live.keys[key], max_retries=0, timeout=300)


def assert_cited_consistently(content: str, citations: list[dict], allowed_sources: set[str]) -> None:
    """Every [n] in the text has its citation, the Sources block lists exactly the cited sources."""
    numbers = {c["number"] for c in citations}
    answer, _, footer = content.partition("\n\nSources:\n")
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer)} <= numbers
    listed = dict(re.findall(r"^\[(\d+)\] (.+)$", footer, flags=re.MULTILINE))
    assert {int(n) for n in listed} == numbers
    assert {c["source"] for c in citations} <= allowed_sources


def test_models_list_the_collections_a_key_sees(live_server):
    assert {m.id for m in sdk(live_server).models.list()} == {"lore", "lore/handbook", "lore/vault"}
    assert {m.id for m in sdk(live_server, "handbook").models.list()} == {"lore", "lore/handbook"}


def test_a_chat_completion_answers_with_citations(live_server):
    response = sdk(live_server).chat.completions.create(model="lore/handbook", messages=[{"role": "user", "content": QUESTION}])
    assert response.object == "chat.completion" and response.id.startswith("chatcmpl-")
    message = response.choices[0].message
    assert message.role == "assistant" and message.content.strip()
    extra = response.model_extra
    assert extra["lore"]["question"] == QUESTION
    handbook = {d.source for d in live_server.service.documents(["handbook"])}
    assert_cited_consistently(message.content, extra["citations"], handbook)
    if not extra["lore"]["abstained"]:
        assert response.usage.completion_tokens > 0 and response.usage.prompt_tokens > 0


def test_a_streamed_completion_uses_openai_chunks(live_server):
    stream = sdk(live_server).chat.completions.create(
        model="lore", messages=[{"role": "user", "content": QUESTION}], stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and content.strip()
    assert last.usage is not None and last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    sources = {d.source for d in live_server.service.documents(None)}
    citations = last.model_extra["citations"]
    assert_cited_consistently(content[content.index("\n\nSources:\n"):] if citations else "", citations, sources)


def test_a_follow_up_is_rewritten_to_stand_alone(live_server):
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "Rahul Menon leads the Platform team [1]."},
        {"role": "user", "content": "Who does he report to?"},
    ]
    response = sdk(live_server).chat.completions.create(model="lore", messages=messages)
    searched = response.model_extra["lore"]["question"]
    # The question retrieval used carries what "he" means: the model's rewrite, or the earlier question.
    assert searched != "Who does he report to?"
    assert re.search(r"Rahul|Menon|Platform", searched), searched


def test_a_key_reads_only_its_collections(live_server):
    client = sdk(live_server, "handbook")
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="lore/vault", messages=[{"role": "user", "content": "What is Project Gannet?"}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    response = client.chat.completions.create(model="lore", messages=[{"role": "user", "content": "What is the code of Project Gannet?"}])
    assert "GX-4410" not in response.choices[0].message.content
    assert all(c["source"].endswith("gannet.md") is False for c in response.model_extra["citations"])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="lore_not_a_key", max_retries=0).models.list()


def test_bad_requests_name_the_field(live_server):
    with pytest.raises(openai.UnprocessableEntityError, match="no user message"):
        sdk(live_server).chat.completions.create(model="lore", messages=[{"role": "system", "content": "hello"}])


def test_langchain_chat_openai_talks_to_lore(live_server):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.keys["admin"], model="lore", max_retries=0)
    reply = chat.invoke(QUESTION)
    assert reply.content.strip()
    streamed = "".join(piece.content for piece in chat.stream(QUESTION))
    assert streamed.strip()
