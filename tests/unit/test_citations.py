"""A cited sentence's worked example, mapped to the figure shown beside it (issue 16)."""

from __future__ import annotations

from domain.money import Money
from domain.rules.citations import cap_example, yuan_text

FUYANG_POOLING = "001: 只要全“户”人员年度报销总限额不超过1000元即可。"
FUYANG_CAP = "001: 以户为单位,年度内报销限额250元/人,家庭成员间可统筹使用。"


def test_the_fuyang_household_total_is_read_as_a_four_person_example_of_250_each() -> None:
    note = cap_example(FUYANG_POOLING, Money.yuan(250), covered=6)
    assert note == ("the seed's example is a 4-person household: 4 × 250 = 1,000; "
                    "this household has 6 covered: 6 × 250 = 1,500")


def test_without_a_household_the_note_explains_only_the_example() -> None:
    assert cap_example(FUYANG_POOLING, Money.yuan(250)) == (
        "the seed's example is a 4-person household: 4 × 250 = 1,000")


def test_a_sentence_stating_only_the_per_person_cap_or_no_amount_has_no_example() -> None:
    assert cap_example(FUYANG_CAP, Money.yuan(250), covered=3) is None
    assert cap_example("assumption: Fuyang's household-shared cap is assumed.",
                       Money.yuan(250)) is None
    assert cap_example(None, Money.yuan(250)) is None


def test_an_amount_that_is_no_whole_number_of_caps_is_not_taken_for_an_example() -> None:
    assert cap_example("筹资标准为830元/人,其中财政补助550元", Money.yuan(250), 2) is None


def test_amounts_read_as_a_sentence_writes_them() -> None:
    assert yuan_text(Money.yuan(1500)) == "1,500"
    assert yuan_text(Money.parse("1500.50")) == "1,500.50"
