"""Builds Lore's parts from settings, in one place. Constructors here do no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.settings import Settings
from generation.minutes import MinutesBuilder
from generation.minutes.derived import MinutesDocuments
from graph import GraphStore, LocalGraphServer
from ingest.derived import DerivedDocuments
from ingest.extract import Extractor, build_extractor


@dataclass(frozen=True)
class GraphEndpoint:
    uri: str
    auth: tuple[str, str]
    database: str | None
    managed: bool  # True when Lore owns a local server for it


def local_graph_server(settings: Settings) -> LocalGraphServer:
    return LocalGraphServer(settings.graph_dir, heap=settings.graph_heap, start_timeout=settings.graph_start_timeout)


def graph_endpoint(settings: Settings) -> GraphEndpoint:
    """Where the graph lives: the configured server, or the local one (started or reused)."""
    if settings.graph_uri:
        password = settings.graph_password.get_secret_value() if settings.graph_password else ""
        return GraphEndpoint(settings.graph_uri, (settings.graph_user, password), settings.graph_database, managed=False)
    info = local_graph_server(settings).start()
    return GraphEndpoint(info.uri, (info.user, info.password), settings.graph_database or info.database, managed=True)


def graph_store(settings: Settings) -> GraphStore:
    endpoint = graph_endpoint(settings)
    return GraphStore(endpoint.uri, endpoint.auth, endpoint.database)


def ingest_extractor(settings: Settings, *, graph: Any = None, embedder: Any = None, merges: Any = None) -> Extractor:
    """The ingest extractor; when the settings turn LLM extraction on, the configured generation
    backend (local model or OpenAI-compatible server) is the extractor's text generator."""
    generator = None
    if settings.extractor in ("llm", "spacy+llm"):
        from generation.backends import load_backend

        generator = load_backend(settings)
    return build_extractor(settings, graph=graph, embedder=embedder, merges=merges, generator=generator)
def derived_documents(settings: Settings, minutes_builder: Callable[[], MinutesBuilder]) -> DerivedDocuments:
    """What the ingest pipeline derives from ingested documents: meeting minutes (at ingest when configured)."""
    return MinutesDocuments(minutes_builder, at_ingest=settings.minutes_at_ingest)
