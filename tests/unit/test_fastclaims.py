"""The column-wise claims kernel on concrete cases, each checked against the ledger's rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import attrs
import numpy as np
import pytest

from adapters.whatif.kernel import (
    REASONS,
    ClaimColumns,
    ClaimResults,
    ClaimRow,
    columns_from_rows,
    half_up_times,
    ratio_fraction,
    settle_columns,
)
from adapters.whatif.pools import grouped_cummin
from domain.money import Money
from domain.policy import Policy
from domain.policy_book import PolicyBook
from domain.policy_parsing import merge, policy_from_mapping
from tests.support.oracles import settle_rows_reference

FUNAN = "341225"
LINQUAN = "341221"
YEAR_START = date(2021, 1, 1)


def yuan(text: str) -> Money:
    return Money.parse(text)


def variant(book: PolicyBook, **outpatient: object) -> Policy:
    base = book.get("fuyang-2021", "1")
    assert base is not None
    return policy_from_mapping(merge(book.raw(base), {"outpatient": outpatient}), "test")


@pytest.fixture(scope="module")
def fuyang(book: PolicyBook) -> Policy:
    found = book.get("fuyang-2021", "1")
    assert found is not None
    return found


def row(household: int = 0, person: int = 0, expense: str = "100.00", *,
        visit: date = date(2021, 3, 1), members: int = 1, **kw: object) -> ClaimRow:
    kw.setdefault("covered_from", YEAR_START)
    return ClaimRow(household=household, person=person, visit=visit, expense=yuan(expense),
                    covered_on_visit=members, **kw)


def settle_both(rows: list[ClaimRow], policies: list[Policy], reversal_claim=None,
                reversal_after=None) -> ClaimResults:
    """The kernel's results, after checking they equal the row-by-row ledger rule's."""
    columns = columns_from_rows(rows)
    fast = settle_columns(columns, policies, reversal_claim, reversal_after)
    slow = settle_rows_reference(columns, policies, reversal_claim, reversal_after)
    for field in attrs.fields(ClaimResults):
        assert getattr(fast, field.name).tolist() == getattr(slow, field.name).tolist(), (
            field.name)
    return fast


def fen(values: np.ndarray) -> list[str]:
    return [str(Money(v)) for v in values.tolist()]


def test_a_claim_that_reaches_the_cap_is_paid_only_the_room_left(fuyang):
    # two members: cap 500.00; 0.55 x 600 = 330, then 0.55 x 400 = 220 but only 170 is left
    out = settle_both([row(0, 0, "600.00", members=2), row(0, 1, "400.00", members=2)],
                      [fuyang])
    assert fen(out.reimbursable) == ["330.00", "220.00"]
    assert fen(out.reimbursed) == ["330.00", "170.00"]
    assert fen(out.pool_used_before) == ["0.00", "330.00"]
    assert fen(out.pool_remaining_after) == ["170.00", "0.00"]
    assert fen(out.pool_cap) == ["500.00", "500.00"]


def test_an_exhausted_pool_pays_nothing_for_later_claims(fuyang):
    rows = [row(0, 0, "1000.00"), row(0, 0, "50.00"), row(0, 0, "10.00")]
    out = settle_both(rows, [fuyang])
    assert fen(out.reimbursed) == ["250.00", "0.00", "0.00"]
    assert fen(out.reimbursable) == ["550.00", "27.50", "5.50"]
    assert fen(out.pool_used_before) == ["0.00", "250.00", "250.00"]
    assert out.reason.tolist() == [0, 0, 0]


def test_each_rejection_reason_is_reported_in_the_rules_check_order(fuyang):
    rows = [
        row(suspended=True, covered_from=None, cause="cosmetic"),
        row(covered_from=None, cause="cosmetic", facility_level=3),
        row(covered_from=date(2021, 4, 1)),
        row(covered_to=date(2021, 2, 28)),
        row(cause="work_injury", facility_level=2, facility_region=LINQUAN),
        row(facility_level=2, facility_region=LINQUAN),
        row(facility_region=LINQUAN),
        row(),
    ]
    out = settle_both(rows, [fuyang])
    assert out.reason_codes() == [
        "employee_insured", "not_covered_on_date", "not_covered_on_date",
        "not_covered_on_date", "excluded_cause", "facility_not_eligible", "out_of_county", "ok",
    ]
    assert REASONS[0] == "ok"


def test_rejected_rows_record_nothing_and_do_not_consume_the_pool(fuyang):
    rows = [row(0, 0, "400.00", facility_region=LINQUAN), row(0, 0, "400.00")]
    out = settle_both(rows, [fuyang])
    assert out.reason_codes() == ["out_of_county", "ok"]
    assert fen(out.reimbursed) == ["0.00", "220.00"]
    assert fen(out.pool_used_before) == ["0.00", "0.00"]
    for field in ("eligible_expense", "reimbursable", "pool_cap", "pool_remaining_after"):
        assert getattr(out, field)[0] == 0


def test_person_pooling_keeps_each_members_pool_apart(book):
    by_person = variant(book, pooling="person")
    rows = [row(0, 0, "600.00", members=2), row(0, 1, "100.00", members=2),
            row(0, 0, "100.00", members=2), row(1, 0, "100.00")]
    out = settle_both(rows, [by_person])
    assert fen(out.pool_cap) == ["250.00", "250.00", "250.00", "250.00"]
    assert fen(out.reimbursed) == ["250.00", "55.00", "0.00", "55.00"]
    assert fen(out.pool_used_before) == ["0.00", "0.00", "250.00", "0.00"]


def test_person_pooling_gives_no_room_to_a_member_who_does_not_count(book):
    by_person = variant(book, pooling="person")
    out = settle_both([row(0, 0, "100.00", counts_for_cap=False)], [by_person])
    assert out.reason_codes() == ["ok"]
    assert fen(out.pool_cap) == ["0.00"]
    assert fen(out.reimbursed) == ["0.00"]


def test_a_rising_cap_gives_new_room_to_later_claims(fuyang):
    # the second member becomes covered in June: the household cap rises from 250 to 500
    rows = [row(0, 0, "600.00", members=1), row(0, 0, "100.00", members=1),
            row(0, 1, "600.00", members=2, visit=date(2021, 6, 2)),
            row(0, 0, "100.00", members=2, visit=date(2021, 6, 3))]
    out = settle_both(rows, [fuyang])
    assert fen(out.pool_cap) == ["250.00", "250.00", "500.00", "500.00"]
    assert fen(out.reimbursed) == ["250.00", "0.00", "250.00", "0.00"]


def test_a_falling_cap_below_what_was_used_pays_nothing_and_keeps_the_use(fuyang):
    # three members use 600 of 750; one leaves (cap 500): nothing is left, the use stays 600
    rows = [row(0, 0, "1100.00", members=3), row(0, 1, "100.00", members=2),
            row(0, 2, "100.00", members=2)]
    out = settle_both(rows, [fuyang])
    assert fen(out.reimbursed) == ["605.00", "0.00", "0.00"]
    assert fen(out.pool_used_before) == ["0.00", "605.00", "605.00"]
    assert fen(out.pool_remaining_after) == ["145.00", "0.00", "0.00"]


def test_a_falling_cap_with_room_still_left_pays_up_to_the_new_cap(fuyang):
    rows = [row(0, 0, "200.00", members=3), row(0, 1, "1000.00", members=2)]
    out = settle_both(rows, [fuyang])
    assert fen(out.reimbursed) == ["110.00", "390.00"]
    assert fen(out.pool_remaining_after) == ["640.00", "0.00"]


def test_a_reversal_restores_room_for_the_claims_after_it(fuyang):
    rows = [row(0, 0, "300.00"), row(0, 0, "300.00"), row(0, 0, "300.00"),
            row(1, 0, "100.00")]
    # claim 0 is reversed after row 1 was settled: row 2 finds its 165 back
    out = settle_both(rows, [fuyang], reversal_claim=[0], reversal_after=[1])
    assert fen(out.reimbursed) == ["165.00", "85.00", "165.00", "55.00"]
    assert fen(out.pool_used_before) == ["0.00", "165.00", "85.00", "0.00"]


def test_reversing_a_claim_twice_gives_its_amount_back_once(fuyang):
    rows = [row(0, 0, "300.00"), row(0, 0, "300.00"), row(0, 0, "300.00"),
            row(0, 0, "300.00")]
    out = settle_both(rows, [fuyang], reversal_claim=[0, 0], reversal_after=[1, 2])
    assert fen(out.reimbursed) == ["165.00", "85.00", "165.00", "0.00"]


def test_reversing_a_rejected_claim_changes_nothing(fuyang):
    rows = [row(0, 0, "300.00", cause="cosmetic"), row(0, 0, "600.00"), row(0, 0, "100.00")]
    out = settle_both(rows, [fuyang], reversal_claim=[0], reversal_after=[1])
    assert fen(out.reimbursed) == ["0.00", "250.00", "0.00"]


def test_a_reversal_that_comes_before_its_claim_is_refused(fuyang):
    columns = columns_from_rows([row(), row()])
    with pytest.raises(ValueError, match="before the claim"):
        settle_columns(columns, [fuyang], reversal_claim=[1], reversal_after=[0])


def test_the_deductible_comes_off_before_the_ratio(book):
    policy = variant(book, deductible="50.00", ratio="0.5")
    out = settle_both([row(0, 0, "30.00"), row(0, 0, "150.00")], [policy])
    assert fen(out.eligible_expense) == ["0.00", "100.00"]
    assert fen(out.reimbursed) == ["0.00", "50.00"]


def test_half_up_rounding_takes_the_half_fen_up(book):
    # 0.55 x 0.01 = 0.0055 -> 0.01; 0.55 x 0.09 = 0.0495 -> 0.05; 0.5 x 0.01 = 0.005 -> 0.01
    out = settle_both([row(0, 0, "0.01"), row(0, 0, "0.09"), row(1, 0, "0.01", policy=1)],
                      [variant(book, ratio="0.55"), variant(book, ratio="0.5")])
    assert out.reimbursable.tolist() == [1, 5, 1]


@pytest.mark.parametrize("ratio", ["0", "1", "0.5", "0.55", "0.6", "0.333", "0.1234",
                                   "0.99999"])
def test_the_exact_fraction_rounds_as_money_times(book, ratio):
    policy = variant(book, ratio=ratio)
    num, den = ratio_fraction(policy)
    assert Fraction(num, den) == Fraction(Decimal(ratio))
    amounts = list(range(0, 2000)) + [10**12 - k for k in range(50)] + [123456789, 987654321]
    for amount in amounts:
        assert half_up_times(amount, num, den) == Money(amount).times(Decimal(ratio)).fen


def test_a_ratio_too_fine_for_int64_falls_back_to_python_integers(book):
    policy = variant(book, ratio="0.1234567890123456789", per_person_cap="100000000.00")
    amounts = ["0.01", "1.23", "10000.00", "123456.78"]
    out = settle_both([row(0, 0, a) for a in amounts], [policy])
    ratio = Decimal("0.1234567890123456789")
    assert out.reimbursable.tolist() == [yuan(a).times(ratio).fen for a in amounts]


def test_households_that_mix_person_and_household_pooling_are_settled_in_order(book, fuyang):
    by_person = variant(book, pooling="person")
    rows = [row(0, 0, "300.00", members=2), row(0, 1, "300.00", members=2, policy=1),
            row(0, 1, "300.00", members=2), row(0, 0, "300.00", members=2, policy=1)]
    out = settle_both(rows, [fuyang, by_person])
    assert fen(out.pool_used_before) == ["0.00", "0.00", "330.00", "165.00"]
    assert fen(out.reimbursed) == ["165.00", "165.00", "165.00", "85.00"]


def test_huge_household_and_person_numbers_are_grouped_all_the_same(book):
    by_person = variant(book, pooling="person")
    big = 2**61
    rows = [row(big, big, "400.00"), row(3, 0, "400.00"), row(big, big, "400.00"),
            row(big, 7, "400.00"), row(3, 1, "400.00")]
    out = settle_both(rows, [by_person])
    assert fen(out.reimbursed) == ["220.00", "220.00", "30.00", "220.00", "220.00"]


def test_the_grouped_running_minimum_is_the_same_in_one_pass_or_in_chunks():
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 6, 40)
    group = np.repeat(np.arange(sizes.size), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    v = rng.integers(-1000, 1000, group.size)
    expected = np.concatenate([np.minimum.accumulate(v[group == g]) for g in range(40)])
    one_pass = grouped_cummin(v, starts, group, 2001)
    chunked = grouped_cummin(v, starts, group, 2001, room=2001 * 4)
    assert one_pass.tolist() == expected.tolist()
    assert chunked.tolist() == expected.tolist()


def test_columns_refuse_values_their_type_cannot_hold():
    columns = columns_from_rows([row()])
    fields = {f.name: getattr(columns, f.name) for f in attrs.fields(ClaimColumns)}
    with pytest.raises(ValueError, match="do not fit"):
        ClaimColumns(**{**fields, "cause": np.array([300])})
    with pytest.raises(ValueError, match="rows"):
        ClaimColumns(**{**fields, "expense": np.array([1, 2])})
    with pytest.raises(ValueError, match="integers"):
        ClaimColumns(**{**fields, "expense": np.array([1.5])})


def test_unknown_policy_and_negative_expense_are_refused(fuyang):
    with pytest.raises(ValueError, match="policy index"):
        settle_columns(columns_from_rows([row(policy=1)]), [fuyang])
    columns = columns_from_rows([row()])
    fields = {f.name: getattr(columns, f.name) for f in attrs.fields(ClaimColumns)}
    with pytest.raises(ValueError, match="negative"):
        settle_columns(ClaimColumns(**{**fields, "expense": np.array([-1])}), [fuyang])


def test_no_claims_give_empty_results(fuyang):
    out = settle_columns(columns_from_rows([]), [fuyang])
    assert len(out) == 0
    assert out.reimbursed.dtype == np.int64
