"""Cue patterns that mark decisions, action items, due dates and questions in speaker turns (English and Chinese)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from core.sentences import sentences

_DECISION_EN = re.compile(
    r"\b(?:we(?:'ve| have)? (?:decided|agreed|settled)|(?:I|we)(?:'ll| will) go with|let's (?:go with|fix|do|keep|use|move|make|stick|drop|defer|fold|start)"
    r"|decided|decision is|declared?\b|agreed\b|we agree|settled on|approved?|go ahead with|fold it into|is in scope|is out of scope"
    r"|sign(?:ed)? off on|final answer|that's (?:settled|decided|final))\b"
    # "Agreed, rev C it is." / "Ten it is.": a short choice that closes a discussion.
    r"|^(?:\w+[,.]?\s+)?[\w-]+(?:\s[\w-]+)?\s+it is[.!]?$",
    re.IGNORECASE,
)
# A turn (or its first sentence) that accepts what the previous speaker proposed: the decision is that proposal.
_ACCEPT_EN = re.compile(
    r"^(?:agreed|fine|ok(?:ay)?|sounds good|no objections?|that (?:fits|works)|deal|good idea|makes sense|yes,? let's)\b"
    r"|\b(?:works|is fine) for (?:us|them|me)\b|\b(?:will|would|can) accept\b",
    re.IGNORECASE,
)
_ACCEPT_ZH = re.compile(r"^(?:好的?|可以|行|同意|没问题|没有异议)")
# A sentence that proposes a course of action (what an acceptance agrees to).
_PROPOSAL_EN = re.compile(
    r"\b(?:I'd (?:like|rather|prefer)|I want|we should(?:n't)?|should(?:n't)?|let's|we need to|I propose|I suggest"
    r"|how about|must|has to|have to|needs? to)\b",
    re.IGNORECASE,
)
_PROPOSAL_ZH = re.compile(r"建议|我想|应该|必须|需要|不如|最好")
# Minutes written in the third person: "Helena Marsh decided to move the launch ...".
_REPORTED = re.compile(
    r"^(?:[-*•]\s*)?(?!(?:We|I|They|He|She|It|You|Everyone|Everybody|All|The|This|That|Nobody|Finally|Then)\b)"
    r"(?P<who>[A-Z][\w'-]+(?: [A-Z][\w'-]+){0,2}) (?:decided|agreed|approved|confirmed|chose|ruled)\b"
)
_DECISION_ZH = re.compile(r"决定|同意|确定|就这么定|定下来|定了|批准|通过了|就按|拍板")

# Verbs that steer the conversation itself ("I'll start with the bad news", "can you walk us through"): not tasks.
_TALK = r"(?:start with|begin|walk|explain|repeat|talk|summari[sz]e|say|tell (?:us|you)|give us|remind|clarify|hear|go over|keep)\b"
_ACTION_EN = re.compile(
    r"\b(?:I(?:'ll| will) (?!be\b|have\b|say\b|try\b|think\b|just\b|admit\b|bet\b|let\b|go\b(?! through)|leave\b|stop\b"
    rf"|{_TALK})\w+"
    rf"|I'll take|I can (?!{_TALK}|see\b|live\b|imagine\b|understand\b|only\b|probably\b|also\b|still\b|not\b)\w+"
    r"|I (?:still )?(?:need|have) to (?!know\b|understand\b|see\b|say\b|admit\b)\w+|action item|to-?do|follow[- ]up with"
    rf"|(?:can|could) you (?:please )?(?!{_TALK})\w+"
    r"|(?:you|he|she|they) (?:will|need to|should) (?:send|write|draft|prepare|set up|check|finish|update|confirm|tell|publish)"
    r"|(?:needs?|has) to (?:send|write|draft|prepare|finish|update|confirm))\b",
    re.IGNORECASE,
)
# An action list line pasted into a turn: "- Owen Kettering: Fix the rounding issue (due 2026-04-24)".
_LISTED_ACTION = re.compile(r"^[-*•]\s*(?P<owner>[A-Z][\w'-]+(?: [A-Z][\w'-]+){0,2}):\s*(?P<task>\S.*)$")
_ACTION_ZH = re.compile(r"我来|我负责|我会|我去|由.{1,6}负责|请.{1,6}(?:负责|跟进|准备|完成|发)|跟进|待办|下周.{0,4}前|之前完成")

_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DUE_EN = re.compile(
    rf"\b(?:by|before|until|due|on)\s+(?:the\s+)?(?:\d{{4}}-\d{{2}}-\d{{2}}|(?:end of (?:the )?(?:day|week|month|{_MONTH}))|(?:next\s+)?{_WEEKDAY}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?: of)? {_MONTH}|{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?|tomorrow|next week|next month)"
    rf"|\b(?:this|next) (?:week|month)\b|\btomorrow\b|\bend of (?:the )?(?:day|week|month|{_MONTH})"
    # A date stated without a preposition in a commitment: "the earliest I can promise is the 22nd of May".
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)(?: of)? {_MONTH}\b|\b{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?\b",
    re.IGNORECASE,
)
_DUE_ZH = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}月\d{1,2}[日号]|下?周[一二三四五六日天]|下周|明天|月底|本周|这周|年底")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_CALL = re.compile(r"^(?P<name>[A-Z][a-z]+)(?:,| —| -)\s")


def is_decision(text: str, language: str) -> bool:
    return bool((_DECISION_ZH if language == "zh" else _DECISION_EN).search(text))


def is_action(text: str, language: str) -> bool:
    return bool((_ACTION_ZH if language == "zh" else _ACTION_EN).search(text))


def is_acceptance(text: str, language: str) -> bool:
    """Whether a turn accepts the previous speaker's proposal ("Agreed.", "No objection.", "Early July works for them")."""
    first = (sentences(text) or [text])[0]
    return bool((_ACCEPT_ZH if language == "zh" else _ACCEPT_EN).search(first))


def proposal(text: str, language: str) -> str | None:
    """The last sentence of a turn that proposes a course of action (what a following "Agreed" accepts)."""
    pattern = _PROPOSAL_ZH if language == "zh" else _PROPOSAL_EN
    found = [s for s in sentences(text) if pattern.search(s) and not is_question(s, language)]
    return found[-1] if found else None


def reported_decider(sentence: str) -> str | None:
    """Who decided, in minutes written in the third person ("Helena Marsh decided ...")."""
    match = _REPORTED.match(sentence)
    return match.group("who") if match else None


def listed_action(line: str) -> tuple[str, str] | None:
    """(owner, task) of an action-list line ("- Owen Kettering: Fix the rounding issue (due 2026-04-24)")."""
    match = _LISTED_ACTION.match(line.strip())
    return (match.group("owner"), re.sub(r"\s*\(due [^)]*\)\s*$", "", match.group("task")).strip()) if match else None


def due_date(text: str, language: str) -> str | None:
    """The due date as stated ("by Friday" -> "Friday"), ISO when the text gives one."""
    if iso := _ISO.search(text):
        return iso.group()
    match = (_DUE_ZH if language == "zh" else _DUE_EN).search(text)
    if not match:
        return None
    return re.sub(r"^(?:by|before|until|due|on)\s+(?:the\s+)?", "", match.group(), flags=re.IGNORECASE).strip()


_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
           "december"]
_ZH_WEEKDAYS = "一二三四五六日"


def resolve_due(stated: str | None, meeting_date: str | None) -> str | None:
    """A stated due date as an ISO date, counted from the meeting's date ("Friday" -> the next Friday,
    "this week" -> its Friday, "the 27th of March" -> that day in the meeting's year or the next); None when
    it cannot be placed."""
    if not stated:
        return None
    if _ISO.fullmatch(stated.strip()):
        return stated.strip()
    try:
        today = date.fromisoformat(str(meeting_date)[:10])
    except ValueError:
        return None
    text = stated.casefold().strip()

    def week_end(d: date) -> date:  # a week's deadline is its Friday
        return d + timedelta(days=(4 - d.weekday()) % 7)

    def on_or_after(month: int, day: int) -> date | None:
        try:
            found = date(today.year, month, day)
            return found if found >= today else date(today.year + 1, month, day)
        except ValueError:
            return None

    if text == "tomorrow" or text == "明天":
        return (today + timedelta(days=1)).isoformat()
    if text in ("this week", "end of the week", "end of week", "本周", "这周"):
        return week_end(today).isoformat()
    if text in ("next week", "下周"):
        return week_end(today + timedelta(days=7 - today.weekday())).isoformat()
    if match := re.fullmatch(r"(next )?(\w+day)", text):
        if match.group(2) in _WEEKDAYS:
            ahead = (_WEEKDAYS.index(match.group(2)) - today.weekday()) % 7 or 7
            return (today + timedelta(days=ahead + (7 if match.group(1) and ahead < 7 - today.weekday() else 0))).isoformat()
    if match := re.fullmatch(r"(下)?周([一二三四五六日天])", stated.strip()):
        target = _ZH_WEEKDAYS.index(match.group(2).replace("天", "日"))
        start = today + timedelta(days=7 - today.weekday()) if match.group(1) else today  # 下周: from next Monday
        return (start + timedelta(days=(target - start.weekday()) % 7)).isoformat()
    if match := re.fullmatch(r"(\d{1,2})月(\d{1,2})[日号]", stated.strip()):
        found = on_or_after(int(match.group(1)), int(match.group(2)))
        return found.isoformat() if found else None
    if match := re.search(r"(\d{1,2})(?:st|nd|rd|th)?(?: of)? (" + "|".join(_MONTHS) + r")\b", text):
        found = on_or_after(_MONTHS.index(match.group(2)) + 1, int(match.group(1)))
        return found.isoformat() if found else None
    if match := re.search(r"\b(" + "|".join(_MONTHS) + r") (\d{1,2})", text):
        found = on_or_after(_MONTHS.index(match.group(1)) + 1, int(match.group(2)))
        return found.isoformat() if found else None
    if match := re.fullmatch(r"end of (?:the )?(month|" + "|".join(_MONTHS) + ")", text):
        month = today.month if match.group(1) == "month" else _MONTHS.index(match.group(1)) + 1
        first_next = date(today.year + (month == 12), month % 12 + 1, 1)
        return (first_next - timedelta(days=1)).isoformat()
    return None


def addressee(text: str) -> str | None:
    """A first name the turn opens with ("Owen, can you ..."): the person an assigned task goes to."""
    match = _CALL.match(text)
    return match.group("name") if match else None


def is_question(text: str, language: str) -> bool:
    text = text.strip()
    if language == "zh":
        return text.endswith(("？", "?", "吗", "呢")) or "吗？" in text
    return text.endswith("?")


def cue_sentence(text: str, language: str, kind: str) -> str:
    """The sentence of a turn that carries the cue (the whole turn when none does alone)."""
    test = is_decision if kind == "decision" else is_action
    matching = [s for s in sentences(text) if test(s, language)]
    # "Agreed. We decided X." : the longest matching sentence says what was decided.
    return max(matching, key=len) if matching else text
