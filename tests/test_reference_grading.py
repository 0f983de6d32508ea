"""Tests for ssr.reference_grading: the authors' comparison rules (``--grader reference``), on the cases the
issue names: AIME as integers, MATH by normalised string or float, LiveMathBench by digits only, votes by
exact value. Each expectation is also set beside ``ssr.grading.is_equivalent`` where the two differ."""

from __future__ import annotations

import pytest

from ssr.grading import is_equivalent
from ssr.reference_grading import is_correct, normalize_math, vote_equal, vote_key


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("34", "34", True),
        ("034", "34", True),  # both read as the integer 34
        ("34.0", "34", False),  # not an integer: compared as strings
        ("\\frac{68}{2}", "34", False),
        ("35", "34", False),
        ("34", "AIME answer 034", True),  # a gold that is not an integer: its trailing digits
    ],
)
def test_aime_as_integers(pred, gold, expected):
    assert is_correct(pred, gold, "aime") is expected


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("\\dfrac{1}{2}", "\\frac{1}{2}", True),  # normalised strings
        ("$x = 3$", "3", True),  # dollars, spaces and a leading "x=" go
        ("10,000", "10000", True),
        ("\\text{(C)}", "(C)", True),
        ("5.0", "5", True),  # floats
        ("0.5", "\\frac{1}{2}", False),  # nothing symbolic
        ("\\frac12", "\\frac{1}{2}", False),
        ("-34", "34", False),
    ],
)
def test_math_by_normalised_string_or_float(pred, gold, expected):
    assert is_correct(pred, gold, "math") is expected


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("-34", "34", True),  # digits only: the sign is dropped
        ("1/2", "12", True),
        ("$\\$1,250$", "1250", True),
        ("2\\sqrt{3}", "\\sqrt{12}", True),  # a\sqrt{b} pairs equal in value
        ("33", "34", False),
        ("\\pi", "\\frac{\\pi}{1}", False),  # no digits, different strings: no symbolic step
    ],
)
def test_livemathbench_by_digits(pred, gold, expected):
    assert is_correct(pred, gold, "live") is expected


def test_the_reference_grader_differs_from_math_verify_where_the_issue_says():
    assert is_correct("-34", "34", "live") and not is_equivalent("-34", "34")
    assert not is_correct("0.5", "\\frac{1}{2}", "math") and is_equivalent("0.5", "\\frac{1}{2}")


def test_votes_by_exact_value():
    assert vote_key("034") == vote_key("34") == 34
    assert vote_equal(" 7", "7")
    assert not vote_equal("1/2", "\\frac{1}{2}")
    assert not vote_equal("\\dfrac{1}{2}", "\\frac{1}{2}")


def test_missing_answers_and_unknown_datasets():
    assert not is_correct(None, "3", "aime")
    assert not is_correct("3", None, "math")
    assert is_correct("B", "B", "gpqa") and not is_correct("b", "B", "amc23")


def test_normalize_math_keeps_the_authors_quirks():
    assert normalize_math("\\left( 1, 2 \\right)") == "(1,2)"
    assert normalize_math("\\left[ 1, 2 \\right]") == "[1,2\\right]"  # their pattern for \right never matches
    assert normalize_math("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}") == "1,2"
    assert normalize_math(7) == "7"
