"""PDF text layer (pypdf). Scanned PDFs without text and password-protected PDFs are refused."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PdfStreamError

from core.errors import IngestError
from ingest.loaders.base import Parsed, require_text, tidy

# pypdf logs every recoverable oddity of real-world PDFs as a warning; the result is what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def pdf(path: Path, data: bytes) -> Parsed:
    require_text(path, data.decode("latin-1"), "empty file")
    if not data.lstrip().startswith(b"%PDF"):
        raise IngestError(path, "corrupt PDF: no %PDF header")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Files with only an owner password (print/copy restrictions) open with the empty password.
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise IngestError(path, f"encrypted PDF (cannot decrypt: {exc})") from None
            if not opened:
                raise IngestError(path, "encrypted PDF (password required)")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except IngestError:
        raise
    except FileNotDecryptedError:
        raise IngestError(path, "encrypted PDF (password required)") from None
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IngestError(path, f"corrupt PDF: {exc}") from None
    # Page starts are kept so each chunk can cite its page.
    parts: list[str] = []
    page_starts: list[int] = []
    offset = 0
    for page_text in pages:
        page_text = tidy(page_text)
        page_starts.append(offset)
        parts.append(page_text)
        offset += len(page_text) + 2
    text = "\n\n".join(parts)
    if not text.strip():
        raise IngestError(path, "no text layer (scanned PDF?)")
    metadata: dict = {"format": "pdf", "page_count": len(pages), "pages": page_starts}
    title = None
    if info is not None:
        title = (info.title or "").strip() or None
        if info.author:
            metadata["author"] = info.author.strip()
        try:
            created = info.creation_date
        except (ValueError, TypeError):  # malformed date strings are common
            created = None
        if created:
            metadata["date"] = created.date().isoformat()
    if not title:
        title = next((line.strip() for line in text.splitlines() if 0 < len(line.strip()) <= 100), path.stem)
    return Parsed(text=text, title=title, metadata=metadata)
