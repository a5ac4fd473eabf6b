"""A real Lore server on a loopback port, for clients that speak HTTP: the browser and the openai SDK.

One knowledge base per module (a few of the sample files, a meeting among them), served by
uvicorn in a thread exactly as `lore serve` serves it, with API keys in its own store.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.keys import KeyStore
from api.service import LoreService
from core.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LIVE_FILES = {
    "handbook": [EXAMPLES / "docs" / name for name in ("org-chart.md", "project-millrace-brief.md", "company-overview.md")]
    + [EXAMPLES / "meetings" / "2026-02-10-millrace-kickoff.md"],
    "vault": [],  # written by the fixture: a collection the restricted key cannot read
}
VAULT_TEXT = "# Project Gannet\n\nProject Gannet is a confidential merger led by Odette Varga, code GX-4410.\n"


@dataclass
class LiveServer:
    url: str
    service: LoreService
    keys: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(request, tmp_path_factory, graph_env) -> Iterator[LiveServer]:
    # A module may name the answer model (LIVE_LLM_MODEL); the default is the suite's light model.
    model = getattr(request.module, "LIVE_LLM_MODEL", None)
    settings = Settings(data_dir=tmp_path_factory.mktemp("lore-live"), rate_limit="", **graph_env,
                        **({"llm_model": model} if model else {"max_new_tokens": 40}))
    vault = tmp_path_factory.mktemp("vault")
    (vault / "gannet.md").write_text(VAULT_TEXT)
    with KeyStore(settings.api_db_path) as store:
        keys = {"admin": store.create("admin", ["admin"])[1],
                "handbook": store.create("handbook reader", ["read"], ["handbook"])[1]}
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        assert service.ingest(LIVE_FILES["handbook"], collection="handbook").failed == []
        assert service.ingest([vault], collection="vault").failed == []
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(service=service), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the live server did not become ready")
        try:
            yield LiveServer(url, service, keys)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
