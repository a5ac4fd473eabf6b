from __future__ import annotations

from generation.followup import Turn, checked_rewrite, needs_rewrite

HISTORY = [Turn("user", "Who leads the Platform team?"), Turn("assistant", "Rahul Menon leads the Platform team [1].")]


def test_only_questions_that_lean_on_the_conversation_are_rewritten():
    assert needs_rewrite("Who does he report to?", HISTORY)
    assert needs_rewrite("他向谁汇报？", HISTORY)
    assert not needs_rewrite("What is the expense limit for hotel nights?", HISTORY)
    assert not needs_rewrite("Who does he report to?", [])  # nothing to lean on


def test_a_rewrite_is_kept_only_when_it_brings_the_conversation_in():
    assert checked_rewrite("Who does Rahul Menon report to?", "Who does he report to?", HISTORY) == "Who does Rahul Menon report to?"
    assert checked_rewrite('Rewritten question: "Who does Rahul Menon report to?"\nExtra', "Who does he report to?",
                           HISTORY) == "Who does Rahul Menon report to?"
    # An echo, an empty reply or an invented name: the earlier question goes in front instead.
    fallback = "Who leads the Platform team? Who does he report to?"
    assert checked_rewrite("Who does he report to?", "Who does he report to?", HISTORY) == fallback
    assert checked_rewrite("", "Who does he report to?", HISTORY) == fallback
    assert checked_rewrite("Who does Zebulon report to?", "Who does he report to?", HISTORY) == fallback
