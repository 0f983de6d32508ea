import pytest

from ssr.prompts import UNKNOWN, strategy_pool
from ssr.selection import parse_selection


def test_parses_codes_in_reply_order():
    s = parse_selection(" 5, 11, 2", 3, strategy_pool(12))
    assert s.codes == [5, 11, 2] and s.padded == 0
    assert [x.name for x in s.strategies] == ["Number theory", "Casework", "Substitution"]


def test_invalid_repeated_and_missing_codes_are_padded_with_unknown():
    s = parse_selection("3, 3, 99", 3, strategy_pool(12))
    assert s.parsed == [3] and s.codes == [3, UNKNOWN.code, UNKNOWN.code] and s.padded == 2
    assert s.strategies[-1].name == "Unknown"


def test_empty_or_wordy_reply_gives_all_unknown():
    s = parse_selection("I think algebra works best.", 2, strategy_pool(12))
    assert s.codes == [0, 0] and s.padded == 2


def test_only_first_line_with_numbers_counts_and_extra_codes_are_dropped():
    s = parse_selection("\n 7 ,1;4 and 9\n because of 12 cases", 2, strategy_pool(12))
    assert s.parsed == [7, 1, 4, 9] and s.codes == [7, 1]


def test_unknown_code_zero_is_a_valid_choice():
    s = parse_selection("0, 4", 2, strategy_pool(12))
    assert s.codes == [0, 4] and s.padded == 0


@pytest.mark.parametrize(
    "size,code,valid",
    [(6, 6, True), (6, 7, False), (9, 9, True), (9, 10, False), (12, 12, True), (15, 15, True), (12, 13, False)],
)
def test_pool_size_ablation_limits_valid_codes(size, code, valid):
    s = parse_selection(str(code), 1, strategy_pool(size))
    assert s.codes == ([code] if valid else [0])
    assert s.pool_size == size


def test_pool_sizes_are_prefixes_and_bad_size_rejected():
    assert strategy_pool(6) == strategy_pool(12)[:6]
    assert len(strategy_pool(15)) == 15
    with pytest.raises(ValueError):
        strategy_pool(7)


def test_selection_record_is_json_ready():
    d = parse_selection("2", 2, strategy_pool(12)).to_dict()
    assert d == {
        "raw": "2",
        "parsed": [2],
        "codes": [2, 0],
        "padded": 1,
        "pool_size": 12,
        "strategies": ["Substitution", "Unknown"],
    }


# --- the set's codes: letters (the authors' A-M, M = unknown) and repeated picks
from ssr.prompt_sets import Pool, Strategy  # noqa: E402

LETTERS = tuple(Strategy(c, f"Name {c}", f"hint {c}") for c in "ABCDEFGHIJKL")
UNKNOWN_M = Strategy("M", "Unknown", "None")
POOL_12 = Pool(12, LETTERS, UNKNOWN_M, "")


def test_letter_codes_are_read_as_the_authors_findall_reads_them():
    s = parse_selection("B, E,F", 3, POOL_12)
    assert s.codes == ["B", "E", "F"] and [x.name for x in s.strategies] == ["Name B", "Name E", "Name F"]
    assert parse_selection("BEF", 3, POOL_12).codes == ["B", "E", "F"]  # no separators needed
    assert parse_selection("Z, B", 2, POOL_12).codes == ["B", "M"]  # Z is no code: padded with M


def test_repeated_picks_are_kept_only_when_the_set_allows_them():
    assert parse_selection("M, M, B", 3, POOL_12, repeats=True).codes == ["M", "M", "B"]
    assert parse_selection("M, M, B", 3, POOL_12, repeats=False).codes == ["M", "B", "M"]
    s = parse_selection("5, 5, 2", 3, strategy_pool(12), repeats=True)
    assert s.codes == [5, 5, 2] and s.padded == 0
    assert parse_selection("5, 5, 2", 3, strategy_pool(12)).codes == [5, 2, 0]


def test_extra_letter_codes_are_dropped_and_an_unknown_inside_the_pool_is_one_strategy():
    assert parse_selection("A,B,C,D", 2, POOL_12, repeats=True).codes == ["A", "B"]
    pool15 = Pool(15, (*LETTERS, UNKNOWN_M, Strategy("N", "N", "n"), Strategy("O", "O", "o")), UNKNOWN_M, "")
    s = parse_selection("M, O", 3, pool15, repeats=True)
    assert s.codes == ["M", "O", "M"] and s.strategies[0] is UNKNOWN_M
