"""Every fund flow of one side of a what-if, in all and per county (ADR 82): individual
contributions (paid less refunded), the subsidy cost (the medical assistance fund pays the
subsidised part of covered persons' contributions), the fiscal subsidy due (covered persons ×
the policy's fiscal part), outpatient reimbursement, and the pooling fund's net (what comes in
less what is reimbursed). Sums over person-years and households, never over claims."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.whatif.exact import Side
from adapters.whatif.outcomes import HouseholdTable, PersonYearTable
from domain.money import Money
from domain.policy_book import PolicyBook

FLOWS = ("contributions", "subsidy_cost", "fiscal_subsidy_due", "reimbursed", "net")
COUNTS = ("covered", "households")
Flows = dict[str, int]


def _empty() -> Flows:
    return dict.fromkeys((*FLOWS, *COUNTS), 0)


def flows_by_region(side: Side, book: PolicyBook) -> dict[str, Flows]:
    """Each region's (county's) flows and counts: money in fen."""
    out: dict[str, Flows] = {}

    def row(region: str) -> Flows:
        r = out.get(region)
        if r is None:
            r = out[region] = _empty()
        return r

    fiscal: dict[tuple[str, int], int] = {}

    def fiscal_of(region: str, year: int) -> int:
        if (region, year) not in fiscal:
            policy = book.find(region, year)
            fiscal[(region, year)] = policy.contribution.fiscal.fen if policy else 0
        return fiscal[(region, year)]

    pys = side.person_years
    if isinstance(pys, PersonYearTable):
        _table_flows(pys, row, fiscal_of)
    else:
        for (_person, year), py in pys.items():
            r = row(py.region)
            if not py.terminated:
                r["contributions"] += py.paid - py.refunded
            if py.covered:
                r["covered"] += 1
                r["subsidy_cost"] += py.subsidy
                r["fiscal_subsidy_due"] += fiscal_of(py.region, year)
    if isinstance(side.households, HouseholdTable):
        for region, (count, reimbursed) in side.households.by_region().items():
            r = row(region)
            r["households"] += count
            r["reimbursed"] += reimbursed
    else:
        for h in side.households.values():
            r = row(h.region)
            r["households"] += 1
            r["reimbursed"] += h.reimbursed
    for r in out.values():
        r["net"] = (r["contributions"] + r["subsidy_cost"] + r["fiscal_subsidy_due"]
                    - r["reimbursed"])
    return dict(sorted(out.items()))


def _table_flows(t: PersonYearTable, row: Any, fiscal_of: Any) -> None:
    """`flows_by_region` of person-years held as columns: their sums by (region, year)
    (`PersonYearTable.by_pool`, exact, grouped by Arrow)."""
    for region, year, contributions, subsidy, covered in t.by_pool():
        r = row(region)
        r["contributions"] += contributions
        r["subsidy_cost"] += subsidy
        r["covered"] += covered
        r["fiscal_subsidy_due"] += covered * fiscal_of(region, year)


def total(regions: Mapping[str, Flows]) -> Flows:
    out = _empty()
    for r in regions.values():
        for k in out:
            out[k] += r[k]
    return out


def _yuan(flows: Flows) -> dict[str, Any]:
    return {k: (str(Money(v)) if k in FLOWS else v) for k, v in flows.items()}


def _delta(a: Flows, b: Flows) -> Flows:
    return {k: b[k] - a[k] for k in a}


def flow_report(base: Side, mechanical: Side, reform: Side, book: PolicyBook,
                reform_book: PolicyBook, names: Mapping[str, str] | None = None
                ) -> dict[str, Any]:
    """The summary's `fund_flows` (baseline, mechanical, reform and the effects that part
    them) and `by_region` (each county's baseline, reform and change)."""
    b_regions = flows_by_region(base, book)
    m_regions = flows_by_region(mechanical, reform_book) if mechanical is not reform else None
    r_regions = flows_by_region(reform, reform_book)
    b, r = total(b_regions), total(r_regions)
    m = total(m_regions) if m_regions is not None else r
    names = names or {}
    regions = []
    for code in sorted(set(b_regions) | set(r_regions)):
        rb, rr = b_regions.get(code, _empty()), r_regions.get(code, _empty())
        regions.append({"region": code, "name": names.get(code) or name_of(names, code),
                        "baseline": _yuan(rb), "reform": _yuan(rr),
                        "delta": _yuan(_delta(rb, rr))})
    return {
        "fund_flows": {
            "baseline": _yuan(b), "mechanical": _yuan(m), "reform": _yuan(r),
            "mechanical_effect": _yuan(_delta(b, m)),
            "behavioural_effect": _yuan(_delta(m, r)),
            "total_effect": _yuan(_delta(b, r)),
        },
        **_moves(mechanical, reform),
        "by_region": regions,
    }


def _moves(mechanical: Side, reform: Side) -> dict[str, int]:
    """The behavioural response in persons (ADRs 81, 95): the person-years covered without it
    and not with it (`dropped_out`), and the reverse (`joined`)."""
    if mechanical is reform:
        return {"dropped_out": 0, "joined": 0}
    m = {k for k, py in mechanical.person_years.items() if py.covered}
    r = {k for k, py in reform.person_years.items() if py.covered}
    return {"dropped_out": len(m - r), "joined": len(r - m)}


# --- region names, from the policy files -------------------------------------------------------

_NAMED = re.compile(r"([A-Z][A-Za-z]+)(?: (?:city|county|district))? \(?([0-9]{6})\)?")


def region_names(book: PolicyBook) -> dict[str, str]:
    """County names the policy files give (their descriptions name counties with codes,
    "Funan 341225", "Jingning (331127)"), and each policy's region named by its policy."""
    out: dict[str, str] = {}
    for policy in book:
        raw = book.raw(policy)
        name = str(raw.get("name") or policy.id)
        out.setdefault(policy.region, name)
        for county, code in _NAMED.findall(str(raw.get("description") or "")):
            out[code] = county
    return out


def name_of(names: Mapping[str, str], code: str) -> str:
    """A region's name: its own, else the longest named prefix's ("" when none)."""
    for n in range(len(code), 1, -1):
        if code[:n] in names:
            return names[code[:n]] if n == len(code) else f"in {names[code[:n]]}"
    return ""


# --- what a patch changed --------------------------------------------------------------------


def _flat(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in data.items():
        if isinstance(v, Mapping):
            out.extend(_flat(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _at(raw: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(raw, Mapping) or part not in raw:
            return None
        raw = raw[part]
    return raw


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def patch_changes(book: PolicyBook, patch: Mapping[str, Any], region: str | None,
                  year: int | None) -> list[dict[str, Any]]:
    """Each field the patch sets, with its value in the policies in force in scope (`old`,
    several joined by " / "; None where none sets it) and the patch's (`new`)."""
    policies = [p for p in book.in_force()
                if (year is None or p.year == year)
                and (region is None or region.startswith(p.region)
                     or p.region.startswith(region))]
    out = []
    for field, new in _flat(patch):
        olds = sorted({_shown(v) for p in policies
                       if (v := _at(book.raw(p), field)) is not None})
        out.append({"field": field, "old": " / ".join(olds) or None, "new": _shown(new)})
    return out
