"""The pure rules, one test per seed sentence, run with the shipped policies."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import attrs
import pytest

from domain.commands import Claim
from domain.errors import Rejected
from domain.identity import PersonRef, RegionCode
from domain.money import ZERO, Money
from domain.policy import Policy, SubsidyRule
from domain.policy_book import PolicyBook
from domain.rules.collection import (
    accept_payment_day,
    check_channel,
    check_enrollment_day,
)
from domain.rules.contribution import decide_contribution, subsidy_amount
from domain.rules.coverage import CoverageFacts, coverage_start, waiting_months
from domain.rules.outpatient import MemberCoverage, Pool, Visit, reimbursable_amount, settle
from domain.rules.refund import RefundState, decide_refund
from domain.service import LedgerService
from tests.support.builders import make_id
from tests.support.fakes import World

FUNAN = "341225"


def yuan(text: str) -> Money:
    return Money.parse(text)


def policy(book: PolicyBook, policy_id: str) -> Policy:
    found = book.get(policy_id, "1")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def fuyang(book) -> Policy:
    return policy(book, "fuyang-2021")


@pytest.fixture(scope="module")
def yangcheng(book) -> Policy:
    return policy(book, "yangcheng-2022")


@pytest.fixture(scope="module")
def gaizhou(book) -> Policy:
    return policy(book, "gaizhou-2025")


@pytest.fixture(scope="module")
def hunan(book) -> Policy:
    return policy(book, "hunan-2024")


@pytest.fixture(scope="module")
def liandu(book) -> Policy:
    return policy(book, "lishui-liandu-2020")


def reason_of(call, *args) -> str:
    with pytest.raises(Rejected) as e:
        call(*args)
    return e.value.reason


# --- 001: general outpatient in the household pool -------------------------------------------

COVERED_2021 = MemberCoverage(region=FUNAN, covered_from=date(2021, 1, 1),
                              covered_to=date(2021, 12, 31))


def visit(expense: str, level: int = 1, region: str = FUNAN, cause: str = "ordinary",
          day: date = date(2021, 5, 1)) -> Visit:
    return Visit(person="A", visit_date=day, facility_level=level, facility_region=region,
                 expense=yuan(expense), cause=cause)


def test_a_fuyang_household_of_four_shares_1000_and_one_member_may_use_more_than_250(fuyang):
    # 001: 如果在一个医保"户"内,4口人的报销总限额还是1000元,但是可以统筹使用,个人的报销限额
    # 可以突破250元,只要全"户"人员年度报销总限额不超过1000元即可。
    household_cap = Money(fuyang.outpatient.per_person_cap.fen * 4)
    assert household_cap == yuan("1000.00")
    member_used = ZERO
    household_used = ZERO
    for expense in ("400.00", "400.00", "400.00", "400.00", "400.00"):
        d = settle(fuyang, visit(expense), COVERED_2021, Pool(household_cap, household_used))
        member_used += d.reimbursed
        household_used += d.reimbursed
    assert member_used > yuan("250.00")
    assert household_used == yuan("1000.00")
    last = settle(fuyang, visit("100.00"), COVERED_2021, Pool(household_cap, household_used))
    assert last.reimbursed == ZERO
    assert last.pool_remaining_after == ZERO


def test_a_member_who_reached_250_may_go_on_claiming_while_the_household_has_room(fuyang):
    # 001: 某一人……年内报销已到250元限额时,如果他与家庭成员在一个"户"内,只要年内全"户"人员
    # 报销金额未达到总限额,他就可以继续按比例报销
    d = settle(fuyang, visit("200.00"), COVERED_2021, Pool(yuan("1000.00"), yuan("250.00")))
    assert d.reimbursed == yuan("110.00")
    assert d.pool_used_before == yuan("250.00")
    assert d.pool_remaining_after == yuan("640.00")


def test_general_outpatient_is_reimbursed_at_55_percent_rounded_half_up(fuyang):
    # 001: 在参保县市区域内一级及以下医疗机构发生的普通门诊医药费用报销比例为55%。
    assert fuyang.outpatient.ratio == Decimal("0.55")
    assert reimbursable_amount(fuyang, yuan("100.00")) == (yuan("100.00"), yuan("55.00"))
    assert reimbursable_amount(fuyang, yuan("0.01")) == (yuan("0.01"), yuan("0.01"))
    assert reimbursable_amount(fuyang, yuan("1.10"))[1] == yuan("0.61")  # 0.605 -> 0.61
    assert reimbursable_amount(fuyang, yuan("0.09"))[1] == yuan("0.05")  # 0.0495 -> 0.05
    d = settle(fuyang, visit("33.33"), COVERED_2021, Pool(yuan("250.00"), ZERO))
    assert d.reimbursable == yuan("18.33")  # 18.3315
    assert d.reimbursed == yuan("18.33")


def test_a_claim_is_paid_partly_when_the_pool_runs_low(fuyang):
    d = settle(fuyang, visit("100.00"), COVERED_2021, Pool(yuan("1000.00"), yuan("980.00")))
    assert d.reimbursable == yuan("55.00")
    assert d.reimbursed == yuan("20.00")
    assert d.pool_remaining_after == ZERO
    assert "ran low" in d.explanation


def test_a_claim_on_an_empty_pool_is_decided_with_nothing_reimbursed(fuyang):
    d = settle(fuyang, visit("100.00"), COVERED_2021, Pool(yuan("1000.00"), yuan("1000.00")))
    assert d.reimbursed == ZERO
    assert d.reimbursable == yuan("55.00")


def test_without_a_household_each_person_is_clipped_at_250(book, fuyang):
    # 001: 如果不在一个医保"户"内, 4口人的报销总限额为1000元,但是每个人都不能超过250元的限额
    world = World(book)
    head = make_id(FUNAN, "19800101", 1)
    others = [make_id(FUNAN, "19820101", i) for i in (3, 5, 7)]
    world.member(head)
    for other in others:
        world.member(other, head=head)
    household = world.port.household(head, 2021)
    per_person = attrs.evolve(fuyang, outpatient=attrs.evolve(fuyang.outpatient,
                                                              pooling="person"))
    service = LedgerService(book)

    def claim(expense: str) -> Claim:
        return Claim(claim_id="x", person=PersonRef(head, True), visit_date=date(2021, 5, 1),
                     facility_level=1, facility_region=RegionCode(FUNAN), expense=yuan(expense),
                     at=datetime(2021, 5, 1, tzinfo=timezone.utc))

    alone = service.adjudicate(per_person, household, head, claim("1000.00"))
    assert alone.pool_cap == yuan("250.00")
    assert alone.reimbursed == yuan("250.00")
    pooled = service.adjudicate(fuyang, household, head, claim("1000.00"))
    assert pooled.pool_cap == yuan("1000.00")
    assert pooled.reimbursed == yuan("550.00")


def test_expenses_outside_the_reimbursement_scope_are_refused(fuyang):
    # 003: 非报销范围:应当从工伤保险基金中支付的;应当由第三人负担的;应当由公共卫生负担的;
    # 在境外就医的;……美容以及非功能性整形……;在监狱服刑期间以及因犯罪行为发生的医疗费用
    pool = Pool(yuan("250.00"), ZERO)
    for cause in ("work_injury", "third_party", "public_health", "overseas", "cosmetic",
                  "incarceration"):
        assert reason_of(settle, fuyang, visit("10.00", cause=cause), COVERED_2021,
                         pool) == "excluded_cause"
    assert settle(fuyang, visit("10.00"), COVERED_2021, pool).reimbursed == yuan("5.50")


def test_a_county_hospital_of_level_2_is_not_a_primary_facility(fuyang):
    # 001: 一级及以下医疗机构
    pool = Pool(yuan("250.00"), ZERO)
    assert reason_of(settle, fuyang, visit("10.00", level=2), COVERED_2021,
                     pool) == "facility_not_eligible"
    assert reason_of(settle, fuyang, visit("10.00", level=3), COVERED_2021,
                     pool) == "facility_not_eligible"
    assert settle(fuyang, visit("10.00", level=0), COVERED_2021, pool).reimbursed == yuan("5.50")


def test_a_visit_outside_the_insured_county_is_refused(fuyang):
    # 001: 在参保县市区域内
    assert reason_of(settle, fuyang, visit("10.00", region="341221"), COVERED_2021,
                     Pool(yuan("250.00"), ZERO)) == "out_of_county"


def test_a_visit_before_coverage_starts_or_while_suspended_is_refused(fuyang):
    pool = Pool(yuan("250.00"), ZERO)
    late = MemberCoverage(region=FUNAN, covered_from=date(2021, 6, 1),
                          covered_to=date(2021, 12, 31))
    assert reason_of(settle, fuyang, visit("10.00"), late, pool) == "not_covered_on_date"
    none = MemberCoverage(region=FUNAN, covered_from=None, covered_to=None)
    assert reason_of(settle, fuyang, visit("10.00"), none, pool) == "not_covered_on_date"
    after = visit("10.00", day=date(2022, 1, 1))
    assert reason_of(settle, fuyang, after, COVERED_2021, pool) == "not_covered_on_date"
    suspended = attrs.evolve(COVERED_2021, suspended=True)
    assert reason_of(settle, fuyang, visit("10.00"), suspended, pool) == "employee_insured"


# --- 000/001/002/003/004: contribution standards and subsidies --------------------------------

ADULT = date(1980, 6, 1)


def test_fuyang_individual_contribution_is_280(fuyang):
    # 001: 2021年度城乡居民基本医疗保险筹资标准为830元/人,其中财政补助550元,个人缴费280元。
    d = decide_contribution(fuyang, ADULT, "general", None)
    assert (d.standard, d.subsidy, d.due) == (yuan("280"), ZERO, yuan("280"))
    assert fuyang.contribution.fiscal + fuyang.contribution.individual == yuan("830")


def test_yangcheng_fully_subsidises_tekun(yangcheng):
    # 002: 特困人员(含孤儿和事实无人抚养儿童)给予全额救助
    for identity in ("tekun", "orphan", "unsupported_child", "severe_disability", "entitled"):
        d = decide_contribution(yangcheng, ADULT, "general", identity)
        assert d.subsidy == yuan("320.00"), identity
        assert d.due == ZERO


def test_yangcheng_dibao_gets_80_percent_256_raised_to_the_floor_280(yangcheng):
    # 002: 低保对象按个人缴费标准 80%的比例给予定额资助(低于280元按280元资助)。
    d = decide_contribution(yangcheng, ADULT, "general", "dibao")
    assert yuan("320.00").times(Decimal("0.80")) == yuan("256.00")
    assert d.subsidy == yuan("280.00")
    assert d.due == yuan("40.00")


def test_yangcheng_at_risk_people_get_a_fixed_280(yangcheng):
    # 002: 易返贫致贫人口……个人缴费部分按每人每年 280 元标准定额资助
    d = decide_contribution(yangcheng, ADULT, "general", "at_risk")
    assert (d.subsidy, d.due) == (yuan("280.00"), yuan("40.00"))


def test_yangcheng_returned_to_poverty_gets_90_percent_288(yangcheng):
    # 002: 返贫致贫人口按个人缴费标准 90%的比例给予定额资助。
    d = decide_contribution(yangcheng, ADULT, "general", "returned_to_poverty")
    assert (d.subsidy, d.due) == (yuan("288.00"), yuan("32.00"))


def test_yangcheng_stably_lifted_people_get_no_subsidy_any_more(yangcheng):
    # 002: 稳定脱贫人口不再享受资助参保政策
    d = decide_contribution(yangcheng, ADULT, "general", "stably_lifted")
    assert (d.subsidy, d.due) == (ZERO, yuan("320.00"))


def test_a_subsidy_never_exceeds_the_standard(yangcheng):
    generous = attrs.evolve(yangcheng, subsidies=attrs.evolve(
        yangcheng.subsidies,
        rules=(SubsidyRule("at_risk", "fixed", amount=yuan("500.00")),
               SubsidyRule("dibao", "percent", percent=Decimal("50"),
                           floor=yuan("400.00")))))
    for identity in ("at_risk", "dibao"):
        d = decide_contribution(generous, ADULT, "general", identity)
        assert d.subsidy == yuan("320.00"), identity
        assert d.due == ZERO
    amount, basis, _ = subsidy_amount(generous, yuan("320.00"), "at_risk", ADULT)
    assert (amount, basis) == (yuan("320.00"), "at_risk")


def test_liandu_fully_subsidises_people_aged_90_and_over(liandu):
    # 000: ……优抚对象和 90 周岁以上人员,被纳入全额资助范围,个人应缴的医疗保险费 450 元也由政府承担。
    d = decide_contribution(liandu, date(1929, 12, 31), "general", None)
    assert (d.standard, d.subsidy, d.due) == (yuan("450"), yuan("450"), ZERO)
    assert d.subsidy_basis == "age_90"
    younger = decide_contribution(liandu, date(1930, 1, 2), "general", None)
    assert younger.subsidy == ZERO


def test_liandu_fully_subsidises_its_hardship_identities(liandu):
    for identity in ("disabled", "dibao", "dibao_edge", "tekun", "low_income", "entitled"):
        assert decide_contribution(liandu, ADULT, "general", identity).due == ZERO, identity


def test_liandu_pays_half_for_ethnic_minorities_225(liandu):
    # 000: 少数民族人员参保个人缴费部分由政府承担 50%。
    d = decide_contribution(liandu, ADULT, "general", "ethnic_minority")
    assert (d.subsidy, d.due) == (yuan("225.00"), yuan("225.00"))


def test_longquan_pays_430_jingning_440_and_the_other_lishui_counties_450(book):
    # 000: 莲都、庆元、云和、松阳、遂昌、青田、缙云的个人缴纳部分均为 450 元,
    # 龙泉为 430 元,景宁为 440 元
    expected = {"331181": "430.00", "331127": "440.00", "331102": "450.00", "331126": "450.00",
                "331125": "450.00", "331124": "450.00", "331123": "450.00", "331121": "450.00",
                "331122": "450.00"}
    for region, amount in expected.items():
        found = book.find(region, 2020)
        assert found is not None, region
        assert decide_contribution(found, ADULT, "general", None).due == yuan(amount), region


def test_at_most_one_subsidy_the_largest_of_identity_and_age(liandu):
    # 002: 对多重困难身份的人员只允许按一种身份参保,只享受一种资助,不能重复资助。
    old_minority = decide_contribution(liandu, date(1925, 1, 1), "general", "ethnic_minority")
    assert old_minority.subsidy == yuan("450.00")
    assert old_minority.subsidy_basis == "age_90"
    assert old_minority.due == ZERO
    young_minority = decide_contribution(liandu, ADULT, "general", "ethnic_minority")
    assert young_minority.subsidy_basis == "ethnic_minority"


def test_gaizhou_minors_pay_335_and_adults_445_by_age_on_1_january_2025(gaizhou):
    # 004: 2025年城乡居民医疗保险个人缴费标准为成(老)年人445元,未成年人335元。
    eighteen_on_new_year = decide_contribution(gaizhou, date(2007, 1, 1), "general", None)
    assert eighteen_on_new_year.standard == yuan("445.00")
    seventeen_on_new_year = decide_contribution(gaizhou, date(2007, 1, 2), "general", None)
    assert seventeen_on_new_year.standard == yuan("335.00")
    assert decide_contribution(gaizhou, date(1950, 1, 1), "general", None).due == yuan("445")


def test_gaizhou_dibao_edge_members_get_60_percent(gaizhou):
    # 004: 低保边缘家庭成员按其参加城乡居民医保个人缴费部分的60%给予定额资助。
    adult = decide_contribution(gaizhou, ADULT, "general", "dibao_edge")
    assert (adult.subsidy, adult.due) == (yuan("267.00"), yuan("178.00"))
    minor = decide_contribution(gaizhou, date(2015, 1, 1), "student", "dibao_edge")
    assert (minor.subsidy, minor.due) == (yuan("201.00"), yuan("134.00"))


def test_hunan_fully_subsidises_tekun_and_half_for_dibao(hunan):
    # 003: 特困供养、重残、孤儿、事实无人抚养儿童个人缴费部分国家全额补助,
    # 低保、监测、低保边缘户等人员个人缴费部分国家给予50%补助。
    assert decide_contribution(hunan, ADULT, "general", "tekun").due == ZERO
    for identity in ("dibao", "monitored", "dibao_edge"):
        assert decide_contribution(hunan, ADULT, "general", identity).due == yuan("190.00")


# --- collection windows and coverage start --------------------------------------------------


def facts(category: str = "general", birth: date = ADULT, identity: str | None = None,
          prior: bool = False, broken: int = 0, back_paid: int = 0) -> CoverageFacts:
    return CoverageFacts(category=category, birth_date=birth, identity=identity,
                         prior_insured=prior, broken_years=broken, back_paid_years=back_paid)


def test_yangcheng_accepts_payments_only_on_days_1_to_25(yangcheng):
    # 002: 集中征缴期为每年9月至12月,每月1-25 日可办理缴费
    assert accept_payment_day(yangcheng, date(2021, 10, 1), "general", ADULT, False)
    assert accept_payment_day(yangcheng, date(2021, 10, 25), "general", ADULT, False)
    for day in (date(2021, 10, 26), date(2021, 11, 30), date(2021, 8, 25)):
        assert reason_of(accept_payment_day, yangcheng, day, "general", ADULT,
                         False) == "outside_collection_window", day


def test_yangcheng_collection_ends_on_25_december_without_holiday_extension(yangcheng):
    # 002: 征缴期截止当年 12 月25日(节假日不顺延)
    assert accept_payment_day(yangcheng, date(2021, 12, 25), "general", ADULT, False)
    for day in (date(2021, 12, 26), date(2022, 1, 5)):
        assert reason_of(accept_payment_day, yangcheng, day, "general", ADULT,
                         True) == "outside_collection_window"


def test_gaizhou_payment_in_the_window_covers_from_1_january_2025(gaizhou):
    # 004: 在集中缴费期参保……自缴费年度1月1日起享受待遇
    accepted = accept_payment_day(gaizhou, date(2024, 11, 15), "general", ADULT, False)
    assert accepted.period == "centralized"
    d = coverage_start(gaizhou, facts(), date(2024, 11, 15))
    assert (d.covered_from, d.waiting_months) == (date(2025, 1, 1), 0)


def test_gaizhou_students_paying_in_their_window_are_covered_from_1_september_2024(gaizhou):
    # 004: 在校生参保缴费起始时间为9月1日至10月31日,参保当年9月1日至12月31日视同缴费。
    student = date(2010, 5, 1)
    assert accept_payment_day(gaizhou, date(2024, 9, 20), "student", student, False)
    d = coverage_start(gaizhou, facts("student", student), date(2024, 9, 20))
    assert d.covered_from == date(2024, 9, 1)


@pytest.mark.parametrize(
    ("broken", "back_paid", "months", "covered_from"),
    [
        (0, 0, 3, date(2025, 5, 10)),   # 固定待遇等待期3个月
        (2, 0, 5, date(2025, 7, 10)),   # 每多断1年……增加变动等待期1个月
        (2, 1, 4, date(2025, 6, 10)),   # 每多补断缴1年可减少1个月变动等待期
        (5, 5, 6, date(2025, 8, 10)),   # 连续断缴4年及以上的……之和不少于6个月
        (4, 0, 7, date(2025, 9, 10)),
        (1, 3, 3, date(2025, 5, 10)),   # back-payment never shortens the fixed wait
    ],
)
def test_gaizhou_late_payers_wait_3_months_plus_1_per_broken_year(gaizhou, broken, back_paid,
                                                                    months, covered_from):
    # 004: 缴费期结束后除新生儿等特殊群体外,再缴费的城乡居民将生成固定待遇等待期3个月,其中未连续
    # 缴费每多断1年,在固定等待期基础上增加变动等待期1个月……每多补断缴1年可减少1个月变动等待期。
    assert waiting_months(gaizhou, broken, back_paid)[0] == months
    paid = date(2025, 2, 10)
    assert accept_payment_day(gaizhou, paid, "general", ADULT, True).period == "late"
    d = coverage_start(gaizhou, facts(prior=True, broken=broken, back_paid=back_paid), paid)
    assert (d.waiting_months, d.covered_from) == (months, covered_from)


def test_gaizhou_exempt_identities_are_covered_from_the_late_payment_date(gaizhou):
    d = coverage_start(gaizhou, facts(identity="dibao", broken=5), date(2025, 2, 10))
    assert (d.covered_from, d.waiting_months) == (date(2025, 2, 10), 0)


def test_gaizhou_newborn_paid_within_3_months_is_covered_from_birth(gaizhou):
    # 004: 新生儿出生即可缴费……出生三个月内缴费不设等待期
    born = date(2025, 3, 10)
    assert accept_payment_day(gaizhou, date(2025, 6, 10), "newborn", born, False)
    d = coverage_start(gaizhou, facts("newborn", born), date(2025, 6, 10))
    assert (d.covered_from, d.waiting_months) == (born, 0)


def test_gaizhou_newborn_paid_at_5_months_is_covered_from_the_payment_date(gaizhou):
    # 004: 三个月至一年内参保自缴费到账之日起享受待遇。
    born = date(2025, 3, 10)
    paid = date(2025, 8, 10)
    assert accept_payment_day(gaizhou, paid, "newborn", born, False).period == "newborn"
    d = coverage_start(gaizhou, facts("newborn", born), paid)
    assert (d.covered_from, d.waiting_months) == (paid, 0)


def test_gaizhou_newborn_payment_for_2025_after_the_benefit_year_is_refused(gaizhou):
    # From the payment date in 2026 there is nothing left of benefit year 2025 to cover.
    born = date(2025, 7, 1)
    paid = date(2026, 3, 1)
    assert reason_of(accept_payment_day, gaizhou, paid, "newborn", born,
                     False) == "outside_collection_window"


def test_fuyang_newborn_paid_within_3_months_is_covered_from_birth(fuyang):
    # 001: 新生儿自出生之日起3个月内参保缴费的,自出生之日起享受当年居民医保待遇。
    born = date(2021, 4, 20)
    paid = date(2021, 7, 20)
    assert accept_payment_day(fuyang, paid, "newborn", born, False).period == "newborn"
    assert coverage_start(fuyang, facts("newborn", born), paid).covered_from == born
    assert reason_of(accept_payment_day, fuyang, date(2021, 7, 21), "newborn", born,
                     False) == "outside_collection_window"


def test_yangcheng_newborns_pay_nothing_and_are_covered_from_birth(yangcheng):
    # 002: 新生儿出生当年……当年不缴费,自出生之日起享受当年的城乡居民医保待遇。
    born = date(2022, 5, 3)
    d = decide_contribution(yangcheng, born, "newborn", None)
    assert (d.standard, d.due) == (ZERO, ZERO)
    check_enrollment_day(yangcheng, date(2022, 11, 30), "newborn", born, False)
    assert coverage_start(yangcheng, facts("newborn", born), date(2022, 11, 30)
                          ).covered_from == born


def test_hunan_continuing_enrollee_paying_on_15_january_is_covered_from_that_day(hunan):
    # 003: 2024年1月1日至2024年2月29日期间续缴的,从缴费之日起享受居民医保待遇。
    paid = date(2024, 1, 15)
    assert accept_payment_day(hunan, paid, "general", ADULT, True).period == "late"
    assert coverage_start(hunan, facts(prior=True), paid).covered_from == paid
    in_window = coverage_start(hunan, facts(prior=True), date(2023, 12, 1))
    assert in_window.covered_from == date(2024, 1, 1)


def test_hunan_new_enrollee_paying_on_15_january_is_outside_the_window(hunan):
    assert reason_of(accept_payment_day, hunan, date(2024, 1, 15), "general", ADULT,
                     False) == "outside_collection_window"


def test_hunan_payment_on_1_march_2024_is_outside_the_window(hunan):
    assert reason_of(accept_payment_day, hunan, date(2024, 3, 1), "general", ADULT,
                     True) == "outside_collection_window"


def test_fuyang_returning_migrant_workers_may_pay_until_28_february_2021(fuyang):
    # 001: 集中缴费期于2020年12月31日结束,春节返乡的外出务工人员,可以延长至2021年2月28日。
    day = date(2021, 2, 28)
    accepted = accept_payment_day(fuyang, day, "returning_migrant_worker", ADULT, False)
    assert accepted.window is not None
    d = coverage_start(fuyang, facts("returning_migrant_worker"), day)
    assert d.covered_from == date(2021, 1, 1)
    assert reason_of(accept_payment_day, fuyang, day, "general", ADULT,
                     True) == "outside_collection_window"
    assert reason_of(accept_payment_day, fuyang, date(2021, 3, 1), "returning_migrant_worker",
                     ADULT, True) == "outside_collection_window"
    assert accept_payment_day(fuyang, date(2020, 12, 31), "general", ADULT, False)


def test_fuyang_enrollment_after_the_last_payable_day_is_refused(fuyang):
    assert reason_of(check_enrollment_day, fuyang, date(2021, 1, 5), "general",
                     ADULT, True) == "outside_collection_window"
    check_enrollment_day(fuyang, date(2021, 1, 5), "returning_migrant_worker", ADULT, False)


def test_hunan_enrollment_in_january_is_open_only_to_continuing_enrollees(hunan):
    # 003: 2024年1月1日至2024年2月29日期间续缴的,从缴费之日起享受居民医保待遇。
    check_enrollment_day(hunan, date(2024, 1, 15), "general", ADULT, True)
    assert reason_of(check_enrollment_day, hunan, date(2024, 1, 15), "general",
                     ADULT, False) == "outside_collection_window"


# --- refunds --------------------------------------------------------------------------------


def state(paid: str = "280.00", refunded: str = "0", due: str = "280.00",
          granted: date | None = None) -> RefundState:
    return RefundState(paid=yuan(paid), refunded=yuan(refunded), due=yuan(due),
                       subsidy_granted_on=granted)


def test_fuyang_subsidy_granted_before_31_december_makes_the_payment_refundable(fuyang):
    # 001: 在2020年12月31日前获得资助参保资格的,可向参保地居民医保经办机构申请为个人办理退费。
    s = state(due="140.00", granted=date(2020, 12, 31))
    d = decide_refund(fuyang, "subsidy_eligibility", date(2021, 1, 10), None, s)
    assert (d.amount, d.terminates) == (yuan("140.00"), False)


def test_fuyang_subsidy_granted_from_1_january_is_not_refunded(fuyang):
    # 001: 2021年1月1日后获得资助参保资格的,原则上个人缴费不再退回。
    s = state(due="140.00", granted=date(2021, 1, 1))
    assert reason_of(decide_refund, fuyang, "subsidy_eligibility", date(2021, 1, 2), None,
                     s) == "refund_window_closed"


def test_fuyang_duplicate_payment_refund_after_the_deadline_is_refused(fuyang):
    # 001: 已经重复缴费的,可在2020年12月31日前……申请办理个人退费。
    s = state(paid="560.00")
    assert decide_refund(fuyang, "duplicate_payment", date(2020, 12, 31), None,
                         s).amount == yuan("280.00")
    assert reason_of(decide_refund, fuyang, "duplicate_payment", date(2021, 1, 1), None,
                     s) == "refund_window_closed"


def test_a_refund_above_the_credit_is_refused(fuyang):
    s = state(paid="300.00")
    assert reason_of(decide_refund, fuyang, "duplicate_payment", date(2020, 12, 1),
                     yuan("20.01"), s) == "refund_exceeds_paid"
    assert decide_refund(fuyang, "duplicate_payment", date(2020, 12, 1), yuan("20.00"),
                         s).amount == yuan("20.00")


def test_a_refund_with_nothing_refundable_is_refused(fuyang):
    assert reason_of(decide_refund, fuyang, "duplicate_payment", date(2020, 12, 1), None,
                     state()) == "nothing_to_refund"
    assert reason_of(decide_refund, fuyang, "subsidy_eligibility", date(2020, 12, 1), None,
                     state(paid="300.00")) == "nothing_to_refund"
    assert reason_of(decide_refund, fuyang, "duplicate_payment", date(2020, 12, 1), None,
                     state(paid="300.00", refunded="20.00")) == "nothing_to_refund"


def test_a_duplicate_enrollment_refunds_all_net_payments_and_terminates(fuyang):
    # 001: 已经重复缴费的,可在2020年12月31日前,到参保地居民医保经办机构终止相关参保关系
    d = decide_refund(fuyang, "duplicate_enrollment", date(2020, 12, 20), None,
                      state(paid="300.00", refunded="20.00"))
    assert (d.amount, d.terminates) == (yuan("280.00"), True)
    assert reason_of(decide_refund, fuyang, "duplicate_enrollment", date(2021, 1, 1), None,
                     state()) == "refund_window_closed"


def test_yangcheng_refund_requested_after_25_december_is_refused(yangcheng):
    # 002: 符合退费政策的缴费人……必须要在集中征缴期内及时申请
    s = state(paid="320.00", due="40.00", granted=date(2021, 12, 1))
    ok = decide_refund(yangcheng, "subsidy_eligibility", date(2021, 12, 25), None, s)
    assert ok.amount == yuan("280.00")
    assert reason_of(decide_refund, yangcheng, "subsidy_eligibility", date(2021, 12, 26), None,
                     s) == "refund_window_closed"


# --- payers and channels (001) ----------------------------------------------------------------

DAY = date(2020, 10, 1)


def test_fuyang_subsidised_people_cannot_pay_online(fuyang):
    # 001: 享受分类资助政策的群众暂不支持线上缴费。
    assert reason_of(check_channel, fuyang, "wechat", True, ADULT, DAY,
                     True) == "channel_not_allowed"
    check_channel(fuyang, "bank_counter", True, ADULT, DAY, True)
    check_channel(fuyang, "wechat", True, ADULT, DAY, False)


def test_fuyang_a_proxy_cannot_pay_online_for_a_30_year_old(fuyang):
    # 001: 18-50周岁必须激活,本人缴费,不能由他人代缴费
    thirty = date(1990, 1, 1)
    assert reason_of(check_channel, fuyang, "wechat", False, thirty, DAY,
                     False) == "channel_not_allowed"
    check_channel(fuyang, "wechat", True, thirty, DAY, False)
    check_channel(fuyang, "cash", False, thirty, DAY, False)


def test_fuyang_a_proxy_may_pay_online_for_a_10_year_old(fuyang):
    # 001: 儿童、老人等人群,可由家人……通过代缴的方式进行"线上缴费"。
    check_channel(fuyang, "wechat", False, date(2010, 1, 1), DAY, False)
    check_channel(fuyang, "wechat", False, date(1940, 1, 1), DAY, False)
