"""Query-focused summaries of meetings: "Summarize the discussion about X".

Top-k chunks miss most of a long discussion, so the whole meeting is scored:
every turn gets BM25 (over a three-turn window, so short replies inherit their
exchange's words) plus embedding similarity to the focus of the question; the
smoothed score above ``mean + std`` marks relevant regions, regions a few turns
apart are joined, and every region whose peak comes near the best one is kept.
The summary is drawn from those turns (extractive) or written from them (LLM).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from generation.minutes.extractive import clip_words, embed_turns
from generation.minutes.text import tokens
from generation.minutes.turns import MeetingTurn
from retrieval.bm25 import BM25Matrix
from core.protocols import Embedder

_SUMMARY_EN = re.compile(
    r"^\s*(?:please\s+|can you\s+|could you\s+)?(?:summari[sz]e|sum up|recap|give (?:me )?(?:a |an )?(?:summary|overview|recap)"
    r"|(?:a |an )?(?:summary|overview|recap) of"
    r"|what (?:did|do|does|was|were) .{0,120}?\b(?:discuss|decide|say|said|talk|think|conclude|agree|propose|suggest|present|report)"
    r"|what was (?:said|discussed|decided|agreed)|how did .{0,80}?\b(?:discuss|decide|react)|why did .{0,80}?\b(?:decide|propose|suggest|disagree))",
    re.IGNORECASE,
)
_SUMMARY_ZH = re.compile(r"总结|概括|归纳|概述|纪要|摘要|讨论了什么|说了什么|决定了什么|谈了什么|怎么看|讨论.{0,20}(?:内容|情况)")
# The words that ask for a summary, removed to leave what the summary is about.
_FRAME = re.compile(
    r"^\s*(?:please\s+|can you\s+|could you\s+)?(?:summari[sz]e|sum up|recap|give (?:me )?(?:a |an )?(?:summary|overview|recap) of"
    r"|(?:a |an )?(?:summary|overview|recap) of)\s+(?:the\s+)?(?:discussions?|talks?|conversation|meeting|part|points?|decisions?)?\s*"
    r"(?:about|on|of|regarding|concerning|when|where|that)?\s*",
    re.IGNORECASE,
)
_ASKED = re.compile(
    r"^\s*(?:what|how|why)\s+(?:did|do|does|was|were|is|are)\s+(?:.{0,60}?\s+)?(?:think|say|said|discuss(?:ed)?|talk|decide|conclude|agree|propose|suggest|present|report)\w*"
    r"\s*(?:about|on|of|regarding|when|that|with)?\s*",
    re.IGNORECASE,
)


def is_summary_question(question: str) -> bool:
    """Whether a question asks for a summary of what was said (as opposed to a factoid)."""
    return bool(_SUMMARY_EN.search(question) or _SUMMARY_ZH.search(question))


def focus_of(question: str) -> str:
    """What the summary is about: the question without its "Summarize the discussion about" frame."""
    focus = _ASKED.sub("", _FRAME.sub("", question, count=1), count=1).strip(" ?.。？")
    return focus or question


@dataclass(frozen=True)
class FocusedSummary:
    query: str
    text: str
    turns: tuple[int, ...]  # turns the summary sentences come from
    relevant: tuple[int, ...]  # every turn judged relevant, in order


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    kernel = np.ones(width) / width
    return np.convolve(values, kernel, mode="same")


def relevant_turns(
    query: str, turns: Sequence[MeetingTurn], vectors: np.ndarray, embedder: Embedder, language: str = "en",
    *, join_gap: int = 4, keep_ratio: float = 0.6,
) -> tuple[list[int], np.ndarray]:
    """All turns about ``query`` (contiguous regions) and the per-turn relevance scores."""
    n = len(turns)
    if n == 0:
        return [], np.zeros(0)
    windows = [tokens(" ".join(t.text for t in turns[max(0, i - 1) : i + 2]), language) or ["_"] for i in range(n)]
    bm25 = BM25Matrix()  # the product's one BM25, here over this meeting's turn windows
    bm25.build([bm25.encode(w) for w in windows])
    sparse = bm25.scores(tokens(query, language)).astype(np.float64)
    dense = vectors @ embedder.embed([query])[0]
    scores = 0.5 * _unit(sparse) + 0.5 * _unit(_smooth(dense.astype(np.float64), 3))
    named = _named_speakers(query, turns)
    if named:  # "What did Grad F think about X": that speaker's turns are the ones asked about
        scores = scores + 0.3 * np.array([t.speaker in named for t in turns], dtype=np.float64)
    smoothed = _smooth(scores, 5)
    above = smoothed >= smoothed.mean() + 0.5 * smoothed.std()
    regions: list[list[int]] = []
    for i in np.flatnonzero(above):
        if regions and i - regions[-1][1] <= join_gap:
            regions[-1][1] = int(i)
        else:
            regions.append([int(i), int(i)])
    if not regions:
        return [int(smoothed.argmax())], scores
    peaks = [smoothed[a : b + 1].max() for a, b in regions]
    best = max(peaks)
    kept = [r for r, p in zip(regions, peaks) if p >= keep_ratio * best + (1 - keep_ratio) * smoothed.mean()]
    return [i for a, b in kept for i in range(a, b + 1)], scores


class FocusedSummarizer:
    """Extractive query-focused summary: the most relevant, most central turns of the relevant regions."""

    def __init__(self, embedder: Embedder, *, max_words: int = 100) -> None:
        self.embedder = embedder
        self.max_words = max_words

    def summarize(
        self, question: str, turns: Sequence[MeetingTurn], *, vectors: np.ndarray | None = None, language: str = "en"
    ) -> FocusedSummary:
        focus = focus_of(question)
        vectors = embed_turns(self.embedder, turns) if vectors is None else vectors
        relevant, scores = relevant_turns(focus, turns, vectors, self.embedder, language)
        picked = self.select(relevant, turns, vectors, scores, language)
        text = " ".join(f"{turns[i].speaker}: {clip_words(turns[i].text, 40, language)}" for i in picked)
        return FocusedSummary(question, text, tuple(picked), tuple(relevant))

    def select(self, relevant: Sequence[int], turns: Sequence[MeetingTurn], vectors: np.ndarray, scores: np.ndarray,
               language: str) -> list[int]:
        """Turns to quote, chronological, within ``max_words``: relevance x centrality x length."""
        candidates = [i for i in relevant if turns[i].words() >= 6] or list(relevant)
        if not candidates:
            return []
        centroid = vectors[candidates].mean(axis=0)
        merit = (scores[candidates] + vectors[candidates] @ centroid) * np.log1p([min(turns[i].words(), 60) for i in candidates])
        chosen, used = [], 0
        for j in np.argsort(-merit):
            i = candidates[j]
            words = min(40, turns[i].words())
            if used and used + words > self.max_words:
                continue
            chosen.append(i)
            used += words
            if used >= self.max_words:
                break
        return sorted(chosen)


def _named_speakers(query: str, turns: Sequence[MeetingTurn]) -> set[str]:
    """Speakers the query names, by full name or by a distinctive part of it ("F" for "Grad F", "Owen")."""
    words = set(re.findall(r"[\w'’-]+", query))
    named = set()
    for speaker in {t.speaker for t in turns}:
        parts = speaker.split()
        if speaker in query or (parts and parts[-1] in words and (len(parts[-1]) == 1 or parts[-1][0].isupper())):
            named.add(speaker)
    return named


def _unit(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)
