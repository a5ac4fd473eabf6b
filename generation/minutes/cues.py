"""Cue patterns that mark decisions, action items, due dates and questions in speaker turns (English and Chinese)."""

from __future__ import annotations

import re

_DECISION_EN = re.compile(
    r"\b(?:we(?:'ve| have)? (?:decided|agreed|settled)|(?:I|we)(?:'ll| will) go with|let's (?:go with|fix|do|keep|use|move|make|stick|drop|defer|fold|start)"
    r"|decided|decision is|agreed\b|we agree|settled on|approved?|go ahead with|fold it into|is in scope|is out of scope"
    r"|sign(?:ed)? off on|final answer|that's (?:settled|decided|final))\b",
    re.IGNORECASE,
)
_DECISION_ZH = re.compile(r"决定|同意|确定|就这么定|定下来|定了|批准|通过了|就按|拍板")

_ACTION_EN = re.compile(
    r"\b(?:I(?:'ll| will) (?!be\b|have\b|say\b|try\b|think\b|just\b|admit\b|bet\b|let\b|go\b(?! through)|leave\b|stop\b)\w+"
    r"|I'll take|I can (?:send|write|draft|set up|check|prepare|do|take|follow up)|action item|to-?do|follow[- ]up with"
    r"|(?:can|could) you (?:please )?\w+|(?:you|he|she|they) (?:will|need to|should) (?:send|write|draft|prepare|set up|check|finish|update|confirm|tell|publish)"
    r"|(?:needs?|has) to (?:send|write|draft|prepare|finish|update|confirm))\b",
    re.IGNORECASE,
)
_ACTION_ZH = re.compile(r"我来|我负责|我会|我去|由.{1,6}负责|请.{1,6}(?:负责|跟进|准备|完成|发)|跟进|待办|下周.{0,4}前|之前完成")

_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DUE_EN = re.compile(
    rf"\b(?:by|before|until|due|on)\s+(?:the\s+)?(?:\d{{4}}-\d{{2}}-\d{{2}}|(?:end of (?:the )?(?:day|week|month|{_MONTH}))|(?:next\s+)?{_WEEKDAY}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?: of)? {_MONTH}|{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?|tomorrow|next week|next month)"
    rf"|\b(?:this|next) (?:week|month)\b|\btomorrow\b|\bend of (?:the )?(?:day|week|month|{_MONTH})",
    re.IGNORECASE,
)
_DUE_ZH = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}月\d{1,2}[日号]|下?周[一二三四五六日天]|下周|明天|月底|本周|这周|年底")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_CALL = re.compile(r"^(?P<name>[A-Z][a-z]+)(?:,| —| -)\s")


def is_decision(text: str, language: str) -> bool:
    return bool((_DECISION_ZH if language == "zh" else _DECISION_EN).search(text))


def is_action(text: str, language: str) -> bool:
    return bool((_ACTION_ZH if language == "zh" else _ACTION_EN).search(text))


def due_date(text: str, language: str) -> str | None:
    """The due date as stated ("by Friday" -> "Friday"), ISO when the text gives one."""
    if iso := _ISO.search(text):
        return iso.group()
    match = (_DUE_ZH if language == "zh" else _DUE_EN).search(text)
    if not match:
        return None
    return re.sub(r"^(?:by|before|until|due|on)\s+(?:the\s+)?", "", match.group(), flags=re.IGNORECASE).strip()


def addressee(text: str) -> str | None:
    """A first name the turn opens with ("Owen, can you ..."): the person an assigned task goes to."""
    match = _CALL.match(text)
    return match.group("name") if match else None


def is_question(text: str, language: str) -> bool:
    text = text.strip()
    if language == "zh":
        return text.endswith(("？", "?", "吗", "呢")) or "吗？" in text
    return text.endswith("?")


_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def cue_sentence(text: str, language: str, kind: str) -> str:
    """The sentence of a turn that carries the cue (the whole turn when none does alone)."""
    test = is_decision if kind == "decision" else is_action
    matching = [s for s in sentences(text) if test(s, language)]
    # "Agreed. We decided X." : the longest matching sentence says what was decided.
    return max(matching, key=len) if matching else text
