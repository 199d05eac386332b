"""A command file's line decoded strictly: what the contract accepts and the sentence refusing
the rest."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.application.lines import decode_line, parse_line
from domain.errors import InvalidInput


def test_a_line_decodes_with_its_decimals_exact_and_its_end_of_line_dropped() -> None:
    assert decode_line('{"op":"pay","amount":280.10}\r\n') == {"op": "pay",
                                                               "amount": Decimal("280.10")}


@pytest.mark.parametrize(("line", "sentence"), [
    ('{"a":1,"a":2}', "the field 'a' appears twice"),
    ('{"a":NaN}', "NaN is not a number the contract accepts"),
    ('{"a":-Infinity}', "-Infinity is not a number the contract accepts"),
    ('{"a":', "the line is not valid JSON: Expecting value where the line ends, after "
              "column 5"),
    ('{"a":1} x', "the line is not valid JSON: Extra data at column 9 of 9"),
    ('\ufeff{"a":1}', "the line is not valid JSON: Unexpected UTF-8 BOM (decode using "
                      "utf-8-sig) at column 1 of 8"),
])
def test_a_line_the_contract_does_not_accept_is_refused_with_a_sentence(
        line: str, sentence: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_line(line)
    assert str(refused.value) == sentence


def test_a_line_too_long_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(InvalidInput, match="longer than 65536 characters"):
        decode_line('{"a":"' + "x" * 70_000 + '"}')


def test_one_decoder_serves_every_line_without_keeping_anything_between_them() -> None:
    refused = parse_line('{"op":"register","op":"register"}')
    assert isinstance(refused, InvalidInput)
    op, command = parse_line('{"op":"report_employee_insurance","person":'
                             '"341221199303127379","year":2021,"at":"2021-03-01T09:00:00+08:00"}')
    assert op == "report_employee_insurance" and command is not None


def test_a_command_with_fields_the_contract_does_not_name_is_refused_naming_the_first() -> None:
    refused = parse_line('{"op":"report_employee_insurance","person":"341221199303127379",'
                         '"year":2021,"at":"2021-03-01T09:00:00+08:00","zeta":1,"extra":2}')
    assert isinstance(refused, InvalidInput)
    assert refused.op == "report_employee_insurance"
    assert str(refused) == "report_employee_insurance has no field 'extra'"
