"""WebVTT and SRT transcripts (webvtt-py): cues become speaker turns with their times.

The speaker comes from a WebVTT voice tag (``<v Ana Ruiz>``) or a ``Name: text``
cue; consecutive cues of one speaker merge into one turn.
"""

from __future__ import annotations

import re
from pathlib import Path

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from core.errors import IngestError
from ingest.loaders.base import Parsed, Turn, decode, transcript

_SPEAKER = re.compile(r"^\s*(?:-\s*)?([A-Z0-9][\w.'’ -]{0,39}?)\s*:\s+(\S.*)$", re.S)
UNKNOWN_SPEAKER = "Unknown"


def _caption_time(value: str) -> str:
    return value.split(".")[0]  # hh:mm:ss is precise enough to find the moment


def subtitles(path: Path, data: bytes) -> Parsed:
    text = decode(path, data)
    fmt = "srt" if path.suffix.lower() == ".srt" else "vtt"
    try:
        captions = webvtt.from_buffer(iter(text.splitlines(keepends=True)), format=fmt)
    except (MalformedFileError, MalformedCaptionError, ValueError) as exc:
        raise IngestError(path, f"malformed {fmt.upper()} file: {exc}") from None
    turns: list[Turn] = []
    for caption in captions:
        words = " ".join(caption.text.split())
        speaker = caption.voice
        if not speaker:
            match = _SPEAKER.match(words)
            speaker, words = (match.group(1).strip(), match.group(2).strip()) if match else (None, words)
        speaker = (speaker or (turns[-1].speaker if turns else UNKNOWN_SPEAKER)).strip()
        if not words:
            continue
        start, end = _caption_time(caption.start), _caption_time(caption.end)
        if turns and turns[-1].speaker == speaker:
            last = turns[-1]
            turns[-1] = Turn(speaker, f"{last.text} {words}", last.time, end)
        else:
            turns.append(Turn(speaker, words, start, end))
    if not turns:
        raise IngestError(path, f"{fmt.upper()} file has no cues with text")
    return transcript(path, turns, title=path.stem, fmt=fmt)
