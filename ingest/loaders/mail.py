"""E-mail messages (``.eml``) with the standard library's ``email`` package (``policy.default``)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.utils import getaddresses
from pathlib import Path

from core.errors import IngestError
from ingest.loaders.base import Parsed, check_text_bytes, require_text, tidy
from ingest.loaders.html import PageTooComplex, html_to_markdown


# Bounds checked on the raw bytes, before the standard library parses anything: its header
# parser took 10 s on a 5 MB Subject, and 8 s on 20,000 attachments. A real message's headers
# are a few KB (a long recipient list tens of KB), and few messages have more than 100 parts.
MAX_HEADER_BYTES = 256 * 1024
MAX_PARTS = 1000
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BOUNDARY_LINE = re.compile(rb"^--", re.M)


def _check_bounds(path: Path, data: bytes) -> None:
    end = _HEADER_END.search(data, 0, MAX_HEADER_BYTES + 4)
    if end is None and len(data) > MAX_HEADER_BYTES:
        raise IngestError(path, f"e-mail headers run past {MAX_HEADER_BYTES // 1024} KiB")
    parts = sum(1 for _ in zip(range(MAX_PARTS + 2), _BOUNDARY_LINE.finditer(data)))
    if parts > MAX_PARTS + 1:  # each part opens with a boundary line, and one more closes the last
        raise IngestError(path, f"e-mail has more than {MAX_PARTS} MIME parts")


def eml(path: Path, data: bytes) -> Parsed:
    check_text_bytes(path, data)
    _check_bounds(path, data)
    message = message_from_bytes(data, policy=policy.default)
    if not any(message.get(h) for h in ("From", "To", "Subject", "Date")):
        raise IngestError(path, "not an e-mail message (no From/To/Subject/Date header)")
    subject = str(message.get("Subject") or "").strip()
    metadata: dict = {"format": "eml", "subject": subject}
    sender = str(message.get("From") or "").strip()
    if sender:
        metadata["sender"] = sender
        metadata["author"] = sender
    recipients = [
        f"{name} <{address}>" if name else address
        for name, address in getaddresses([str(v) for h in ("To", "Cc") for v in message.get_all(h, [])])
        if address
    ]
    if recipients:
        metadata["recipients"] = recipients
    try:
        date = message["Date"].datetime if message.get("Date") else None
    except (TypeError, ValueError, AttributeError):  # an unparseable Date header is kept as text
        date = None
    if date is not None:
        metadata["date"] = date.date().isoformat()
        metadata["sent_at"] = date.isoformat()
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, UnicodeError) as exc:
            raise IngestError(path, f"undecodable e-mail body: {exc}") from None
        try:
            text = html_to_markdown(content)[0] if body.get_content_subtype() == "html" else tidy(content)
        except PageTooComplex as exc:
            raise IngestError(path, f"HTML body {exc}") from None
    attachments = [part.get_filename() for part in message.iter_attachments() if part.get_filename()]
    if attachments:
        metadata["attachments"] = attachments
    require_text(path, text, "e-mail has no text body")
    header = [f"From: {sender}"] if sender else []
    if recipients:
        header.append(f"To: {', '.join(recipients)}")
    if date is not None:
        header.append(f"Sent: {date.isoformat()}")
    title = subject or path.stem
    return Parsed(text=f"# {title}\n\n" + "\n".join(header) + "\n\n" + text, title=title, metadata=metadata)
