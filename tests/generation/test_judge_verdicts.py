"""The pure parts of the AI judges on constructed inputs (methods.md §2.3, §2.5, §2.10, §7)."""
import math

import pytest

from generation.judges.parsing import parse_checklist, parse_checklist_answers, parse_rubric_plan
from generation.judges.verdicts import (
    RunVerdict,
    apply_length_rule,
    aspect_mean,
    combine_runs,
    ensemble_strength,
    parse_rating,
    parse_verdict,
    probabilities_to_stored,
    round_half_toward_zero,
    score_to_verdict,
    to_stored,
)


def test_case_i_slight_a_then_b_plus_as_shown_in_the_swap_is_a_consistent_minus_one():
    runs = [RunVerdict("AB", to_stored(-1, "AB")), RunVerdict("BA", to_stored(+1, "BA"))]
    combination = combine_runs(runs)
    assert combination.verdict == -1
    assert combination.position_consistent is True


def test_case_ii_first_position_wins_twice_is_an_inconsistent_tie():
    runs = [RunVerdict("AB", to_stored(-1, "AB")), RunVerdict("BA", to_stored(-1, "BA"))]
    combination = combine_runs(runs)
    assert combination.verdict == 0
    assert combination.position_consistent is False


def test_case_iii_length_rule():
    short = "x" * 100
    assert apply_length_rule(-1, "y" * 601, short, 500) == (0, True)  # A longer by 501
    assert apply_length_rule(-1, "y" * 600, short, 500) == (-1, False)  # by exactly 500
    assert apply_length_rule(+2, short, "z" * 5100, 500) == (2, False)  # |s| = 2 never changed
    assert apply_length_rule(+1, short, "z" * 5100, None) == (1, False)  # null K disables
    assert apply_length_rule(+1, "  a  ", "  " + "b" * 502 + "   ", 500) == (0, True)  # stripped code points
    assert apply_length_rule(-1, "a", "b" * 900, 500) == (-1, False)  # the loser is the longer one
    assert apply_length_rule(None, "a", "b" * 900, 500) == (None, False)


@pytest.mark.parametrize("verdicts, expected", [
    ((-2, -1), -1), ((-1, +1), 0), ((-2, +1), 0), ((-2, -2, -1), -2), ((+2, +2, +1, +1), +1),
])
def test_combination_rounds_half_toward_zero(verdicts, expected):
    runs = [RunVerdict("AB" if i % 2 == 0 else "BA", v) for i, v in enumerate(verdicts)]
    assert combine_runs(runs).verdict == expected


def test_round_half_toward_zero():
    assert [round_half_toward_zero(x) for x in (-1.5, -0.5, 0.5, 1.5, 2.5, 0.51, -1.6)] == [-1, 0, 0, 1, 2, 1, -2]


def test_swap_confidence_known_answer():
    """§7 item 5: a swapped run's distribution is reversed before averaging."""
    original = (0.60, 0.20, 0.10, 0.05, 0.05)
    swapped_as_shown = (0.10, 0.10, 0.20, 0.30, 0.30)
    stored = probabilities_to_stored(swapped_as_shown, "BA")
    assert stored == [0.30, 0.30, 0.20, 0.10, 0.10]
    combination = combine_runs([RunVerdict("AB", -2, original), RunVerdict("BA", to_stored(2, "BA"), tuple(stored))])
    assert combination.mean_probabilities == pytest.approx((0.45, 0.25, 0.15, 0.075, 0.075))
    assert combination.confidence == pytest.approx(0.70)
    assert combination.expected_verdict == pytest.approx(-0.925)


def test_unparsed_runs_never_give_a_verdict():
    combination = combine_runs([RunVerdict("AB", None), RunVerdict("BA", None)])
    assert combination.verdict is None and combination.parse_ok is False and combination.confidence is None


def test_one_unparsed_order_leaves_consistency_unknown_and_confidence_from_signs():
    combination = combine_runs([RunVerdict("AB", -1), RunVerdict("BA", None)])
    assert combination.verdict == -1 and combination.position_consistent is None
    assert combination.confidence == 1.0 and combination.expected_verdict is None


def test_confidence_without_logprobs_is_the_share_of_runs_agreeing_in_sign():
    runs = [RunVerdict("AB", -2), RunVerdict("AB", -1), RunVerdict("BA", -1), RunVerdict("BA", 1)]
    combination = combine_runs(runs)
    assert combination.verdict == -1 and combination.confidence == 0.75


@pytest.mark.parametrize("text, expected", [
    ("Response 1 is better.\nVERDICT: 2", -1),
    ("blah\nverdict: 5\n", 2),
    ("**VERDICT: 3**", 0),
    ("VERDICT: 1\nOn reflection...\nVERDICT: 4", 1),  # the last line counts
    ("VERDICT: 4\nVERDICT: 2 or 3", None),  # the last VERDICT line does not parse
    ("VERDICT: 6", None),
    ("I prefer response 2", None),
    ("", None),
])
def test_strict_verdict_parser(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Rating: 4", 4), ("rating: 4/5", 4), ("Clear and correct.\nRating: 5.", 5), ("Rating: 4 or 5", None),
    ("Rating: 7", None), ("no rating", None), ("Rating: 2\nRating: 3", 3),
])
def test_rating_parser(text, expected):
    assert parse_rating(text) == expected


def test_aspect_mean_needs_three_of_four():
    aspects = ["helpfulness", "honesty", "instruction_following", "truthfulness"]
    assert aspect_mean({"helpfulness": 4, "honesty": 5, "instruction_following": 3}, aspects) == 4
    assert aspect_mean({"helpfulness": 4, "honesty": None, "truthfulness": 2}, aspects) is None


def test_score_to_verdict():
    assert score_to_verdict(3.0, 3.0, 0, 1.0) == 0
    assert score_to_verdict(3.0, 3.5, 0, 1.0) == 1
    assert score_to_verdict(4.0, 3.0, 0, 1.0) == -2
    assert score_to_verdict(-10.0, -9.0, 0, math.inf) == 1  # CDR: never "much" until calibrated
    assert score_to_verdict(None, 3.0, 0, 1.0) is None


def test_ensemble_strength_flags():
    mislabeled = ensemble_strength([-2, -1, -2])
    assert mislabeled.flag == "likely_mislabeled" and mislabeled.mu == pytest.approx(-5 / 3)
    ambiguous = ensemble_strength([1, -1, 1])
    assert ambiguous.flag == "ambiguous" and ambiguous.sigma == pytest.approx(math.sqrt(4 / 3))
    assert ensemble_strength([2, 1, 2]).flag == "strong"
    assert ensemble_strength([-2, -2, -2], labelled=False).flag == "strong"


def test_ensemble_strength_in_scorer_units_has_the_tighter_thresholds():
    # Scorer evidence is a difference over its standard deviation: any negative mean is
    # mislabeled, |μ| < 0.25 ambiguous (methods.md §2.10, the bracketed thresholds).
    assert ensemble_strength([-0.3, -0.2, -0.4], scorer_units=True).flag == "likely_mislabeled"
    assert ensemble_strength([-0.3, -0.2, -0.4]).flag == "ambiguous"  # verdict units: −0.3 is not ≤ −0.5
    assert ensemble_strength([0.2, 0.3, 0.1], scorer_units=True).flag == "ambiguous"
    assert ensemble_strength([0.4, 0.3, 0.35], scorer_units=True).flag == "strong"
    assert ensemble_strength([0.4, 0.3, 0.35]).flag == "ambiguous"


def test_checklist_parser():
    assert parse_checklist('Sure! ["Is it short?", "Does it cite a source?"] Hope this helps.') == [
        "Is it short?", "Does it cite a source?"]
    assert parse_checklist("1. Is it short?\n2. Is it correct?") is None
    assert parse_checklist('["Is it short?", 3]') is None
    assert parse_checklist('["Is it short?", "Is it') is None  # cut off by the token limit
    assert len(parse_checklist(str([f"Q{i}?" for i in range(14)]).replace("'", '"'))) == 10


def test_checklist_answers_are_mapped_to_stored_sides():
    text = "Q1: Response 1 yes, Response 2 no\nQ2: Response 1 no, Response 2 yes\nQ9: Response 1 yes, Response 2 yes"
    assert parse_checklist_answers(text, 2, "AB") == {"1": {"A": True, "B": False}, "2": {"A": False, "B": True}}
    assert parse_checklist_answers(text, 2, "BA") == {"1": {"A": False, "B": True}, "2": {"A": True, "B": False}}
    assert parse_checklist_answers("no answers here", 2, "AB") is None


def test_rubric_plan_parser():
    chat = parse_rubric_plan("Type: chat\n- Accuracy | weight 3 | facts matter\n- Tone | weight 1 | politeness")
    assert chat["task_type"] == "chat"
    assert [i["weight"] for i in chat["items"]] == [0.75, 0.25]
    reasoning = parse_rubric_plan("Type: reasoning\n2 + 2 = 4.\nFinal answer: 4")
    assert reasoning == {"task_type": "reasoning", "text": "Type: reasoning\n2 + 2 = 4.\nFinal answer: 4"}
    assert parse_rubric_plan("I am not sure what to do.") is None
