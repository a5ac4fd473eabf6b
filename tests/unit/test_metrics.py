"""SQuAD-style answer metrics, shared by fine-tuning evaluation and the benchmarks."""

from __future__ import annotations

import pytest

from generation.metrics import answer_tokens, best_of, cites, exact_match, normalize_answer, strip_markers, token_f1


def test_normalisation_drops_case_punctuation_articles_and_markers():
    assert normalize_answer("The  $85 per person, [1][2].") == "85 per person"
    assert strip_markers("22 days [1, 3] of leave 【2】") == "22 days  of leave "
    # Unicode punctuation splits like ASCII: an en-dash range is the same answer as a hyphen range.
    assert normalize_answer("15:00–17:00 UTC") == normalize_answer("15:00-17:00 UTC") == "15 00 17 00 utc"
    assert normalize_answer("“Rev C” — chosen") == "rev c chosen"


def test_exact_match_ignores_citations_and_articles():
    assert exact_match("the Hardware Team [2]", "Hardware Team") == 1.0
    assert exact_match("Hardware", "Hardware Team") == 0.0


def test_token_f1_is_partial_credit():
    # "a" is an article: 3 predicted tokens, 2 gold, 2 shared -> P=2/3, R=1, F1=0.8
    assert token_f1("22 days a year", "22 days") == pytest.approx(0.8)
    assert token_f1("up to 30", "30 days") == pytest.approx(2 * (1 / 3) * (1 / 2) / ((1 / 3) + (1 / 2)))
    assert token_f1("nothing shared", "22 days") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0


def test_chinese_is_scored_per_character():
    assert answer_tokens("2025年3月") == ["2025", "年", "3", "月"]
    assert token_f1("上海办公室", "上海") == pytest.approx(2 * 1.0 * 0.4 / 1.4)
    assert exact_match("上海。", "上海") == 1.0


def test_best_of_several_gold_answers_and_citation_check():
    assert best_of(token_f1, "Leeds lab", ["Portland", "Leeds"]) == pytest.approx(2 / 3)
    assert cites([2, 3], 3) == 1.0 and cites([1], 3) == 0.0 and cites([1], None) == 0.0


def test_eval_report_scores_answerable_and_unanswerable_separately():
    from generation.finetune.evaluate import Prediction, score

    predictions = [
        Prediction("a", "q", "22 days", "22 days [2]", [2], 2, False),  # right answer, right source
        Prediction("b", "q", "Leeds", "Portland [1]", [1], 3, False),  # wrong answer, wrong source
        Prediction("c", "q", "Hamburg", "I don't know based on the available documents.", [], 1, True),
        Prediction("d", "q", "x", "I don't know based on the available documents.", [], None, True),
        Prediction("e", "q", "y", "Maybe y [1]", [1], None, False),
    ]
    report = score(predictions)
    assert (report.answerable, report.unanswerable) == (3, 2)
    assert report.exact_match == pytest.approx(1 / 3)
    assert report.citation_accuracy == pytest.approx(1 / 3)
    assert report.abstention_accuracy == pytest.approx(0.5)
    assert report.false_abstention == pytest.approx(1 / 3)
