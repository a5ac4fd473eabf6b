"""What minutes are made of: every item cites the transcript turns (indexes) it came from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Topic(_Frozen):
    title: str
    turn_start: int = Field(description="Index of the first turn of the topic segment.")
    turn_end: int = Field(description="Index of the last turn of the topic segment (inclusive).")
    summary: str = ""


class MinutesDecision(_Frozen):
    text: str
    decided_by: str | None = Field(default=None, description="Who decided (speaker or named person), when known.")
    turns: tuple[int, ...] = ()


class MinutesActionItem(_Frozen):
    task: str
    owner: str | None = None
    due: str | None = Field(default=None, description="The due date as stated (ISO when the text gives one).")
    due_date: str | None = Field(default=None, description="The due date as an ISO date, counted from the meeting's date when stated relatively.")
    turns: tuple[int, ...] = ()


class OpenQuestion(_Frozen):
    text: str
    asked_by: str | None = None
    turns: tuple[int, ...] = ()


class Minutes(_Frozen):
    meeting_id: str
    title: str
    language: str = "en"
    engine: str = "extractive"
    summary: str = ""
    summary_turns: tuple[int, ...] = Field(default=(), description="Turns the summary sentences come from.")
    topics: tuple[Topic, ...] = ()
    decisions: tuple[MinutesDecision, ...] = ()
    action_items: tuple[MinutesActionItem, ...] = ()
    open_questions: tuple[OpenQuestion, ...] = ()
    turn_count: int = 0

    def render(self) -> str:
        """Minutes as Markdown: the text of the derived ``minutes`` document and of ``lore minutes``."""
        zh = self.language == "zh"
        head = {"summary": "摘要", "topics": "议题", "decisions": "决定", "actions": "待办事项", "questions": "未决问题",
                "turns": "发言"} if zh else {"summary": "Summary", "topics": "Topics", "decisions": "Decisions",
                                               "actions": "Action items", "questions": "Open questions", "turns": "turns"}
        lines = [f"# {self.title} — {'会议纪要' if zh else 'minutes'}", "", f"## {head['summary']}", "", self.summary or "-", ""]
        lines += [f"## {head['topics']}", ""]
        lines += [f"- {t.title} ({head['turns']} {t.turn_start}–{t.turn_end})" for t in self.topics] or ["-"]
        lines += ["", f"## {head['decisions']}", ""]
        lines += [f"- {d.text}" + (f" — {d.decided_by}" if d.decided_by else "") + _cite(d.turns) for d in self.decisions] or ["-"]
        lines += ["", f"## {head['actions']}", ""]
        lines += [
            f"- {a.owner or '?'}: {a.task}" + (f" (due {a.due}" + (f", {a.due_date}" if a.due_date and a.due_date != a.due else "") + ")" if a.due else "") + _cite(a.turns) for a in self.action_items
        ] or ["-"]
        lines += ["", f"## {head['questions']}", ""]
        lines += [f"- {q.text}" + (f" — {q.asked_by}" if q.asked_by else "") + _cite(q.turns) for q in self.open_questions] or ["-"]
        return "\n".join(lines) + "\n"


def _cite(turns: tuple[int, ...]) -> str:
    return f" [turns {', '.join(map(str, turns))}]" if turns else ""
