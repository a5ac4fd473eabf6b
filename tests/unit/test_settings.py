from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_defaults_are_offline_and_local(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.graph_uri is None  # Lore starts its own graph server
    assert settings.allow_downloads is False
    assert settings.llm_backend == "local"
    assert settings.metadata_path == Path(".lore") / "lore.sqlite3"


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LORE_TOP_K", "9")
    monkeypatch.setenv("LORE_GRAPH_URI", "bolt://db:7687")
    monkeypatch.setenv("LORE_DATA_DIR", str(tmp_path / "kb"))
    settings = Settings()
    assert settings.top_k == 9
    assert settings.graph_uri == "bolt://db:7687"
    assert settings.index_dir == tmp_path / "kb" / "index"


def test_config_file_and_precedence(monkeypatch, tmp_path):
    config = tmp_path / "custom.toml"
    config.write_text('top_k = 7\nchunk_size = 600\nllm_model = "/models/my-llm"\n')
    monkeypatch.setenv("LORE_CONFIG", str(config))
    monkeypatch.delenv("LORE_LLM_MODEL", raising=False)  # the suite's pin would win over the file
    monkeypatch.setenv("LORE_CHUNK_SIZE", "800")  # the environment wins over the file
    settings = Settings()
    assert settings.top_k == 7
    assert settings.chunk_size == 800
    assert settings.llm_model == "/models/my-llm"


def test_invalid_values_name_the_field(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LORE_CHUNK_OVERLAP", "5000")
    with pytest.raises(ValidationError, match="chunk_overlap"):
        Settings()
    monkeypatch.delenv("LORE_CHUNK_OVERLAP")
    monkeypatch.setenv("LORE_TOP_K", "0")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()


def test_readme_documents_every_setting():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`LORE_{name.upper()}`" not in readme]
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_the_data_dir_and_its_databases_are_created_private(tmp_path, monkeypatch):
    import stat

    from api.bootstrap import build

    monkeypatch.setenv("LORE_CONFIG", str(tmp_path / "absent.toml"))
    parts = build(Settings(data_dir=tmp_path / "lore"))
    try:
        mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
        assert mode(tmp_path / "lore") == 0o700
        assert mode(parts.settings.metadata_path) == mode(parts.settings.merges_path) == 0o600
        parts.vectors.save()  # vectors can be turned back into text: as private as the text
        index = parts.vectors.directory
        assert mode(index) == 0o700
        assert {mode(f) for f in index.iterdir()} == {0o600}
    finally:
        parts.close()


def test_the_default_answer_model_is_the_packaged_qwen_coder(monkeypatch, tmp_path):
    monkeypatch.delenv("LORE_LLM_MODEL", raising=False)  # the test suite pins the light model
    monkeypatch.setenv("LORE_CONFIG", str(tmp_path / "absent.toml"))
    from core.packaged_models import SPLIT_MODELS, QWEN_CODER_1_5B

    settings = Settings()
    assert settings.llm_model == "Qwen2.5-Coder-1.5B-Instruct"
    assert SPLIT_MODELS[QWEN_CODER_1_5B].sha256 and settings.answer_units == "sentences"
