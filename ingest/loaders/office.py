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


def _check_package(path: Path, data: bytes, kind: str) -> None:
    if not data:
        raise IngestError(path, "empty file")
    if data.startswith(_OLE_MAGIC):
        raise IngestError(path, f"encrypted (password-protected) or legacy binary {kind} file")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise IngestError(path, f"corrupt {kind} file (not a ZIP package)")


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
    for block in document.iter_inner_content():
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
