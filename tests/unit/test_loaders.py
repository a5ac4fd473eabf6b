from __future__ import annotations

import pytest

from core.errors import IngestError
from ingest.loaders import load_document, meeting_fields


def test_markdown_title_and_meeting_fields(tmp_path):
    path = tmp_path / "sync.md"
    path.write_text("# Weekly sync\n\nDate: 2026-03-14\nAttendees: Ana Ruiz, Bo Chen and Cleo Park\n\nNotes.\n")
    doc = load_document(path)
    assert doc.title == "Weekly sync"
    assert doc.kind == "meeting"
    assert doc.metadata["date"] == "2026-03-14"
    assert doc.metadata["attendees"] == ["Ana Ruiz", "Bo Chen", "Cleo Park"]
    assert doc.source == str(path.resolve())
    assert len(doc.content_hash) == 64


def test_text_without_meeting_header_is_a_document(tmp_path):
    path = tmp_path / "faq.txt"
    path.write_text("IT FAQ\nReset your password at the portal.\n")
    doc = load_document(path)
    assert doc.kind == "document"
    assert doc.title == "IT FAQ"


def test_same_path_same_id_new_content_new_hash(tmp_path):
    path = tmp_path / "a.md"
    path.write_text("one")
    first = load_document(path)
    path.write_text("two")
    second = load_document(path)
    assert first.id == second.id
    assert first.content_hash != second.content_hash


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"  \n\t\n", "empty file"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary content"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "not valid UTF-8"),
        ("image.png", b"whatever", "unsupported file type"),
    ],
)
def test_bad_input_names_file_and_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as info:
        load_document(path)
    assert info.value.path == str(path)
    assert reason in info.value.reason


def test_oversize_file_is_refused(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    with pytest.raises(IngestError, match="over the 1000-byte limit"):
        load_document(path, max_bytes=1000)


def test_unreadable_file(tmp_path):
    # A dangling link: a common kind of unreadable file on shared drives (and unreadable even for root).
    path = tmp_path / "gone.md"
    path.symlink_to(tmp_path / "missing-target.md")
    with pytest.raises(IngestError, match="cannot read"):
        load_document(path)


def test_meeting_fields_bold_markdown():
    fields = meeting_fields("**Date:** 2026-01-02\n**Attendees:** A One; B Two\n")
    assert fields == {"date": "2026-01-02", "attendees": ["A One", "B Two"]}


def test_discover_honours_loreignore_and_hidden_files(tmp_path):
    from ingest.pipeline import discover

    (tmp_path / "docs" / "gold").mkdir(parents=True)
    for name in ("docs/a.md", "docs/b.txt", "docs/gold/g.md", "README.md", "docs/.hidden.md", "docs/c.png"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".loreignore").write_text("# comment\nREADME.md\ndocs/gold/\n")
    files, missing, _ = discover([tmp_path, tmp_path / "nope"])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["docs/a.md", "docs/b.txt"]
    assert missing[0].path.endswith("nope") and "no such file" in missing[0].reason


def test_qmsum_meeting_loads_as_turns(tmp_path):
    import json

    path = tmp_path / "meeting.json"
    turns = [{"speaker": "PM", "content": "Let 's start ."}, {"speaker": "UI", "content": "The remote  needs buttons ."},
             {"speaker": "PM", "content": "Agreed ."}]
    path.write_text(json.dumps({"meeting_transcripts": turns, "topic_list": []}))
    doc = load_document(path)
    assert doc.kind == "meeting"
    assert doc.metadata["attendees"] == ["PM", "UI"]
    spans = doc.metadata["turns"]
    assert len(spans) == 3
    assert doc.text[spans[1]["start"] : spans[1]["end"]] == "UI: The remote needs buttons ."


def test_unrecognised_or_broken_json_is_reported(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"meeting_transcripts": [')
    with pytest.raises(IngestError, match="invalid JSON at line 1"):
        load_document(broken)
    other = tmp_path / "other.json"
    other.write_text('42')
    with pytest.raises(IngestError, match="not a recognised document shape"):
        load_document(other)


def test_discover_reads_only_regular_files_and_never_follows_a_link_out_of_the_folder(tmp_path):
    import os

    from ingest.pipeline import discover

    root, outside = tmp_path / "drive", tmp_path / "elsewhere"
    (root / "team").mkdir(parents=True)
    outside.mkdir()
    (root / "good.md").write_text("# Good\n\nA real note.\n")
    (outside / "secret.txt").write_text("root:x:0:0\n")
    (root / "shadow.txt").symlink_to(outside / "secret.txt")
    (root / "zero.txt").symlink_to("/dev/zero")
    (root / "loop.md").symlink_to(root / "loop.md")
    (root / "team" / "alias.md").symlink_to(root / "good.md")
    os.mkfifo(root / "pipe.txt")
    undecodable = os.fsdecode(b"caf\xe9.md")
    (root / undecodable).write_text("latin-1 name\n")

    def outcome(follow: bool) -> tuple[list[str], dict[str, str]]:
        files, failed, _ = discover([root], follow_symlinks=follow)
        return [p.relative_to(root).as_posix() for p in files], {f.path: f.reason for f in failed}

    files, failed = outcome(follow=False)
    assert files == ["good.md"]
    assert failed[str(root / "pipe.txt")] == "not a regular file (FIFO)"
    for name in ("shadow.txt", "zero.txt", "loop.md", "team/alias.md"):
        assert failed[str(root / name)].startswith("symbolic link, not followed"), name
    assert failed[str(root) + "/caf\\xe9.md"] == "file name is not valid UTF-8"  # printable, and per file

    # Following links stays inside the folder: out of it, to a device, or round a loop, never.
    files, failed = outcome(follow=True)
    assert files == ["good.md", "team/alias.md"]
    assert failed[str(root / "shadow.txt")] == f"symbolic link to {outside / 'secret.txt'}, outside the folders being ingested"
    assert "outside the folders being ingested" in failed[str(root / "zero.txt")]
    assert failed[str(root / "loop.md")] == "symbolic link loop"
    assert failed[str(root / "pipe.txt")] == "not a regular file (FIFO)"


@pytest.mark.parametrize(("data", "expected"), [
    ("Ünïcode handbook\n".encode("utf-16"), "Ünïcode handbook"),  # little-endian with its mark
    (b"\xfe\xff" + "Hello from UTF-16BE\n".encode("utf-16-be"), "Hello from UTF-16BE"),
    (b"\xef\xbb\xbfUTF-8 with a mark\r\n", "UTF-8 with a mark"),
])
def test_text_named_by_a_byte_order_mark_is_decoded(tmp_path, data, expected):
    path = tmp_path / "note.txt"
    path.write_bytes(data)
    assert load_document(path).text.strip() == expected


@pytest.mark.parametrize(("data", "reason"), [
    (b"\xef\xbb\xbf", "empty file"),  # a byte-order mark alone
    (b"\xff\xfe", "empty file"),
    (b"plain text\n" * 2000 + b"\x00tail", "binary content"),  # a NUL past the first 8 KiB
    ("text\x00inside".encode("utf-16"), "binary content"),
    (b"\xff\xfe\x00\xd8", "not valid UTF-16 text"),  # a lone surrogate
])
def test_empty_binary_or_broken_text_is_refused_with_its_reason(tmp_path, data, reason):
    path = tmp_path / "note.txt"
    path.write_bytes(data)
    with pytest.raises(IngestError, match=reason):
        load_document(path)


def test_yaml_front_matter_becomes_metadata_not_text(tmp_path):
    path = tmp_path / "leave.md"
    path.write_text("---\ntitle: Leave types\nauthor: Dana Ortiz\ndate: 2024-05-01\n"
                    "keywords: vacation, jury duty, parental leave\ntags: [hr]\nredirect_from:\n  - /leave/\n---\n\n"
                    "# Annual leave\n\nEmployees earn four hours per pay period.\n")
    doc = load_document(path)
    assert doc.title == "Leave types"
    assert doc.text.startswith("# Annual leave") and "redirect_from" not in doc.text and "---" not in doc.text
    assert doc.metadata["authors"] == ["Dana Ortiz"]
    assert doc.metadata["dates"] == {"date": "2024-05-01"}
    assert doc.metadata["tags"] == ["hr", "vacation", "jury duty", "parental leave"]
    assert doc.metadata["front_matter"]["redirect_from"] == ["/leave/"]


def test_front_matter_that_is_not_yaml_stays_text_and_a_horizontal_rule_is_not_front_matter(tmp_path, caplog):
    broken = tmp_path / "broken.md"
    broken.write_text("---\ntitle: [unclosed\n---\n\nBody text.\n")
    doc = load_document(broken)
    assert doc.text.startswith("---\ntitle: [unclosed") and "front_matter" not in doc.metadata
    assert "broken.md" in caplog.text and "not valid YAML" in caplog.text
    rule = tmp_path / "rule.md"
    rule.write_text("# Notes\n\n---\n\nkey: value\n---\n")
    assert load_document(rule).text.startswith("# Notes") and "front_matter" not in load_document(rule).metadata


def test_a_page_that_is_all_front_matter_is_still_a_document(tmp_path):
    path = tmp_path / "org-chart.md"
    path.write_text("---\ntitle: Office org chart\nredirect_to: https://example.org/chart\n---\n")
    doc = load_document(path)
    assert doc.title == "Office org chart" and doc.text == "# Office org chart\n"
    assert doc.metadata["front_matter"]["redirect_to"] == "https://example.org/chart"
