"""The command contract: parse one JSON object into a typed, validated command.

Every problem raises `InvalidInput` (reason `invalid_input`, or `invalid_id` for ID numbers)
with a sentence naming the field; nothing is ever half-parsed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import asdict, evolve, frozen

from domain.errors import InvalidInput
from domain.identity import (
    PersonRef,
    RegionCode,
    exact,
    parse_document_number,
    parse_person_ref,
    parse_resident_id,
)
from domain.money import Money
from domain.policy import CATEGORIES, CAUSES, CHANNELS, IDENTITIES, PAYER_RELATIONS
from domain.rules.eligibility import PLACE_FIELDS, SCHOOL_LEVELS, Places
from domain.rules.refund import REFUND_REASONS
from domain.rules.roster import ROSTER_SOURCES

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$")
_SHARE = re.compile(r"^[0-9](\.[0-9]{1,4})?$")
MAX_TEXT = 200
#: The longest `command_id` (an idempotency key, ADR 44) and natural reference accepted.
MAX_COMMAND_ID = 64
MAX_REF = 128


@frozen
class Register:
    person: PersonRef
    name: str
    region: RegionCode
    at: datetime
    birth_date: date | None = None
    sex: str | None = None
    id_type: str = "resident_id"
    residence_permit: bool = False
    places: Places = Places()
    command_id: str | None = None


@frozen
class ReportEmployeeInsurance:
    person: PersonRef
    year: int
    at: datetime
    command_id: str | None = None


@frozen
class RecogniseIdentity:
    person: PersonRef
    year: int
    identity: str
    region: RegionCode
    at: datetime
    source: str | None = None
    command_id: str | None = None


@frozen
class Enroll:
    person: PersonRef
    year: int
    region: RegionCode
    at: datetime
    household_head: PersonRef | None = None
    category: str = "general"
    identity: str | None = None
    insured_before: bool | None = None
    broken_years: int | None = None
    back_paid_years: int = 0
    command_id: str | None = None


@frozen
class Pay:
    person: PersonRef
    year: int
    amount: Money
    channel: str
    payment_ref: str
    at: datetime
    payer: PersonRef | None = None
    payer_relation: str = "self"
    command_id: str | None = None


@frozen
class GrantSubsidy:
    person: PersonRef
    year: int
    identity: str
    at: datetime
    command_id: str | None = None


@frozen
class Refund:
    person: PersonRef
    year: int
    reason: str
    at: datetime
    amount: Money | None = None
    channel: str | None = None
    refund_ref: str | None = None
    command_id: str | None = None


@frozen
class Claim:
    claim_id: str
    person: PersonRef
    visit_date: date
    facility_level: int
    facility_region: RegionCode
    expense: Money
    at: datetime
    cause: str = "ordinary"
    third_party_share: Decimal | None = None
    command_id: str | None = None

    def facts(self) -> tuple:
        """What makes two sends of one claim_id the same claim."""
        return (self.person.key, self.visit_date, self.facility_level, self.facility_region.code,
                self.expense, self.cause, self.third_party_share)


@frozen
class Quote(Claim):
    pass


@frozen
class ReverseClaim:
    claim_id: str
    reason: str
    at: datetime
    command_id: str | None = None


Command = (Register | ReportEmployeeInsurance | RecogniseIdentity | Enroll | Pay | GrantSubsidy
           | Refund | Claim
           | Quote | ReverseClaim)


# --- field readers ---------------------------------------------------------------------------


class _Fields:
    def __init__(self, op: str, data: Mapping[str, Any]) -> None:
        self.op = op
        self.data = data
        self.used = {"op"}

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        value = self.data.get(key)
        if value is None and required:
            raise InvalidInput(f"{self.op} needs the field {key}")
        return value

    def text(self, key: str, required: bool = True, limit: int = MAX_TEXT) -> str | None:
        v = self._get(key, required)
        if v is None:
            return None
        if not isinstance(v, str) or not v.strip():
            raise InvalidInput(f"{key} must be a non-empty string")
        exact(v, key)
        if len(v) > limit or not v.isprintable():
            raise InvalidInput(f"{key} must be printable text of at most {limit} characters")
        return v

    def choice(self, key: str, options: tuple[str, ...], required: bool = True,
               default: str | None = None) -> str | None:
        v = self._get(key, required)
        if v is None:
            return default
        if v not in options:
            raise InvalidInput(f"{key} must be one of {', '.join(options)}; got {_show(v)}")
        return v

    def integer(self, key: str, low: int, high: int, required: bool = True) -> int | None:
        v = self._get(key, required)
        if v is None:
            return None
        if type(v) is not int or not low <= v <= high:
            raise InvalidInput(f"{key} must be a whole number from {low} to {high}; got {_show(v)}")
        return v

    def boolean(self, key: str) -> bool | None:
        v = self._get(key, False)
        if v is None:
            return None
        if type(v) is not bool:
            raise InvalidInput(f"{key} must be true or false; got {_show(v)}")
        return v

    def money(self, key: str, required: bool = True, positive: bool = True) -> Money | None:
        v = self._get(key, required)
        if v is None:
            return None
        amount = Money.parse(v, key)
        if amount.is_negative() or (positive and not amount.is_positive()):
            raise InvalidInput(f"{key} must be {'positive' if positive else 'zero or more'}; "
                               f"got {v}")
        return amount

    def share(self, key: str) -> Decimal | None:
        """A fraction from 0 to 1 as a decimal string of at most 4 decimals ("0.3")."""
        v = self._get(key, False)
        if v is None:
            return None
        try:
            d = Decimal(v) if isinstance(v, str) and _SHARE.fullmatch(v) else None
        except InvalidOperation:
            d = None
        if d is None or not 0 <= d <= 1:
            raise InvalidInput(f"{key} must be a fraction from 0 to 1 as a decimal string "
                               f"with at most 4 decimals, such as \"0.3\"; got {_show(v)}")
        return d.normalize() if d else Decimal(0)

    def day(self, key: str, required: bool = True) -> date | None:
        v = self._get(key, required)
        if v is None:
            return None
        if not isinstance(v, str) or not _DATE.fullmatch(v):
            raise InvalidInput(f"{key} must be a date YYYY-MM-DD; got {_show(v)}")
        try:
            d = date.fromisoformat(v)
        except ValueError:
            raise InvalidInput(f"{key} must be a real date YYYY-MM-DD; got {_show(v)}") from None
        if not 1900 <= d.year <= 2100:
            raise InvalidInput(f"{key} {v} lies outside the years the ledger handles")
        return d

    def at(self) -> datetime:
        v = self._get("at", True)
        if not isinstance(v, str) or not 10 <= len(v) <= 40:
            raise InvalidInput(f"at must be an ISO 8601 timestamp with offset; got {_show(v)}")
        if len(v) == 10:
            d = self.day("at")
            return datetime(d.year, d.month, d.day, tzinfo=CHINA_STANDARD_TIME)
        if not _TIMESTAMP.fullmatch(v):
            raise InvalidInput(f"at must be YYYY-MM-DD or an ISO 8601 timestamp with offset "
                               f"such as 2021-03-01T09:30:00+08:00; got {_show(v)}")
        try:
            t = datetime.fromisoformat(v)
        except ValueError:
            raise InvalidInput(f"at must be an ISO 8601 timestamp; got {_show(v)}") from None
        if t.tzinfo is None:
            raise InvalidInput(f"at {v} needs a UTC offset such as +08:00")
        if not 1900 <= t.year <= 2100:
            raise InvalidInput(f"at {v} lies outside the years the ledger handles")
        return t

    def person(self, key: str, required: bool = True) -> PersonRef | None:
        v = self._get(key, required)
        if v is None:
            return None
        return parse_person_ref(v, key)

    def region(self, key: str, required: bool = True) -> Any:
        """A county code (`RegionCode`); optional ones are given as their code text."""
        v = self._get(key, required)
        if v is None:
            return None
        code = RegionCode.parse(v, key)
        return code if required else code.code

    def done(self) -> None:
        if self.data.keys() <= self.used:  # the usual case, in one set comparison
            return
        extra = min(set(self.data) - self.used)  # the first unknown field, by name
        raise InvalidInput(f"{self.op} has no field {_show(extra)}")


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _year(f: _Fields) -> int:
    return f.integer("year", 2000, 2100)


def _register(f: _Fields) -> Register:
    id_type = f.choice("id_type", ("resident_id", "other"), required=False,
                       default="resident_id")
    raw = f._get("person", True)
    person = parse_resident_id(raw) if id_type == "resident_id" else parse_document_number(raw)
    birth = f.day("birth_date", required=False)
    if id_type == "other" and birth is None:
        raise InvalidInput("a person registered with a non-standard document needs birth_date")
    permit = f.boolean("residence_permit")
    places = Places(**{name: f.region(name, required=False) for name in PLACE_FIELDS[:4]},
                    school_level=f.choice("school_level", SCHOOL_LEVELS, required=False))
    if places.school_level is not None and places.school_region is None:
        raise InvalidInput("school_level needs school_region, the region of the school")
    return Register(person=person, name=f.text("name"), region=f.region("region"),
                    at=f.at(), birth_date=birth,
                    sex=f.choice("sex", ("male", "female"), required=False), id_type=id_type,
                    residence_permit=bool(permit), places=places)


def _report(f: _Fields) -> ReportEmployeeInsurance:
    return ReportEmployeeInsurance(person=f.person("person"), year=_year(f), at=f.at())


def _recognise(f: _Fields) -> RecogniseIdentity:
    return RecogniseIdentity(person=f.person("person"), year=_year(f),
                             identity=f.choice("identity", IDENTITIES), region=f.region("region"),
                             at=f.at(), source=f.choice("source", ROSTER_SOURCES, required=False))


def _enroll(f: _Fields) -> Enroll:
    return Enroll(
        person=f.person("person"), year=_year(f), region=f.region("region"), at=f.at(),
        household_head=f.person("household_head", required=False),
        category=f.choice("category", CATEGORIES, required=False, default="general"),
        identity=f.choice("identity", IDENTITIES, required=False),
        insured_before=f.boolean("insured_before"),
        broken_years=f.integer("broken_years", 0, 80, required=False),
        back_paid_years=f.integer("back_paid_years", 0, 80, required=False) or 0,
    )


def _pay(f: _Fields) -> Pay:
    person = f.person("person")
    payer = f.person("payer", required=False)
    by_self = payer is None or payer.key == person.key
    relation = f.choice("payer_relation", PAYER_RELATIONS, required=False,
                        default="self" if by_self else None)
    if relation is None:
        raise InvalidInput("payer_relation is needed when someone else pays")
    if by_self != (relation == "self"):
        raise InvalidInput(f"payer_relation {relation!r} contradicts "
                           f"{'a self-payment' if by_self else 'a payer other than the person'}")
    return Pay(
        person=person, year=_year(f), amount=f.money("amount"),
        channel=f.choice("channel", CHANNELS), payment_ref=f.text("payment_ref", limit=MAX_REF),
        at=f.at(), payer=payer, payer_relation=relation,
    )


def _grant(f: _Fields) -> GrantSubsidy:
    return GrantSubsidy(person=f.person("person"), year=_year(f),
                        identity=f.choice("identity", IDENTITIES), at=f.at())


def _refund(f: _Fields) -> Refund:
    return Refund(person=f.person("person"), year=_year(f),
                  reason=f.choice("reason", REFUND_REASONS), at=f.at(),
                  amount=f.money("amount", required=False),
                  channel=f.text("channel", required=False, limit=64),
                  refund_ref=f.text("refund_ref", required=False, limit=MAX_REF))


def _claim_fields(f: _Fields) -> dict[str, Any]:
    fields = dict(
        claim_id=f.text("claim_id", limit=128), person=f.person("person"),
        visit_date=f.day("visit_date"), facility_level=f.integer("facility_level", 0, 3),
        facility_region=f.region("facility_region"),
        expense=f.money("expense", positive=False), at=f.at(),
        cause=f.choice("cause", CAUSES, required=False, default="ordinary"),
        third_party_share=f.share("third_party_share"),
    )
    if fields["third_party_share"] is not None and fields["cause"] != "third_party":
        raise InvalidInput("third_party_share is the share a third party bears: it needs "
                           "cause third_party")
    return fields


def _reverse(f: _Fields) -> ReverseClaim:
    return ReverseClaim(claim_id=f.text("claim_id", limit=128), reason=f.text("reason"),
                        at=f.at())


PARSERS: dict[str, Callable[[_Fields], Any]] = {
    "register": _register,
    "report_employee_insurance": _report,
    "recognise_identity": _recognise,
    "enroll": _enroll,
    "pay": _pay,
    "grant_subsidy": _grant,
    "refund": _refund,
    "claim": lambda f: Claim(**_claim_fields(f)),
    "quote": lambda f: Quote(**_claim_fields(f)),
    "reverse_claim": _reverse,
}
OPS = tuple(PARSERS)
OP_OF: dict[type, str] = {Register: "register", ReportEmployeeInsurance:
                          "report_employee_insurance", RecogniseIdentity: "recognise_identity",
                          Enroll: "enroll", Pay: "pay",
                          GrantSubsidy: "grant_subsidy", Refund: "refund", Claim: "claim",
                          Quote: "quote", ReverseClaim: "reverse_claim"}


def parse_command(data: object) -> Any:
    """Validate one decoded JSON value against the contract; returns a typed command."""
    if not isinstance(data, Mapping):
        raise InvalidInput("a command must be a JSON object")
    op = data.get("op")
    if not isinstance(op, str) or op not in PARSERS:
        raise InvalidInput(f"unknown op {_show(op)}; expected one of {', '.join(OPS)}")
    fields = _Fields(op, data)
    command = PARSERS[op](fields)
    command_id = fields.text("command_id", required=False, limit=MAX_COMMAND_ID)
    fields.done()
    return evolve(command, command_id=command_id) if command_id is not None else command


def op_of(command: Any) -> str:
    """The contract's op of a parsed command."""
    return OP_OF[type(command)]


def command_digest(command: Any) -> str:
    """What makes two sends of one `command_id` the same command: its op and every fact it
    carries (its `command_id` aside), normalised as parsed, hashed (SHA-256, hex)."""
    facts = asdict(command, filter=lambda a, v: a.name != "command_id" and not (
        a.name in _LATER_FIELDS and v == a.default), value_serializer=_plain_value)
    text = json.dumps({"op": op_of(command), **facts}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: Fields commands gained after digests were first recorded: left out of a digest while they
#: hold their default, so a command sent before they existed keeps its digest.
_LATER_FIELDS = frozenset({"third_party_share", "places"})


def _plain_value(_: Any, __: Any, value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat() if isinstance(value, date | datetime) else value
