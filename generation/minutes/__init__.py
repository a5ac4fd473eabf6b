"""Meeting minutes (summary, topics, decisions, action items, open questions) and query-focused summaries."""

from generation.minutes.builder import MinutesBuilder
from generation.minutes.types import Minutes, MinutesActionItem, MinutesDecision, OpenQuestion, Topic
from generation.minutes.turns import MeetingTurn, meeting_turns

__all__ = ["MeetingTurn", "Minutes", "MinutesActionItem", "MinutesBuilder", "MinutesDecision", "OpenQuestion", "Topic", "meeting_turns"]
