"""Word ``.docx`` (python-docx) and PowerPoint ``.pptx`` (python-pptx).

Word headings (paragraph styles "Title", "Heading 1".."Heading 9") and slide
titles become Markdown headings, so chunks carry a heading path.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from core.errors import IngestError
from ingest.loaders.base import Parsed, require_text, tidy

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML and legacy .doc/.ppt files
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


# What a Word or PowerPoint package may unpack to. Real documents stay far below: a 300-page
# report's XML is tens of MB, and XML packs about 10:1. A zip bomb (a 1 GiB part packed into
# 1 MB) is refused from its directory, before anything is inflated.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_PACKING_RATIO = 200  # uncompressed / compressed, for any part over 1 MiB
MAX_PARTS = 10_000
# Paragraphs and tables read from one Word document: a 1,000-page book has about 20,000; python-docx
# takes about 20 s per million, and a generated file can hold eight million.
MAX_BLOCKS = 200_000


def _check_package(path: Path, data: bytes, kind: str) -> None:
    if not data:
        raise IngestError(path, "empty file")
    if data.startswith(_OLE_MAGIC):
        raise IngestError(path, f"encrypted (password-protected) or legacy binary {kind} file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            parts = package.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise IngestError(path, f"corrupt {kind} file (not a ZIP package)") from None
    check_unpacked_size(path, parts)


def check_unpacked_size(path: Path, parts: list[zipfile.ZipInfo]) -> None:
    """Refuse a ZIP container whose directory says it inflates past the limits (the read itself is
    bounded by these declared sizes: ``zipfile`` stops at a part's ``file_size``)."""
    if len(parts) > MAX_PARTS:
        raise IngestError(path, f"ZIP package has {len(parts)} parts, over the {MAX_PARTS} limit")
    total = sum(p.file_size for p in parts)
    if total > MAX_UNPACKED_BYTES:
        raise IngestError(path, f"ZIP package unpacks to {total} bytes, over the {MAX_UNPACKED_BYTES}-byte limit "
                                "(a zip bomb?)")
    for part in parts:
        if part.file_size > 1 << 20 and part.file_size > MAX_PACKING_RATIO * max(part.compress_size, 1):
            raise IngestError(path, f"ZIP part {part.filename!r} is packed {part.file_size // max(part.compress_size, 1)}:1, "
                                    f"over the {MAX_PACKING_RATIO}:1 limit (a zip bomb?)")


def _core_metadata(props) -> dict:
    metadata: dict = {}
    if props.author:
        metadata["author"] = props.author.strip()
    if props.created:
        metadata["date"] = props.created.date().isoformat()
        metadata["created"] = props.created.isoformat()
    return metadata


def docx(path: Path, data: bytes) -> Parsed:
    import docx as python_docx
    from docx.opc.exceptions import PackageNotFoundError

    _check_package(path, data, ".docx")
    try:
        document = python_docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise IngestError(path, f"corrupt .docx file: {exc}") from None
    lines: list[str] = []
    first_heading = None
    # Paragraphs and tables in body order, so a table stays under its heading.
    for count, block in enumerate(document.iter_inner_content(), 1):
        if count > MAX_BLOCKS:
            raise IngestError(path, f"more than {MAX_BLOCKS} paragraphs and tables in the .docx document")
        if hasattr(block, "rows"):
            for row in block.rows:
                cells = list(dict.fromkeys(cell.text.strip() for cell in row.cells))
                lines.append(" | ".join(cells))
            lines.append("")
            continue
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        match = _HEADING_STYLE.match(style)
        # "Title" is the top level and "Heading N" sits under it, so a titled document nests properly.
        level = 1 if style.lower() == "title" else int(match.group(1)) + 1 if match else 0
        if level:
            lines.extend(["", f"{'#' * min(level, 6)} {text}", ""])
            first_heading = first_heading or text
        else:
            lines.extend([text, ""])
    text = require_text(path, tidy("\n".join(lines)), "no text in the .docx document")
    props = document.core_properties
    title = (props.title or "").strip() or first_heading or path.stem
    return Parsed(text=text, title=title, metadata={"format": "docx", **_core_metadata(props)})


def pptx(path: Path, data: bytes) -> Parsed:
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    _check_package(path, data, ".pptx")
    try:
        deck = Presentation(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise IngestError(path, f"corrupt .pptx file: {exc}") from None
    sections: list[str] = []
    for number, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        heading = title_shape.text_frame.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
        body: list[str] = []
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if shape.has_text_frame:
                body.extend(p for p in (para.text.strip() for para in shape.text_frame.paragraphs) if p)
            elif getattr(shape, "has_table", False) and shape.has_table:
                body.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in shape.table.rows)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame.text.strip() if slide.notes_slide.notes_text_frame else ""
            if notes:
                body.append(f"Notes: {notes}")
        if heading or body:
            sections.append(f"## {heading or f'Slide {number}'}\n\n" + "\n".join(body))
    props = deck.core_properties
    title = (props.title or "").strip() or path.stem
    text = require_text(path, tidy(f"# {title}\n\n" + "\n\n".join(sections)) if sections else "", "no text on any slide")
    return Parsed(text=text, title=title, metadata={"format": "pptx", "slide_count": len(deck.slides), **_core_metadata(props)})
