"""The command-file contract's lines: strict JSON decoding and parsing into commands, once."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from attrs import frozen

from domain.commands import parse_command
from domain.errors import InvalidInput

MAX_LINE = 64 * 1024


@frozen
class Prepared:
    """A command parsed ahead of its batch: `(op, command)` or the `InvalidInput` that
    rejects it."""

    parsed: Any


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(items)
    if len(out) == len(items):  # no key twice: the usual case, built in one call
        return out
    seen: set[str] = set()
    for k, _ in items:  # else the first key met twice, named
        if k in seen:
            raise InvalidInput(f"the field {k!r} appears twice")
        seen.add(k)
    return out  # not reached: dict() kept fewer keys, so one came twice


def _constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a number the contract accepts")


#: One strict decoder, built once (it keeps no state between lines).
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=Decimal,
                            parse_constant=_constant)


def decode_line(text: str) -> Any:
    """Decode one JSON line strictly: no NaN, no duplicate keys, decimals stay exact."""
    if len(text) > MAX_LINE:
        raise InvalidInput(f"the line is longer than {MAX_LINE} characters")
    text = text.rstrip("\r\n")  # so that an error is placed on this line, not the next
    try:
        if text.startswith("\ufeff"):  # as json.loads says it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except InvalidInput:
        raise
    except json.JSONDecodeError as e:
        # The result's `line` names the file's line; the place is the column within it (the
        # decoder's own "line 2 column 1" would count lines inside this one line).
        where = (f"where the line ends, after column {len(text)}" if e.pos >= len(text)
                 else f"at column {e.pos + 1} of {len(text)}")
        raise InvalidInput(f"the line is not valid JSON: {e.msg.removesuffix(' at')} {where}"
                           ) from None
    except (ValueError, RecursionError) as e:
        raise InvalidInput(f"the line is not valid JSON ({str(e)[:80]})") from None


def parse(data: Any) -> Any:
    """A decoded command object parsed into `(op, command)`, or the `InvalidInput` that
    rejects it (its `op` noted when the object names one)."""
    try:
        return (data.get("op") if isinstance(data, dict) else None, parse_command(data))
    except InvalidInput as e:
        e.op = data.get("op") if isinstance(data, dict) and isinstance(
            data.get("op"), str) else None
        return e


def prepare(data: Any) -> Prepared:
    """A decoded command object parsed once, to be applied later (an invalid one is kept as
    its rejection and answered as such)."""
    return Prepared(parse(data))


def parse_line(text: str) -> Any:
    """One line of a command file, decoded and parsed (or the `InvalidInput` refusing it)."""
    try:
        return parse(decode_line(text))
    except InvalidInput as e:
        return e
