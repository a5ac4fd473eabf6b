from __future__ import annotations

import pytest

from core.types import Document
from ingest.chunking import IDEOGRAPH_WEIGHT, Chunker, chunk_length
from evaluation.retrieval import shared_data_dir


def _doc(text: str) -> Document:
    return Document(id="doc_x", source="/x.md", title="X", text=text, content_hash="h")


def test_offsets_point_at_the_chunk_text():
    text = "# Title\n\n" + "\n\n".join(f"Paragraph {i}. " + "word " * 40 for i in range(12))
    doc = _doc(text)
    chunks = Chunker(chunk_size=300, chunk_overlap=50).split(doc)
    assert len(chunks) > 3
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= 300
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks)


def test_heading_path_follows_nesting():
    text = (
        "# Handbook\n\nIntro text here.\n\n## Leave\n\n" + "Leave rules. " * 30
        + "\n\n### Parental leave\n\n" + "Parents get time. " * 30 + "\n\n## Expenses\n\n" + "Spend wisely. " * 30
    )
    chunks = Chunker(chunk_size=250, chunk_overlap=0).split(_doc(text))
    paths = {tuple(c.metadata["heading_path"]) for c in chunks}
    assert ("Handbook", "Leave", "Parental leave") in paths
    assert ("Handbook", "Expenses") in paths
    last = chunks[-1]
    assert last.metadata["heading_path"] == ["Handbook", "Expenses"]


def test_chunk_ids_stable_and_content_addressed():
    doc = _doc("Some text. " * 100)
    a = Chunker(200, 20).split(doc)
    b = Chunker(200, 20).split(doc)
    assert [c.id for c in a] == [c.id for c in b]
    changed = Chunker(200, 20).split(doc.model_copy(update={"text": "Other text. " * 100}))
    assert {c.id for c in a}.isdisjoint(c.id for c in changed)


def _transcript(lines: list[tuple[str, str]]) -> Document:
    from ingest.loaders import Turn, render_transcript

    text, spans = render_transcript([Turn(s, t) for s, t in lines])
    return Document(id="doc_m", source="/m.json", title="M", text=text, content_hash="h", kind="meeting",
                    metadata={"turns": spans})


def test_transcript_windows_hold_whole_turns_with_overlap():
    lines = [(f"Speaker {i % 3}", f"utterance number {i} " + "blah " * (i % 7)) for i in range(60)]
    doc = _transcript(lines)
    chunks = Chunker(chunk_size=300, chunk_overlap=80).split(doc)
    assert len(chunks) > 5
    covered = set()
    for chunk in chunks:
        first, last = chunk.metadata["turn_start"], chunk.metadata["turn_end"]
        assert doc.text[chunk.start : chunk.end] == chunk.text
        # Whole turns only: the chunk starts and ends exactly on turn boundaries.
        assert chunk.text.startswith(f"{lines[first][0]}: ") and chunk.text.endswith(lines[last][1])
        assert set(chunk.metadata["speakers"]) == {lines[i][0] for i in range(first, last + 1)}
        covered.update(range(first, last + 1))
    assert covered == set(range(60))
    starts = [c.metadata["turn_start"] for c in chunks]
    ends = [c.metadata["turn_end"] for c in chunks]
    assert starts == sorted(starts) and any(s <= e for s, e in zip(starts[1:], ends[:-1])), "windows overlap"


def test_a_turn_longer_than_the_window_is_its_own_chunk():
    doc = _transcript([("A", "short"), ("B", "long " * 200), ("C", "short too")])
    chunks = Chunker(chunk_size=200, chunk_overlap=50).split(doc)
    assert [(c.metadata["turn_start"], c.metadata["turn_end"]) for c in chunks] == [(0, 0), (1, 1), (2, 2)]


# ---- Chinese --------------------------------------------------------------------
CMRC = shared_data_dir() / "cmrc2018" / "trial.json"


def test_chinese_paragraph_splits_at_punctuation_not_inside_words():
    import json

    if not CMRC.is_file():
        pytest.skip("CMRC2018 data is not present")
    paragraphs = [p["context"] for item in json.loads(CMRC.read_text(encoding="utf-8"))["data"] for p in item["paragraphs"]]
    text = max(paragraphs[:50], key=len)
    doc = Document(id="doc_zh", source="/zh.txt", title="zh", text=text, content_hash="h", language="zh")
    chunks = Chunker(chunk_size=480, chunk_overlap=80).split(doc)
    assert len(chunks) >= 3
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        # Ideographs weigh four characters: 480 holds at most 120 of them.
        assert chunk_length(chunk.text) <= 480 and len(chunk.text) <= 480
        assert sum("\u4e00" <= ch <= "\u9fff" for ch in chunk.text) <= 480 // IDEOGRAPH_WEIGHT
        assert chunk.metadata["language"] == "zh"
    # Every cut (but the document's end) falls right after sentence or clause punctuation.
    for chunk in chunks[:-1]:
        assert chunk.text[-1] in "。！？；：，、", chunk.text[-10:]


def test_ideographs_weigh_more_than_latin_letters():
    assert chunk_length("Platform team") == 13
    assert chunk_length("平台团队") == 4 * IDEOGRAPH_WEIGHT
    assert chunk_length("Camille 负责平台") == 8 + 4 * IDEOGRAPH_WEIGHT


def test_chinese_transcript_windows_count_ideographs_by_weight():
    lines = [(f"说话人{i % 2}", f"第{i}条发言，" + "我们讨论仓库机器人的进度。" * (1 + i % 3)) for i in range(30)]
    doc = _transcript(lines)
    english = _transcript([(f"Speaker {i % 2}", "x" * len(text)) for i, (_, text) in enumerate(lines)])
    chinese_chunks = Chunker(chunk_size=400, chunk_overlap=60).split(doc)
    english_chunks = Chunker(chunk_size=400, chunk_overlap=60).split(english)
    # The same turn lengths in Latin letters make fewer, longer windows.
    assert len(chinese_chunks) > len(english_chunks)
    for chunk in chinese_chunks:
        first, last = chunk.metadata["turn_start"], chunk.metadata["turn_end"]
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert first == last or chunk_length(chunk.text) <= 400
