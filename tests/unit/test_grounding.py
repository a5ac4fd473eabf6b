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


def test_a_rephrased_sentence_is_attributed_to_the_one_source_holding_its_figures():
    hotels = [_passage(1, "Book hotels through the travel desk."),
              _passage(2, "Nightly cap of $260 in the United States and £180 in the United Kingdom, excluding taxes."),
              _passage(3, "Client dinners: up to $85 per person.")]
    grounded = ground("The most I can pay per night for a hotel on a work trip in the UK is £180.", hotels)
    assert grounded.cited == [2] and grounded.attributed == [2] and grounded.text.endswith("£180 [2].")
    # A figure two sources hold names neither.
    tied = ground("The most I can pay per night for a hotel on a work trip is $85.", hotels + [_passage(4, "Up to $85.")])
    assert tied.cited == []


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


ACCRUAL = [
    _passage(1, "Fewer than 3 years: 4 hours per pay period"),
    _passage(2, "Between 3 and 15 years: 6 hours per pay period"),
    _passage(3, "15+ years: 8 hours per pay period"),
]


def test_padded_markers_keep_only_the_sources_that_hold_the_sentence():
    grounded = ground("You earn 4 hours per pay period [1][2][3].", ACCRUAL)
    assert grounded.text == "You earn 4 hours per pay period [1]." and grounded.cited == [1]


def test_a_marker_naming_the_wrong_source_moves_to_the_one_that_holds_the_sentence():
    grounded = ground("With 15+ years you earn 8 hours per pay period [1].", ACCRUAL)
    assert grounded.cited == [3] and grounded.text.endswith("[3].")


def test_a_stray_marker_joins_the_sentence_before_only_when_its_source_supports_it():
    assert ground("You earn 4 hours per pay period [1]. [3]", ACCRUAL).text == "You earn 4 hours per pay period [1]."
    both = ground("Dana Reyes leads the Platform team [2]. [1]", SOURCES + [_passage(3, "Dana Reyes leads it.")])
    assert both.cited == [2]
    joined = ground("Dana Reyes leads the Platform team [2]. [3]",
                    SOURCES + [_passage(3, "Dana Reyes leads the Platform team.")])
    assert joined.text == "Dana Reyes leads the Platform team [2][3]." and joined.cited == [2, 3]
    # Joined, the markers keep the sources that hold the sentence best, as its own markers would:
    # "Dana Reyes leads it." holds the name but not the team.
    weaker = ground("Dana Reyes leads the Platform team [2]. [3]", SOURCES + [_passage(3, "Dana Reyes leads it.")])
    assert weaker.text == "Dana Reyes leads the Platform team [2]." and weaker.cited == [2]
    # A sentence that only says where the answer came from: its sources replace a weaker one before it.
    vltp = [_passage(1, "Voluntary Leave Transfer Program: your leave balance must be exhausted."),
            _passage(2, "Voluntary Leave Transfer Program: have an anticipated negative balance of at least 24 hours.")]
    moved = ground("For the Voluntary Leave Transfer Program your expected leave balance must be at least 24 hours. "
                   "This is stated in the [1][2] source.", vltp)
    assert moved.cited == [2] and moved.text.endswith("at least 24 hours [2].")


def test_sentences_that_only_say_where_the_answer_came_from_are_dropped():
    grounded = ground("You earn 4 hours per pay period [1]. This information is supported by sources [1][2][3].", ACCRUAL)
    assert grounded.text == "You earn 4 hours per pay period [1]." and grounded.cited == [1]


def test_a_sentence_naming_only_the_document_and_section_is_a_pointer_not_a_claim():
    hours = [Passage(chunk_id="c1", document_id="d1", source="remote.md", title="Employee Handbook: Remote Work",
                     text="Core hours are 15:00 to 17:00 UTC, Monday to Thursday.", score=1.0,
                     metadata={"context": "Working hours"}),
             _passage(2, "Offices are open from 08:00."), _passage(3, "Meetings outside core hours are optional.")]
    pointer = ground("Core hours are 15:00 to 17:00 UTC [1]. This is stated in the Employee Handbook, "
                     "specifically in the section on Working Hours [1][2][3].", hours)
    assert pointer.text == "Core hours are 15:00 to 17:00 UTC [1]." and pointer.cited == [1]
    # A sentence that opens the same way and states a figure is a claim, cited as it stands.
    claim = ground("Core hours are set by policy [1]. This is stated in the Employee Handbook, which says "
                   "offices are open from 08:00 [2].", hours)
    assert claim.text.endswith("offices are open from 08:00 [2].") and claim.cited == [1, 2]


def test_a_dropped_marker_takes_its_dangling_and_with_it():
    grounded = ground("According to the sources [1] and [3], you earn 4 hours per pay period.", ACCRUAL)
    assert grounded.text == "According to the sources [1], you earn 4 hours per pay period."


def test_one_made_up_number_is_enough_when_it_is_the_only_one():
    made_up = "The budget is $195 per person."
    assert invented(ground(made_up, ACCRUAL), made_up)
    # "4" is held by "4 hours", not by "14" or "40": whole tokens only.
    assert ground("It is 14 hours [1].", ACCRUAL).missing_specifics == ["14"]
    assert not invented(ground("You earn 4 hours per pay period [1].", ACCRUAL), "You earn 4 hours per pay period [1].")


def test_a_number_written_against_chinese_characters_is_held():
    source = [_passage(1, "松平康忠生于1543年，是日本战国时代的武将。")]
    assert ground("松平康忠生于1543年 [1]。", source).missing_specifics == []


def test_the_source_holding_more_of_the_sentence_replaces_a_weaker_citation():
    team = [_passage(1, "Rahul Menon — Team lead, Platform Team."), _passage(2, "Reports to Rahul Menon.")]
    grounded = ground("Rahul Menon leads the Platform team [2].", team)
    assert grounded.cited == [1] and grounded.text == "Rahul Menon leads the Platform team [1]."


def test_names_a_graph_fact_states_are_not_invented():
    from core.types import Fact

    answer = "Dana Reyes reports to Marcus Webb, who heads Platform Engineering."
    assert invented(ground(answer, SOURCES), answer)  # no passage names Marcus Webb
    facts = [Fact(subject="Dana Reyes", predicate="REPORTS_TO", object="Marcus Webb"),
             Fact(subject="Marcus Webb", predicate="LEADS", object="Platform Engineering")]
    grounded = ground(answer, SOURCES, facts)
    assert grounded.missing_specifics == [] and not invented(grounded, answer)


def test_a_name_is_held_in_the_singular_or_the_plural_and_numbers_exactly():
    from generation.grounding import _holds

    assert _holds("Technology Transformation Services", "18F is part of Technology Transformation Service.")
    assert _holds("Technology Transformation Service", "Technology Transformation Services (TTS)")
    assert not _holds("Technology Transformation Services", "Technology Transformation Servicing")
    assert not _holds("4", "longer than 14 characters") and _holds("14", "longer than 14 characters")
    assert not _holds("TTS", "TTSC Resources")


def test_the_digits_of_a_code_are_its_name_not_a_figure():
    source = [_passage(1, "Tock: 18F maintains this time tracking tool.")]
    answer = "18F maintains Tock [1]."
    assert specifics(answer) == ["18F", "Tock"]
    grounded = ground(answer, source)
    assert grounded.missing_specifics == [] and not invented(grounded, answer)
    # A code no source holds is missing like a name; a figure is still a figure beside a code.
    made_up = "K9 maintains Tock [1]."
    assert ground(made_up, source).missing_specifics == ["K9"]
    assert specifics("18F spent $195 on 3 licences.") == ["195", "3", "18F"]


def test_a_figure_in_digits_is_held_by_the_same_number_in_words():
    source = [_passage(1, "You accrue four hours of sick leave per pay period.")]
    answer = "Sick leave builds up at 4 hours per pay period [1]."
    grounded = ground(answer, source)
    assert grounded.missing_specifics == [] and not invented(grounded, answer)
    assert ground("Sick leave builds up at 14 hours per pay period [1].", source).missing_specifics == ["14"]
