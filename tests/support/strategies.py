"""Hypothesis strategies the property tests share: money amounts and ratios, policy patches,
small histories of residents' commands and visits, tables of claims for the column-wise kernel,
and values of the wrong form for hostile input."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import attrs
from hypothesis import strategies as st

from adapters.whatif.kernel import ClaimColumns
from domain.money import Money
from domain.policy import CAUSES, Policy
from tests.support.builders import make_id, patched_policy, shipped_policies

FUNAN = "341225"
LINQUAN = "341221"

# --- money and ratios ------------------------------------------------------------------------


def money(low_fen: int, high_fen: int) -> st.SearchStrategy[str]:
    """Amounts in their contract form ("280.00"), from `low_fen` to `high_fen` fen."""
    return st.integers(low_fen, high_fen).map(lambda fen: str(Money(fen)))


def yuan(low: int, high: int) -> st.SearchStrategy[str]:
    """Amounts in their contract form, from `low` to `high` yuan, to the fen."""
    return money(low * 100, high * 100)


#: Up to 2000 yuan: from nothing to several times a household's pool.
small_money = money(0, 200_000)
#: Reimbursement ratios to the percent, "0.00" to "1.00".
ratios = st.integers(0, 100).map(lambda p: f"{p // 100}.{p % 100:02d}")


def excluded_causes(max_size: int | None = None) -> st.SearchStrategy[list[str]]:
    """Causes of a visit a policy does not pay for (never "ordinary")."""
    return st.lists(st.sampled_from(CAUSES[1:]), unique=True, max_size=max_size)


# --- policy patches --------------------------------------------------------------------------

#: Some outpatient terms of a policy, changed.
outpatient_terms = st.fixed_dictionaries({}, optional={
    "ratio": ratios,
    "per_person_cap": yuan(0, 600),
    "pooling": st.sampled_from(["household", "person"]),
    "max_facility_level": st.integers(0, 3),
    "in_county_only": st.booleans(),
    "deductible": yuan(0, 60),
    "excluded_causes": excluded_causes().map(tuple),
})
#: Some of the rules that decide what a person pays and from when they are covered, changed.
person_side_terms = st.fixed_dictionaries({}, optional={
    "contribution": st.fixed_dictionaries({"individual": yuan(150, 450)}),
    "late": st.fixed_dictionaries({"coverage": st.sampled_from(["payment_date",
                                                                 "waiting_period"])}),
    "household": st.fixed_dictionaries({"head_must_pay_first": st.booleans()}),
})


@st.composite
def policy_patches(draw: st.DrawFn) -> dict:
    """A what-if patch: random outpatient keys and, sometimes, who is covered from when."""
    patch = dict(draw(person_side_terms)) if draw(st.booleans()) else {}
    if patch.get("late", {}).get("coverage") == "waiting_period" or draw(st.booleans()):
        patch["waiting"] = {"fixed_months": draw(st.integers(0, 6))}
    out = draw(outpatient_terms)
    if out:
        patch["outpatient"] = {k: list(v) if isinstance(v, tuple) else v
                               for k, v in out.items()}
    return patch


@st.composite
def claims_only_patches(draw: st.DrawFn) -> dict:
    """A what-if patch of the outpatient rules only (who is covered from when unchanged)."""
    out = draw(outpatient_terms)
    return {"outpatient": {k: list(v) if isinstance(v, tuple) else v
                           for k, v in out.items()}} if out else {}


@st.composite
def outpatient_patches(draw: st.DrawFn) -> tuple[int, tuple[tuple[str, object], ...]]:
    """Every outpatient term of a shipped policy, set: (the policy's index among
    `shipped_policies()`, the terms as sorted pairs), the arguments of `patched_policy`."""
    ratio = draw(st.integers(0, 100))
    cap = draw(st.one_of(st.integers(0, 50_000), st.sampled_from([25_000, 0, 1])))
    deductible = draw(st.sampled_from([0, 0, 0, 1, 500, 5_000]))
    patch = {
        "ratio": f"{ratio // 100}.{ratio % 100:02d}",
        "per_person_cap": str(Money(cap)),
        "pooling": draw(st.sampled_from(["household", "household", "person"])),
        "max_facility_level": draw(st.integers(0, 3)),
        "in_county_only": draw(st.booleans()),
        "deductible": str(Money(deductible)),
        "excluded_causes": draw(excluded_causes(max_size=3)),
    }
    base = draw(st.integers(0, len(shipped_policies()) - 1))
    return base, tuple((k, tuple(v) if isinstance(v, list) else v)
                       for k, v in sorted(patch.items()))


# --- claims for the column-wise kernel -------------------------------------------------------

YEAR_START = date(2021, 1, 1).toordinal()
KERNEL_REGIONS = (341225, 341221, 331102)


@st.composite
def claim_tables(draw: st.DrawFn) -> tuple[list[Policy], ClaimColumns, list[int], list[int]]:
    """Up to 40 claims of up to four households in 2021 under one to three patched policies,
    as the kernel's columns, with some reversals: (policies, columns, the reversed claims'
    rows, the rows each reversal comes after)."""
    policies = [patched_policy(base, patch)
                for base, patch in draw(st.lists(outpatient_patches(), min_size=1,
                                                 max_size=3))]
    households = draw(st.integers(1, 4))
    # usually one policy per household (the realistic case), sometimes per row
    household_policy = [draw(st.integers(0, len(policies) - 1)) for _ in range(households)]
    mixed = draw(st.booleans())
    n = draw(st.integers(1, 40))
    cols: dict[str, list] = {f.name: [] for f in attrs.fields(ClaimColumns)}
    for _ in range(n):
        h = draw(st.integers(0, households - 1))
        visit = YEAR_START + draw(st.integers(0, 364))
        covered = draw(st.sampled_from(["year", "year", "year", "late", "none"]))
        covered_from = {"year": YEAR_START, "none": 0,
                        "late": YEAR_START + draw(st.integers(0, 300))}[covered]
        cols["household"].append(h)
        cols["person"].append(draw(st.integers(0, 3)))
        cols["policy"].append(draw(st.integers(0, len(policies) - 1)) if mixed
                              else household_policy[h])
        cols["visit_day"].append(visit)
        cols["facility_level"].append(draw(st.sampled_from([0, 1, 1, 1, 2, 3])))
        cols["facility_region"].append(draw(st.sampled_from(
            KERNEL_REGIONS[:1] * 4 + KERNEL_REGIONS)))
        cols["member_region"].append(draw(st.sampled_from(
            KERNEL_REGIONS[:1] * 6 + KERNEL_REGIONS[1:2])))
        cols["expense"].append(draw(st.one_of(st.integers(0, 20_000), st.integers(0, 200_000),
                                              st.sampled_from([0, 1, 9, 10**9]))))
        cols["cause"].append(draw(st.sampled_from([0] * 10 + list(range(len(CAUSES))))))
        cols["covered_from"].append(covered_from)
        cols["covered_to"].append(draw(st.sampled_from(
            [0, 0, 0, YEAR_START + 200, YEAR_START + 364])))
        cols["suspended"].append(draw(st.integers(0, 19)) == 0)
        cols["counts_for_cap"].append(draw(st.integers(0, 9)) > 0)
        cols["covered_on_visit"].append(draw(st.sampled_from([1, 1, 2, 2, 3, 4, 0, 6])))
    reversals = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                              max_size=4))
    claims = [min(a, b) for a, b in reversals]
    after = [max(a, b) for a, b in reversals]
    if claims and draw(st.booleans()):  # the same claim reversed again, later or at once
        claims.append(claims[0])
        after.append(draw(st.integers(after[0], n - 1)))
    return policies, ClaimColumns(**cols), claims, after


# --- a household pool's claims and reversals -------------------------------------------------


@st.composite
def claim_scripts(draw: st.DrawFn) -> tuple[int, list[tuple[str, int, int]]]:
    """A household of one to six members, and steps on its pool: ("claim", member, expense
    in fen) or ("reverse", which earlier claim, 0)."""
    members = draw(st.integers(1, 6))
    step = st.one_of(
        st.tuples(st.just("claim"), st.integers(0, members - 1), st.integers(0, 500_000)),
        st.tuples(st.just("reverse"), st.integers(0, 40), st.just(0)),
    )
    return members, draw(st.lists(step, min_size=1, max_size=30))


# --- a random small history of five residents in 2021 ----------------------------------------

PEOPLE = [
    make_id(FUNAN, "19800101", 1),   # adult
    make_id(FUNAN, "19820202", 2),   # adult
    make_id(FUNAN, "20120303", 3),   # child: a proxy may pay online
    make_id(FUNAN, "19300404", 4),   # elderly
    make_id(LINQUAN, "19850505", 5),  # another county of Fuyang
]
REGION_OF = {p: p[:6] for p in PEOPLE}
#: What each identity owes for 2021, in fen (None: no identity).
DUE = {None: 28000, "dibao": 14000, "tekun": 0}

# the head (always registered) is drawn most often
people = st.sampled_from([PEOPLE[0], PEOPLE[0], PEOPLE[0], *PEOPLE[1:]])
claim_ids = st.sampled_from([f"c{i}" for i in range(6)])


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


enroll_cmds = st.builds(
    lambda p, head, at, identity, category: _drop_none(
        op="enroll", person=p, year=2021, region=REGION_OF[p], at=at, household_head=head,
        identity=identity, category=category),
    people, st.sampled_from([None, PEOPLE[0], PEOPLE[1]]),
    st.sampled_from(["2020-09-10", "2020-12-31", "2021-01-05"]),
    st.sampled_from([None, None, "dibao", "tekun"]),
    st.sampled_from(["general", "general", "returning_migrant_worker"]),
)
pay_cmds = st.builds(
    lambda p, amount, ref, channel, at, payer: _drop_none(
        op="pay", person=p, year=2021, amount=amount, channel=channel,
        payment_ref=ref, at=at, payer=payer),
    people, st.sampled_from(["100.00", "140.00", "180.00", "280.00", "300.00"]),
    st.sampled_from([f"r{i}" for i in range(8)]), st.sampled_from(["cash", "wechat"]),
    st.sampled_from(["2020-10-01", "2020-12-31", "2021-02-01"]),
    st.sampled_from([None, PEOPLE[0]]),
)
claim_cmds = st.builds(
    lambda op, cid, p, expense, visit, level, region, cause: dict(
        op=op, claim_id=cid, person=p, visit_date=visit, facility_level=level,
        facility_region=region, expense=expense, at=visit, cause=cause),
    st.sampled_from(["claim", "claim", "claim", "quote"]),
    claim_ids, people, small_money,
    st.sampled_from(["2021-03-01", "2021-08-01", "2021-08-01", "2020-12-01"]),
    st.sampled_from([0, 1, 1, 1, 2]), st.sampled_from([FUNAN] * 5 + [LINQUAN]),
    st.sampled_from(["ordinary"] * 9 + ["cosmetic"]),
)
reverse_cmds = st.builds(
    lambda cid: dict(op="reverse_claim", claim_id=cid, reason="error", at="2021-09-01"),
    claim_ids)
refund_cmds = st.builds(
    lambda p, reason, at, amount: _drop_none(op="refund", person=p, year=2021, reason=reason,
                                             at=at, amount=amount),
    people, st.sampled_from(["subsidy_eligibility", "duplicate_payment",
                             "duplicate_enrollment", "other"]),
    st.sampled_from(["2020-12-01", "2021-01-05"]), st.sampled_from([None, None, "10.00"]))
grant_cmds = st.builds(
    lambda p, identity, at: dict(op="grant_subsidy", person=p, year=2021, identity=identity,
                                 at=at),
    people, st.sampled_from(["dibao", "tekun"]), st.sampled_from(["2020-11-01", "2021-01-02"]))
report_cmds = st.builds(
    lambda p: dict(op="report_employee_insurance", person=p, year=2021, at="2021-04-01"),
    people)

#: Any command on the five residents, claims most often.
any_cmd = st.one_of(enroll_cmds, pay_cmds, pay_cmds, claim_cmds, claim_cmds, claim_cmds,
                    claim_cmds, claim_cmds, reverse_cmds, reverse_cmds, refund_cmds, grant_cmds,
                    report_cmds)


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Registrations, mostly-successful enrollments and payments, then anything at all."""
    registered = [PEOPLE[0], *draw(st.lists(st.sampled_from(PEOPLE[1:]), unique=True))]
    commands = [dict(op="register", person=p, name="居民", region=REGION_OF[p],
                     at="2020-01-01") for p in registered]
    for n, person in enumerate(registered):
        if draw(st.integers(0, 5)) == 0:
            continue
        identity = draw(st.sampled_from([None, None, None, "dibao", "tekun"]))
        joins = person != PEOPLE[0] and REGION_OF[person] == FUNAN and draw(st.booleans())
        commands.append(_drop_none(op="enroll", person=person, year=2021,
                                   region=REGION_OF[person], at="2020-09-10",
                                   household_head=PEOPLE[0] if joins else None,
                                   identity=identity))
        if DUE[identity] and draw(st.integers(0, 5)) > 0:
            fen = DUE[identity] + draw(st.sampled_from([0, 0, 0, 2000, -10000]))
            commands.append(dict(op="pay", person=person, year=2021, amount=str(Money(fen)),
                                 channel="cash", payment_ref=f"setup-{n}", at="2020-10-01"))
    return commands + draw(st.lists(any_cmd, max_size=25))


#: A visit of one of the five residents, without its op and claim id (a claim or a quote).
visits = st.builds(
    lambda p, expense, visit, level, region: dict(
        person=p, visit_date=visit, facility_level=level, facility_region=region,
        expense=expense, at=visit),
    people, small_money, st.sampled_from(["2021-03-01", "2021-08-01", "2020-12-01"]),
    st.sampled_from([0, 1, 1, 2]), st.sampled_from([FUNAN] * 5 + [LINQUAN]),
)


# --- values of the wrong form ----------------------------------------------------------------

ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
#: Any JSON value at all (with NaN and infinities), nested a little.
junk_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**40, 10**40),
              st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
non_strings = st.one_of(
    st.booleans(), st.integers(-10**40, 10**40), st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                         max_size=2),
)
non_ints = st.one_of(
    st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.lists(st.integers(), max_size=2), st.just("2021"), st.just(2021.0),
)
unprintable = st.sampled_from(["a\x00b", "a\x07b", "a\u2028b", "a\ud800b", "a\x1bb"])
bad_dates = st.one_of(
    non_strings, st.sampled_from(["", "2021-02-30", "2021/03/01", "21-03-01", "2021-3-1",
                                  "1899-12-31", "2101-01-01", "2021-03-01T00:00",
                                  "2021-13-01", "0000-00-00", "today"]),
    ascii_text.filter(lambda s: not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)),
)


# --- a history tampered with behind the ledger's back ------------------------------------------

#: Edits of stored events: ("delete" | "amount" | "move", which event, which other event), the
#: events chosen by their rank in the log (a fraction of its length).
tamperings = st.lists(
    st.tuples(st.sampled_from(["delete", "amount", "move"]), st.floats(0, 1, exclude_max=True),
              st.floats(0, 1, exclude_max=True)),
    max_size=3)


@st.composite
def contribution_patches(draw: st.DrawFn) -> dict:
    """A what-if patch that always sets the individual contribution (up or down), and maybe
    more of what `policy_patches` draws."""
    patch = draw(policy_patches()) if draw(st.booleans()) else {}
    patch["contribution"] = {"individual": draw(yuan(0, 900))}
    return patch


#: A take-up elasticity (a decimal string) or none.
elasticities = st.one_of(st.none(), st.sampled_from(["0", "-0.2", "-1", "-5", "0.5"]))
