"""Properties: the pool never overpays; stores, batches and replays agree; junk records nothing."""

from __future__ import annotations

import itertools
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.application.ledger import Ledger
from adapters.stores.events import LedgerApplication
from adapters.stores.urls import store_env
from domain.commands import OPS
from domain.errors import Rejected
from domain.money import Money
from tests.support.builders import RECORDED_AT, make_id
from tests.support.fakes import World
from tests.support.oracles import household_view, person_view
from tests.support.stores import examples_on
from tests.support.strategies import (
    FUNAN,
    PEOPLE,
    ascii_text,
    bad_dates,
    claim_scripts,
    histories,
    junk_json,
    non_ints,
    non_strings,
    unprintable,
)

EXAMPLES = 60
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

RATIO = Decimal("0.55")
PER_PERSON_CAP = 25000  # fen


def open_store(url: str, book) -> Ledger:
    """A ledger whose clock is the tests' fixed recording time (results match the fake port)."""
    return Ledger(LedgerApplication(env=store_env(url)), book, clock=lambda: RECORDED_AT)


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def lines(commands: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(c, ensure_ascii=False) for c in commands]


# --- (a) the household pool ------------------------------------------------------------------


@SETTINGS
@given(script=claim_scripts())
def test_claims_never_take_more_than_the_pool_and_each_takes_what_is_left(book, script):
    members, steps = script
    world = World(book)
    ids = [make_id(FUNAN, "19800101", 2 * i + 1) for i in range(members)]
    world.member(ids[0])
    for person in ids[1:]:
        world.member(person, head=ids[0])
    cap = PER_PERSON_CAP * members
    settled: list[dict[str, Any]] = []  # the model: claim_id, reimbursed fen, reversed

    for n, (kind, who, fen) in enumerate(steps):
        used = sum(c["fen"] for c in settled if not c["reversed"])
        if kind == "claim":
            expense = Money(fen)
            result = world.claim(f"c{n}", ids[who], str(expense))
            reimbursable = half_up(RATIO * fen)
            reimbursed = Money.parse(result["reimbursed"]).fen
            assert Money.parse(result["eligible_expense"]).fen == fen
            assert Money.parse(result["reimbursable"]).fen == reimbursable
            assert reimbursed <= reimbursable
            assert reimbursed == min(reimbursable, max(0, cap - used))
            assert Money.parse(result["pool_used_before"]).fen == used
            assert Money.parse(result["pool_cap"]).fen == cap
            assert Money.parse(result["pool_remaining_after"]).fen == max(0, cap - used) - (
                reimbursed)
            settled.append({"id": f"c{n}", "fen": reimbursed, "reversed": False})
        elif settled:
            target = settled[who % len(settled)]
            if target["reversed"]:
                assert world.reject(op="reverse_claim", claim_id=target["id"], reason="r",
                                    at="2021-06-01") == "already_reversed"
            else:
                result = world.ok(op="reverse_claim", claim_id=target["id"], reason="r",
                                  at="2021-06-01")
                assert Money.parse(result["restored"]).fen == target["fen"]
                target["reversed"] = True
        live = sum(c["fen"] for c in settled if not c["reversed"])
        assert live <= cap
        assert world.port.household(ids[0], 2021).used() == Money(live)


# --- a random small history (`histories`, for (b) and (c)) ----------------------------------


def run_in_memory(book, commands: list[dict[str, Any]]) -> tuple[World, list[tuple]]:
    """Each command through the service and the fake port, one at a time."""
    world = World(book)
    outcomes = []
    for command in commands:
        try:
            outcome, _ = world.handle(command)
            outcomes.append(("ok", None, outcome.fields))
        except Rejected as e:
            outcomes.append(("rejected", e.reason, {}))
    return world, outcomes


def as_outcome(result: dict[str, Any]) -> tuple:
    fields = {k: v for k, v in result.items()
              if k not in ("line", "op", "status", "reason", "message")}
    return result["status"], result["reason"], fields


# --- (b) a store reproduces every aggregate ---------------------------------------------------


def test_reloading_from_a_store_reproduces_every_aggregate(module_stores, book):
    @settings(SETTINGS, max_examples=examples_on(module_stores.kind, EXAMPLES))
    @given(history=histories(), batch_size=st.sampled_from([1, 3, 500]))
    def reproduced(history, batch_size):
        reload_reproduces(module_stores, book, history, batch_size)

    reproduced()


def reload_reproduces(module_stores, book, history, batch_size):
    world, expected = run_in_memory(book, history)
    # a new store per example: a SQLite file or a PostgreSQL schema
    url = module_stores.new(f"reload-{next(RELOADS)}")
    first = open_store(url, book)
    reopened = None
    try:
        results = list(first.execute_lines(lines(history), batch_size=batch_size))
        assert [as_outcome(r) for r in results] == expected
        reopened = open_store(url, book)
        assert (reopened.app.recorder.max_notification_id() or 0) == len(world.port.events)
        for aggregate_id, aggregate in world.port.store.items():
            assert first.app.repository.get(aggregate_id) == aggregate
            assert reopened.app.repository.get(aggregate_id) == aggregate
            # every stored event round-trips with all its fields (facts, money, dates)
            assert list(reopened.app.events.get(aggregate_id)) == [
                e for e in world.port.events if e.originator_id == aggregate_id]
        for person in PEOPLE:
            if world.port.person(person) is None:
                continue
            assert person_view(reopened, person, 2021) == person_view(first, person, 2021)
            py = world.port.person(person).year(2021)
            if py is not None:
                assert household_view(reopened, person, 2021) == household_view(first,
                    person, 2021)
    finally:
        first.app.close()
        if reopened is not None:
            reopened.app.close()


RELOADS = itertools.count()


# --- (c) batch size does not change any result ---------------------------------------------------

junk_lines = st.sampled_from([
    "{", "[]", "null", '{"op": "fly"}', '{"op": "pay"}', '{"op": "claim", "expense": 1.5}',
])


@SETTINGS
@given(history=histories(), junk=st.lists(st.tuples(st.integers(0, 40), junk_lines),
                                            max_size=3),
       batch_size=st.sampled_from([7, 500]))
def test_the_same_command_file_gives_the_same_results_in_any_batch_size(book, history, junk,
                                                                         batch_size):
    text = lines(history)
    for position, line in junk:
        text.insert(min(position, len(text)), line)
    one = open_store("memory://", book)
    many = open_store("memory://", book)
    one_by_one = list(one.execute_lines(text, batch_size=1))
    batched = list(many.execute_lines(text, batch_size=batch_size))
    assert batched == one_by_one
    assert [r["line"] for r in batched] == list(range(1, len(text) + 1))
    assert one.app.recorder.max_notification_id() == many.app.recorder.max_notification_id()
    for person in PEOPLE:
        try:
            view = person_view(one, person, 2021)
        except Rejected:
            continue
        assert person_view(many, person, 2021) == view


# --- (d) malformed or hostile lines are rejected and record nothing ------------------------------

NEW = make_id(FUNAN, "19900101", 9)
HEAD = make_id(FUNAN, "19800101", 1)
KID = make_id(FUNAN, "20120303", 3)

HISTORY = [
    dict(op="register", person=HEAD, name="户主", region=FUNAN, at="2020-01-01"),
    dict(op="register", person=KID, name="孩子", region=FUNAN, at="2020-01-01"),
    dict(op="enroll", person=HEAD, year=2021, region=FUNAN, at="2020-09-10"),
    dict(op="pay", person=HEAD, year=2021, amount="280.00", channel="cash", payment_ref="h1",
         at="2020-10-01"),
    dict(op="enroll", person=KID, year=2021, region=FUNAN, at="2020-09-11",
         household_head=HEAD),
    dict(op="pay", person=KID, year=2021, amount="300.00", channel="wechat", payment_ref="k1",
         at="2020-10-02", payer=HEAD, payer_relation="parent"),
    dict(op="claim", claim_id="c1", person=KID, visit_date="2021-03-01", facility_level=1,
         facility_region=FUNAN, expense="100.00", at="2021-03-01T09:00:00+08:00"),
]

# Every op with a command that would be (or could be) accepted, and the kind of each field.
BASES: dict[str, dict[str, Any]] = {
    "register": dict(op="register", person=NEW, name="新人", region=FUNAN, at="2020-09-01",
                     birth_date="1990-01-01", sex="male", id_type="resident_id",
                     residence_permit=False),
    "report_employee_insurance": dict(op="report_employee_insurance", person=KID, year=2021,
                                      at="2021-04-01"),
    "enroll": dict(op="enroll", person=HEAD, year=2021, region=FUNAN, at="2020-09-10",
                   household_head=HEAD, category="general", identity="dibao",
                   insured_before=True, broken_years=0, back_paid_years=0),
    "pay": dict(op="pay", person=KID, year=2021, amount="1.00", channel="cash",
                payment_ref="new-ref", at="2020-10-05", payer=HEAD, payer_relation="parent"),
    "grant_subsidy": dict(op="grant_subsidy", person=KID, year=2021, identity="dibao",
                          at="2020-11-01"),
    "refund": dict(op="refund", person=KID, year=2021, reason="duplicate_payment",
                   at="2020-12-01", amount="10.00", channel="bank_counter"),
    "claim": dict(op="claim", claim_id="c2", person=KID, visit_date="2021-03-02",
                  facility_level=1, facility_region=FUNAN, expense="50.00",
                  at="2021-03-02T09:00:00+08:00", cause="ordinary"),
    "quote": dict(op="quote", claim_id="q1", person=KID, visit_date="2021-03-02",
                  facility_level=0, facility_region=FUNAN, expense="50.00",
                  at="2021-03-02T09:00:00+08:00", cause="ordinary"),
    "reverse_claim": dict(op="reverse_claim", claim_id="c1", reason="wrong patient",
                          at="2021-03-03"),
}
REQUIRED = {
    "register": ["person", "name", "region", "at"],
    "report_employee_insurance": ["person", "year", "at"],
    "enroll": ["person", "year", "region", "at"],
    "pay": ["person", "year", "amount", "channel", "payment_ref", "at"],
    "grant_subsidy": ["person", "year", "identity", "at"],
    "refund": ["person", "year", "reason", "at"],
    "claim": ["claim_id", "person", "visit_date", "facility_level", "facility_region",
              "expense", "at"],
    "quote": ["claim_id", "person", "visit_date", "facility_level", "facility_region",
              "expense", "at"],
    "reverse_claim": ["claim_id", "reason", "at"],
}
KIND = {
    "person": "id", "household_head": "id", "payer": "id",
    "name": "text", "payment_ref": "text", "claim_id": "text",
    "region": "region", "facility_region": "region",
    "year": "year", "facility_level": "level", "broken_years": "count",
    "back_paid_years": "count",
    "amount": "money", "expense": "money",
    "birth_date": "date", "visit_date": "date", "at": "at",
    "sex": "choice", "id_type": "choice", "category": "choice", "identity": "choice",
    "channel": "choice", "payer_relation": "choice", "cause": "choice",
    "residence_permit": "bool", "insured_before": "bool",
}
CHOICES = {
    "sex": ("male", "female"), "id_type": ("resident_id", "other"),
    "category": ("general", "student", "newborn", "returning_migrant_worker"),
    "identity": ("tekun", "dibao", "dibao_edge", "low_income", "disabled", "severe_disability",
                 "entitled", "orphan", "unsupported_child", "monitored", "at_risk",
                 "returned_to_poverty", "stably_lifted", "ethnic_minority", "filed_poor"),
    "channel": ("wechat", "alipay", "bank_app", "bank_counter", "bank_debit", "tax_online",
                "tax_pos", "cash", "collective_agent", "employee_account", "school"),
    "payer_relation": ("self", "parent", "spouse", "child", "agent", "other"),
    "cause": ("ordinary", "work_injury", "third_party", "public_health", "overseas",
              "cosmetic", "incarceration"),
    "refund_reason": ("subsidy_eligibility", "duplicate_payment", "duplicate_enrollment",
                      "other"),
}

def bad_values(op: str, field: str) -> st.SearchStrategy:
    """Values of the wrong form for one field (never null for an optional field)."""
    special = {("refund", "reason"): "refund_reason", ("reverse_claim", "reason"): "text",
               ("refund", "channel"): "text"}  # a refund names its channel in free text
    kind = special.get((op, field)) or KIND[field]
    required = field in REQUIRED[op]
    nothing = [st.none()] if required else []
    if kind == "id":
        return st.one_of(*nothing, non_strings, st.sampled_from(["", "   "]), unprintable,
                         st.text(min_size=1, max_size=5).map(lambda s: "D" * 65 + s))
    if kind == "text":
        return st.one_of(*nothing, non_strings, st.sampled_from(["", "   "]), unprintable,
                         st.just("x" * 201))
    if kind == "region":
        return st.one_of(*nothing, non_strings, ascii_text.filter(
            lambda s: not re.fullmatch(r"\s*[0-9]{6}\s*", s)))
    if kind in ("year", "level", "count"):
        low, high = {"year": (2000, 2100), "level": (0, 3), "count": (0, 80)}[kind]
        return st.one_of(*nothing, non_ints, st.integers(high + 1, 10**50),
                         st.integers(-10**50, low - 1))
    if kind == "money":
        return st.one_of(
            *nothing, non_strings,
            st.sampled_from(["NaN", "-1.00", "1.005", "1e3", "", " ", "+5", "0x10", "1,000",
                             "Infinity", "9" * 13, "10000000000.01", "1.", ".5", "¥5"]),
            st.integers(1, 10**6).map(lambda fen: f"-{Money(fen)}"),
            st.tuples(st.integers(0, 10**6), st.integers(0, 999)).map(
                lambda t: f"{t[0]}.{t[1]:03d}"),
        )
    if kind == "date":
        return st.one_of(*nothing, bad_dates)
    if kind == "at":
        return st.one_of(*nothing, bad_dates.filter(lambda v: not isinstance(v, str)),
                         st.sampled_from(["2021-03-01T10:00:00", "2021-03-01 10:00",
                                          "2021-13-01T00:00:00+08:00", "x" * 41,
                                          "2021-03-01T10:00:00+25:00", "yesterday",
                                          "1899-01-01T00:00:00+08:00", ""]))
    if kind in ("choice", "refund_reason"):
        options = CHOICES[kind if kind == "refund_reason" else field]
        return st.one_of(*nothing, non_strings, st.text(max_size=12).filter(
            lambda s: s not in options))
    if kind == "bool":
        return st.one_of(st.integers(), st.sampled_from(["true", "false", "yes", ""]),
                         st.lists(st.booleans(), max_size=1))
    raise AssertionError(kind)


SENTINEL = "__number_token__"


@st.composite
def mutated_commands(draw) -> str:
    op = draw(st.sampled_from(sorted(BASES)))
    command = dict(BASES[op])
    how = draw(st.sampled_from(["drop", "extra", "wrong", "wrong", "wrong", "nan", "dupe",
                                "truncate", "nest"]))
    if how == "drop":
        del command[draw(st.sampled_from(REQUIRED[op]))]
    elif how == "extra":
        key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in command))
        command[key] = draw(junk_json)
    elif how == "wrong":
        field = draw(st.sampled_from(sorted(k for k in command if k != "op")))
        command[field] = draw(bad_values(op, field))
    elif how == "nan":
        command[draw(st.sampled_from(sorted(k for k in command if k != "op")))] = SENTINEL
    text = json.dumps(command, ensure_ascii=draw(st.booleans()))
    if how == "nan":
        token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        text = text.replace(json.dumps(SENTINEL), token)
        assert token in text
    elif how == "dupe":
        text = text[:-1] + ', "op": ' + json.dumps(op) + "}"
    elif how == "truncate":
        text = text[: draw(st.integers(1, len(text) - 1))]
    elif how == "nest":
        depth = draw(st.sampled_from([50, 5000, 100_000]))
        field = draw(st.sampled_from(sorted(k for k in command if k != "op")))
        text = text[:-1] + f', "{field}x": ' + "[" * depth + "]" * depth + "}"
    return text


whole_line_junk = st.one_of(
    st.text(min_size=1, max_size=80),
    junk_json.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
    st.text(max_size=20).filter(lambda op: op not in OPS).map(
        lambda op: json.dumps({"op": op, "person": HEAD, "year": 2021, "at": "2021-01-01"})),
    non_strings.map(lambda op: json.dumps({"op": op})),
    st.just('{"op": "register", "name": "' + "a" * 70_000 + '"}'),
    st.just('{"op": "claim", "facility_level": ' + "9" * 5000 + "}"),
)


def seasoned_ledger(book) -> Ledger:
    """A ledger already holding a household with a payment and a claim."""
    ledger = open_store("memory://", book)
    results = list(ledger.execute_lines(lines(HISTORY)))
    assert [r["status"] for r in results] == ["ok"] * len(HISTORY), results
    return ledger


@pytest.fixture(scope="module")
def seasoned(book) -> Ledger:
    return seasoned_ledger(book)


@pytest.fixture
def fresh(book) -> Ledger:
    """Like `seasoned`, for tests where an accepted line must not leak into other tests."""
    return seasoned_ledger(book)


def assert_rejected_without_trace(ledger: Ledger, line: str) -> dict[str, Any]:
    before = ledger.app.recorder.max_notification_id()
    results = list(ledger.execute_lines([line]))
    assert len(results) == 1
    result = results[0]
    assert result["status"] == "rejected", result
    assert result["line"] == 1
    assert isinstance(result["message"], str) and result["message"]
    assert ledger.app.recorder.max_notification_id() == before
    return result


def test_every_base_command_of_the_hostile_tests_is_well_formed(book):
    from domain.commands import OPS, parse_command

    parsed = {op: parse_command(command) for op, command in BASES.items()}
    assert set(parsed) <= set(OPS)
    for op, command in parsed.items():
        assert type(command).__name__.lower() == op.replace("_", "")


@SETTINGS
@given(line=mutated_commands())
def test_a_malformed_command_is_rejected_as_invalid_and_records_nothing(seasoned, line):
    result = assert_rejected_without_trace(seasoned, line)
    assert result["reason"] in ("invalid_input", "invalid_id"), result


@SETTINGS
@given(line=whole_line_junk.filter(lambda s: s.strip()))
def test_a_line_that_is_not_a_command_object_is_rejected_and_records_nothing(seasoned, line):
    result = assert_rejected_without_trace(seasoned, line)
    assert result["reason"] == "invalid_input", result


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "0" <= ch <= "9" else ch for ch in text)


def _wrong_check(number: str) -> str:
    return number[:-1] + ("1" if number[-1] != "1" else "2")


ID_SHAPED_JUNK = [
    _wrong_check(KID),
    _wrong_check(NEW),
    make_id(FUNAN, "19900230", 1),      # impossible date
    make_id("999999", "19800101", 1),   # no such division
    make_id("349999", "19800101", 1),   # a province, but no such county
]


@SETTINGS
@given(op=st.sampled_from(sorted(op for op in BASES if "person" in BASES[op])),
       number=st.sampled_from(ID_SHAPED_JUNK), field=st.sampled_from(["person", "payer",
                                                                        "household_head"]))
def test_an_id_shaped_but_invalid_number_is_an_invalid_id_and_never_stops_the_ingest(
        seasoned, op, number, field):
    command = dict(BASES[op])
    if field not in command:
        field = "person"
    command[field] = number
    result = assert_rejected_without_trace(seasoned, json.dumps(command))
    assert result["reason"] == "invalid_id", result
    # the ingest goes on: the line after it is decided (a quote, which records nothing)
    before = seasoned.app.recorder.max_notification_id()
    results = list(seasoned.execute_lines([json.dumps(command), json.dumps(BASES["quote"])]))
    assert [(r["line"], r["status"]) for r in results] == [(1, "rejected"), (2, "ok")], results
    assert seasoned.app.recorder.max_notification_id() == before


def test_a_resident_id_written_in_fullwidth_digits_cannot_be_registered(fresh):
    command = dict(BASES["register"], person=_fullwidth(NEW))
    del command["birth_date"]
    result = assert_rejected_without_trace(fresh, json.dumps(command, ensure_ascii=False))
    assert result["reason"] == "invalid_id", result


@pytest.mark.parametrize(
    ("op", "field", "value"),
    [("pay", "amount", "２８０.００"), ("pay", "amount", "٢٨٠"), ("claim", "expense", "５０"),
     ("enroll", "region", "３４１２２５"), ("claim", "visit_date", "2021-W09-2"),
     ("claim", "at", "2021-W09-2"), ("claim", "visit_date", "2021-060")],
)
def test_money_regions_and_dates_take_only_their_ascii_contract_form(fresh, op, field, value):
    command = dict(BASES[op], **{field: value})
    result = assert_rejected_without_trace(fresh, json.dumps(command, ensure_ascii=False))
    assert result["reason"] == "invalid_input", result
