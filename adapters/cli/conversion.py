"""Plain conversion of the command line's simple values (ADR 97).

typer converts every option through a pydantic `TypeAdapter`, and building the first one
imports pydantic — about a fifth of a second-long query's start-up. A text option needs no
conversion, and a whole number of a few ASCII digits within the option's range converts as
pydantic would convert it; only those are converted here, and an option left out needs no
conversion at all. Anything else (a path given, a number out of range or written otherwise)
goes to typer's own conversion, with its messages; choices and files keep typer's.
Where this typer has no such conversion (older versions convert through click), nothing is
changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # a typer that converts through click: nothing to replace
    RuntimeParam = None

WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)


def plain(value: Any, annotation: Any, low: Any = None, high: Any = None) -> Any:
    """`value` converted for an option of type `annotation` between `low` and `high`, or
    `NotImplemented` when typer's own conversion must decide."""
    if annotation is str and isinstance(value, str):
        return value
    if annotation is int and isinstance(value, str) and WHOLE_NUMBER.fullmatch(value):
        number = int(value)
        if (low is None or number >= low) and (high is None or number <= high):
            return number
    return NotImplemented


if RuntimeParam is not None:
    @dataclass(frozen=True)
    class PlainParam(RuntimeParam):
        """typer's conversion of one parameter, plain where `plain` can decide."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info = self.parameter_info
            converted = plain(value, self.annotation, info.min, info.max)
            if converted is NotImplemented:
                return build_runtime_param(param.type_descriptor)._coerce_value(
                    value, param, ctx)
            return converted


def use_plain_conversion(param: Any) -> None:
    """Convert a parameter of typer's plainly where `plain` can (typer builds a parameter's
    conversion even for a value that is not given: an option left out costs nothing now).
    Choices, files and clamped ranges keep typer's own."""
    descriptor = getattr(param, "type_descriptor", None)
    if RuntimeParam is None or descriptor is None or not hasattr(param, "_runtime_param"):
        return
    info = descriptor.parameter_info
    if descriptor.is_choice or descriptor.is_file or getattr(info, "clamp", False):
        return
    param._runtime_param = PlainParam(parameter_info=info, annotation=descriptor.annotation)
