"""Property-based fuzzing of every loader: random bytes and mutated valid files.

Whatever the bytes, a loader returns a document whose text a UTF-8 store can hold, or raises
``IngestError`` naming the file and the reason; no other exception escapes it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.hostile_corpus import _docx_bytes
from core.errors import IngestError
from ingest.loaders import LOADERS, load_document


def _pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="Budget review: the Tern budget moves to June.")
    return bytes(pdf.output())


def _pptx() -> bytes:
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap"
    slide.placeholders[1].text = "Kestrel ships in May"
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


SEEDS: dict[str, bytes] = {
    ".md": "# Plan\n\n## Budget\n\n- Ana owns the budget.\n\nDate: 2026-03-01\nAttendees: Ana, Bo\n".encode(),
    ".txt": b"Ana Ruiz: the build is green.\nBo Chen: ship it on Monday.\nAna Ruiz: agreed.\n",
    ".html": b"<html><head><title>T</title><meta name='author' content='A'></head><body><h1>H</h1><p>x <b>y</b></p>"
             b"<ul><li>one</li></ul><table><tr><td>a</td><td>b</td></tr></table></body></html>",
    ".eml": b"From: Ana <ana@example.com>\nTo: bo@example.com\nSubject: Launch\nDate: Tue, 3 Mar 2026 10:00:00 +0000\n"
            b"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n"
            b"Launch moves to June.\n--b\nContent-Type: text/html\n\n<p>Launch</p>\n--b--\n",
    ".csv": b"name,owner,due\nKestrel,Ana,2026-05-01\nTern,Bo,2026-06-01\n",
    ".json": b'[{"title": "Kestrel", "owner": "Ana", "tags": ["a", "b"]}, {"name": "Tern", "nested": {"x": 1}}]',
    ".jsonl": b'{"title": "Kestrel"}\n{"name": "Tern", "owner": "Bo"}\n',
    ".vtt": b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Bo Chen>The build is green.\n\n"
            b"00:00:04.000 --> 00:00:06.000\n<v Cleo Park>Shipping Monday.\n",
    ".srt": b"1\n00:00:01,000 --> 00:00:03,000\nBo: The build is green.\n\n2\n00:00:04,000 --> 00:00:06,000\nCleo: Ship.\n",
}
SEEDS[".markdown"] = SEEDS[".md"]
SEEDS[".htm"] = SEEDS[".html"]


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    return {**SEEDS, ".docx": _docx_bytes(["Roadmap", "Kestrel ships in May."]), ".pptx": _pptx(), ".pdf": _pdf()}


def _load(suffix: str, data: bytes) -> None:
    path = Path(f"/nonexistent/fuzz{suffix}")
    try:
        document = load_document(path, data=data)
    except IngestError as exc:
        assert exc.path == str(path) and exc.reason
        return
    document.text.encode("utf-8")  # no lone surrogates: SQLite, FAISS' text and JSON all need UTF-8
    document.title.encode("utf-8")


def test_every_loader_has_a_seed(seeds):
    assert set(LOADERS) == set(seeds)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("suffix", sorted(LOADERS))
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_escape_a_loader(suffix, data):
    _load(suffix, data)


@pytest.mark.parametrize("suffix", sorted(LOADERS))
@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
                      min_size=1, max_size=12),
       cut=st.floats(0.05, 1))
def test_mutated_valid_files_never_escape_a_loader(seeds, suffix, edits, cut):
    data = bytearray(seeds[suffix])
    for where, byte, how in edits:
        at = min(int(where * len(data)), max(len(data) - 1, 0))
        if how == "set" and data:
            data[at] = byte
        elif how == "insert":
            data.insert(at, byte)
        elif data:
            del data[at]
    _load(suffix, bytes(data[: max(1, int(len(data) * cut))]))


def test_the_mutations_reach_parsers_not_only_the_first_check(seeds):
    """A lightly edited file still parses: the fuzz exercises the parsers, not just the empty-file check."""
    for suffix, data in seeds.items():
        document = load_document(Path(f"/nonexistent/seed{suffix}"), data=data)
        assert document.text.strip(), suffix
