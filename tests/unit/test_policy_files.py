"""The shipped policy files: they load, carry each seed's figures, and bad files are refused."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.stores.policy_files import DEFAULT_POLICY_DIR, load_policy_book
from domain.errors import PolicyError
from domain.money import Money
from domain.policy import Period, Policy
from domain.policy_book import PolicyBook
from tests.support.builders import policy_file

SHIPPED = sorted(DEFAULT_POLICY_DIR.glob("*.toml"))


@pytest.fixture(scope="module")
def book() -> PolicyBook:
    return load_policy_book()


def policy(book: PolicyBook, policy_id: str) -> Policy:
    found = book.get(policy_id, "1")
    assert found is not None, f"{policy_id}@1 is not shipped"
    return found


def yuan(text: str) -> Money:
    return Money.parse(text)


# --- every shipped file --------------------------------------------------------------------


def test_every_shipped_file_loads_into_one_policy(book):
    ids = {tomllib.loads(p.read_text(encoding="utf-8"))["id"] for p in SHIPPED}
    assert len(book) == len(SHIPPED)
    assert {p.id for p in book} == ids


def test_the_expected_regimes_are_shipped(book):
    expected = {
        "fuyang-2021", "lishui-liandu-2020", "lishui-2020", "lishui-longquan-2020",
        "lishui-jingning-2020", "yangcheng-2022", "hunan-2023", "hunan-2024", "gaizhou-2025",
    }
    assert expected <= {p.id for p in book}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_policy_states_at_least_one_assumption(book, path):
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    pid = data["id"]
    p = book.get(pid, data["version"])
    assert p.assumptions, f"{pid} states no assumption"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_policy_cites_its_seed_in_each_reference(book, path):
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    pid = data["id"]
    p = book.get(pid, data["version"])
    assert p.references
    for key, text in p.references:
        assert text.startswith(f"{p.seed}: "), f"{pid} reference {key} does not cite {p.seed}"


def test_every_assumption_is_findable_by_its_field(book):
    p = policy(book, "gaizhou-2025")
    note = p.reference_for("waiting.broken_years_not_counted")
    assert note is not None and "004:" in note


# --- individual standards ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy_id", "individual"),
    [
        ("lishui-liandu-2020", "450.00"),
        ("lishui-2020", "450.00"),
        ("lishui-longquan-2020", "430.00"),
        ("lishui-jingning-2020", "440.00"),
        ("fuyang-2021", "280.00"),
        ("yangcheng-2022", "320.00"),
        ("hunan-2023", "380.00"),
        ("hunan-2024", "380.00"),
        ("gaizhou-2025", "445.00"),
    ],
)
def test_each_regime_has_its_seed_individual_standard(book, policy_id, individual):
    assert policy(book, policy_id).contribution.individual == yuan(individual)


def test_liandu_financing_is_1130_fiscal_plus_450_individual(book):
    c = policy(book, "lishui-liandu-2020").contribution
    assert c.fiscal == yuan("1130.00")
    assert c.fiscal + c.individual == yuan("1580.00")


def test_hunan_financing_is_640_fiscal_plus_380_individual_in_2023_and_2024(book):
    for pid in ("hunan-2023", "hunan-2024"):
        c = policy(book, pid).contribution
        assert c.fiscal + c.individual == yuan("1020.00")


def test_gaizhou_minors_pay_335_and_adults_445(book):
    c = policy(book, "gaizhou-2025").contribution
    assert c.individual == yuan("445.00")
    assert c.minor == yuan("335.00")
    assert c.minor_under_age == 18


# --- region lookup -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("county", "year", "policy_id"),
    [
        ("331181", 2020, "lishui-longquan-2020"),
        ("331127", 2020, "lishui-jingning-2020"),
        ("331102", 2020, "lishui-liandu-2020"),
        ("331126", 2020, "lishui-2020"),
        ("331122", 2020, "lishui-2020"),
        ("341225", 2021, "fuyang-2021"),
        ("341221", 2021, "fuyang-2021"),
        ("140522", 2022, "yangcheng-2022"),
        ("430102", 2023, "hunan-2023"),
        ("430102", 2024, "hunan-2024"),
        ("210881", 2025, "gaizhou-2025"),
    ],
)
def test_the_most_specific_region_prefix_wins_at_lookup(book, county, year, policy_id):
    found = book.find(county, year)
    assert found is not None and found.id == policy_id


def test_a_county_has_no_policy_in_a_year_no_file_covers(book):
    assert book.find("341225", 2020) is None
    assert book.find("110101", 2021) is None


def test_other_lishui_counties_inherit_liandus_rules(book):
    liandu = policy(book, "lishui-liandu-2020")
    for pid in ("lishui-2020", "lishui-longquan-2020", "lishui-jingning-2020"):
        p = policy(book, pid)
        assert p.subsidies == liandu.subsidies
        assert p.windows == liandu.windows
        assert p.contribution.fiscal == yuan("1130.00")
        assert p.year == 2020 and p.seed == "000"
        assert p.reference_for("subsidy.identities").startswith("000: ")


# --- subsidies -----------------------------------------------------------------------------


def test_liandu_fully_subsidises_people_aged_90_and_over(book):
    s = policy(book, "lishui-liandu-2020").subsidies
    assert s.full_from_age == 90
    for identity in ("disabled", "dibao", "dibao_edge", "tekun", "low_income", "entitled"):
        assert s.rule_for(identity).kind == "full"


def test_liandu_pays_half_of_an_ethnic_minority_members_contribution(book):
    rule = policy(book, "lishui-liandu-2020").subsidies.rule_for("ethnic_minority")
    assert rule.kind == "percent" and rule.percent == Decimal(50)


def test_yangcheng_subsidises_dibao_at_80_percent_but_at_least_280(book):
    rule = policy(book, "yangcheng-2022").subsidies.rule_for("dibao")
    assert rule.kind == "percent"
    assert rule.percent == Decimal(80)
    assert rule.floor == yuan("280.00")


def test_yangcheng_gives_people_at_risk_a_fixed_280(book):
    rule = policy(book, "yangcheng-2022").subsidies.rule_for("at_risk")
    assert rule.kind == "fixed" and rule.amount == yuan("280.00")


def test_yangcheng_gives_the_returned_to_poverty_90_percent(book):
    rule = policy(book, "yangcheng-2022").subsidies.rule_for("returned_to_poverty")
    assert rule.kind == "percent" and rule.percent == Decimal(90)


def test_yangcheng_no_longer_subsidises_the_stably_lifted(book):
    p = policy(book, "yangcheng-2022")
    assert p.subsidies.rule_for("stably_lifted") is None
    assert "稳定脱贫人口不再享受资助参保政策" in p.reference_for("subsidy.identities")


def test_yangcheng_fully_subsidises_tekun_orphans_severe_disability_and_entitled(book):
    s = policy(book, "yangcheng-2022").subsidies
    for identity in ("tekun", "orphan", "unsupported_child", "severe_disability", "entitled"):
        assert s.rule_for(identity).kind == "full"


def test_hunan_subsidises_hardship_groups_fully_and_dibao_groups_by_half(book):
    for pid in ("hunan-2023", "hunan-2024"):
        s = policy(book, pid).subsidies
        for identity in ("tekun", "severe_disability", "orphan", "unsupported_child"):
            assert s.rule_for(identity).kind == "full"
        for identity in ("dibao", "monitored", "dibao_edge"):
            assert s.rule_for(identity).percent == Decimal(50)


def test_gaizhou_subsidises_dibao_edge_families_at_60_percent(book):
    s = policy(book, "gaizhou-2025").subsidies
    assert s.rule_for("dibao_edge").percent == Decimal(60)
    for identity in ("dibao", "tekun", "orphan", "monitored", "severe_disability"):
        assert s.rule_for(identity).kind == "full"


# --- windows, late payment, waiting, newborns ----------------------------------------------


def test_lishui_has_a_centralized_window_to_15_december_and_sporadic_payment_to_31(book):
    windows = policy(book, "lishui-liandu-2020").windows
    assert [(w.name, w.start, w.end) for w in windows] == [
        ("centralized", date(2019, 11, 1), date(2019, 12, 15)),
        ("sporadic", date(2019, 12, 16), date(2019, 12, 31)),
    ]
    assert all(w.covered_from is None for w in windows)


def test_lishui_newborns_paid_within_90_days_are_covered_from_birth(book):
    nb = policy(book, "lishui-liandu-2020").newborn
    assert nb.from_birth_if_paid_within == Period(days=90)
    assert not nb.free_in_birth_year


def test_yangcheng_accepts_payments_only_on_days_1_to_25_until_25_december(book):
    p = policy(book, "yangcheng-2022")
    (window,) = p.windows
    assert (window.start, window.end, window.days_of_month) == (
        date(2021, 9, 1), date(2021, 12, 25), (1, 25))
    assert window.admits(date(2021, 10, 25), "general")
    assert not window.admits(date(2021, 10, 26), "general")
    assert p.late.until == date(2021, 12, 25)


def test_yangcheng_newborns_are_free_and_refunds_must_be_asked_in_the_window(book):
    p = policy(book, "yangcheng-2022")
    assert p.newborn.free_in_birth_year
    assert p.refund.deadline == date(2021, 12, 25)
    assert p.refund.requests_within_deadline


def test_hunan_continuing_enrollees_may_pay_late_until_29_february_2024(book):
    p = policy(book, "hunan-2024")
    (window,) = p.windows
    assert (window.start, window.end) == (date(2023, 9, 1), date(2023, 12, 31))
    assert p.late.until == date(2024, 2, 29)
    assert p.late.coverage == "payment_date"
    assert p.late.requires_prior_insurance
    assert p.late.categories == ("general", "student")


def test_hunan_2023_is_collected_from_september_to_december_2022(book):
    p = policy(book, "hunan-2023")
    (window,) = p.windows
    assert (window.start, window.end) == (date(2022, 9, 1), date(2022, 12, 31))
    assert p.late.until == date(2023, 2, 28)
    assert p.late.requires_prior_insurance
    assert p.refund.deadline == date(2022, 12, 31)
    assert p.year == 2023


def test_gaizhou_students_pay_in_september_october_and_are_covered_from_1_september(book):
    students, general = policy(book, "gaizhou-2025").windows
    assert (students.start, students.end, students.categories) == (
        date(2024, 9, 1), date(2024, 10, 31), ("student",))
    assert students.covered_from == date(2024, 9, 1)
    assert (general.start, general.end) == (date(2024, 11, 1), date(2024, 12, 31))
    assert "student" not in general.categories
    assert general.covered_from is None


def test_gaizhou_late_payers_wait_3_months_plus_1_per_broken_year(book):
    p = policy(book, "gaizhou-2025")
    assert p.late.coverage == "waiting_period"
    assert p.late.until == date(2025, 12, 31)
    w = p.waiting
    assert (w.fixed_months, w.variable_months_per_broken_year, w.broken_years_not_counted) == (
        3, 1, 0)
    assert w.months_removed_per_back_paid_year == 1
    assert (w.long_break_years, w.long_break_min_months) == (4, 6)
    assert set(w.exempt_identities) == {"dibao", "tekun", "orphan", "monitored",
                                        "severe_disability"}


def test_gaizhou_newborns_paid_within_3_months_have_no_wait(book):
    nb = policy(book, "gaizhou-2025").newborn
    assert nb.from_birth_if_paid_within == Period(months=3)
    assert nb.from_payment_if_paid_within == Period(months=12)


def test_regions_without_an_outpatient_rule_assume_fuyangs(book):
    fuyang = policy(book, "fuyang-2021").outpatient
    for pid in ("lishui-liandu-2020", "lishui-2020", "lishui-longquan-2020",
                "lishui-jingning-2020", "yangcheng-2022", "hunan-2023", "hunan-2024",
                "gaizhou-2025"):
        p = policy(book, pid)
        assert p.outpatient == fuyang
        assert p.reference_for("outpatient.ratio").startswith("assumption: ")


# --- bad files -----------------------------------------------------------------------------

GOOD = policy_file()


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy_book(tmp_path)
    return caught.value


def test_the_minimal_test_policy_itself_loads(tmp_path):
    write(tmp_path, GOOD)
    assert load_policy_book(tmp_path).find("341225", 2021).id == "test-2021"


def test_a_float_money_value_is_refused_naming_file_and_field(tmp_path):
    path = write(tmp_path, GOOD.replace('individual = "280.00"', "individual = 280.0"))
    e = refused(tmp_path)
    assert str(path) in str(e)
    assert e.field == "contribution.individual"
    assert "'contribution.individual'" in str(e)


def test_an_unknown_key_is_refused_naming_file_and_field(tmp_path):
    path = write(tmp_path, GOOD.replace('ratio = "0.55"', 'ratio = "0.55"\ncopay = "5.00"'))
    e = refused(tmp_path)
    assert str(path) in str(e)
    assert e.field == "outpatient.copay"
    assert "'outpatient.copay'" in str(e)


def test_a_missing_outpatient_ratio_is_refused(tmp_path):
    text = GOOD.replace('ratio = "0.55"\n', "").replace('"outpatient.ratio"', '"outpatient"')
    path = write(tmp_path, text)
    e = refused(tmp_path)
    assert str(path) in str(e)
    assert e.field == "outpatient.ratio"
    assert "required" in str(e)


def test_a_ratio_above_one_is_refused(tmp_path):
    path = write(tmp_path, GOOD.replace('ratio = "0.55"', 'ratio = "1.5"'))
    e = refused(tmp_path)
    assert str(path) in str(e)
    assert e.field == "outpatient.ratio"
    assert "1.5" in str(e)


def test_an_impossible_date_is_refused_naming_the_window_field(tmp_path):
    path = write(tmp_path, GOOD.replace("start = 2020-09-01", 'start = "2020-13-01"'))
    e = refused(tmp_path)
    assert str(path) in str(e)
    assert e.field == "collection.windows[0].start"


def test_an_assumption_naming_a_nonexistent_field_is_refused(tmp_path):
    path = write(tmp_path, GOOD + '"outpatient.copay" = "There is no such field."\n')
    e = refused(tmp_path)
    assert str(path) in str(e)
    assert "outpatient.copay" in e.field


def test_extending_an_unknown_policy_id_is_refused_naming_the_file(tmp_path):
    write(tmp_path, GOOD, "good.toml")
    path = write(tmp_path, 'id = "child-2021"\nversion = "1"\nextends = "nobody-2021"\n')
    e = refused(tmp_path)
    assert str(path) in str(e)
    assert e.field == "extends"
    assert "nobody-2021" in str(e)


def test_a_child_file_extending_a_known_policy_inherits_its_values(tmp_path):
    write(tmp_path, GOOD, "good.toml")
    write(tmp_path, 'id = "child-2021"\nversion = "1"\nextends = "test-2021"\nregion = "341225"\n'
                    '[contribution]\nindividual = "300.00"\n'
                    '[assumptions]\n"contribution.individual" = "A test value."\n', "child.toml")
    book = load_policy_book(tmp_path)
    child = book.find("341225", 2021)
    assert child.id == "child-2021"
    assert child.contribution.individual == yuan("300.00")
    assert child.outpatient.ratio == Decimal("0.55")
    assert child.assumptions == (("contribution.individual", "A test value."),)
