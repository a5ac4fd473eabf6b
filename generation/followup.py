"""Follow-up questions made to stand alone before retrieval.

"And who does she report to?" retrieves nothing useful on its own: the search needs the name
the conversation gave "she". The shared LLM rewrites such a question with the earlier turns;
a question that already stands alone (no referring word, enough words of its own) is left
as it is, so most questions cost no extra generation. A rewrite that drops the question or
brings nothing from the conversation is not trusted: the earlier question is put in front
of the new one instead, which is what retrieval needs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from generation.backends.base import LLMBackend, Message
from retrieval.tokenize import tokenize

# Words that point back into the conversation (English and Chinese).
REFERRING = re.compile(
    r"\b(he|she|it|they|them|him|her|his|hers|its|their|theirs|this|that|these|those|there|then|"
    r"the same|also|else|other|what about|how about)\b|[他她它这那该其]",
    re.IGNORECASE,
)
MAX_TURNS = 6  # the most recent turns the rewrite reads
MAX_TURN_CHARS = 600
MAX_REWRITE_CHARS = 400

SYSTEM = (
    "You rewrite the user's last question so that it can be understood without the conversation. "
    "Replace words like he, she, it, they, this and there with what they refer to in the conversation. "
    "Keep the question's meaning and language. Reply with the rewritten question only."
)


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


def _content_words(text: str) -> set[str]:
    return set(tokenize(text))  # the search's own tokens: stemmed, stopwords out, Chinese split


def needs_rewrite(question: str, history: Sequence[Turn]) -> bool:
    """Whether the question leans on the conversation: a referring word, or too few words of its own."""
    if not any(t.role == "user" for t in history):
        return False
    return bool(REFERRING.search(question)) or len(_content_words(question)) < 2


def standalone_question(llm: LLMBackend, question: str, history: Sequence[Turn], *, timeout: float | None = None) -> str:
    """``question`` rewritten to stand alone given ``history`` (oldest first); unchanged when it already does."""
    history = [t for t in history if t.content.strip()][-MAX_TURNS:]
    if not needs_rewrite(question, history):
        return question
    conversation = "\n".join(f"{t.role.title()}: {t.content.strip()[:MAX_TURN_CHARS]}" for t in history)
    messages: list[Message] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Conversation:\n{conversation}\n\nLast question: {question}\n\nRewritten question:"},
    ]
    rewrite = llm.generate(messages, max_new_tokens=48, timeout=timeout)
    return checked_rewrite(rewrite, question, history)


def checked_rewrite(rewrite: str, question: str, history: Sequence[Turn]) -> str:
    """The model's rewrite when it is one question that brings words from the conversation; else the
    last user question followed by this one."""
    line = rewrite.strip().splitlines()[0] if rewrite.strip() else ""
    line = re.sub(r"^(rewritten question|question)\s*:\s*", "", line.strip(), flags=re.IGNORECASE).strip('"“”\' ')
    earlier = _content_words(" ".join(t.content for t in history))
    brought = (_content_words(line) - _content_words(question)) & earlier
    if line and len(line) <= MAX_REWRITE_CHARS and brought:
        return line
    previous = next(t.content.strip() for t in reversed(history) if t.role == "user")
    return f"{previous[:MAX_TURN_CHARS]} {question}"
