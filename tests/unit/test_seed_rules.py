"""Seed rules the first line-by-line check found missing (issue 14), one test per seed
sentence, run with the shipped policies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.commands import parse_command
from domain.errors import Rejected
from domain.money import ZERO, Money
from domain.policy import Policy
from domain.policy_book import PolicyBook
from domain.rules.collection import (
    accept_payment_day,
    check_enrollment_day,
    check_newborn,
    is_newborn,
)
from domain.rules.contribution import decide_contribution
from domain.rules.coverage import CoverageFacts, coverage_start
from domain.rules.eligibility import Places, eligibility_ground
from domain.rules.outpatient import MemberCoverage, Pool, Visit, claim_scope, settle
from domain.rules.payer import check_employee_account
from domain.rules.refund import check_refund_channel
from domain.rules.roster import check_recognition, enrollment_identity


def policy(book: PolicyBook, policy_id: str) -> Policy:
    """The version of a policy in force: the one that decides new commands."""
    found = [p for p in book.in_force() if p.id == policy_id]
    assert found, f"{policy_id} is not shipped"
    return found[0]


def reason_of(call, *args) -> str:
    with pytest.raises(Rejected) as e:
        call(*args)
    return e.value.reason


def newborn(birth: date) -> CoverageFacts:
    return CoverageFacts(category="newborn", birth_date=birth, identity=None,
                         prior_insured=False, broken_years=0, back_paid_years=0)


# --- 1. newborns born late in the previous year (000, 001, 004) ------------------------------


def test_a_fuyang_baby_born_in_december_2020_paying_within_3_months_is_a_2021_newborn(book):
    # 001: 新生儿自出生之日起3个月内参保缴费的,自出生之日起享受当年居民医保待遇。
    fuyang = policy(book, "fuyang-2021")
    born = date(2020, 12, 10)
    assert is_newborn(fuyang, "newborn", born)
    check_newborn(fuyang, "newborn", born)
    paid = date(2021, 2, 20)
    assert accept_payment_day(fuyang, paid, "newborn", born, False).period == "newborn"
    d = coverage_start(fuyang, newborn(born), paid)
    assert (d.covered_from, d.waiting_months) == (date(2021, 1, 1), 0)
    assert "born 2020-12-10, the year before" in d.explanation
    assert reason_of(accept_payment_day, fuyang, date(2021, 3, 11), "newborn", born,
                     False) == "outside_collection_window"


def test_a_gaizhou_baby_born_in_2024_paying_within_3_months_waits_for_nothing(book):
    # 004: 新生儿出生即可缴费……出生三个月内缴费不设等待期
    gaizhou = policy(book, "gaizhou-2025")
    born = date(2024, 11, 20)
    paid = date(2025, 2, 10)
    d = coverage_start(gaizhou, newborn(born), paid)
    assert (d.covered_from, d.waiting_months) == (date(2025, 1, 1), 0)
    due = decide_contribution(gaizhou, born, "newborn", None).due
    assert str(due) == "335.00"  # a minor: 个人缴费标准……未成年人 335 元


def test_a_gaizhou_baby_born_in_2024_paying_at_5_months_is_covered_from_the_payment(book):
    # 004: 三个月至一年内参保自缴费到账之日起享受待遇。
    gaizhou = policy(book, "gaizhou-2025")
    born = date(2024, 10, 1)
    paid = date(2025, 3, 1)
    assert accept_payment_day(gaizhou, paid, "newborn", born, False).period == "newborn"
    d = coverage_start(gaizhou, newborn(born), paid)
    assert (d.covered_from, d.waiting_months) == (paid, 0)


def test_a_baby_whose_newborn_period_ended_before_the_year_is_no_newborn_of_it(book):
    fuyang = policy(book, "fuyang-2021")
    born = date(2020, 6, 1)  # 3 months from birth end in September 2020
    assert not is_newborn(fuyang, "newborn", born)
    assert reason_of(check_newborn, fuyang, "newborn", born) == "invalid_input"
    gaizhou = policy(book, "gaizhou-2025")
    assert is_newborn(gaizhou, "newborn", date(2024, 6, 1))  # a year from birth: June 2025
    assert not is_newborn(gaizhou, "newborn", date(2023, 12, 31))


def test_a_liandu_baby_born_late_in_2019_pays_2020_separately_within_90_days(book):
    # 000: 2019 年年底出生的新生儿……应在出生后 90 天内补缴 2019 年度的参保费用,
    # 而 2020 年度的参保费用需另外缴纳。
    for policy_id in ("lishui-liandu-2020", "lishui-2020", "lishui-longquan-2020"):
        lishui = policy(book, policy_id)
        born = date(2019, 12, 28)
        check_enrollment_day(lishui, date(2020, 1, 10), "newborn", born, False)
        paid = date(2020, 3, 27)  # the 90th day after birth
        assert accept_payment_day(lishui, paid, "newborn", born, False).period == "newborn"
        assert coverage_start(lishui, newborn(born), paid).covered_from == date(2020, 1, 1)
        assert reason_of(accept_payment_day, lishui, date(2020, 3, 28), "newborn", born,
                         False) == "outside_collection_window"


def test_a_yangcheng_baby_born_in_2021_is_no_2022_newborn(book):
    # 002: 新生儿出生当年……当年不缴费 — only the birth year is free.
    yangcheng = policy(book, "yangcheng-2022")
    assert not is_newborn(yangcheng, "newborn", date(2021, 12, 30))
    assert reason_of(check_newborn, yangcheng, "newborn", date(2021, 12, 30)) == "invalid_input"


# --- 2. Lishui's 2019 back-payment (000) -------------------------------------------------------


def test_a_liandu_baby_born_late_in_2019_back_pays_2019_within_90_days_of_birth(book):
    # 000: 2019 年年底出生的新生儿……应在出生后 90 天内补缴 2019 年度的参保费用
    liandu_2019 = book.find("331102", 2019)
    assert liandu_2019 is not None and liandu_2019.id == "lishui-liandu-2019"
    born = date(2019, 12, 20)
    d = decide_contribution(liandu_2019, born, "newborn", None)
    assert str(d.due) == "420.00"
    paid = date(2020, 3, 19)  # the 90th day after birth
    assert accept_payment_day(liandu_2019, paid, "newborn", born, False).period == "newborn"
    assert coverage_start(liandu_2019, newborn(born), paid).covered_from == born
    assert reason_of(accept_payment_day, liandu_2019, date(2020, 3, 20), "newborn", born,
                     False) == "outside_collection_window"


def test_liandus_2019_financing_total_is_the_seeds_1500_with_its_split_an_assumption(book):
    # 000: 缴费标准由 2019 年的 1500 元调整为 1580 元
    liandu_2019 = policy(book, "lishui-liandu-2019")
    c = liandu_2019.contribution
    assert str(c.individual + c.fiscal) == "1500.00"
    assert liandu_2019.reference_for("contribution.individual").startswith("assumption:")
    assert "1500" in liandu_2019.reference_for("contribution")
    assert book.find("331126", 2019) is None  # the seed gives Liandu's 2019 total only


# --- 3. who may pay from an employee's personal account (003) ---------------------------------


@pytest.mark.parametrize("relation", ["parent", "spouse", "child", "self"])
def test_an_employee_account_pays_for_its_holders_parents_spouse_and_children(book, relation):
    # 003: 职工医保卡个人账户里的资金可为自己的父母、配偶、子女缴纳居民医保费。
    hunan = policy(book, "hunan-2024")
    check_employee_account(hunan, "employee_account", relation, {2024}, 2024, date(2023, 10, 1))
    check_employee_account(hunan, "employee_account", relation, {2023}, 2024, date(2023, 10, 1))


@pytest.mark.parametrize("relation", ["agent", "other"])
def test_an_employee_account_does_not_pay_for_anyone_else(book, relation):
    hunan = policy(book, "hunan-2024")
    assert reason_of(check_employee_account, hunan, "employee_account", relation, {2024}, 2024,
                     date(2023, 10, 1)) == "payer_not_allowed"


def test_only_a_payer_in_employee_insurance_has_an_employee_account_to_pay_from(book):
    hunan = policy(book, "hunan-2024")
    assert reason_of(check_employee_account, hunan, "employee_account", "parent", set(), 2024,
                     date(2023, 10, 1)) == "payer_not_allowed"
    assert reason_of(check_employee_account, hunan, "employee_account", "parent", {2021}, 2024,
                     date(2023, 10, 1)) == "payer_not_allowed"
    check_employee_account(hunan, "cash", "other", set(), 2024, date(2023, 10, 1))


# --- 4. a third party's certified share (003) ----------------------------------------------------

COVERED_2021 = MemberCoverage(region="341225", covered_from=date(2021, 1, 1),
                              covered_to=date(2021, 12, 31))


def third_party_visit(expense: str, share: str | None) -> Visit:
    return Visit(person="p", visit_date=date(2021, 3, 1), facility_level=1,
                 facility_region="341225", expense=Money.parse(expense), cause="third_party",
                 third_party_share=None if share is None else Decimal(share))


def test_expenses_left_after_a_certified_third_party_share_are_reimbursed(book):
    # 003: 经相关部门认定、按比例剔除应由第三人负担后的医疗费用 (are in the scope)
    fuyang = policy(book, "fuyang-2021")
    pool = Pool(cap=Money.parse("250.00"), used=ZERO)
    d = settle(fuyang, third_party_visit("100.00", "0.7"), COVERED_2021, pool)
    assert (str(d.eligible_expense), str(d.reimbursable)) == ("30.00", "16.50")
    assert "certified share 0.7" in d.explanation


def test_a_third_party_case_without_a_certified_share_stays_outside_the_scope(book):
    # 003: 应当由第三人负担的 (is excluded) — until the share is certified
    fuyang = policy(book, "fuyang-2021")
    pool = Pool(cap=Money.parse("250.00"), used=ZERO)
    with pytest.raises(Rejected) as e:
        settle(fuyang, third_party_visit("100.00", None), COVERED_2021, pool)
    assert e.value.reason == "excluded_cause"


def test_the_share_left_is_rounded_half_up_to_the_fen_and_judged_as_an_ordinary_expense():
    scope = claim_scope(Money.parse("0.05"), "third_party", Decimal("0.5"))
    assert (str(scope.expense), scope.cause) == ("0.03", "ordinary")
    assert claim_scope(Money.parse("80.00"), "ordinary", None).expense == Money.parse("80.00")


@pytest.mark.parametrize("share", ["1.5", "-0.1", "0.12345", "abc", "", ".5"])
def test_a_third_party_share_must_be_a_fraction_from_0_to_1(share):
    with pytest.raises(Rejected) as e:
        parse_command({**CLAIM, "cause": "third_party", "third_party_share": share})
    assert e.value.reason == "invalid_input"


def test_a_third_party_share_needs_the_cause_third_party():
    with pytest.raises(Rejected) as e:
        parse_command({**CLAIM, "third_party_share": "0.5"})
    assert e.value.reason == "invalid_input"
    parsed = parse_command({**CLAIM, "cause": "third_party", "third_party_share": "0.50"})
    assert parsed.third_party_share == Decimal("0.5")


CLAIM = {"op": "claim", "claim_id": "c1", "person": "341225198001010010", "visit_date":
         "2021-03-01", "facility_level": 1, "facility_region": "341225", "expense": "100.00",
         "at": "2021-03-01"}


# --- 5. the hardship roster behind the 99% target (002, 004) ----------------------------------


def test_the_roster_identity_decides_the_subsidy_at_enrollment():
    # 002: ……城乡困难居民以相关部门提供救助花名为准,执行参保分类资助政策。
    assert enrollment_identity(None, "monitored", 2025) == "monitored"
    assert enrollment_identity("monitored", "monitored", 2025) == "monitored"
    assert enrollment_identity("dibao", None, 2025) == "dibao"
    assert reason_of(enrollment_identity, "dibao", "monitored", 2025) == "identity_conflict"


def test_a_person_is_recognised_under_one_identity_a_year():
    # 002: 对多重困难身份的人员只允许按一种身份参保,只享受一种资助,不能重复资助。
    assert check_recognition("monitored", None, None, 2025) is True
    assert check_recognition("monitored", "monitored", None, 2025) is False
    assert check_recognition("monitored", None, "monitored", 2025) is True
    assert reason_of(check_recognition, "dibao", "monitored", None, 2025) == "identity_conflict"
    assert reason_of(check_recognition, "dibao", None, "tekun", 2025) == "identity_conflict"


# --- 6. who may enroll where (000, 001, 003, 004) ------------------------------------------------


def test_liandu_admits_its_hukou_its_schools_spouses_of_locals_and_permit_holders(book):
    # 000: 参保人员有四类,其一是具有莲都区户籍……其二是就读于莲都区内……
    # 学校及幼儿园的在校生;其三是与莲都区户籍城乡居民形成婚姻关系的非本区户籍居民;
    # 其四是取得《浙江省居住证》且居住在莲都区域内……
    liandu = policy(book, "lishui-liandu-2020")
    here = "331102"
    assert eligibility_ground(liandu, Places(hukou_region=here), here) == "hukou"
    assert eligibility_ground(liandu, Places(hukou_region="341225", school_region=here,
                                             school_level="kindergarten"), here) == "school"
    assert eligibility_ground(liandu, Places(hukou_region="341225", spouse_region=here),
                              here) == "spouse"
    assert eligibility_ground(liandu, Places(residence_permit_region=here), here) == (
        "residence_permit")
    assert reason_of(eligibility_ground, liandu, Places(hukou_region="331126"),
                     here) == "not_eligible_here"


def test_fuyang_admits_its_city_hukou_and_permits_in_any_of_its_counties(book):
    # 001: 具有阜阳本市户籍……非本市户籍但在本市已办理有效居住证的城乡居民
    fuyang = policy(book, "fuyang-2021")
    assert eligibility_ground(fuyang, Places(hukou_region="341221"), "341225") == "hukou"
    assert eligibility_ground(fuyang, Places(residence_permit_region="341202"),
                              "341225") == "residence_permit"
    assert reason_of(eligibility_ground, fuyang, Places(hukou_region="331102",
                                                        spouse_region="341225"),
                     "341225") == "not_eligible_here"  # no spouse ground in Fuyang


def test_a_hunan_college_student_enrolls_at_school_never_at_home(book):
    # 003: 新入学的大中专学生统一在学校所在地参保,不得在原户籍地重复参保。
    hunan = policy(book, "hunan-2024")
    student = Places(hukou_region="430521", school_region="430102", school_level="college")
    assert eligibility_ground(hunan, student, "430102") == "school"
    assert reason_of(eligibility_ground, hunan, student, "430521") == "not_eligible_here"
    pupil = Places(hukou_region="430521", school_region="430102", school_level="school")
    assert eligibility_ground(hunan, pupil, "430521") == "hukou"  # 中小学学生……在户籍所在地


def test_gaizhou_admits_non_locals_holding_its_residence_permit(book):
    # 004: (四)非本地户籍持本市居住证的人员。
    gaizhou = policy(book, "gaizhou-2025")
    assert eligibility_ground(gaizhou, Places(hukou_region="110101",
                                              residence_permit_region="210881"),
                              "210881") == "residence_permit"
    assert reason_of(eligibility_ground, gaizhou, Places(hukou_region="110101"),
                     "210881") == "not_eligible_here"


def test_a_registration_naming_no_place_is_taken_as_the_agencys_own_check(book):
    assert eligibility_ground(policy(book, "gaizhou-2025"), Places(), "210881") == (
        "registration")


# --- 7. no online refunds (001) ---------------------------------------------------------------


@pytest.mark.parametrize("channel", ["wechat", "alipay", "bank_app", "tax_online", "WeChat"])
def test_fuyang_refuses_a_refund_requested_online(book, channel):
    # 001: 城乡居民基本医疗保险参保缴费不支持线上退费
    fuyang = policy(book, "fuyang-2021")
    assert reason_of(check_refund_channel, fuyang, channel) == "channel_not_allowed"


@pytest.mark.parametrize("channel", ["bank_counter", "医保经办机构窗口", None])
def test_fuyang_takes_a_refund_requested_at_the_agency(book, channel):
    # 001: ……可向参保地居民医保经办机构申请为个人办理退费。
    check_refund_channel(policy(book, "fuyang-2021"), channel)


def test_where_the_seed_is_silent_a_refund_may_be_requested_online(book):
    check_refund_channel(policy(book, "gaizhou-2025"), "wechat")
    assert policy(book, "gaizhou-2025").reference_for("refund.online_requests").startswith(
        "assumption:")
