"""A folder of hostile and malformed files beside good ones, for ingest's robustness test and bench.

``write_corpus(root, scale)`` writes ``root/drive`` (what ``lore ingest`` is pointed at) and
``root/outside`` (a file a link in the drive points to, which must never be read). At
``scale=1`` the hostile files are full size (a 1 GiB zip-bomb part, 8M Word paragraphs, a 50 MB
HTML line, ...) and there are about 600 of them; the test suite uses a small scale, where every
kind is still present and still takes the path that guards against it. Each good file holds
a marker phrase found nowhere else, so a test can search for it.
"""

from __future__ import annotations

import io
import json
import os
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

GOOD_TOPICS = (
    "the quarterly budget review", "the onboarding checklist", "the vendor security questionnaire",
    "the incident retrospective", "the design system audit", "the hiring plan", "the data retention policy",
    "the customer interview notes", "the release train", "the accessibility review",
)


@dataclass
class HostileCorpus:
    drive: Path
    outside: Path
    good: dict[str, str] = field(default_factory=dict)  # file name -> marker phrase it holds
    hostile: list[str] = field(default_factory=list)  # names (as written) of files that must be refused
    hidden: list[str] = field(default_factory=list)  # hidden names ingest skips and lists
    sanitised: list[str] = field(default_factory=list)  # malformed text ingest repairs (lone surrogates -> U+FFFD)


def _marker(rng: random.Random) -> str:
    return "marker " + "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'wordprocessingml.document.main+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>')


def _docx_bytes(paragraphs: list[str]) -> bytes:
    """A minimal Word package (the parts python-docx needs), with a body of ``paragraphs``."""
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _RELS)
        package.writestr("word/document.xml", document_xml)
    return buffer.getvalue()


def _zip_bomb(part: str, unpacked_bytes: int) -> bytes:
    """A Word-shaped package whose ``part`` inflates to ``unpacked_bytes`` of spaces (about 1 MB packed per GiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _RELS)
        with package.open(part, "w", force_zip64=True) as member:
            block = b" " * (1 << 20)
            for _ in range(unpacked_bytes >> 20):
                member.write(block)
            member.write(b" " * (unpacked_bytes & ((1 << 20) - 1)))
    return buffer.getvalue()


def _eml(subject: str, body: str, *, attachments: int = 0, html: str | None = None) -> bytes:
    boundary = "lore-boundary"
    head = f"From: Ana <ana@example.com>\nTo: Bo <bo@example.com>\nSubject: {subject}\nDate: Tue, 3 Mar 2026 10:00:00 +0000\n"
    if not attachments and html is None:
        return (head + "Content-Type: text/plain; charset=utf-8\n\n" + body + "\n").encode()
    parts = [f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"]
    if html is not None:
        parts = [f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n{html}\n"]
    parts += [f"--{boundary}\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
              f"filename=\"a{i}.bin\"\n\nAAAA\n" for i in range(attachments)]
    return (head + f"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\n\n"
            + "".join(parts) + f"--{boundary}--\n").encode()


def write_corpus(root: Path, scale: float = 1.0, *, copies: int | None = None, seed: int = 0) -> HostileCorpus:
    """Write the corpus under ``root``. ``copies``: files of each cheap hostile kind (default 30 at
    full scale, 1 below it); the expensive kinds (bombs, huge parsers) get one copy per 10 of those."""
    rng = random.Random(seed)
    drive, outside = root / "drive", root / "outside"
    drive.mkdir(parents=True)
    outside.mkdir(parents=True)
    corpus = HostileCorpus(drive=drive, outside=outside)
    copies = copies if copies is not None else (30 if scale >= 1 else 1)
    heavy = max(1, copies // 10)

    def n(full: int, least: int = 1) -> int:
        return max(least, int(full * scale))

    def hostile(name: str, data: bytes | str) -> None:
        path = drive / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        corpus.hostile.append(name)

    # ---- good files: every format Lore reads, each with its own marker ----
    for i in range(30):
        marker = _marker(rng)
        topic = GOOD_TOPICS[i % len(GOOD_TOPICS)]
        prose = f"This page records {topic}. The team agreed on the {marker} as the next step. Owners were named."
        kind = i % 6
        if kind == 0:
            name, data = f"good-{i:02d}.md", f"# Notes {i}\n\n{prose}\n".encode()
        elif kind == 1:
            name, data = f"good-{i:02d}.txt", f"Notes {i}\n\n{prose}\n".encode("utf-16")  # UTF-16 with its BOM
        elif kind == 2:
            name, data = f"good-{i:02d}.html", f"<html><head><title>Notes {i}</title></head><body><p>{prose}</p></body></html>".encode()
        elif kind == 3:
            name, data = f"good-{i:02d}.docx", _docx_bytes([f"Notes {i}", prose])
        elif kind == 4:
            name, data = f"good-{i:02d}.eml", _eml(f"Notes {i}", prose)
        else:
            name, data = f"good-{i:02d}.json", json.dumps([{"title": f"Notes {i}", "body": prose}]).encode()
        (drive / name).write_bytes(data)
        corpus.good[name] = marker

    # ---- links, special files and names ----
    secret = outside / "secret.txt"
    secret.write_text("outside secret: this text must never be ingested\n")
    for c in range(copies):
        os.symlink(secret, drive / f"shadow-{c}.txt")  # a link out of the drive
        os.symlink(f"loop-b-{c}.md", drive / f"loop-a-{c}.md")  # a loop
        os.symlink(f"loop-a-{c}.md", drive / f"loop-b-{c}.md")
        os.symlink("/dev/zero", drive / f"zero-{c}.txt")  # a device behind a link
        os.mkfifo(drive / f"pipe-{c}.txt")
        (drive / os.fsdecode(f"bad-name-{c}-\xff\xfe.md".encode("latin-1"))).write_text("# A name that is not UTF-8\n")
        corpus.hostile += [f"shadow-{c}.txt", f"loop-a-{c}.md", f"loop-b-{c}.md", f"zero-{c}.txt", f"pipe-{c}.txt",
                           f"bad-name-{c}-\\xff\\xfe.md"]
        for hidden_name in (f".hidden-{c}.md", f"..dots-{c}.md"):
            (drive / hidden_name).write_text("# hidden\n")
            corpus.hidden.append(hidden_name)

    # ---- malformed text and records (cheap) ----
    for c in range(copies):
        (drive / f"surrogates-{c}.json").write_text(r'[{"title": "\ud800\udbff x", "body": "lone surrogates \udc00 here"}]')
        corpus.sanitised.append(f"surrogates-{c}.json")
        hostile(f"bom-only-{c}.md", b"\xef\xbb\xbf")
        hostile(f"empty-{c}.txt", b"")
        hostile(f"late-nul-{c}.md", b"# Late NUL\n\n" + b"text " * 4000 + b"\x00 tail")
        hostile(f"bad-utf8-{c}.md", b"# Bad\n\n\xc3\x28 invalid sequence")
        hostile(f"binary-{c}.pdf", bytes(rng.getrandbits(8) for _ in range(2048)))
        hostile(f"truncated-{c}.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog")
        hostile(f"not-a-zip-{c}.docx", b"PK\x03\x04 this is not a zip archive")
        hostile(f"encrypted-{c}.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024))
        hostile(f"deep-{c}.json", "[" * n(200_000, 5000) + "]" * n(200_000, 5000))
        hostile(f"bad-json-{c}.json", '{"title": "unterminated')
        hostile(f"bad-jsonl-{c}.jsonl", '{"a": 1}\n{"b": \n')
        hostile(f"header-only-{c}.csv", "name,owner\n")
        hostile(f"huge-field-{c}.csv", 'name,notes\nx,"' + "y" * n(2_000_000, 200_000) + "\n")
        hostile(f"bad-vtt-{c}.vtt", "WEBVTT\n\nnot a cue\n00:00 --> garbage\n")
        hostile(f"no-turns-{c}.srt", "1\n00:00:01,000 --> 00:00:02,000\n\n")
        hostile(f"not-mail-{c}.eml", "just some words, no headers at all\n")

    # ---- expensive parsers, bombs and huge files ----
    for c in range(heavy):
        hostile(f"bomb-{c}.docx", _zip_bomb("word/document.xml", n(1 << 30, 64 << 20)))
        hostile(f"bomb-{c}.pptx", _zip_bomb("ppt/slides/slide1.xml", n(1 << 30, 64 << 20)))
        hostile(f"many-paragraphs-{c}.docx", _docx_bytes(["p"] * n(8_000_000, 210_000)))
        hostile(f"nested-{c}.html", "<html><body>" + "<div>" * n(1_000_000, 100_000) + "deep" + "</div>" * 3 + "</body></html>")
        hostile(f"unclosed-{c}.html", "<html><body>" + "<p><b><i><span>x" * n(1_000_000, 50_000))
        hostile(f"long-line-{c}.html", "<html><body><p>" + "word " * n(10_000_000, 2_200_000) + "</p></body></html>")
        hostile(f"huge-subject-{c}.eml", _eml("S" * n(5_000_000, 500_000), "body text"))
        hostile(f"attachments-{c}.eml", _eml("Many attachments", "body text", attachments=n(20_000, 2000)))
        hostile(f"nested-mail-{c}.eml", _eml("Nested", "", html="<div>" * n(500_000, 50_000) + "x"))
        hostile(f"too-big-{c}.md", b"# Too big\n\n" + b"x" * (51 * 1024 * 1024 if scale >= 1 else 13 * 1024 * 1024))
    return corpus
