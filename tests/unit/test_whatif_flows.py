"""The what-if's fund flows per county, the counties' names from the policy files, and what a
patch changed (ADR 82)."""

from __future__ import annotations

from uuid import uuid4

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from adapters.stores.policy_files import load_policy_book
from adapters.whatif.exact import HouseholdTotals, PersonYearMoney, Side
from adapters.whatif.flows import flows_by_region, name_of, patch_changes, region_names
from adapters.whatif.outcomes import PersonYearTable

BOOK = load_policy_book()


def test_counties_are_named_by_the_policy_files_descriptions_and_policies() -> None:
    names = region_names(BOOK)
    assert names["341225"] == "Funan" and names["331127"] == "Jingning"
    assert names["3412"].startswith("Fuyang")
    assert name_of(names, "341225") == "Funan"
    assert name_of(names, "341299").startswith("in Fuyang")
    assert name_of(names, "999999") == ""


def test_a_patch_names_each_field_with_its_old_and_new_value() -> None:
    changes = patch_changes(BOOK, {"contribution": {"individual": "300.00"},
                                   "outpatient": {"excluded_causes": ["work_injury"]}},
                            "3412", 2021)
    assert changes[0] == {"field": "contribution.individual", "old": "280.00",
                          "new": "300.00"}
    assert changes[1]["field"] == "outpatient.excluded_causes"
    assert changes[1]["new"] == "[work_injury]"


def test_the_fiscal_subsidy_due_counts_covered_person_years_by_their_policys_fiscal_part(
        ) -> None:
    side = Side()
    side.person_years = {
        ("a", 2021): PersonYearMoney("341225", due=28000, subsidy=0, paid=28000,
                                     covered=True),
        ("b", 2021): PersonYearMoney("341225", due=14000, subsidy=14000, paid=0),
        ("c", 2021): PersonYearMoney("341221", due=14000, subsidy=14000, paid=14000,
                                     covered=True),
    }
    side.households = {uuid4(): HouseholdTotals("a", 2021, "341225", reimbursed=5000)}
    flows = flows_by_region(side, BOOK)
    fiscal = BOOK.find("341225", 2021).contribution.fiscal.fen
    assert flows["341225"]["fiscal_subsidy_due"] == fiscal
    assert flows["341225"]["subsidy_cost"] == 0  # b is not covered: assistance pays nothing
    assert flows["341221"]["subsidy_cost"] == 14000
    assert flows["341225"]["net"] == 28000 + fiscal - 5000


person_year_rows = st.lists(st.tuples(
    st.sampled_from(["341225", "341221", "331127"]), st.sampled_from([2021, 2022]),
    st.integers(0, 40_000), st.integers(0, 40_000), st.integers(0, 40_000),
    st.integers(0, 40_000), st.booleans(), st.booleans()), max_size=12)


@given(person_year_rows, st.booleans())
def test_person_years_held_as_columns_give_the_flows_of_their_rows(rows: list,
                                                                    arrow: bool) -> None:
    as_dict = {(f"p{k}", year): PersonYearMoney(region, due=due, subsidy=subsidy, paid=paid,
                                                refunded=refunded, covered=covered,
                                                terminated=terminated)
               for k, (region, year, due, subsidy, paid, refunded, covered, terminated)
               in enumerate(rows)}
    columns: dict = {name: [] for name in ("person", "year", "region", "due", "subsidy",
                                           "paid", "refunded", "covered", "terminated",
                                           "rule")}
    for (person, year), py in as_dict.items():
        for name, value in (("person", person), ("year", year), ("region", py.region),
                            ("due", py.due), ("subsidy", py.subsidy), ("paid", py.paid),
                            ("refunded", py.refunded), ("covered", py.covered),
                            ("terminated", py.terminated), ("rule", "r@1")):
            columns[name].append(value)
    if arrow:
        columns["region"] = pa.array(columns["region"])
        columns["year"] = pa.array(columns["year"], pa.int32())
    table = PersonYearTable(columns, PersonYearMoney)
    assert flows_by_region(Side(person_years=table), BOOK) == flows_by_region(
        Side(person_years=as_dict), BOOK)
