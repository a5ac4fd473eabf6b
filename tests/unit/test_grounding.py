"""Attribution of unmarked sentences, the invented-specifics check and sentence-boundary trimming."""

from __future__ import annotations

from core.types import Passage
from generation.grounding import end_at_sentence, ground, invented, sentences, specifics


def _passage(n: int, text: str) -> Passage:
    return Passage(chunk_id=f"c{n}", document_id=f"d{n}", source=f"s{n}.md", title=f"S{n}", text=text, score=1.0)


SOURCES = [
    _passage(1, "Expense reports are due within 30 days of the purchase. Receipts over $75 must be attached."),
    _passage(2, "The Platform team is led by Dana Reyes. On-call rotates every week among its engineers."),
]


def test_an_unmarked_sentence_is_attributed_to_the_source_that_holds_it():
    grounded = ground("Dana Reyes leads the Platform team. Expense reports are due within 30 days [1].", SOURCES)
    assert grounded.text == "Dana Reyes leads the Platform team [2]. Expense reports are due within 30 days [1]."
    assert grounded.cited == [2, 1] and grounded.attributed == [2]
    assert grounded.unsupported == [] and grounded.missing_specifics == []


def test_a_sentence_no_source_supports_is_listed_and_left_unmarked():
    grounded = ground("The cafeteria serves lunch at noon on weekdays.", SOURCES)
    assert grounded.cited == [] and grounded.unsupported == ["The cafeteria serves lunch at noon on weekdays."]


def test_invented_specifics_are_caught_and_supported_ones_are_not():
    made_up = "You get 10% of your salary as a bonus, paid by Marcus Webb in March."
    grounded = ground(made_up, SOURCES)
    assert {"10", "Marcus Webb", "March"} <= set(grounded.missing_specifics)
    assert invented(grounded, made_up)
    honest = "Receipts over $75 must be attached, within 30 days [1]."
    assert not invented(ground(honest, SOURCES), honest)


def test_a_name_from_a_source_title_is_not_invented():
    titled = [SOURCES[0].model_copy(update={"title": "Expenses Policy"})]
    text = "Receipts over $75 must be attached, says the Expenses Policy [1]."
    assert ground(text, titled).missing_specifics == []


def test_specifics_skip_the_capital_that_starts_a_sentence():
    assert specifics("Receipts are due. Dana Reyes signs them in 2026.") == ["2026", "Dana Reyes"]


def test_answers_cut_by_the_token_limit_end_at_their_last_sentence():
    assert end_at_sentence("Dana Reyes leads it [2]. She also runs the on-call rota and") == "Dana Reyes leads it [2]."
    assert end_at_sentence("No sentence end at all") == "No sentence end at all"
    assert end_at_sentence("Complete. ") == "Complete."
    assert sentences("一句话。第二句！Third one. Fourth?") == ["一句话。", "第二句！", "Third one.", "Fourth?"]
