"""Every supported format, from fixtures written here with the formats' own writer libraries."""

from __future__ import annotations

import datetime as dt
import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from core.errors import IngestError
from core.types import Chunk
from ingest.chunking import Chunker
from ingest.loaders import load_document, supported_suffixes


def _chunks(path: Path, size: int = 400) -> list[Chunk]:
    return Chunker(size, 40).split(load_document(path))


def _write_pdf(path: Path, pages: list[list[str]], *, title: str | None = None, author: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_every_format_is_registered():
    assert {".md", ".txt", ".html", ".htm", ".pdf", ".docx", ".pptx", ".eml", ".csv", ".json", ".jsonl", ".vtt",
            ".srt"} <= supported_suffixes()


# ---- HTML ---------------------------------------------------------------------
def test_html_headings_become_heading_path_and_chrome_is_dropped(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Expense policy</title><meta name='author' content='Finance Team'>"
        "<script>var tracking = 1;</script><style>body{}</style></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/x'>Site map</a></nav>"
        "<h1>Expenses</h1><p>Keep every receipt.</p><h2>Travel</h2><p>Book economy class.</p>"
        "<ul><li>Trains first</li><li>Flights over 500 km</li></ul><footer>Copyright</footer></body></html>"
    )
    doc = load_document(path)
    assert doc.title == "Expense policy"
    assert doc.metadata["author"] == "Finance Team"
    assert "tracking" not in doc.text and "Site map" not in doc.text and "Copyright" not in doc.text
    assert "# Expenses" in doc.text and "## Travel" in doc.text and "- Trains first" in doc.text
    chunks = Chunker(60, 0).split(doc)
    travel = next(c for c in chunks if "economy" in c.text)
    assert travel.metadata["heading_path"] == ["Expenses", "Travel"]
    assert travel.metadata["author"] == "Finance Team"


# ---- PDF ----------------------------------------------------------------------
def test_pdf_text_layer_pages_and_metadata(tmp_path):
    path = _write_pdf(tmp_path / "brief.pdf", [["Project Tern brief", "Tern ships in May."], ["Budget is 40k EUR."]],
                      title="Tern brief", author="Ana Ruiz")
    doc = load_document(path)
    assert doc.title == "Tern brief"
    assert doc.metadata["author"] == "Ana Ruiz"
    assert doc.metadata["page_count"] == 2
    assert "Tern ships in May." in doc.text and "Budget is 40k EUR." in doc.text
    chunks = Chunker(100, 0).split(doc)
    budget = next(c for c in chunks if "Budget" in c.text)
    assert budget.metadata["page_end"] == 2


def test_encrypted_pdf_is_refused(tmp_path):
    from pypdf import PdfReader, PdfWriter

    plain = _write_pdf(tmp_path / "plain.pdf", [["Secret salaries"]])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as fh:
        writer.write(fh)
    with pytest.raises(IngestError, match="encrypted PDF"):
        load_document(locked)


def test_pdf_without_text_layer_and_corrupt_pdf(tmp_path):
    from fpdf import FPDF

    scanned = FPDF()
    scanned.add_page()
    scanned.rect(10, 10, 100, 100, style="F")  # a page with drawing only, as a scan has an image only
    scanned.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(IngestError, match=r"no text layer \(scanned PDF\?\)"):
        load_document(tmp_path / "scan.pdf")
    good = _write_pdf(tmp_path / "good.pdf", [["Hello"]]).read_bytes()
    (tmp_path / "truncated.pdf").write_bytes(good[: len(good) // 3])
    (tmp_path / "garbage.pdf").write_bytes(b"this is not a pdf at all")
    for name in ("truncated.pdf", "garbage.pdf"):
        with pytest.raises(IngestError) as info:
            load_document(tmp_path / name)
        assert info.value.path.endswith(name)
        assert "PDF" in info.value.reason or "parse" in info.value.reason


# ---- Word / PowerPoint --------------------------------------------------------
def test_docx_headings_tables_and_core_properties(tmp_path):
    import docx

    document = docx.Document()
    document.core_properties.author = "Bo Chen"
    document.core_properties.created = dt.datetime(2026, 3, 1, 9, 30)
    document.add_heading("Security policy", level=0)
    document.add_paragraph("Applies to all staff.")
    document.add_heading("Passwords", level=1)
    document.add_paragraph("Use a password manager. " * 5)
    document.add_heading("Rotation", level=2)
    document.add_paragraph("Rotate keys every 90 days.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "System", "Owner"
    table.cell(1, 0).text, table.cell(1, 1).text = "VPN", "IT"
    path = tmp_path / "policy.docx"
    document.save(path)
    doc = load_document(path)
    assert doc.title == "Security policy"
    assert doc.metadata["author"] == "Bo Chen"
    assert doc.metadata["date"] == "2026-03-01"
    assert "VPN | IT" in doc.text
    rotation = next(c for c in Chunker(60, 0).split(doc) if "90 days" in c.text)
    assert rotation.metadata["heading_path"] == ["Security policy", "Passwords", "Rotation"]
    assert rotation.metadata["author"] == "Bo Chen"


def test_pptx_one_section_per_slide(tmp_path):
    from pptx import Presentation

    deck = Presentation()
    deck.core_properties.title = "Q3 review"
    deck.core_properties.author = "Cleo Park"
    for heading, body in [("Revenue", "Revenue grew 12 percent."), ("Hiring", "We hired four engineers.")]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = heading
        slide.placeholders[1].text = body
    deck.slides[1].notes_slide.notes_text_frame.text = "Mention the Lisbon office."
    path = tmp_path / "review.pptx"
    deck.save(path)
    doc = load_document(path)
    assert doc.title == "Q3 review" and doc.metadata["author"] == "Cleo Park"
    assert doc.metadata["slide_count"] == 2
    chunks = Chunker(60, 0).split(doc)
    hiring = next(c for c in chunks if "four engineers" in c.text)
    assert hiring.metadata["heading_path"] == ["Q3 review", "Hiring"]
    assert "Lisbon" in doc.text


@pytest.mark.parametrize("suffix", [".docx", ".pptx"])
def test_corrupt_and_encrypted_office_files(tmp_path, suffix):
    corrupt = tmp_path / f"broken{suffix}"
    corrupt.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(IngestError, match="corrupt"):
        load_document(corrupt)
    locked = tmp_path / f"locked{suffix}"  # password-protected Office files are OLE containers
    locked.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    with pytest.raises(IngestError, match="encrypted"):
        load_document(locked)


# ---- e-mail -------------------------------------------------------------------
def _email(tmp_path: Path, *, html_only: bool) -> Path:
    message = EmailMessage()
    message["From"] = "Ana Ruiz <ana@fernhill.example>"
    message["To"] = "Bo Chen <bo@fernhill.example>, ops@fernhill.example"
    message["Cc"] = "Cleo Park <cleo@fernhill.example>"
    message["Subject"] = "Kestrel launch date"
    message["Date"] = "Tue, 10 Mar 2026 14:05:00 +0100"
    if html_only:
        message.set_content("<html><body><h2>Decision</h2><p>Launch moves to <b>June</b>.</p></body></html>", subtype="html")
    else:
        message.set_content("Launch moves to June.\n")
        message.add_alternative("<p>HTML version</p>", subtype="html")
    path = tmp_path / ("html.eml" if html_only else "plain.eml")
    path.write_bytes(message.as_bytes())
    return path


def test_email_metadata_and_plain_part_preferred(tmp_path):
    doc = load_document(_email(tmp_path, html_only=False))
    assert doc.title == "Kestrel launch date"
    assert doc.metadata["sender"] == "Ana Ruiz <ana@fernhill.example>"
    assert doc.metadata["recipients"] == ["Bo Chen <bo@fernhill.example>", "ops@fernhill.example",
                                          "Cleo Park <cleo@fernhill.example>"]
    assert doc.metadata["date"] == "2026-03-10"
    assert "Launch moves to June." in doc.text and "HTML version" not in doc.text
    assert Chunker(400, 0).split(doc)[0].metadata["author"] == "Ana Ruiz <ana@fernhill.example>"


def test_email_html_body_is_converted(tmp_path):
    doc = load_document(_email(tmp_path, html_only=True))
    assert "## Decision" in doc.text and "Launch moves to June ." in doc.text.replace("June.", "June .")
    assert "<p>" not in doc.text


# ---- records ------------------------------------------------------------------
def test_csv_rows_become_sections(tmp_path):
    path = tmp_path / "vendors.csv"
    path.write_text("name,service,contact\nAcme Freight,logistics,ops@acme.example\nBrightCloud,hosting,\n")
    doc = load_document(path)
    assert doc.metadata["record_count"] == 2
    assert "## Record 1: Acme Freight\n\nname: Acme Freight\nservice: logistics" in doc.text
    chunks = Chunker(100, 0).split(doc)
    cloud = next(c for c in chunks if "hosting" in c.text)
    assert cloud.metadata["heading_path"] == ["vendors", "Record 2: BrightCloud"]
    assert "contact:" not in cloud.text  # empty fields are left out


def test_json_records_and_jsonl(tmp_path):
    path = tmp_path / "people.json"
    path.write_text(json.dumps({"people": [{"name": "Ana Ruiz", "team": "Platform"}, {"name": "Bo Chen", "team": "Ops",
                                                                                     "skills": ["go", "k8s"]}]}))
    doc = load_document(path)
    assert doc.metadata["record_count"] == 2 and "team: Platform" in doc.text and 'skills: ["go", "k8s"]' in doc.text
    lines = tmp_path / "tickets.jsonl"
    lines.write_text('{"id": "T-1", "title": "VPN down"}\n\n{"id": "T-2", "title": "Printer"}\n')
    assert "## Record 2: Printer" in load_document(lines).text
    broken = tmp_path / "bad.jsonl"
    broken.write_text('{"id": 1}\n{oops\n')
    with pytest.raises(IngestError, match="line 2"):
        load_document(broken)


# ---- transcripts --------------------------------------------------------------
VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Ana Ruiz>Good morning, let's review the Wren incident.

00:00:04.500 --> 00:00:06.000
<v Ana Ruiz>It started on Friday.

00:00:07.000 --> 00:00:10.000
Bo Chen: The root cause was an expired certificate.

00:00:11.000 --> 00:00:14.000
<v Cleo Park>I will add monitoring for expiry.
"""

SRT = """1
00:00:01,000 --> 00:00:03,000
Ana Ruiz: Budget is approved.

2
00:00:03,500 --> 00:00:05,000
Bo Chen: Great, we start Monday.
"""


def test_webvtt_voices_and_name_prefixes_become_turns(tmp_path):
    path = tmp_path / "incident.vtt"
    path.write_text(VTT)
    doc = load_document(path)
    assert doc.kind == "meeting"
    assert doc.metadata["attendees"] == ["Ana Ruiz", "Bo Chen", "Cleo Park"]
    turns = doc.metadata["turns"]
    assert len(turns) == 3  # Ana's two cues merge into one turn
    assert turns[0]["time"] == "00:00:01" and turns[0]["time_end"] == "00:00:06"
    assert doc.text[turns[1]["start"] : turns[1]["end"]] == "Bo Chen: The root cause was an expired certificate."
    chunks = Chunker(100, 0).split(doc)
    assert chunks[0].metadata["speakers"] == ["Ana Ruiz"]
    assert chunks[-1].metadata["time_end"] == "00:00:14"


def test_srt_transcript(tmp_path):
    path = tmp_path / "kickoff.srt"
    path.write_text(SRT)
    doc = load_document(path)
    assert doc.metadata["format"] == "srt"
    assert [t["speaker"] for t in doc.metadata["turns"]] == ["Ana Ruiz", "Bo Chen"]
    assert doc.metadata["turns"][1]["time"] == "00:00:03"


def test_malformed_subtitles_are_reported(tmp_path):
    path = tmp_path / "broken.vtt"
    path.write_text("not a caption file\n\nhello\n")
    with pytest.raises(IngestError, match="(?i)vtt"):
        load_document(path)


def test_plain_transcript_with_timestamps(tmp_path):
    path = tmp_path / "standup.txt"
    path.write_text(
        "[00:00:05] Ana Ruiz: Morning all.\n"
        "[00:00:09] Bo Chen: Deploy is green,\n"
        "and the rollback plan is ready.\n"
        "00:01:02 Cleo Park: I am blocked on the VPN.\n"
        "[00:01:30] Ana Ruiz: Bo, can you help Cleo?\n"
    )
    doc = load_document(path)
    assert doc.kind == "meeting" and doc.metadata["format"] == "transcript"
    turns = doc.metadata["turns"]
    assert [t["speaker"] for t in turns] == ["Ana Ruiz", "Bo Chen", "Cleo Park", "Ana Ruiz"]
    assert [t["time"] for t in turns] == ["00:00:05", "00:00:09", "00:01:02", "00:01:30"]
    assert doc.text[turns[1]["start"] : turns[1]["end"]] == "Bo Chen: Deploy is green, and the rollback plan is ready."


def test_prose_with_a_few_colons_is_not_a_transcript(tmp_path):
    path = tmp_path / "faq.txt"
    path.write_text("IT FAQ\n\nNote: restart first.\nThe VPN needs a token.\nPrinters are on floor 2.\n"
                    "Tip: use the portal.\nPasswords expire yearly.\n")
    assert load_document(path).kind == "document"


def test_meeting_notes_header_decisions_and_action_items(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Ops sync\nDate: 2026-04-01\nAttendees: Ana Ruiz, Bo Chen\n\nDecisions:\n- Move on-call to Mondays.\n"
                    "Discussion went long.\n\nAction items:\n1. Bo Chen: update the rota\n- [ ] Ana Ruiz: tell the team\n")
    doc = load_document(path)
    assert doc.kind == "meeting" and doc.metadata["attendees"] == ["Ana Ruiz", "Bo Chen"]
    assert doc.metadata["decisions"] == ["Move on-call to Mondays."]
    assert doc.metadata["action_items"] == ["Bo Chen: update the rota", "Ana Ruiz: tell the team"]
    markdown = tmp_path / "notes.md"
    markdown.write_text("# Sync\n\nAttendees: Ana Ruiz\n\n## Decisions\n\n- Ship it\n\n## Notes\n\n- not a decision\n")
    assert load_document(markdown).metadata["decisions"] == ["Ship it"]


# ---- language -----------------------------------------------------------------
def test_language_is_detected_per_document(tmp_path):
    (tmp_path / "en.md").write_text("# Leave\n\nEmployees get twenty-five days of paid leave every year.")
    (tmp_path / "zh.md").write_text("# 上海办公室\n\n上海办公室负责亚太地区的销售和客户支持工作，团队共有十二名员工。")
    assert load_document(tmp_path / "en.md").language == "en"
    assert load_document(tmp_path / "zh.md").language == "zh"
