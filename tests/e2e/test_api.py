"""The HTTP API through the real app: real graph server, real FAISS index in tmp_path, real models.

Two collections: ``alpha`` (sample handbook and org chart) and ``beta`` (one
confidential project note). Keys are created in the same SQLite file the app uses.
"""

from __future__ import annotations

import json
import re
import string
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.bootstrap import local_graph_server
from api.cli import app as cli_app
from api.jobs import JobStore, new_job_id
from api.keys import KeyStore
from api.service import LoreService
from core.settings import Settings
from graph import LocalGraphServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ALPHA_FILES = [EXAMPLES / "docs" / name for name in ("org-chart.md", "handbook-expenses-policy.md")]
BETA_SECRET = "NJ-7731"
BETA_TEXT = f"""# Project Nightjar

Project Nightjar is a confidential acquisition led by Zora Whitfield.
Zora Whitfield and Helena Marsh approved the Nightjar budget code {BETA_SECRET}.
Zora Whitfield reports the Nightjar progress to Helena Marsh every Friday.
"""
BETA_WORDS = ("Nightjar", "Zora", "Whitfield", BETA_SECRET)
UPLOAD_TEXT = """# Project Quillfeather

Project Quillfeather replaces the warehouse barcode scanners with RFID gates.
Ingrid Solberg owns the rollout, which starts in the Leeds Office in May.
"""
PROBLEM = "application/problem+json"
# ``gamma``: small notes about one topic that differ in kind, date, language, people and folder,
# so each retrieval filter has something to keep and something to drop.
GAMMA_FILES = {
    "meetings/gravel-sync-feb.md": "# Gravel conveyor sync\n\nDate: 2026-02-10\nAttendees: Odile Fenwick, Piet Jansen\n\n"
    "Odile Fenwick: The gravel conveyor belt at the Tarn quarry slipped twice this week.\n"
    "Piet Jansen: We replace the gravel conveyor rollers before March.\n",
    "meetings/gravel-sync-apr.md": "# Gravel conveyor review\n\nDate: 2026-04-20\nAttendees: Quentin Ash, Piet Jansen\n\n"
    "Quentin Ash: The new gravel conveyor rollers at the Tarn quarry run without slipping.\n"
    "Piet Jansen: The gravel conveyor needs no further work this quarter.\n",
    "reports/gravel-report.md": "# Gravel conveyor report\n\nDate: 2026-03-01\n\n"
    "The gravel conveyor at the Tarn quarry moved 40,000 tonnes of gravel in February.\n",
    "zh/gravel-zh.md": "# 碎石输送带\n\n塔恩采石场的碎石输送带在二月份运送了四万吨碎石。输送带的滚筒已经在三月更换。\n",
}
GRAVEL_QUESTION = "gravel conveyor at the Tarn quarry"


@pytest.fixture(scope="module")
def settings(tmp_path_factory, graph_server) -> Settings:
    info = graph_server.start()
    return Settings(
        data_dir=tmp_path_factory.mktemp("lore-api"),
        graph_uri=info.uri,
        graph_user=info.user,
        graph_password=info.password,
        graph_database=info.database,
        max_new_tokens=12,
        rate_limit="",
        max_upload_bytes=200_000,
        max_request_bytes=20_000,
    )


@pytest.fixture(scope="module")
def gamma_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gamma")
    for name, text in GAMMA_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def service(settings, tmp_path_factory, gamma_dir) -> LoreService:
    beta_dir = tmp_path_factory.mktemp("beta")
    (beta_dir / "nightjar.md").write_text(BETA_TEXT)
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        assert service.ingest(ALPHA_FILES, collection="alpha").failed == []
        assert service.ingest([beta_dir], collection="beta").failed == []
        assert service.ingest([gamma_dir], collection="gamma").failed == []
        yield service


@pytest.fixture(scope="module")
def keys(settings) -> dict[str, str]:
    with KeyStore(settings.api_db_path) as store:
        made = {
            "admin": store.create("admin", ["admin"])[1],
            "reader": store.create("reader", ["read"])[1],
            "alpha": store.create("alpha", ["read", "ingest"], ["alpha"])[1],
            "beta": store.create("beta", ["read"], ["beta"])[1],
            "ingester": store.create("ingester", ["ingest"])[1],
        }
        revoked, made["revoked"] = store.create("old", ["read"])
        store.revoke(revoked.id)
    return made


@pytest.fixture(scope="module")
def client(service, keys) -> TestClient:
    with TestClient(create_app(service=service)) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_for_job(client: TestClient, job_id: str, key: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=auth(key)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def upload(client: TestClient, key: str, files: list[tuple[str, bytes]], collection: str = "alpha"):
    return client.post(
        "/v1/documents",
        headers=auth(key),
        data={"collection": collection},
        files=[("files", (name, content, "text/markdown")) for name, content in files],
    )


def assert_problem(response, status: int, detail_part: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"]
    assert detail_part.lower() in body.get("detail", "").lower()
    return body


# ---- health and auth ---------------------------------------------------------------------------
def test_health_routes_need_no_key(client, service):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["graph"] is True and ready["index_vectors"] == len(service.vectors) > 0


def test_readyz_is_503_while_the_graph_server_is_down(tmp_path):
    """A server of its own, stopped under a running app: the probe says unavailable, the process stays up."""
    own = LocalGraphServer(tmp_path / "graph")
    info = own.start()
    own_settings = Settings(data_dir=tmp_path / "data", graph_uri=info.uri, graph_user=info.user,
                            graph_password=info.password, graph_database=info.database)
    try:
        with LoreService.from_settings(own_settings) as lone, TestClient(create_app(service=lone)) as lone_client:
            assert lone_client.get("/readyz").status_code == 200
            own.stop()
            response = lone_client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["status"] == "unavailable" and response.json()["graph"] is False
            assert lone_client.get("/healthz").status_code == 200
    finally:
        own.stop()


def test_a_server_answers_before_its_models_load_and_readyz_says_when_they_have(tmp_path):
    """The app opens its own service in the background: /healthz at once, /readyz 503 "starting"
    until the models, the index and its graph server are ready, then 200."""
    # A graph server of its own (started by the app, under its data dir): reconciling an empty
    # knowledge base against the session's graph would remove what the other tests wrote there.
    own_settings = Settings(data_dir=tmp_path / "data", auth_required=False)
    try:
        _wait_until_ready(own_settings)
    finally:
        local_graph_server(own_settings).stop()


def _wait_until_ready(own_settings: Settings) -> None:
    with TestClient(create_app(own_settings)) as lone_client:
        assert lone_client.get("/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 300
        while (ready := lone_client.get("/readyz")).status_code != 200:
            assert ready.status_code == 503 and ready.json()["status"] == "starting", ready.json()
            assert time.monotonic() < deadline, "the knowledge base never became ready"
            time.sleep(0.05)
        assert ready.json()["status"] == "ready" and ready.json()["graph"] is True
        assert lone_client.post("/v1/search", json={"question": "anything", "top_k": 3}).status_code == 200
        # Then the LLM loads in the background too: the first question does not pay for it.
        llm = lone_client.app.state.service.llm
        while not llm.loaded:
            assert time.monotonic() < deadline, "the LLM was never loaded in the background"
            time.sleep(0.05)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("post", "/v1/search", {"question": "who?"}), ("post", "/v1/ask", {"question": "who?"}),
     ("post", "/v1/ask/stream", {"question": "who?"}), ("get", "/v1/documents", None), ("get", "/metrics", None),
     ("get", "/v1/entities?q=zora", None), ("get", "/v1/graph/stats", None), ("get", "/v1/jobs/job_0000000000000000", None),
     ("delete", f"/v1/documents/doc_{'0' * 32}", None)],
)
def test_missing_unknown_and_revoked_keys_get_401(client, keys, method, path, body):
    for headers in ({}, auth("lore_nope_nope"), auth(keys["revoked"]), {"X-API-Key": "not-a-key"}):
        response = client.request(method, path, json=body, headers=headers)
        assert_problem(response, 401, "key")
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/search", json={"question": "who?"}, headers={"X-API-Key": keys["reader"]}).status_code == 200


def test_scopes_are_enforced_per_route(client, keys):
    assert_problem(upload(client, keys["reader"], [("a.md", b"# A\n\ntext")]), 403, "'ingest' scope")
    assert_problem(client.delete(f"/v1/documents/doc_{'0' * 32}", headers=auth(keys["reader"])), 403, "ingest")
    assert_problem(client.get("/metrics", headers=auth(keys["reader"])), 403, "admin")
    assert client.get("/metrics", headers=auth(keys["admin"])).status_code == 200
    # Reading needs the read scope, even for a key that may upload.
    for method, path, body in (("post", "/v1/search", {"question": "who?"}), ("post", "/v1/ask/stream", {"question": "who?"}),
                               ("get", "/v1/entities?q=a", None), ("get", "/v1/graph/stats", None), ("get", "/v1/documents", None)):
        assert_problem(client.request(method, path, json=body, headers=auth(keys["ingester"])), 403, "'read' scope")


# ---- ask, search, stream -----------------------------------------------------------------------
def test_ask_returns_answer_citations_facts_and_timings(client, keys):
    response = client.post("/v1/ask", json={"question": "Who leads the Platform Team?", "top_k": 3},
                           headers=auth(keys["reader"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].strip()
    # The numbered sources the model was shown: sentences of the top 3 passages (top_k), each with its chunk.
    assert 1 <= len({p["chunk_id"] for p in body["passages"]}) <= 3 <= len(body["passages"]) + 2
    assert "org-chart.md" in {Path(p["source"]).name for p in body["passages"]}
    assert body["timings"]["retrieve"] > 0
    passage_chunks = {p["chunk_id"] for p in body["passages"]}
    for citation in body["citations"]:
        assert {"document_id", "chunk_id", "start", "end", "snippet"} <= set(citation)
        assert citation["chunk_id"] in passage_chunks
    assert all({"subject", "predicate", "object", "chunk_ids"} <= set(f) for f in body["facts"])


def test_question_and_top_k_limits_are_422_problems(client, keys):
    headers = auth(keys["reader"])
    assert_problem(client.post("/v1/ask", json={"question": ""}, headers=headers), 422, "question")
    assert_problem(client.post("/v1/ask", json={"question": "x" * 2001}, headers=headers), 422, "question")
    assert_problem(client.post("/v1/search", json={"question": "hi", "top_k": 0}, headers=headers), 422, "top_k")
    assert_problem(client.post("/v1/search", json={"question": "hi", "top_k": 51}, headers=headers), 422, "top_k")
    assert_problem(client.post("/v1/search", json={"question": "hi", "mystery": 1}, headers=headers), 422, "mystery")
    body = assert_problem(client.post("/v1/search", content=b"{not json", headers=headers | {"content-type": "application/json"}), 422)
    assert body["errors"]


def test_oversized_json_body_is_413(client, keys):
    big = {"question": "x" * 30_000}
    assert_problem(client.post("/v1/ask", json=big, headers=auth(keys["reader"])), 413, "larger than")


def test_chunked_bodies_over_the_limit_are_413_and_over_deep_json_422(client, keys):
    def chunks(payload: bytes, size: int = 4096):  # no Content-Length: sent with Transfer-Encoding: chunked
        for start in range(0, len(payload), size):
            yield payload[start:start + size]

    big = json.dumps({"question": "x" * 30_000}).encode()
    json_headers = auth(keys["reader"]) | {"content-type": "application/json"}
    assert_problem(client.post("/v1/ask", content=chunks(big), headers=json_headers), 413, "larger than")
    upload_body = b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.md\"\r\n\r\n" + b"a" * 250_000
    assert_problem(client.post("/v1/documents", content=chunks(upload_body),
                               headers=auth(keys["alpha"]) | {"content-type": "multipart/form-data; boundary=b"}),
                   413, "larger than")
    deep = b'{"question": "hi", "filters": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_problem(client.post("/v1/search", content=deep, headers=json_headers), 422, "nested deeper")
    # Brackets inside strings are text, not nesting; a body within the limits still works.
    ok = client.post("/v1/search", json={"question": "[[[[" * 100 + " expenses"}, headers=auth(keys["reader"]))
    assert ok.status_code == 200 and ok.json()["passages"]


def test_stream_sends_tokens_then_the_answer_with_citations(client, keys):
    with client.stream("POST", "/v1/ask/stream", json={"question": "Who is the CEO of Fernhill Robotics?"},
                       headers=auth(keys["reader"])) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _parse_sse(response.iter_lines())
    names = [name for name, _ in events]
    assert names[-1] == "answer" and names.count("answer") == 1
    assert "token" in names and set(names[:-1]) == {"token"}
    tokens = "".join(data["text"] for name, data in events if name == "token")
    answer = events[-1][1]
    assert tokens.strip() and answer["answer"].strip()
    assert answer["passages"] and isinstance(answer["citations"], list)
    assert {"question", "facts", "timings"} <= set(answer)


def _parse_sse(lines) -> list[tuple[str, dict]]:
    events, name, data = [], None, []
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif not line and name:
            events.append((name, json.loads("\n".join(data))))
            name, data = None, []
    if name:
        events.append((name, json.loads("\n".join(data))))
    return events


# ---- retrieval mode and filters ----------------------------------------------------------------
def _notes(service, gamma_dir: Path) -> dict[str, str]:
    """Document id of each gamma note by its name in GAMMA_FILES (minutes written from meetings left out)."""
    by_source = {Path(d.source): d.id for d in service.documents(["gamma"])}
    return {name: by_source[(gamma_dir / name).resolve()] for name in GAMMA_FILES}


def _found(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {p["document_id"] for p in response.json()["passages"]}


def test_each_filter_narrows_search_to_matching_documents(client, service, keys, gamma_dir):
    ids = _notes(service, gamma_dir)
    notes = set(ids.values())
    feb, apr = ids["meetings/gravel-sync-feb.md"], ids["meetings/gravel-sync-apr.md"]
    report, zh = ids["reports/gravel-report.md"], ids["zh/gravel-zh.md"]
    kinds = {d.id: d.kind for d in service.documents()}

    def search(filters: dict | None, question: str = GRAVEL_QUESTION) -> set[str]:
        body = {"question": question, "top_k": 20} | ({"filters": filters} if filters else {})
        return _found(client.post("/v1/search", json=body, headers=auth(keys["reader"])))

    # Unfiltered, the question reaches every English note and documents of other collections:
    # each filter below has something to drop.
    everything = search(None)
    assert {feb, apr, report} <= everything and everything - notes
    assert zh in search(None, "碎石输送带")

    cases = [
        ({"kinds": ["meeting"]}, {feb, apr}),
        ({"source_prefix": str((gamma_dir / "reports").resolve())}, {report}),
        ({"date_from": "2026-03-01", "kinds": ["meeting", "document"]}, {apr, report}),
        ({"date_to": "2026-02-28", "kinds": ["meeting"]}, {feb}),
        ({"people": ["odile FENWICK"], "kinds": ["meeting"]}, {feb}),
        ({"people": ["Piet Jansen"], "date_from": "2026-04-01", "date_to": "2026-04-30"}, {apr}),
    ]
    for filters, expected in cases:
        found = search(filters)
        assert found & notes == expected, filters
        # Besides the notes, only minutes written from the kept meetings may match (same date and people).
        assert all(kinds[d] == "minutes" for d in found - notes), filters
    assert search({"people": ["Odile Fenwick"]}) & notes == {feb}
    assert search({"languages": ["zh"]}, "碎石输送带") == {zh}
    assert zh not in search({"languages": ["en"]}, "碎石输送带")
    assert search({"date_from": "2031-01-01"}) == set()


def test_filters_and_collections_narrow_but_never_widen_a_key(client, service, keys):
    gamma = {d.id for d in service.documents(["gamma"])}
    alpha = {d.id for d in service.documents(["alpha"])}
    reader, alpha_key = auth(keys["reader"]), auth(keys["alpha"])
    body = {"question": GRAVEL_QUESTION, "top_k": 20}
    assert _found(client.post("/v1/search", json=body | {"filters": {"collections": ["gamma"]}}, headers=reader)) <= gamma
    # Both lists given: only collections named in both.
    both = body | {"collections": ["alpha", "gamma"], "filters": {"collections": ["gamma", "beta"]}}
    assert _found(client.post("/v1/search", json=both, headers=reader)) <= gamma
    assert _found(client.post("/v1/search", json=body | {"filters": {"collections": ["alpha"]}}, headers=alpha_key)) <= alpha
    for request in ({"filters": {"collections": ["gamma"]}}, {"filters": {"collections": ["alpha", "gamma"]}}):
        assert_problem(client.post("/v1/search", json=body | request, headers=alpha_key), 403, "gamma")
        assert_problem(client.post("/v1/ask", json=body | request, headers=alpha_key), 403, "gamma")


def test_mode_selects_the_retriever(client, keys):
    headers = auth(keys["reader"])

    def search(mode: str, question: str = "Who leads the Platform Team?") -> dict:
        response = client.post("/v1/search", json={"question": question, "top_k": 5, "mode": mode}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    results = {mode: search(mode) for mode in ("dense", "sparse", "graph", "hybrid")}
    for mode in ("dense", "sparse", "graph"):
        assert results[mode]["passages"], mode
        assert all(set(p["scores"]) == {mode, "fused"} for p in results[mode]["passages"]), mode
    assert any(len(set(p["scores"]) & {"dense", "sparse", "graph"}) > 1 for p in results["hybrid"]["passages"])
    # Graph facts come from the graph walk: the embedding and keyword modes have none.
    assert results["dense"]["facts"] == results["sparse"]["facts"] == []
    assert results["graph"]["facts"] and results["hybrid"]["facts"]
    # Keywords nobody wrote: BM25 finds nothing, embeddings still rank the nearest chunks.
    assert search("sparse", "zqxvw wombatish")["passages"] == []
    assert search("dense", "zqxvw wombatish")["passages"]


def test_ask_and_stream_take_mode_and_filters(client, service, keys, gamma_dir):
    ids = _notes(service, gamma_dir)
    meetings = {ids["meetings/gravel-sync-feb.md"], ids["meetings/gravel-sync-apr.md"]}
    body = {"question": "What happened to the gravel conveyor rollers?", "top_k": 4, "mode": "sparse",
            "filters": {"kinds": ["meeting"]}}
    asked = client.post("/v1/ask", json=body, headers=auth(keys["reader"]))
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["passages"] and {p["document_id"] for p in answer["passages"]} <= meetings
    assert all(set(p["scores"]) == {"sparse", "fused"} for p in answer["passages"])
    assert {c["document_id"] for c in answer["citations"]} <= meetings

    stream_body = {"question": "碎石输送带", "filters": {"languages": ["zh"]}, "mode": "dense"}
    with client.stream("POST", "/v1/ask/stream", json=stream_body, headers=auth(keys["reader"])) as response:
        assert response.status_code == 200
        events = _parse_sse(response.iter_lines())
    final = events[-1][1]
    assert events[-1][0] == "answer"
    assert {p["document_id"] for p in final["passages"]} == {ids["zh/gravel-zh.md"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "fuzzy"}, "mode"),
        ({"filters": {"date_from": "2026-05-01", "date_to": "2026-04-01"}}, "date_from"),
        ({"filters": {"date_from": "yesterday"}}, "date_from"),
        ({"filters": {"kinds": []}}, "kinds"),
        ({"filters": {"people": [" "]}}, "people"),
        ({"filters": {"collections": ["../etc"]}}, "collections"),
        ({"filters": {"colour": "red"}}, "colour"),
        ({"filters": "meetings"}, "filters"),
    ],
)
def test_bad_mode_and_filters_are_422_problems_naming_the_field(client, keys, body, field):
    for path in ("/v1/search", "/v1/ask", "/v1/ask/stream"):
        response = client.post(path, json={"question": "gravel"} | body, headers=auth(keys["reader"]))
        problem = assert_problem(response, 422, field)
        assert any(field in ".".join(map(str, e["loc"])) or field in e["msg"] for e in problem["errors"])


# ---- collections -------------------------------------------------------------------------------
BETA_QUESTION = "What budget code did Zora Whitfield and Helena Marsh approve for Project Nightjar?"


def _leaks(payload: dict) -> list[str]:
    text = json.dumps(payload)
    return [word for word in BETA_WORDS if word in text.replace(BETA_QUESTION, "")]


def test_collection_key_never_sees_another_collection(client, service, keys):
    beta_docs = {d.id for d in service.documents(["beta"])}
    alpha_docs = {d.id for d in service.documents(["alpha"])}
    alpha_chunks = {c.chunk.id for d in alpha_docs for c in service.metadata.chunks_for_document(d)}
    # The same question with an unrestricted key does reach beta: the test below can fail.
    open_found = client.post("/v1/search", json={"question": BETA_QUESTION}, headers=auth(keys["reader"])).json()
    assert beta_docs & {p["document_id"] for p in open_found["passages"]}
    assert any("Zora Whitfield" in (f["subject"], f["object"]) for f in open_found["facts"])

    headers = auth(keys["alpha"])
    found = client.post("/v1/search", json={"question": BETA_QUESTION, "top_k": 10}, headers=headers).json()
    assert found["passages"] and {p["document_id"] for p in found["passages"]} <= alpha_docs
    assert all(set(f["chunk_ids"]) <= alpha_chunks for f in found["facts"])
    assert _leaks(found) == []

    asked = client.post("/v1/ask", json={"question": BETA_QUESTION, "top_k": 10}, headers=headers).json()
    assert {p["document_id"] for p in asked["passages"]} <= alpha_docs
    assert {c["document_id"] for c in asked["citations"]} <= alpha_docs
    assert all(set(f["chunk_ids"]) <= alpha_chunks for f in asked["facts"])
    assert BETA_SECRET not in asked["answer"]
    assert _leaks({k: v for k, v in asked.items() if k != "answer"}) == []

    with client.stream("POST", "/v1/ask/stream", json={"question": BETA_QUESTION}, headers=headers) as response:
        events = _parse_sse(response.iter_lines())
    final = events[-1][1]
    assert {p["document_id"] for p in final["passages"]} <= alpha_docs
    assert _leaks({k: v for k, v in final.items() if k != "answer"}) == []


def test_collection_key_sees_only_its_collections_in_the_graph(client, service, keys):
    alpha_docs = {d.id for d in service.documents(["alpha"])}
    alpha_chunks = {c.chunk.id for d in alpha_docs for c in service.metadata.chunks_for_document(d)}
    open_key, alpha_key, beta_key = auth(keys["reader"]), auth(keys["alpha"]), auth(keys["beta"])

    def entities(q: str, headers) -> list[dict]:
        response = client.get("/v1/entities", params={"q": q, "limit": 200}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    # An unrestricted key finds beta's people and project, and a beta key does too: the checks below can fail.
    zora = next(e for e in entities("zora", open_key) if e["name"] == "Zora Whitfield")
    assert any(e["name"] == "Project Nightjar" for e in entities("nightjar", beta_key))
    assert client.get(f"/v1/entities/{zora['id']}", headers=beta_key).status_code == 200

    for word in ("zora", "whitfield", "nightjar", "NJ-7731"):
        assert entities(word, alpha_key) == []
    assert_problem(client.get(f"/v1/entities/{zora['id']}", headers=alpha_key), 404)
    # Every entity the alpha key can find (one query per letter covers them all), and each one's
    # neighbourhood: only alpha's documents, chunks and sentences.
    visible = {e["id"]: e for letter in string.ascii_lowercase + string.digits for e in entities(letter, alpha_key)}
    assert visible and _leaks(visible) == []
    shared = next(e for e in visible.values() if e["name"] == "Helena Marsh")  # named in alpha and in beta
    for entity_id in visible:
        detail = client.get(f"/v1/entities/{entity_id}", headers=alpha_key).json()
        assert _leaks(detail) == [], detail["name"]
        assert set(detail["document_ids"]) <= alpha_docs
        for edge in detail["edges"]:
            assert edge["document_id"] in alpha_docs and edge["chunk_id"] in alpha_chunks, edge
    helena_everywhere = client.get(f"/v1/entities/{shared['id']}", headers=open_key).json()
    helena_alpha = client.get(f"/v1/entities/{shared['id']}", headers=alpha_key).json()
    assert _leaks(helena_everywhere) and helena_alpha["mentions"] < helena_everywhere["mentions"]

    everything = client.get("/v1/graph/stats", headers=open_key).json()
    stats = client.get("/v1/graph/stats", headers=alpha_key).json()
    assert stats["by_label"]["Document"] == len(alpha_docs)
    assert stats["by_label"]["Chunk"] == len(alpha_chunks)
    assert stats["by_label"]["Entity"] == len(visible)
    assert stats["nodes"] < everything["nodes"] and stats["relationships"] < everything["relationships"]
    assert stats["by_relation_type"]["HAS_CHUNK"] == len(alpha_chunks)
    assert sum(stats["by_relation_type"].values()) == stats["relationships"]


def test_collection_key_cannot_name_other_collections_or_documents(client, service, keys):
    headers = auth(keys["alpha"])
    assert_problem(client.post("/v1/search", json={"question": "hi", "collections": ["beta"]}, headers=headers), 403, "beta")
    assert_problem(upload(client, keys["alpha"], [("x.md", b"# X\n\nhello")], collection="beta"), 403, "beta")
    listed = client.get("/v1/documents", headers=headers).json()
    assert listed["total"] == len(ALPHA_FILES) and {d["collection"] for d in listed["documents"]} == {"alpha"}
    beta_doc = service.documents(["beta"])[0].id
    assert_problem(client.get(f"/v1/documents/{beta_doc}", headers=headers), 404)
    assert_problem(client.delete(f"/v1/documents/{beta_doc}", headers=headers), 404)
    assert client.get(f"/v1/documents/{beta_doc}", headers=auth(keys["beta"])).json()["collection"] == "beta"
    # Narrowing to one's own collection is allowed.
    narrowed = client.post("/v1/search", json={"question": "expenses", "collections": ["beta"]}, headers=auth(keys["beta"]))
    assert narrowed.status_code == 200
    assert {p["document_id"] for p in narrowed.json()["passages"]} == {beta_doc}


def test_meeting_minutes_follow_the_meeting_s_collection(client, service, keys, gamma_dir, monkeypatch):
    feb = _notes(service, gamma_dir)["meetings/gravel-sync-feb.md"]
    minutes = client.get(f"/v1/meetings/{feb}/minutes", headers=auth(keys["reader"]))
    assert minutes.status_code == 200 and minutes.json()["meeting_id"] == feb
    assert_problem(client.get(f"/v1/meetings/{feb}/minutes", headers=auth(keys["alpha"])), 404)
    # Named by its file name (resolved against the server's directory) it is the same meeting, just as hidden.
    monkeypatch.chdir(gamma_dir / "meetings")
    assert client.get("/v1/meetings/gravel-sync-feb.md/minutes", headers=auth(keys["reader"])).status_code == 200
    assert_problem(client.get("/v1/meetings/gravel-sync-feb.md/minutes", headers=auth(keys["alpha"])), 404)


# ---- documents and jobs ------------------------------------------------------------------------
def test_upload_ingests_in_background_and_delete_removes_everything(client, service, keys):
    response = upload(
        client, keys["alpha"],
        [("quillfeather.md", UPLOAD_TEXT.encode()), ("../../etc/evil.md", b"# evil\n\nx"), ("notes.exe", b"MZ"),
         ("empty.md", b""), (".hidden.md", b"# h\n\nx"), ("sub\\dir.md", b"# d\n\nx")],
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["files"] == ["quillfeather.md"]
    reasons = {r["file"]: r["reason"] for r in accepted["rejected"]}
    assert set(reasons) == {"../../etc/evil.md", "notes.exe", "empty.md", ".hidden.md", "sub\\dir.md"}
    assert "path" in reasons["../../etc/evil.md"] and "unsupported" in reasons["notes.exe"]
    assert response.headers["location"] == accepted["status_url"]
    folder = service.settings.uploads_dir / accepted["job_id"]
    assert sorted(p.name for p in folder.iterdir()) == ["quillfeather.md"]
    assert not (service.settings.data_dir / "etc").exists()

    job = wait_for_job(client, accepted["job_id"], keys["alpha"])
    assert job["status"] == "succeeded", job
    assert job["report"]["added"] == 1 and job["report"]["failed"] == []
    document_id = job["report"]["documents"][0]["id"]
    assert_problem(client.get(f"/v1/jobs/{accepted['job_id']}", headers=auth(keys["beta"])), 404)

    document = client.get(f"/v1/documents/{document_id}", headers=auth(keys["alpha"])).json()
    assert document["collection"] == "alpha" and document["chunk_count"] >= 1 and document["graph_synced"]
    # The client's file name is the source (and so what citations show), not the server's upload path.
    assert document["source"] == "quillfeather.md"
    assert not folder.exists()  # the stored text is the copy that counts once the job is done
    # The same name into another collection would move the document: it is refused, the rest lands.
    moved = upload(client, keys["admin"], [("quillfeather.md", b"# Q\n\nOther text."), ("other.md", b"# O\n\nText.")],
                   collection="beta").json()
    assert moved["files"] == ["other.md"] and "another collection" in moved["rejected"][0]["reason"]
    other = wait_for_job(client, moved["job_id"], keys["admin"])["report"]["documents"][0]["id"]
    assert client.delete(f"/v1/documents/{other}", headers=auth(keys["admin"])).status_code == 204
    found = client.post("/v1/search", json={"question": "Who owns the Quillfeather rollout?"},
                        headers=auth(keys["alpha"])).json()
    assert found["passages"][0]["document_id"] == document_id

    assert client.delete(f"/v1/documents/{document_id}", headers=auth(keys["alpha"])).status_code == 204
    assert_problem(client.get(f"/v1/documents/{document_id}", headers=auth(keys["alpha"])), 404)
    assert document_id not in service.graph.document_ids()
    found = client.post("/v1/search", json={"question": "Who owns the Quillfeather rollout?"},
                        headers=auth(keys["admin"])).json()
    assert document_id not in {p["document_id"] for p in found["passages"]}
    assert len(service.vectors) == service.metadata.chunk_count()


def test_bad_uploads_are_rejected(client, keys):
    body = assert_problem(upload(client, keys["alpha"], [("../x.md", b"# x\n\ny"), ("a.pdfx", b"z")]), 422, "no file")
    assert "../x.md" in body["detail"]
    assert_problem(upload(client, keys["alpha"], [("big.md", b"a" * 250_000)]), 413, "larger than")
    assert_problem(upload(client, keys["alpha"], [("ok.md", b"# ok\n\nfine")], collection="../etc"), 422, "collection")
    assert_problem(client.post("/v1/documents", headers=auth(keys["alpha"]), data={"collection": "alpha"}), 422, "files")
    assert_problem(client.get("/v1/documents/not-an-id", headers=auth(keys["alpha"])), 404, "no document")
    assert_problem(client.delete("/v1/documents/not-an-id", headers=auth(keys["alpha"])), 404, "no document")
    assert_problem(client.get("/v1/jobs/job_0000000000000000", headers=auth(keys["alpha"])), 404)


def test_reads_stay_consistent_while_an_upload_ingests(client, service, keys):
    files = [(f"bulk-{i}.md", (f"# Bulk note {i}\n\n" + UPLOAD_TEXT * 20).encode()) for i in range(6)]
    accepted = upload(client, keys["alpha"], files).json()
    errors: list[str] = []
    checked = 0

    def reader() -> None:
        try:
            read_until_done()
        except Exception as exc:  # a server error surfaces here through the test client
            errors.append(repr(exc))

    def read_until_done() -> None:
        nonlocal checked
        while True:
            job = client.get(f"/v1/jobs/{accepted['job_id']}", headers=auth(keys["alpha"])).json()
            response = client.post("/v1/search", json={"question": "RFID gates rollout", "top_k": 8},
                                   headers=auth(keys["admin"]))
            if response.status_code != 200:
                errors.append(response.text)
                return
            chunk_ids = [p["chunk_id"] for p in response.json()["passages"]]
            # Every passage returned points at a stored chunk: no half-written state is visible.
            stored = service.metadata.chunks_by_ids(chunk_ids)
            missing = [c for c in chunk_ids if c not in stored]
            if missing:
                errors.append(f"passages without chunks: {missing}")
            checked += 1
            if job["status"] in ("succeeded", "failed"):
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert errors == []
    assert checked >= 3
    job = wait_for_job(client, accepted["job_id"], keys["alpha"])
    assert job["status"] == "succeeded" and job["report"]["added"] == len(files)
    listed = client.get("/v1/documents", headers=auth(keys["alpha"])).json()
    assert {f"bulk-{i}.md" for i in range(6)} <= {Path(d["source"]).name for d in listed["documents"]}
    assert service.metadata.vector_ids() == set(service.vectors.ids().tolist())


def test_unfinished_jobs_resume_after_a_restart(service, settings, keys):
    # A job recorded as queued by a server that stopped before running it.
    job_id = new_job_id()
    folder = settings.uploads_dir / job_id
    folder.mkdir(parents=True)
    (folder / "resumed.md").write_text("# Resumed\n\nThe Tansy warehouse pilot resumed after the restart.\n")
    with JobStore(settings.api_db_path) as jobs:
        jobs.create(job_id, "alpha", folder, ["resumed.md"], None)
    with TestClient(create_app(service=service)) as client:
        job = wait_for_job(client, job_id, keys["alpha"])
    assert job["status"] == "succeeded" and job["report"]["added"] == 1


def test_metrics_count_requests_by_route_and_report_index_size(client, service, keys):
    client.get(f"/v1/documents/doc_{'1' * 32}", headers=auth(keys["admin"]))
    text = client.get("/metrics", headers=auth(keys["admin"])).text
    assert 'lore_http_requests_total{method="GET",route="/v1/documents/{document_id}",status="404"}' in text
    assert 'route="/v1/search"' in text and "lore_http_request_duration_seconds_bucket" in text
    assert f"lore_index_vectors {float(len(service.vectors))}" in text
    assert 'lore_ingest_jobs_total{status="succeeded"}' in text
    assert 'lore_ingest_documents_total{outcome="added"}' in text


def test_rate_limit_per_key(service, settings, keys):
    limited = settings.model_copy(update={"rate_limit": "2/minute"})
    with TestClient(create_app(limited, service=service)) as client:
        for _ in range(2):
            assert client.get("/v1/documents", headers=auth(keys["reader"])).status_code == 200
        response = client.get("/v1/documents", headers=auth(keys["reader"]))
        assert_problem(response, 429, "rate limit")
        assert int(response.headers["retry-after"]) >= 1
        # Another key has its own budget.
        assert client.get("/v1/documents", headers=auth(keys["beta"])).status_code == 200


def test_cors_is_configurable(service, settings):
    cors = settings.model_copy(update={"cors_origins": ["https://intranet.example.com"], "auth_required": False})
    with TestClient(create_app(cors, service=service)) as client:
        allowed = client.options("/v1/search", headers={"Origin": "https://intranet.example.com",
                                                       "Access-Control-Request-Method": "POST"})
        assert allowed.headers["access-control-allow-origin"] == "https://intranet.example.com"
        other = client.get("/healthz", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        # Without auth_required, no key means full access.
        assert client.get("/v1/documents").status_code == 200
    with TestClient(create_app(settings, service=service)) as client:
        plain = client.get("/healthz", headers={"Origin": "https://intranet.example.com"})
        assert "access-control-allow-origin" not in plain.headers


def test_cli_keys_create_list_revoke(settings, monkeypatch):
    monkeypatch.setenv("LORE_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    created = runner.invoke(cli_app, ["keys", "create", "--name", "ci", "--scopes", "read,ingest",
                                      "--collections", "alpha,beta", "--json"])
    assert created.exit_code == 0, created.output
    payload = json.loads(created.stdout)
    assert payload["scopes"] == ["read", "ingest"] and payload["collections"] == ["alpha", "beta"]
    secret = payload["key"]
    raw = settings.api_db_path.read_bytes()
    assert secret.encode() not in raw  # only the hash is stored
    with KeyStore(settings.api_db_path) as store:
        assert store.authenticate(secret).id == payload["id"]
    listed = runner.invoke(cli_app, ["keys", "list", "--json"])
    assert payload["id"] in {k["id"] for k in json.loads(listed.stdout)} and secret not in listed.stdout
    assert runner.invoke(cli_app, ["keys", "revoke", payload["id"]]).exit_code == 0
    assert runner.invoke(cli_app, ["keys", "revoke", payload["id"]]).exit_code == 1
    with KeyStore(settings.api_db_path) as store:
        assert store.authenticate(secret) is None
    bad = runner.invoke(cli_app, ["keys", "create", "--scopes", "read,root"])
    assert bad.exit_code == 2 and "scopes" in bad.output


# ---- what the web app reads ----------------------------------------------------------------------
def test_document_content_chunks_and_jobs_respect_the_key(client, service, keys):
    listed = client.get("/v1/documents", params={"kind": "meeting"}, headers=auth(keys["admin"])).json()
    assert listed["documents"] and all(d["kind"] == "meeting" for d in listed["documents"])
    named = client.get("/v1/documents", params={"q": "ORG-CHART"}, headers=auth(keys["admin"])).json()
    assert [Path(d["source"]).name for d in named["documents"]] == ["org-chart.md"]

    org = named["documents"][0]
    content = client.get(f"/v1/documents/{org['id']}/content", headers=auth(keys["alpha"])).json()
    assert len(content["chunks"]) == org["chunk_count"]
    assert [c["start"] for c in content["chunks"]] == sorted(c["start"] for c in content["chunks"])
    names = {e["name"] for e in content["entities"]}
    assert "Rahul Menon" in names
    chunk_ids = {c["id"] for c in content["chunks"]}
    assert all(set(e["chunk_ids"]) <= chunk_ids for e in content["entities"])

    chunk = content["chunks"][0]
    got = client.get(f"/v1/chunks/{chunk['id']}", headers=auth(keys["alpha"])).json()
    assert got["text"] == chunk["text"] and got["document_id"] == org["id"] and got["source"] == org["source"]
    # Another collection's key does not learn the chunk or the document exists.
    assert_problem(client.get(f"/v1/chunks/{chunk['id']}", headers=auth(keys["beta"])), 404)
    assert_problem(client.get(f"/v1/documents/{org['id']}/content", headers=auth(keys["beta"])), 404)
    assert_problem(client.get("/v1/chunks/chk_nope", headers=auth(keys["admin"])), 404)

    jobs = client.get("/v1/jobs", headers=auth(keys["beta"])).json()["jobs"]
    assert all(j["collection"] == "beta" for j in jobs)
    everything = client.get("/v1/jobs", headers=auth(keys["admin"])).json()["jobs"]
    assert [j["created_at"] for j in everything] == sorted((j["created_at"] for j in everything), reverse=True)


def test_admins_manage_keys_over_the_api(client, keys):
    assert_problem(client.get("/v1/keys", headers=auth(keys["reader"])), 403, "admin")
    made = client.post("/v1/keys", json={"name": "ci", "scopes": ["read"], "collections": ["beta"]},
                       headers=auth(keys["admin"]))
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    assert made.json()["collections"] == ["beta"]
    assert client.get("/v1/documents", headers=auth(secret)).json()["total"] == 1  # only beta's note
    listed = {k["id"]: k for k in client.get("/v1/keys", headers=auth(keys["admin"])).json()}
    assert made.json()["id"] in listed and "secret" not in listed[made.json()["id"]]
    assert client.delete(f"/v1/keys/{made.json()['id']}", headers=auth(keys["admin"])).status_code == 204
    assert_problem(client.get("/v1/documents", headers=auth(secret)), 401)
    assert_problem(client.delete(f"/v1/keys/{made.json()['id']}", headers=auth(keys["admin"])), 404)
    assert_problem(client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=auth(keys["admin"])), 422)


def test_ask_rewrites_a_follow_up_from_its_history(client, keys):
    body = {"question": "Who does he report to?",
            "history": [{"role": "user", "content": "Who leads the Platform Team?"},
                        {"role": "assistant", "content": "Rahul Menon leads the Platform Team [1]."}]}
    answer = client.post("/v1/ask", json=body, headers=auth(keys["alpha"])).json()
    assert answer["question"] != body["question"] and re.search("Rahul|Menon|Platform", answer["question"])
    assert_problem(client.post("/v1/search", json=body, headers=auth(keys["alpha"])), 422, "history")
