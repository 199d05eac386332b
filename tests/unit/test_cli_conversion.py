"""The command line converts text and small whole numbers itself, without pydantic (ADR 97),
and the result is typer's own conversion's: the same value, or the same refusal."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

from adapters.cli import load_command
from adapters.cli.conversion import PlainParam

COMMANDS = ("household", "person", "households", "report", "ingest")


def params() -> list[Any]:
    found = []
    for name in COMMANDS:
        command = load_command(name)
        for sub in (getattr(command, "commands", None) or {"": command}).values():
            found.extend(p for p in sub.params if p.name != "help")
    return found


PARAMS = params()


def converted(runtime: Any, value: Any, param: Any) -> Any:
    try:
        return runtime.coerce(value, param=param, ctx=None)
    except BadParameter as e:
        return ("refused", e.message)


def test_every_text_number_and_path_option_of_the_queries_converts_plainly() -> None:
    plain = {p.name for p in PARAMS if isinstance(p.get_runtime_param(), PlainParam)}
    assert {"year", "at_position", "db", "person", "policies", "limit", "offset"} <= plain


@pytest.mark.parametrize("param", PARAMS, ids=lambda p: p.name)
@given(value=st.one_of(
    st.text(alphabet="0123456789+-_. x١２", max_size=7),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["2021", "2000", "2100", "1999", "2101", "0", "-0", "+7", "007", "1_000",
                     " 12 ", "12\n", "1.0", "0x10", "", "true", "sqlite:///x.db"])))
def test_a_value_converts_as_typers_own_conversion_converts_it(param: Any, value: str) -> None:
    assert converted(param.get_runtime_param(), value, param) == converted(
        build_runtime_param(param.type_descriptor), value, param)
