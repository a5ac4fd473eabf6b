"""The extractive minutes engine: fast, offline, no LLM.

* Topics: TextTiling over turn embeddings: the similarity between the mean of the
  turns before and after each gap dips at a topic change; the deepest dips (depth
  above mean - std/2, at least ``min_segment`` turns apart) become boundaries.
* Summary: per topic, the turn closest to the topic centroid (centrality, as in
  LexRank with one centroid), long enough to say something.
* Decisions / action items: cue patterns (``cues.py``) with the speaker as decider or
  owner, a first name the turn opens with as the owner of a request, stated due dates
  (also as ISO dates counted from the meeting's date). An acceptance ("Agreed.", "No
  objection.", "works for them") makes the previous speaker's proposal a decision, with
  the proposer as decider; third-person minutes ("X decided ...") and pasted action
  lists ("- Owner: task (due ...)") are read as such.
  Notes that list ``## Decisions`` / ``## Action items`` keep those lists (the
  meeting extractor parses them), each cited to the turn that supports it best.
* Open questions: question turns that no other speaker answers in the next turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from core.types import Chunk, Document
from generation.minutes import cues
from generation.minutes.text import segment_keywords
from generation.minutes.turns import MeetingTurn, word_count
from generation.minutes.types import Minutes, MinutesActionItem, MinutesDecision, OpenQuestion, Topic
from core.protocols import Embedder

Progress = Callable[[str, int, int], None]  # (stage, done, total)

_TURN_CHARS = 600  # embedding the opening of a long turn is enough to place it; keeps 1-hour meetings fast
# Topics need even less: cut to 200 characters, turns segment QMSum meetings as well as at 600
# (Pk 0.583 vs 0.591 on the val split) and embed in 24 % less time (bench/minutes_segmentation.py).
_TOPIC_CHARS = 200
_SUPPORT = 0.45  # cosine similarity at which a notes item is cited to a turn


_EMBED_WORDS = 5  # shorter turns ("Yeah.", "OK.") carry no topic; they borrow the previous turn's vector


def embed_turns(embedder: Embedder, turns: Sequence[MeetingTurn], *, chars: int = _TURN_CHARS) -> np.ndarray:
    """One unit vector per turn, from its first ``chars`` characters; only turns with something
    to say are embedded (half of a QMSum meeting)."""
    wanted = [i for i, t in enumerate(turns) if t.words() >= _EMBED_WORDS] or list(range(len(turns)))
    embedded = embedder.embed([turns[i].text[:chars] or turns[i].speaker for i in wanted])
    vectors = np.zeros((len(turns), embedded.shape[1]), dtype=np.float32)
    position = 0
    for i in range(len(turns)):
        while position + 1 < len(wanted) and wanted[position + 1] <= i:
            position += 1
        vectors[i] = embedded[position]
    return vectors


def segment(vectors: np.ndarray, *, window: int = 6, min_segment: int = 8, max_segments: int = 12) -> list[tuple[int, int]]:
    """Topic segments as inclusive (first, last) turn ranges."""
    n = len(vectors)
    if n < 2 * min_segment:
        return [(0, n - 1)] if n else []
    gaps = np.zeros(n - 1)
    for gap in range(n - 1):
        left = vectors[max(0, gap + 1 - window) : gap + 1].mean(axis=0)
        right = vectors[gap + 1 : gap + 1 + window].mean(axis=0)
        gaps[gap] = float(left @ right / ((np.linalg.norm(left) * np.linalg.norm(right)) or 1.0))
    depth = np.zeros_like(gaps)
    for i in range(len(gaps)):  # TextTiling depth: how far the gap sits below the peaks around it
        depth[i] = _peak(gaps, i, -1) - gaps[i] + _peak(gaps, i, 1) - gaps[i]
    threshold = depth.mean() - depth.std() / 2
    boundaries: list[int] = []
    for gap in np.argsort(-depth):
        if depth[gap] < threshold or depth[gap] <= 0 or len(boundaries) >= max_segments - 1:
            break
        cut = int(gap) + 1  # first turn of the new segment
        if cut < min_segment or n - cut < min_segment or any(abs(cut - b) < min_segment for b in boundaries):
            continue
        boundaries.append(cut)
    edges = [0, *sorted(boundaries), n]
    return [(edges[i], edges[i + 1] - 1) for i in range(len(edges) - 1)]


def _peak(values: np.ndarray, i: int, step: int) -> float:
    """Highest value reached climbing from ``i`` in direction ``step`` while values rise."""
    best = values[i]
    j = i + step
    while 0 <= j < len(values) and values[j] >= best:
        best = values[j]
        j += step
    return float(best)


def central_turns(vectors: np.ndarray, turns: Sequence[MeetingTurn], first: int, last: int, k: int, min_words: int = 8) -> list[int]:
    """The ``k`` turns of a range closest to its centroid, among turns that say something."""
    indexes = [i for i in range(first, last + 1) if turns[i].words() >= min_words] or list(range(first, last + 1))
    centroid = vectors[indexes].mean(axis=0)
    # Centrality favours turns that say more: a long on-topic turn beats a short generic one.
    scores = (vectors[indexes] @ centroid) * np.log1p([min(turns[i].words(), 60) for i in indexes])
    return sorted(indexes[j] for j in np.argsort(-scores)[:k])


def clip_words(text: str, limit: int, language: str = "en") -> str:
    if language == "zh":
        return text if len(text) <= limit * 2 else text[: limit * 2] + "…"
    words = text.split()
    return text if len(words) <= limit else " ".join(words[:limit]) + " …"


def _resolve(name: str | None, speakers: Sequence[str]) -> str | None:
    """A first name ("Owen") as the full speaker name when exactly one speaker has it."""
    if not name:
        return None
    matches = [s for s in speakers if s.split()[0].casefold() == name.casefold()]
    return matches[0] if len(matches) == 1 else None  # not a speaker: "Um, ..." names nobody


class ExtractiveEngine:
    name = "extractive"

    def __init__(self, embedder: Embedder, *, summary_words: int = 150) -> None:
        self.embedder = embedder
        self.summary_words = summary_words

    def build(
        self,
        document: Document,
        turns: Sequence[MeetingTurn],
        chunks: Sequence[Chunk] = (),
        *,
        vectors: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> Minutes:
        language = document.language if document.language in ("en", "zh") else "en"
        if not turns:
            return Minutes(meeting_id=document.id, title=document.title, language=language, engine=self.name)
        vectors = self.embed(turns) if vectors is None else vectors
        if progress:
            progress("embed", len(turns), len(turns))
        segments = segment(vectors, min_segment=max(8, len(turns) // 30))
        keywords = segment_keywords([" ".join(t.text for t in turns[a : b + 1]) for a, b in segments], language)
        per_topic = max(1, round(self.summary_words / 40 / max(1, len(segments))))
        topics, picked = [], []
        for (first, last), words in zip(segments, keywords):
            central = central_turns(vectors, turns, first, last, per_topic)
            picked += central
            title = (" / " if language != "zh" else "、").join(words) or clip_words(turns[central[0]].text, 8, language)
            topics.append(Topic(title=title, turn_start=first, turn_end=last,
                                summary=clip_words(turns[central[0]].text, 40, language)))
        summary_turns = self._budget(picked, turns, language)
        summary = " ".join(f"{turns[i].speaker}: {clip_words(turns[i].text, 40, language)}" for i in summary_turns)
        speakers = list(dict.fromkeys(t.speaker for t in turns))
        decisions, actions = self._notes_items(document, chunks, turns, vectors)
        if not decisions:
            decisions = self._decisions(turns, language)
        if not actions:
            actions = self._actions(turns, language, speakers)
        meeting_date = document.metadata.get("date")
        actions = [a.model_copy(update={"due_date": cues.resolve_due(a.due, meeting_date)}) if a.due and not a.due_date
                   else a for a in actions]
        if progress:
            progress("items", len(turns), len(turns))
        return Minutes(
            meeting_id=document.id, title=document.title, language=language, engine=self.name, summary=summary,
            summary_turns=tuple(summary_turns), topics=tuple(topics), decisions=tuple(decisions),
            action_items=tuple(actions), open_questions=tuple(self._open_questions(turns, language)), turn_count=len(turns),
        )

    def embed(self, turns: Sequence[MeetingTurn]) -> np.ndarray:
        """The turn vectors ``build`` places topics with."""
        return embed_turns(self.embedder, turns, chars=_TOPIC_CHARS)

    def _budget(self, picked: list[int], turns: Sequence[MeetingTurn], language: str) -> list[int]:
        kept, used = [], 0
        for i in picked:
            words = min(40, turns[i].words())
            if used and used + words > self.summary_words:
                break
            kept.append(i)
            used += words
        return kept

    # ---- decisions and action items ---------------------------------------------
    def _decisions(self, turns: Sequence[MeetingTurn], language: str) -> list[MinutesDecision]:
        found: list[MinutesDecision] = []
        for turn in turns:
            previous = turns[turn.index - 1] if turn.index > 0 else None
            reported = [(s, who) for s in cues.sentences(turn.text) if (who := cues.reported_decider(s))]
            if reported:  # minutes in the third person: "Helena Marsh decided to move the launch ..."
                found += [MinutesDecision(text=clip_words(s.lstrip("-*• "), 60, language), decided_by=who, turns=(turn.index,))
                          for s, who in reported]
            elif cues.is_decision(turn.text, language) and not cues.is_question(turn.text, language):
                text, cited = cues.cue_sentence(turn.text, language, "decision"), (turn.index,)
                # "Ten it is." decides what the previous speaker proposed: cite both turns.
                if turn.words() < 6 and previous is not None:
                    text = cues.proposal(previous.text, language) or previous.text
                    cited = (previous.index, turn.index)
                found.append(MinutesDecision(text=clip_words(text, 60, language), decided_by=turn.speaker or None, turns=cited))
            elif (previous is not None and previous.speaker != turn.speaker and cues.is_acceptance(turn.text, language)
                  and (proposed := cues.proposal(previous.text, language))):
                # "Agreed." / "No objection." / "Early July works for them": the proposal is decided, by its proposer.
                found.append(MinutesDecision(text=clip_words(proposed, 60, language), decided_by=previous.speaker or None,
                                             turns=(previous.index, turn.index)))
        return found

    def _actions(self, turns: Sequence[MeetingTurn], language: str, speakers: Sequence[str]) -> list[MinutesActionItem]:
        found: list[MinutesActionItem] = []
        for turn in turns:
            listed = [(line, item) for line in cues.sentences(turn.text) if (item := cues.listed_action(line))]
            if listed:  # an action list in the turn: "- Owen Kettering: Fix the rounding issue (due 2026-04-24)"
                found += [MinutesActionItem(task=clip_words(task, 50, language), owner=owner,
                                            due=cues.due_date(line, language), turns=(turn.index,))
                          for line, (owner, task) in listed]
                continue
            if not cues.is_action(turn.text, language):
                continue
            sentence = cues.cue_sentence(turn.text, language, "action")
            if cues.is_question(sentence, language) and not re.search(r"\b(?:can|could) you\b", sentence, re.IGNORECASE):
                continue
            owner = turn.speaker or None
            if re.search(r"\b(?:can|could) you\b|\byou (?:will|need to|should)\b|请", sentence, re.IGNORECASE):
                owner = _resolve(cues.addressee(sentence) or cues.addressee(turn.text), speakers)
                if owner is None and turn.index + 1 < len(turns):
                    owner = turns[turn.index + 1].speaker  # whoever answers the request takes it
            found.append(MinutesActionItem(task=clip_words(sentence, 50, language), owner=owner,
                                           due=cues.due_date(sentence, language) or cues.due_date(turn.text, language),
                                           turns=(turn.index,)))
        return found

    def _notes_items(
        self, document: Document, chunks: Sequence[Chunk], turns: Sequence[MeetingTurn], vectors: np.ndarray
    ) -> tuple[list[MinutesDecision], list[MinutesActionItem]]:
        """The decisions and action items written in the notes' own sections, cited to their best supporting turn."""
        if not chunks:
            return [], []
        from core.extraction import Extraction
        from core.meeting_notes import extract_meeting

        extraction = Extraction()
        extract_meeting(document, list(chunks), extraction)
        if not extraction.meetings:
            return [], []
        record = extraction.meetings[0]
        names = {e.id: e.name for e in extraction.entities.values()}
        texts = [d.text for d in record.decisions] + [a.text for a in record.action_items]
        cited = self._support(texts, vectors)
        decisions = [
            MinutesDecision(text=d.text, decided_by=names.get(d.decided_by or ""), turns=cited[i])
            for i, d in enumerate(record.decisions)
        ]
        offset = len(record.decisions)
        actions = [
            MinutesActionItem(task=a.text, owner=a.owner, due=a.due, turns=cited[offset + i])
            for i, a in enumerate(record.action_items)
        ]
        return decisions, actions

    def _support(self, texts: list[str], vectors: np.ndarray) -> list[tuple[int, ...]]:
        if not texts or not len(vectors):
            return [() for _ in texts]
        similarity = self.embedder.embed(texts) @ vectors.T
        return [(int(row.argmax()),) if row.max() >= _SUPPORT else () for row in similarity]

    # ---- open questions ---------------------------------------------------------
    def _open_questions(self, turns: Sequence[MeetingTurn], language: str, limit: int = 5) -> list[OpenQuestion]:
        found = []
        for turn in turns:
            last_sentence = (cues.sentences(turn.text) or [turn.text])[-1]
            if word_count(last_sentence) < 6 or not cues.is_question(last_sentence, language):
                continue
            reply = turns[turn.index + 1] if turn.index + 1 < len(turns) else None
            answered = reply is not None and reply.speaker != turn.speaker and reply.words() >= 4 and not cues.is_question(reply.text, language)
            if not answered:
                found.append(OpenQuestion(text=clip_words(last_sentence, 40, language), asked_by=turn.speaker or None, turns=(turn.index,)))
        return found[:limit]
