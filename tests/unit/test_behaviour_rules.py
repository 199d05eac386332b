"""The behaviour rules of a what-if (ADR 81): the new-due payment, the take-up change and
its deterministic draw."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from domain.money import Money
from domain.rules.behaviour import draw, drops_out, new_due_payment, take_up_change


def test_a_covering_payment_carries_the_change_of_the_due() -> None:
    assert new_due_payment(Money.yuan(280), Money.yuan(280), Money.yuan(300)) == Money.yuan(300)
    assert new_due_payment(Money.yuan(140), Money.yuan(280), Money.yuan(300)) == Money.yuan(160)


def test_a_fall_of_the_due_larger_than_the_covering_payment_sends_no_payment() -> None:
    assert new_due_payment(Money.yuan(40), Money.yuan(280), Money.yuan(200)) is None


def test_the_take_up_change_is_the_elasticity_times_the_relative_change_of_the_due() -> None:
    change = take_up_change(Decimal("-0.2"), Money.yuan(280), Money.yuan(300))
    assert change == Fraction(-2, 10) * Fraction(20, 280)


def test_no_take_up_change_where_the_baseline_due_is_nothing_or_unchanged() -> None:
    assert take_up_change(Decimal("-1"), Money.yuan(0), Money.yuan(300)) == 0
    assert take_up_change(Decimal("-1"), Money.yuan(280), Money.yuan(280)) == 0


def test_the_draw_is_fixed_by_seed_person_and_year_and_lies_in_the_unit_interval() -> None:
    u = draw(7, "p1", 2021)
    assert u == draw(7, "p1", 2021)
    assert 0 <= u < 1
    assert len({draw(s, "p1", 2021) for s in range(20)}) == 20


def test_a_payer_drops_out_only_when_enrollment_falls_and_the_draw_is_below_the_fall() -> None:
    assert drops_out(Fraction(-1, 10), Fraction(1, 20))
    assert not drops_out(Fraction(-1, 10), Fraction(1, 5))
    assert not drops_out(Fraction(1, 10), Fraction(0))
    assert drops_out(Fraction(-3), Fraction(99, 100))


def test_an_enrolled_person_who_never_paid_joins_only_when_the_due_falls_and_the_draw_says_so():
    from fractions import Fraction

    from domain.rules.behaviour import joins

    assert joins(Fraction(3, 10), Fraction(1, 10))
    assert not joins(Fraction(3, 10), Fraction(1, 2))
    assert not joins(Fraction(0), Fraction(0))
    assert not joins(Fraction(-3, 10), Fraction(0))  # a rising due brings nobody in
