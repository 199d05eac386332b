"""Value objects: money in exact fen with half-up rounding; resident IDs; region codes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from domain.errors import InvalidInput, Rejected
from domain.identity import (
    PersonRef,
    RegionCode,
    age_on,
    birth_date_of,
    encoded_birth_date,
    parse_document_number,
    parse_person_ref,
    parse_resident_id,
    sex_of,
)
from domain.money import MAX_FEN, ZERO, Money, total
from tests.support.builders import make_id


def _with_wrong_check(number: str) -> str:
    wrong = "1" if number[-1] != "1" else "2"
    return number[:-1] + wrong


def _id_ending_in_x() -> str:
    for seq in range(1000):
        number = make_id("341225", "19800101", seq)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives an X check character")


# --- Money parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [("280.00", 28000), ("12.5", 1250), ("0", 0), ("0.01", 1), ("445", 44500),
     ("000280.00", 28000)],
)
def test_a_contract_money_string_parses_to_exact_fen(text, fen):
    assert Money.parse(text) == Money(fen)


@pytest.mark.parametrize("value", [280.0, 280, Decimal("280.00"), None, True, ["280"]])
def test_money_that_is_not_a_string_is_refused_with_invalid_input(value):
    with pytest.raises(InvalidInput) as e:
        Money.parse(value)
    assert e.value.reason == "invalid_input"


@pytest.mark.parametrize(
    "text",
    ["12.345", "1e3", "1E3", " ", "", "12.", ".5", "+5", "--5", "5,00", "0x10", "NaN",
     "Infinity", "1_000", "12.5.0", "¥280", "280元", "1 000", "  280.00  ", "280.00\n",
     "\t280"],
)
def test_money_with_three_decimals_exponents_or_junk_is_refused(text):
    with pytest.raises(InvalidInput):
        Money.parse(text)


@pytest.mark.parametrize("text", ["２８０.００", "٢٨٠", "२८०"])
def test_money_accepts_only_ascii_digits_not_fullwidth_or_other_scripts(text):
    with pytest.raises(InvalidInput):
        Money.parse(text)


def test_a_sign_is_parsed_so_commands_can_refuse_negative_amounts():
    assert Money.parse("-5.00") == Money(-500)
    assert Money.parse("-5.00").is_negative()
    assert Money.parse("-0") == ZERO


def test_money_above_the_ledger_maximum_is_refused():
    largest = f"{MAX_FEN // 100}.00"
    assert Money.parse(largest) == Money(MAX_FEN)
    with pytest.raises(InvalidInput):
        Money.parse(f"{MAX_FEN // 100}.01")
    with pytest.raises(InvalidInput):
        Money.parse("9" * 13)
    with pytest.raises(InvalidInput):
        Money.parse("9" * 400)


def test_money_needs_integer_fen():
    with pytest.raises(TypeError):
        Money(1.5)
    with pytest.raises(TypeError):
        Money(True)


def test_money_yuan_builds_from_int_string_or_decimal_and_refuses_three_decimals():
    assert Money.yuan(280) == Money(28000)
    assert Money.yuan("12.5") == Money(1250)
    assert Money.yuan(Decimal("0.01")) == Money(1)
    with pytest.raises(ValueError):
        Money.yuan("0.005")


def test_money_prints_with_two_decimals_and_sign():
    assert str(Money(28000)) == "280.00"
    assert str(Money(5)) == "0.05"
    assert str(Money(-1250)) == "-12.50"
    assert repr(Money(1)) == "Money('0.01')"


def test_money_arithmetic_and_total_are_exact():
    assert Money.yuan("0.10") + Money.yuan("0.20") == Money.yuan("0.30")
    assert Money.yuan("1") - Money.yuan("0.01") == Money(99)
    assert -Money(5) == Money(-5)
    assert total([]) == ZERO
    assert total([Money(1)] * 3) == Money(3)
    assert Money(500).clip(ZERO, Money(300)) == Money(300)
    assert Money(-5).clip(ZERO, Money(300)) == ZERO


# --- half-up rounding -------------------------------------------------------------------------


def test_one_fen_at_55_percent_rounds_half_up_to_one_fen():
    assert Money.yuan("0.01").times(Decimal("0.55")) == Money(1)


@pytest.mark.parametrize(
    ("fen", "factor", "expected"),
    [
        (1, "0.5", 1),       # 0.5 fen -> 1 (half-up, not banker's 0)
        (3, "0.5", 2),       # 1.5 -> 2
        (5, "0.5", 3),       # 2.5 -> 3 (banker's rounding would give 2)
        (9, "0.55", 5),      # 4.95 -> 5
        (110, "0.55", 61),   # 60.5 -> 61
        (109, "0.55", 60),   # 59.95 -> 60
        (101, "0.55", 56),   # 55.55 -> 56
        (1, "0.49", 0),      # 0.49 -> 0
        (100000, "0.55", 55000),
        (-1, "0.5", -1),     # half away from zero
    ],
)
def test_times_rounds_half_up_at_the_half_fen_boundary(fen, factor, expected):
    assert Money(fen).times(Decimal(factor)) == Money(expected)


def test_times_by_an_integer_is_exact():
    assert Money(12345).times(3) == Money(37035)


# --- resident ID numbers -------------------------------------------------------------------


def test_a_valid_resident_id_parses_to_a_standard_reference():
    number = make_id("341225", "19800101", 11)
    ref = parse_resident_id(number)
    assert ref == PersonRef(number, standard=True)
    assert ref.key == number
    assert birth_date_of(ref) == date(1980, 1, 1)
    assert sex_of(ref) == "male"
    assert sex_of(parse_resident_id(make_id("341225", "19800101", 12))) == "female"


_SHAPED = st.one_of(
    st.from_regex(r"\A[0-9]{17}[0-9X]\Z"),  # mostly impossible dates
    st.builds(lambda region, born, rest: f"{region}{born:%Y%m%d}{rest}",
              st.from_regex(r"\A[0-9]{6}\Z"), st.dates(min_value=date(1000, 1, 1)),
              st.from_regex(r"\A[0-9]{3}[0-9X]\Z")))


@given(_SHAPED)
def test_the_encoded_birth_date_is_python_stdnums_for_every_number_of_the_shape(number):
    try:
        expected = ric.get_birth_date(number)
    except ValueError:
        with pytest.raises(ValueError):
            encoded_birth_date(number)
    else:
        assert encoded_birth_date(number) == expected


def test_a_wrong_check_character_is_an_invalid_id():
    number = _with_wrong_check(make_id())
    with pytest.raises(InvalidInput) as e:
        parse_resident_id(number)
    assert e.value.reason == "invalid_id"


def test_an_impossible_birth_date_19900230_is_an_invalid_id():
    number = make_id("341225", "19900230", 1)
    with pytest.raises(InvalidInput) as e:
        parse_resident_id(number)
    assert e.value.reason == "invalid_id"
    assert "birth date" in e.value.message


def test_an_unknown_division_code_is_an_invalid_id():
    number = make_id("999999", "19800101", 1)
    with pytest.raises(InvalidInput) as e:
        parse_resident_id(number)
    assert e.value.reason == "invalid_id"


def test_a_province_with_an_unknown_county_is_an_invalid_id():
    number = make_id("349999", "19800101", 1)
    with pytest.raises(InvalidInput) as e:
        parse_resident_id(number)
    assert e.value.reason == "invalid_id"


def test_an_x_check_character_is_valid():
    number = _id_ending_in_x()
    assert parse_resident_id(number).number == number


def test_a_lower_case_x_is_normalised_to_upper_case():
    number = _id_ending_in_x()
    ref = parse_resident_id(number.lower())
    assert ref.number == number
    assert ref.key == number
    assert parse_person_ref(number[:-1] + "x") == ref


@pytest.mark.parametrize("sent", ["  {n}", "{n}\n", "{n}\x00", "\t{n}", "{n} "])
def test_an_id_with_surrounding_blanks_or_control_characters_is_refused_not_trimmed(sent):
    number = make_id()
    for parse in (parse_resident_id, parse_person_ref):
        with pytest.raises(InvalidInput) as e:
            parse(sent.format(n=number))
        assert e.value.reason == "invalid_id"


@pytest.mark.parametrize(
    "text", ["", "   ", None, 341225198001010011, "34122519800101001", "3412251980010100111",
             "34122519800101001Y", "X41225198001010011"],
)
def test_a_value_without_the_resident_id_shape_is_an_invalid_id(text):
    with pytest.raises(InvalidInput) as e:
        parse_resident_id(text)
    assert e.value.reason == "invalid_id"


def test_fullwidth_digits_do_not_make_a_second_valid_id_for_the_same_person():
    number = _id_ending_in_x()  # the check character X is the same in both forms
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) if ch.isdigit() else ch for ch in number)
    with pytest.raises(InvalidInput) as e:
        parse_resident_id(fullwidth)
    assert e.value.reason == "invalid_id"


def test_a_resident_id_shaped_reference_must_be_a_valid_id():
    with pytest.raises(InvalidInput) as e:
        parse_person_ref(make_id("341225", "19900230", 1))
    assert e.value.reason == "invalid_id"


def test_other_references_are_documents_keyed_apart_from_resident_ids():
    ref = parse_person_ref("P1234567")
    assert ref == PersonRef("P1234567", standard=False)
    assert ref.key == "doc:P1234567"
    assert birth_date_of(ref) is None
    assert sex_of(ref) is None


def test_a_document_number_must_be_printable_short_and_not_shaped_like_a_resident_id():
    assert parse_document_number("HK-123").number == "HK-123"
    with pytest.raises(InvalidInput) as e:
        parse_document_number(" HK-123 ")  # taken as sent: not trimmed, refused
    assert e.value.reason == "invalid_id"
    with pytest.raises(InvalidInput):
        parse_document_number(make_id())
    with pytest.raises(InvalidInput) as e:
        parse_document_number("A" * 65)
    assert e.value.reason == "invalid_id"
    with pytest.raises(InvalidInput):
        parse_document_number("bad\x00doc")
    with pytest.raises(InvalidInput):
        parse_document_number("")


# --- masked form -----------------------------------------------------------------------------


def test_masked_hides_the_middle_of_a_resident_id():
    number = make_id("341225", "19800101", 11)
    masked = PersonRef(number, True).masked()
    assert masked == number[:6] + "*" * 8 + number[-4:]
    assert len(masked) == 18
    assert "19800101" not in masked


def test_masked_never_shows_a_document_in_full():
    for number in ("A", "AB", "AB1234", "E12345678", "ABCDEFGHIJKL"):
        masked = PersonRef(number, False).masked()
        assert masked != number, number
        assert len(masked) == len(number), number


@pytest.mark.parametrize("length", range(1, 30))
def test_masked_keeps_the_length_and_hides_part_of_a_document_of_any_length(length):
    number = "".join(chr(ord("A") + i % 26) for i in range(length))  # e.g. a 9-char passport
    masked = PersonRef(number, False).masked()
    assert len(masked) == length
    assert "*" in masked


# --- region codes and ages ------------------------------------------------------------------


def test_a_region_code_has_six_digits():
    assert RegionCode.parse("341225") == RegionCode("341225")
    with pytest.raises(InvalidInput):  # taken as sent, not trimmed
        RegionCode.parse(" 341225 ")
    assert str(RegionCode("140522")) == "140522"


@pytest.mark.parametrize("text", ["3412", "3412250", "34122a", "", None, 341225, "３４１２２５"])
def test_a_region_that_is_not_six_ascii_digits_is_invalid_input(text):
    with pytest.raises(InvalidInput):
        RegionCode.parse(text)


def test_a_region_lies_within_a_policy_prefix():
    funan = RegionCode("341225")
    assert funan.within("3412")
    assert funan.within("341225")
    assert not funan.within("3411")
    assert RegionCode("331102") < RegionCode("341225")


def test_age_is_counted_in_whole_years_on_a_day():
    assert age_on(date(2007, 1, 1), date(2025, 1, 1)) == 18
    assert age_on(date(2007, 1, 2), date(2025, 1, 1)) == 17
    assert age_on(date(1929, 12, 31), date(2020, 1, 1)) == 90
    assert age_on(date(2000, 2, 29), date(2001, 2, 28)) == 0


def test_an_invalid_id_is_a_rejection_with_a_sentence():
    with pytest.raises(Rejected) as e:
        parse_resident_id("nonsense")
    assert e.value.message


@pytest.mark.parametrize(("field", "value"), [
    ("at", "2020-10-01 10:00:00+08:00"), ("at", "2020-10-01T10:00:00+08:00\n"),
    ("at", "2020-10-01\n"), ("payment_ref", "P1 "), ("payment_ref", "P1\x07"),
    ("payment_ref", " P1"), ("amount", " 280.00"), ("region", "341225\n"),
    ("command_id", "c-1\t")])
def test_a_value_is_taken_exactly_as_sent_never_trimmed(field: str, value: str) -> None:
    from domain.commands import parse_command

    command = {"op": "pay", "person": make_id(), "year": 2021, "amount": "280.00",
               "channel": "cash", "payment_ref": "P1", "at": "2020-10-01"}
    if field == "region":
        command = {"op": "register", "person": make_id(), "name": "n", "region": "341225",
                   "at": "2020-10-01"}
    with pytest.raises(InvalidInput):
        parse_command({**command, field: value})
    assert parse_command(command)  # the same command, exactly written, is accepted
