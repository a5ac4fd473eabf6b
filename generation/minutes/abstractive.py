"""The abstractive minutes engine: the extractive engine picks what matters, the LLM rewrites it.

Map-reduce keeps every prompt small whatever the meeting's length: *map* writes
a two-sentence summary of each topic segment from its most central turns (a
few hundred words), *reduce* joins the segment summaries, summarising them again
in groups while they are too long for one prompt. Small local models loop on long
prompts, so ``input_words`` bounds every prompt. Decisions, action items and open
questions stay extractive: they must cite turns exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from generation.backends.base import LLMBackend
from generation.minutes.extractive import ExtractiveEngine, Progress, central_turns, clip_words
from generation.minutes.turns import MeetingTurn
from generation.minutes.types import Minutes, Topic

_SYSTEM = {
    "en": "You write meeting minutes. Summarise only what the transcript says, in plain sentences.",
    "zh": "你负责撰写会议纪要。只根据记录内容，用简洁的中文句子概括。",
}
_MAP = {"en": "Summarise this part of a meeting in two sentences.\n\n{text}", "zh": "用两句话概括这段会议内容。\n\n{text}"}
_REDUCE = {"en": "Combine these notes into a short meeting summary.\n\n{text}", "zh": "把这些要点合并成简短的会议摘要。\n\n{text}"}
_FOCUS = {
    "en": "Question: {question}\nAnswer it by summarising these meeting turns in two or three sentences.\n\n{text}",
    "zh": "问题：{question}\n请根据以下会议发言，用两三句话概括回答。\n\n{text}",
}


class AbstractiveEngine:
    name = "abstractive"

    def __init__(self, extractive: ExtractiveEngine, backend: LLMBackend, *, max_new_tokens: int = 96,
                 input_words: int = 300, turns_per_segment: int = 4, timeout: float | None = 120.0) -> None:
        self.extractive = extractive
        self.backend = backend
        self.max_new_tokens = max_new_tokens
        self.input_words = input_words
        self.turns_per_segment = turns_per_segment
        self.timeout = timeout

    def generate(self, template: str, language: str, **values: str) -> str:
        lang = "zh" if language == "zh" else "en"
        messages = [{"role": "system", "content": _SYSTEM[lang]}, {"role": "user", "content": template.format(**values)}]
        return self.backend.generate(messages, max_new_tokens=self.max_new_tokens, timeout=self.timeout).strip()

    def quote(self, turns: Sequence[MeetingTurn], indexes: Sequence[int], language: str) -> str:
        """Turns as ``Speaker: words`` lines, cut to ``input_words`` in all."""
        per_turn = max(20, self.input_words // max(1, len(indexes)))
        return "\n".join(f"{turns[i].speaker}: {clip_words(turns[i].text, per_turn, language)}" for i in indexes)

    def build(self, document, turns: Sequence[MeetingTurn], chunks=(), *, progress: Progress | None = None) -> Minutes:
        vectors = self.extractive.embed(turns) if turns else None
        base = self.extractive.build(document, turns, chunks, vectors=vectors)
        if not turns:
            return base.model_copy(update={"engine": self.name})
        language = base.language
        topics: list[Topic] = []
        notes: list[str] = []
        for done, topic in enumerate(self._progress(base.topics, progress), start=1):  # map
            picked = central_turns(vectors, turns, topic.turn_start, topic.turn_end, self.turns_per_segment)
            summary = self.generate(_MAP[_lang(language)], language, text=self.quote(turns, picked, language))
            topics.append(topic.model_copy(update={"summary": summary}))
            notes.append(summary)
            if progress:
                progress("map", done, len(base.topics))
        summary = self.reduce(notes, language)
        return base.model_copy(update={"engine": self.name, "summary": summary, "topics": tuple(topics)})

    def reduce(self, notes: list[str], language: str) -> str:
        """Summaries of summaries, in groups that fit ``input_words``, until one is left."""
        while len(notes) > 1:
            groups, group, used = [], [], 0
            for note in notes:
                words = len(note.split()) if language != "zh" else len(note) // 2
                if group and used + words > self.input_words:
                    groups.append(group)
                    group, used = [], 0
                group.append(clip_words(note, self.input_words, language))
                used += words
            groups.append(group)
            if len(groups) == len(notes) and len(notes) > 1:  # every note alone fills a prompt: pair them
                groups = [notes[i : i + 2] for i in range(0, len(notes), 2)]
            notes = [self.generate(_REDUCE[_lang(language)], language, text="\n".join(g)) for g in groups]
        return notes[0] if notes else ""

    def focused(self, question: str, turns: Sequence[MeetingTurn], picked: Sequence[int], language: str) -> str:
        return self.generate(_FOCUS[_lang(language)], language, question=question, text=self.quote(turns, picked, language))

    @staticmethod
    def _progress(items, progress: Progress | None):
        if progress is not None:
            return items
        from tqdm import tqdm

        return tqdm(items, desc="minutes (map)", unit="segment", leave=False)


def _lang(language: str) -> str:
    return "zh" if language == "zh" else "en"
