"""The household and person answers from the views' rows, over any reader of those rows: the
SQL they run (plain text, the same on SQLite and PostgreSQL) and what they make of the rows —
written once, for the SQLAlchemy reader of `projections.queries` and for the standard library's
`sqlite3` reader a query on an SQLite store uses when the views are current (ADR 96). Nothing
here imports SQLAlchemy.

Two ways back in time, both answered from the same rows:

- `as_of=D` (business date): an event counts if its business date (`at`) is on or before D,
  as `Ledger.household_view(..., as_of=D)` folds the household's events (ADR 14). Members are
  listed if they joined by D and had not left by D; they count toward the cap if their coverage
  was decided by D, has begun by D and they were neither suspended nor gone by D; `used` sums
  the claims settled by D and not reversed by D; the claims listed are those settled by D. As in
  the ledger, the household is found through the person's current enrollment and the cap is
  the policy's per-person cap. A person `as_of=D` folds the person-year's events dated by D.
- `at_position=N`: what the ledger said when its notification log stood at N — the same rules
  with "event position <= N" in place of the date, the person's enrollment included.

Persons. The answers take `personal`, the codec the views were built with
(`LedgerViews.personal`, ADR 21): they look a person up by `personal.pseudonym(key)` and turn
the pseudonyms they find back into ID numbers through `person_registry` (`person_keys`).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from datetime import date
from functools import cache
from typing import Any, NamedTuple, Protocol

from domain.errors import Rejected
from domain.identity import key_of_number, number_of
from domain.money import Money
from domain.rules.pool import counts_for_cap, pool_cap, pool_remaining
from domain.rules.standing import credit
from projections.personal import PLAIN, PersonalData

NO_BOUND = 2**62


class Select(NamedTuple):
    """One query of the views: the columns it selects, its table and its SQL, parameters
    `:name`."""

    columns: tuple[str, ...]
    table: str
    sql: str


def _select(columns: str, table: str, rest: str) -> Select:
    names = tuple(columns.split())
    return Select(names, table, f"SELECT {', '.join(names)} FROM {table} {rest}")


_PERSON_YEAR = ("year position at kind amount_fen event_covered_from region household_head "
                "identity terminated covered_from due_fen subsidy_fen paid_fen refunded_fen")
_CLAIM = "reimbursed_fen at position reversed_at reversal_position"

#: Every query of the household and person answers, by name.
STATEMENTS: dict[str, Select] = {
    "registry": _select("number region registered_at position", "person_registry",
                        "WHERE person = :person"),
    "person_year_last": _select(
        _PERSON_YEAR, "person_year_version", "WHERE person = :person AND year = :year "
        "AND position <= :bound ORDER BY position DESC LIMIT 1"),
    "person_rows": _select(_PERSON_YEAR, "person_year_version",
                           "WHERE person = :person ORDER BY year, position"),
    "household": _select("head region formed_at formed_position rule cap_each_fen cap_fen "
                         "used_fen", "household_pool", "WHERE household_id = :hid"),
    "members": _select("person joined_at joined_position covered_from covered_at "
                       "covered_position suspended_at suspended_position left_at "
                       "left_position", "household_member",
                       "WHERE household_id = :hid ORDER BY joined_position"),
    "claims": _select(f"claim_id person visit_date {_CLAIM} explanation", "claims_journal",
                      "WHERE household_id = :hid ORDER BY position"),
    "person_claims": _select(_CLAIM, "claims_journal",
                             "WHERE household_id = :hid AND person = :person"),
}


@cache
def row_type(name: str) -> type:
    """The named tuple a reader makes of a row of `STATEMENTS[name]`."""
    return namedtuple("Row", STATEMENTS[name].columns)


class Rows(Protocol):
    """A reader of the views: the rows of one of `STATEMENTS`, as `row_type(name)` tuples."""

    def one(self, name: str, params: dict[str, Any]) -> Any:
        """The first row, or None."""
        ...

    def all(self, name: str, params: dict[str, Any]) -> list[Any]:
        ...


def _money(fen: int) -> str:
    return str(Money(fen))


#: What each clock a back-in-time answer reads means (ADR 68), by the `clock` it names.
CLOCKS = {
    "latest": "now: every fact the log holds, each as decided when it arrived",
    "business_date": "business date: the facts dated (their `at`) by the day asked, each as "
                     "decided when it arrived, whenever that was",
    "log_position": "log position: the ledger as it stood when its log reached the position "
                    "asked, facts recorded later unseen",
    "business_date_and_log_position": "business date and log position: the facts dated by "
                                      "the day asked among those recorded by the position",
}


def answer_clock(as_of: date | None, at_position: int | None) -> str:
    """Which clock an answer back in time reads: "business_date" (`as_of`), "log_position"
    (`at_position`), both, or "latest" (neither)."""
    if as_of is not None and at_position is not None:
        return "business_date_and_log_position"
    if as_of is not None:
        return "business_date"
    return "log_position" if at_position is not None else "latest"


def stamped(answer: dict[str, Any], as_of: date | None, at_position: int | None
            ) -> dict[str, Any]:
    """A household or person answer saying which clock it reads (ADR 68)."""
    answer.update(as_of=as_of.isoformat() if as_of is not None else None,
                  at_position=at_position, clock=answer_clock(as_of, at_position))
    return answer


class _Bound:
    """Which recorded facts count: those dated by `as_of` and/or recorded by `at_position`."""

    __slots__ = ("day", "position")

    def __init__(self, as_of: date | None, at_position: int | None) -> None:
        self.day = as_of.isoformat() if as_of is not None else None
        self.position = at_position

    def __bool__(self) -> bool:
        return self.day is not None or self.position is not None

    def sees(self, day: str | None, position: int | None) -> bool:
        if position is None:
            return False
        return ((self.day is None or day <= self.day)
                and (self.position is None or position <= self.position))


def _covered_from(member: Any, covered: bool) -> date | None:
    """A member row's first covered day, if its coverage counts (is recorded, or seen)."""
    return date.fromisoformat(member.covered_from) if covered else None


def person_keys(read: Rows, personal: PersonalData, persons: Iterable[str]) -> dict[str, str]:
    """The person key behind each value of a person column: through `person_registry`'s
    sealed numbers when the views hold pseudonyms, the value itself when they hold keys. A
    pseudonym the registry does not know (the views are caught up together, so it cannot
    happen) stands for itself."""
    wanted = set(persons)
    if personal.plain:
        return {p: p for p in wanted}
    found = {p: read.one("registry", {"person": p}) for p in wanted}
    return {p: p if reg is None else key_of_number(personal.unseal(reg.number))
            for p, reg in found.items()}


def _head_key(read: Rows, personal: PersonalData, head: str, me: str, key: str) -> str:
    """The person key of a household head found in a person column (`me` is `key`'s)."""
    return key if head == me else person_keys(read, personal, (head,))[head]


# --- household ---------------------------------------------------------------------------------


def household(read: Rows, ref: str, key: str, year: int, as_of: date | None = None,
              at_position: int | None = None, personal: PersonalData = PLAIN
              ) -> dict[str, Any]:
    """The household of the person `key` (asked as `ref`: head or member) for a benefit year:
    cap, used, remaining, members and claims — the fields and formats of
    `Ledger.household_view`."""
    bound = _Bound(as_of, at_position)
    me = personal.pseudonym(key)
    py = read.one("person_year_last", {
        "person": me, "year": year, "bound": NO_BOUND if at_position is None else at_position})
    if py is None:
        reg = read.one("registry", {"person": me})
        if reg is None or (at_position is not None and reg.position > at_position):
            raise Rejected("unknown_person", f"{ref} is not registered")
        raise Rejected("not_enrolled", f"{ref} is not enrolled for {year}")
    hid = str(personal.ids.household(_head_key(read, personal, py.household_head, me, key),
                                     year))
    h = read.one("household", {"hid": hid})
    if h is None or (bound and not bound.sees(h.formed_at, h.formed_position)):
        when = f"on {as_of}" if as_of else f"at position {at_position}"
        raise Rejected("not_enrolled", f"the household did not exist {when}")
    members = read.all("members", {"hid": hid})
    claims = read.all("claims", {"hid": hid})
    keys = person_keys(read, personal, [h.head, *(m.person for m in members),
                                        *(c.person for c in claims)])

    def number(person: str) -> str:
        return number_of(keys[person])

    listed, covered, claim_rows = [], [], []
    used = 0
    if not bound:
        for m in members:
            if m.left_position is None:
                listed.append(number(m.person))
                if counts_for_cap(_covered_from(m, m.covered_position is not None),
                                  m.suspended_position is not None, False):
                    covered.append(number(m.person))
        for c in claims:
            claim_rows.append({"claim_id": c.claim_id, "person": number(c.person),
                               "visit_date": c.visit_date, "reimbursed": _money(c.reimbursed_fen),
                               "reversed": c.reversal_position is not None,
                               "explanation": c.explanation})
        cap, used = h.cap_fen, h.used_fen
    else:
        for m in members:
            if not bound.sees(m.joined_at, m.joined_position):
                continue
            if bound.sees(m.left_at, m.left_position):
                continue
            listed.append(number(m.person))
            if counts_for_cap(_covered_from(m, bound.sees(m.covered_at, m.covered_position)),
                              bound.sees(m.suspended_at, m.suspended_position), False,
                              as_of):
                covered.append(number(m.person))
        for c in claims:
            if not bound.sees(c.at, c.position):
                continue
            reversed_ = bound.sees(c.reversed_at, c.reversal_position)
            if not reversed_:
                used += c.reimbursed_fen
            claim_rows.append({"claim_id": c.claim_id, "person": number(c.person),
                               "visit_date": c.visit_date, "reimbursed": _money(c.reimbursed_fen),
                               "reversed": reversed_, "explanation": c.explanation})
        cap = pool_cap(Money(h.cap_each_fen), len(covered)).fen
    return {
        "head": number(h.head), "year": year, "region": h.region, "members": listed,
        "covered_members": covered, "cap": _money(cap), "used": _money(used),
        "remaining": str(pool_remaining(Money(cap), Money(used))), "claims": claim_rows,
        "as_of": as_of.isoformat() if as_of else None, "rule": h.rule,
    }


# --- person ------------------------------------------------------------------------------------


class _State:
    __slots__ = ("region", "head", "identity", "due", "subsidy", "paid", "refunded",
                 "covered_from", "terminated")


def _state(row: Any) -> _State:
    s = _State()
    s.region, s.head, s.identity = row.region, row.household_head, row.identity
    s.due, s.subsidy, s.paid, s.refunded = (row.due_fen, row.subsidy_fen, row.paid_fen,
                                            row.refunded_fen)
    s.covered_from, s.terminated = row.covered_from, row.terminated
    return s


def _fold(rows: Iterable[Any]) -> _State | None:
    """A person-year folded from its events (rows in position order), as the aggregate
    applies them; events before the enrollment are ignored."""
    s: _State | None = None
    for row in rows:
        kind = row.kind
        if kind == "enrolled":
            s = _state(row)
            s.paid = s.refunded = 0
            s.covered_from, s.terminated = row.event_covered_from, False
        elif s is None:
            continue
        elif kind == "paid":
            s.paid += row.amount_fen
            if s.covered_from is None and row.event_covered_from is not None:
                s.covered_from = row.event_covered_from
        elif kind == "subsidy":
            s.identity, s.subsidy, s.due = row.identity, row.subsidy_fen, row.due_fen
            if s.covered_from is None and row.event_covered_from is not None:
                s.covered_from = row.event_covered_from
        else:  # refunded | terminated
            s.refunded += row.amount_fen
            if kind == "terminated":
                s.terminated, s.covered_from = True, None
    return s


def person(read: Rows, ref: str, key: str, year: int | None = None, as_of: date | None = None,
           at_position: int | None = None, personal: PersonalData = PLAIN) -> dict[str, Any]:
    """The enrollment, money, coverage and reimbursement of the person `key` (asked as `ref`)
    for a benefit year (the latest one by default) — the fields and formats of
    `Ledger.person_view`."""
    bound = _Bound(as_of, at_position)
    me = personal.pseudonym(key)
    head_key = None
    reg = read.one("registry", {"person": me})
    if reg is None or (bound and not bound.sees(reg.registered_at, reg.position)):
        raise Rejected("unknown_person", f"{ref} is not registered")
    rows = [r for r in read.all("person_rows", {"person": me})
            if not bound or bound.sees(r.at, r.position)]
    years = {r.year for r in rows if r.kind == "enrolled"}
    if year is None:
        year = max(years) if years else None
    mine = [r for r in rows if r.year == year]
    s = _fold(mine) if as_of is not None else (_state(mine[-1]) if mine else None)
    reimbursed = 0
    if s is not None:
        head_key = _head_key(read, personal, s.head, me, key)
        hid = str(personal.ids.household(head_key, year))
        for c in read.all("person_claims", {"hid": hid, "person": me}):
            if not bound:
                if c.reversal_position is None:
                    reimbursed += c.reimbursed_fen
            elif (bound.sees(c.at, c.position)
                  and not bound.sees(c.reversed_at, c.reversal_position)):
                reimbursed += c.reimbursed_fen
    return {
        "person": personal.unseal(reg.number), "year": year,
        "region": s.region if s else reg.region,
        "household_head": number_of(head_key) if head_key is not None else None,
        "enrolled": bool(s and not s.terminated),
        "covered_from": s.covered_from if s and s.covered_from else None,
        "due": _money(s.due) if s else None, "subsidy": _money(s.subsidy) if s else None,
        "paid": _money(s.paid) if s else "0.00",
        "refunded": _money(s.refunded) if s else "0.00",
        "credit": str(credit(Money(s.paid), Money(s.refunded), Money(s.due))) if s else "0.00",
        "reimbursed": _money(reimbursed),
        "identity": s.identity if s else None,
    }
