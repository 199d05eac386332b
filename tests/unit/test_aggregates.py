"""Given events, when a command, then events: LedgerService over an in-memory port."""

from __future__ import annotations

from datetime import date

import pytest

from domain.aggregates import Household, Person
from domain.errors import Rejected
from domain.money import Money
from tests.support.builders import make_id
from tests.support.fakes import World

FUNAN = "341225"
LINQUAN = "341221"
A = make_id(FUNAN, "19800101", 1)
B = make_id(FUNAN, "19820202", 3)
C = make_id(FUNAN, "20100303", 5)
D = make_id(FUNAN, "19500404", 7)
OUTSIDER = make_id(LINQUAN, "19850505", 9)


def names(events) -> list[str]:
    return [type(e).__qualname__ for e in events]


def claim_cmd(claim_id: str, person: str, expense: str, **extra) -> dict:
    cmd = dict(op="claim", claim_id=claim_id, person=person, visit_date="2021-03-01",
               facility_level=1, facility_region=FUNAN, expense=expense,
               at="2021-03-01T10:00:00+08:00")
    cmd.update(extra)
    return cmd


@pytest.fixture
def family(world: World) -> World:
    """A Funan household of four, all paid in the window (covered from 1 Jan 2021)."""
    world.member(A)
    for member in (B, C, D):
        world.member(member, head=A)
    return world


# --- events of the main flow -----------------------------------------------------------------


def test_register_records_who_the_person_is(world):
    events = world.events(op="register", person=A, name="张三", region=FUNAN,
                          at="2020-09-01")
    assert names(events) == ["Person.Registered"]
    registered = events[0]
    assert registered.birth_date == date(1980, 1, 1)
    assert registered.sex == "male"
    assert registered.region == FUNAN
    assert registered.number == A


def test_register_then_enroll_forms_a_household_the_person_joins(world):
    world.register(A)
    events = world.events(op="enroll", person=A, year=2021, region=FUNAN, at="2020-09-10")
    assert names(events) == ["Person.Enrolled", "Household.Formed", "Household.MemberJoined"]
    formed, joined = events[1], events[2]
    assert (formed.head, formed.year, formed.region) == (A, 2021, FUNAN)
    assert joined.person == A


def test_a_member_enrolling_under_a_head_joins_the_heads_household(world):
    world.member(A)
    world.register(B)
    events = world.events(op="enroll", person=B, year=2021, region=FUNAN, at="2020-09-11",
                          household_head=A)
    assert names(events) == ["Person.Enrolled", "Household.MemberJoined"]
    assert events[0].household_head == A
    assert events[1].originator_id == world.port.household(A, 2021).id


def test_paying_the_due_records_the_payment_claims_the_reference_and_covers_the_member(world):
    world.register(A)
    world.enroll(A)
    events = world.events(op="pay", person=A, year=2021, amount="280.00", channel="cash",
                          payment_ref="TAX-1", at="2020-10-01")
    assert names(events) == ["Person.ContributionPaid", "PaymentRef.Claimed",
                             "Household.MemberCovered"]
    paid, ref, covered = events
    assert paid.covered_from == date(2021, 1, 1)
    assert (paid.amount, paid.paid_total, paid.credit) == (Money(28000), Money(28000), Money(0))
    assert ref.payment_ref == "TAX-1"
    assert (covered.person, covered.covered_from, covered.covered_to) == (
        A, date(2021, 1, 1), date(2021, 12, 31))


def test_a_partial_payment_covers_no_one_until_the_due_is_complete(world):
    world.register(A)
    world.enroll(A)
    first = world.pay(A, amount="100.00", ref="p1")
    assert first["covered_from"] is None
    assert first["paid_total"] == "100.00"
    second_events = world.events(op="pay", person=A, year=2021, amount="200.00",
                                 channel="cash", payment_ref="p2", at="2020-11-01")
    assert "Household.MemberCovered" in names(second_events)
    assert second_events[0].credit == Money(2000)


def test_an_overpayment_becomes_a_refundable_credit(world):
    world.register(A)
    world.enroll(A)
    result = world.pay(A, amount="300.00")
    assert (result["due"], result["paid_total"], result["credit"]) == ("280.00", "300.00",
                                                                         "20.00")
    refund = world.ok(op="refund", person=A, year=2021, reason="duplicate_payment",
                      at="2020-12-01")
    assert refund["refunded"] == "20.00"
    assert refund["covered_from"] == "2021-01-01"


def test_a_fully_subsidised_enrollee_is_covered_at_enrollment(world):
    world.register(A)
    result = world.enroll(A, identity="tekun")
    assert (result["due"], result["subsidy"], result["covered_from"]) == ("0.00", "280.00",
                                                                          "2021-01-01")


def test_the_head_must_pay_first(world):
    world.register(A)
    world.enroll(A)
    world.register(B)
    assert world.reject(op="enroll", person=B, year=2021, region=FUNAN, at="2020-09-11",
                        household_head=A) == "head_not_enrolled"


def test_a_subsidy_granted_after_payment_makes_the_excess_refundable(world):
    world.member(A)
    events = world.events(op="grant_subsidy", person=A, year=2021, identity="dibao",
                          at="2020-12-20")
    assert names(events) == ["Person.SubsidyGranted"]
    assert (events[0].due, events[0].credit) == (Money(14000), Money(14000))
    result = world.ok(op="refund", person=A, year=2021, reason="subsidy_eligibility",
                      at="2021-01-10")
    assert (result["refunded"], result["credit"]) == ("140.00", "0.00")


def test_a_duplicate_enrollment_refund_terminates_and_the_member_leaves(family):
    events = family.events(op="refund", person=B, year=2021, reason="duplicate_enrollment",
                           at="2020-12-01")
    assert names(events) == ["Person.Refunded", "Household.MemberLeft"]
    assert events[0].terminated is True
    assert events[0].amount == Money(28000)
    household = family.port.household(A, 2021)
    assert B not in household.covered_members()
    assert family.ok(**claim_cmd("after", A, "5000.00"))["pool_cap"] == "750.00"
    assert family.reject(**claim_cmd("b", B, "10.00")) == "not_enrolled"


def test_a_gaizhou_student_is_covered_from_1_september_of_the_enrollment_year(world, book):
    student = make_id("210881", "20100101", 1)
    world.register(student, region="210881", at="2024-08-01")
    world.enroll(student, year=2025, region="210881", at="2024-09-02", category="student")
    result = world.pay(student, amount="335.00", year=2025, at="2024-09-20")
    assert result["covered_from"] == "2024-09-01"
    claim = world.ok(op="claim", claim_id="g1", person=student, visit_date="2024-10-15",
                     facility_level=0, facility_region="210881", expense="100.00",
                     at="2024-10-15")
    assert claim["reimbursed"] == "55.00"
    assert claim["rule"] == book.find("210881", 2025).ref  # the version in force


def test_a_gaizhou_late_payer_waits_3_months_plus_one_per_broken_year(world):
    person = make_id("210881", "19800101", 1)
    world.register(person, region="210881", at="2024-08-01")
    world.enroll(person, year=2025, region="210881", at="2025-02-01", broken_years=2,
                 insured_before=True)
    result = world.pay(person, amount="445.00", year=2025, at="2025-02-10")
    assert result["covered_from"] == "2025-07-10"


def test_a_fuyang_newborn_paid_within_3_months_is_covered_from_birth(world):
    baby = make_id(FUNAN, "20210420", 2)
    world.register(baby, at="2021-05-01")
    world.enroll(baby, at="2021-05-01", category="newborn")
    assert world.pay(baby, at="2021-07-20")["covered_from"] == "2021-04-20"


def test_a_hunan_new_enrollee_cannot_enroll_after_the_window_closed(world):
    # Only continuing enrollees may still pay in Jan-Feb 2024; a new enrollee never could.
    person = make_id("430102", "19800101", 1)
    world.register(person, region="430102", at="2023-01-01")
    assert world.reject(op="enroll", person=person, year=2024, region="430102",
                        at="2024-01-15") == "outside_collection_window"


def test_a_hunan_continuing_enrollee_paying_in_january_is_covered_from_that_day(world):
    person = make_id("430102", "19800101", 1)
    world.register(person, region="430102", at="2023-01-01")
    world.enroll(person, year=2024, region="430102", at="2024-01-15", insured_before=True)
    assert world.pay(person, amount="380.00", year=2024,
                     at="2024-01-15")["covered_from"] == "2024-01-15"


# --- deciding events carry their facts and rule ------------------------------------------------


def test_every_deciding_event_carries_the_policy_and_the_facts_it_used(family, book):
    in_force = ("fuyang-2021", book.find(FUNAN, 2021).version)
    person_events = [e for e in family.port.events if isinstance(e, Person.Enrolled)]
    enrolled = person_events[0]
    assert (enrolled.policy_id, enrolled.policy_version) == in_force
    assert enrolled.birth_date == date(1980, 1, 1)
    assert enrolled.category == "general"
    assert enrolled.identity is None
    assert enrolled.broken_years == 0
    assert enrolled.back_paid_years == 0
    assert enrolled.prior_insured is False
    assert (enrolled.standard, enrolled.subsidy, enrolled.due) == (Money(28000), Money(0),
                                                                   Money(28000))
    assert enrolled.explanation

    paid = [e for e in family.port.events if isinstance(e, Person.ContributionPaid)][0]
    assert (paid.policy_id, paid.policy_version) == in_force
    assert (paid.channel, paid.payer, paid.payer_relation) == ("cash", A, "self")
    assert paid.accepted_in == "centralized"

    events = family.events(**claim_cmd("c1", A, "100.00"))
    settled = [e for e in events if isinstance(e, Household.OutpatientClaimSettled)][0]
    assert (settled.policy_id, settled.policy_version) == in_force
    assert settled.expense == Money(10000)
    assert settled.visit_date == date(2021, 3, 1)
    assert settled.facility_level == 1
    assert settled.facility_region == FUNAN
    assert settled.cause == "ordinary"
    assert settled.pooling == "household"
    assert settled.reimbursed == Money(5500)
    assert settled.pool_cap == Money(100000)
    assert settled.pool_used_before == Money(0)
    assert settled.explanation

    granted = family.events(op="grant_subsidy", person=B, year=2021, identity="dibao",
                            at="2020-12-01")[0]
    assert (granted.policy_id, granted.policy_version) == in_force
    assert granted.identity == "dibao"

    refunded = family.events(op="refund", person=B, year=2021, reason="subsidy_eligibility",
                             at="2020-12-02")[0]
    assert (refunded.policy_id, refunded.policy_version) == in_force
    assert refunded.reason == "subsidy_eligibility"


def test_the_claim_result_names_the_rule_and_the_pool(family, book):
    result = family.ok(**claim_cmd("c1", A, "100.00"))
    assert result == {
        "eligible_expense": "100.00", "reimbursable": "55.00", "reimbursed": "55.00",
        "pool_cap": "1000.00", "pool_used_before": "0.00", "pool_remaining_after": "945.00",
        "rule": book.find(FUNAN, 2021).ref,
    }


# --- rejected commands record nothing --------------------------------------------------------

REJECTIONS = {
    "already_registered": dict(op="register", person=A, name="x", region=FUNAN,
                               at="2020-09-01"),
    "already_enrolled": dict(op="enroll", person=A, year=2021, region=FUNAN, at="2020-10-01"),
    "enrolled_elsewhere": dict(op="enroll", person=B, year=2021, region=LINQUAN,
                               at="2020-10-01"),
    "duplicate_payment_ref": dict(op="pay", person=A, year=2021, amount="1.00",
                                  channel="cash", payment_ref="used", at="2020-10-01"),
    "outside_collection_window": dict(op="pay", person=A, year=2021, amount="1.00",
                                      channel="cash", payment_ref="late", at="2021-01-05"),
    "facility_not_eligible": claim_cmd("c-level2", A, "100.00", facility_level=2),
    "out_of_county": claim_cmd("c-out", A, "100.00", facility_region=LINQUAN),
    "excluded_cause": claim_cmd("c-injury", A, "100.00", cause="work_injury"),
    "duplicate_claim_conflict": claim_cmd("c-first", A, "999.00"),
    "refund_exceeds_paid": dict(op="refund", person=A, year=2021, reason="duplicate_payment",
                                amount="50.00", at="2020-12-01"),
    "subsidy_already_granted": dict(op="grant_subsidy", person=B, year=2021, identity="tekun",
                                    at="2020-12-01"),
}


@pytest.mark.parametrize("reason", sorted(REJECTIONS))
def test_a_rejected_command_leaves_no_pending_events_and_no_new_versions(world, reason):
    world.member(A)
    world.member(B, head=A, identity="dibao", amount="140.00")
    world.pay(A, amount="1.00", ref="used")
    world.claim("c-first", A, "100.00")
    before_versions = world.port.versions()
    before_events = len(world.port.events)
    assert world.reject(**REJECTIONS[reason]) == reason
    assert world.port.pending() == []
    assert world.port.versions() == before_versions
    assert len(world.port.events) == before_events


# --- one test per reason code -------------------------------------------------------------------


def test_unknown_person(world):
    assert world.reject(op="pay", person=A, year=2021, amount="280.00", channel="cash",
                        payment_ref="x", at="2020-10-01") == "unknown_person"
    assert world.reject(op="enroll", person=A, year=2021, region=FUNAN,
                        at="2020-10-01") == "unknown_person"
    assert world.reject(**claim_cmd("c", A, "1.00")) == "unknown_person"


def test_already_registered(world):
    world.register(A)
    assert world.reject(op="register", person=A, name="again", region=FUNAN,
                        at="2020-09-02") == "already_registered"


def test_unknown_region(world):
    assert world.reject(op="register", person=make_id("110101", "19800101", 1), name="x",
                        region="110101", at="2020-09-01") == "unknown_region"
    world.register(A)
    assert world.reject(op="enroll", person=A, year=2021, region="110101",
                        at="2020-09-10") == "unknown_region"


def test_no_policy(world):
    world.register(A)
    assert world.reject(op="enroll", person=A, year=2022, region=FUNAN,
                        at="2021-10-01") == "no_policy"


def test_employee_insured_person_cannot_enroll(world):
    world.register(A)
    world.ok(op="report_employee_insurance", person=A, year=2021, at="2020-08-01")
    assert world.reject(op="enroll", person=A, year=2021, region=FUNAN,
                        at="2020-09-10") == "employee_insured"


def test_employee_insured_member_reported_after_enrolling_cannot_claim(family):
    events = family.events(op="report_employee_insurance", person=B, year=2021,
                           at="2021-02-01")
    assert names(events) == ["Person.EmployeeInsuranceReported", "Household.MemberSuspended"]
    assert family.reject(**claim_cmd("b1", B, "100.00")) == "employee_insured"
    assert family.ok(**claim_cmd("a1", A, "5000.00"))["pool_cap"] == "750.00"


def test_already_enrolled(world):
    world.register(A)
    world.enroll(A)
    assert world.reject(op="enroll", person=A, year=2021, region=FUNAN,
                        at="2020-09-20") == "already_enrolled"


def test_enrolled_elsewhere(world):
    world.register(A)
    world.enroll(A)
    assert world.reject(op="enroll", person=A, year=2021, region=LINQUAN,
                        at="2020-09-20") == "enrolled_elsewhere"


def test_not_enrolled(world):
    world.register(A)
    assert world.reject(op="pay", person=A, year=2021, amount="280.00", channel="cash",
                        payment_ref="x", at="2020-10-01") == "not_enrolled"
    assert world.reject(**claim_cmd("c", A, "10.00")) == "not_enrolled"
    assert world.reject(op="refund", person=A, year=2021, reason="other",
                        at="2020-10-01") == "not_enrolled"
    assert world.reject(op="grant_subsidy", person=A, year=2021, identity="dibao",
                        at="2020-10-01") == "not_enrolled"


def test_outside_collection_window(world):
    world.register(A)
    assert world.reject(op="enroll", person=A, year=2021, region=FUNAN,
                        at="2021-01-05") == "outside_collection_window"
    world.enroll(A, at="2020-12-01")
    assert world.reject(op="pay", person=A, year=2021, amount="280.00", channel="cash",
                        payment_ref="x", at="2021-01-05") == "outside_collection_window"


def test_head_not_enrolled(world):
    world.register(A)
    world.register(B)
    assert world.reject(op="enroll", person=B, year=2021, region=FUNAN, at="2020-09-10",
                        household_head=A) == "head_not_enrolled"
    assert world.reject(op="enroll", person=B, year=2021, region=FUNAN, at="2020-09-10",
                        household_head=C) == "head_not_enrolled"
    world.enroll(A)
    world.pay(A)
    world.register(C)
    world.enroll(C, household_head=A)
    assert world.reject(op="enroll", person=B, year=2021, region=FUNAN, at="2020-09-10",
                        household_head=C) == "head_not_enrolled"


def test_head_region_mismatch(world):
    world.member(A)
    world.register(OUTSIDER, region=LINQUAN)
    assert world.reject(op="enroll", person=OUTSIDER, year=2021, region=LINQUAN,
                        at="2020-09-10", household_head=A) == "head_region_mismatch"


def test_duplicate_payment_ref(world):
    world.register(A)
    world.enroll(A)
    world.pay(A, amount="100.00", ref="TAX-1")
    assert world.reject(op="pay", person=A, year=2021, amount="180.00", channel="cash",
                        payment_ref="TAX-1", at="2020-10-02") == "duplicate_payment_ref"


def test_not_covered_on_date(world):
    world.register(A)
    world.enroll(A)
    assert world.reject(**claim_cmd("c", A, "10.00")) == "not_covered_on_date"


def test_facility_not_eligible(family):
    assert family.reject(**claim_cmd("c", A, "10.00", facility_level=2)) == (
        "facility_not_eligible")


def test_out_of_county(family):
    assert family.reject(**claim_cmd("c", A, "10.00", facility_region=LINQUAN)) == (
        "out_of_county")


def test_excluded_cause(family):
    assert family.reject(**claim_cmd("c", A, "10.00", cause="third_party")) == (
        "excluded_cause")


def test_duplicate_claim_conflict(family):
    family.claim("c1", A, "100.00")
    assert family.reject(**claim_cmd("c1", A, "100.01")) == "duplicate_claim_conflict"
    assert family.reject(**claim_cmd("c1", B, "100.00")) == "duplicate_claim_conflict"
    assert family.reject(**claim_cmd("c1", A, "100.00", visit_date="2021-03-02")) == (
        "duplicate_claim_conflict")


def test_a_reversal_before_its_claim_is_recorded_and_the_claim_when_it_comes_is_refused(
        family):
    withdrawn = family.handle(dict(op="reverse_claim", claim_id="c9", reason="clinic never "
                                   "learned the outcome", at="2021-03-01"))
    assert withdrawn[0].fields == {"restored": "0.00", "claim_id": "c9", "withdrawn": True}
    assert names(withdrawn[1]) == ["ClaimRef.Withdrawn"]
    before = len(family.port.events)
    assert family.reject(**claim_cmd("c9", A, "100.00")) == "claim_reversed"
    assert family.reject(op="quote", **{k: v for k, v in claim_cmd("c9", A, "100.00").items()
                                        if k != "op"}) == "claim_reversed"
    assert family.reject(op="reverse_claim", claim_id="c9", reason="again",
                         at="2021-03-02") == "already_reversed"
    assert len(family.port.events) == before
    assert family.port.household(A, 2021).used() == Money(0)


def test_already_reversed(family):
    family.claim("c1", A, "100.00")
    family.ok(op="reverse_claim", claim_id="c1", reason="error", at="2021-03-02")
    assert family.reject(op="reverse_claim", claim_id="c1", reason="error",
                         at="2021-03-03") == "already_reversed"


def test_refund_window_closed(world):
    world.member(A)
    world.pay(A, amount="280.00", at="2020-12-01")
    assert world.reject(op="refund", person=A, year=2021, reason="duplicate_payment",
                        at="2021-01-05") == "refund_window_closed"
    world.ok(op="grant_subsidy", person=A, year=2021, identity="dibao", at="2021-01-02")
    assert world.reject(op="refund", person=A, year=2021, reason="subsidy_eligibility",
                        at="2021-01-05") == "refund_window_closed"


def test_nothing_to_refund(family):
    assert family.reject(op="refund", person=A, year=2021, reason="duplicate_payment",
                         at="2020-12-01") == "nothing_to_refund"
    assert family.reject(op="refund", person=A, year=2021, reason="subsidy_eligibility",
                         at="2020-12-01") == "nothing_to_refund"
    family.ok(op="refund", person=B, year=2021, reason="duplicate_enrollment", at="2020-12-01")
    assert family.reject(op="refund", person=B, year=2021, reason="other",
                         at="2020-12-02") == "nothing_to_refund"


def test_refund_exceeds_paid(world):
    world.member(A)
    world.pay(A, amount="30.00")
    assert world.reject(op="refund", person=A, year=2021, reason="duplicate_payment",
                        amount="30.01", at="2020-12-01") == "refund_exceeds_paid"
    assert world.ok(op="refund", person=A, year=2021, reason="duplicate_payment",
                    amount="30.00", at="2020-12-01")["refunded"] == "30.00"


def test_invalid_input_from_the_contract_form(world):
    assert world.reject(op="pay", person=A, year=2021, amount=280.0, channel="cash",
                        payment_ref="x", at="2020-10-01") == "invalid_input"
    assert world.reject(op="enroll", person=A, year=2021, region=FUNAN, at="2020-09-10",
                        colour="red") == "invalid_input"


def test_invalid_input_from_facts_that_contradict_the_register(world):
    assert world.reject(op="register", person=A, name="x", region=FUNAN, at="2020-09-01",
                        birth_date="1980-01-02") == "invalid_input"
    world.register(A)
    assert world.reject(op="enroll", person=A, year=2021, region=FUNAN, at="2020-09-10",
                        category="newborn") == "invalid_input"


def test_invalid_id_for_a_birth_date_after_registration(world):
    unborn = make_id(FUNAN, "20210501", 1)
    assert world.reject(op="register", person=unborn, name="x", region=FUNAN,
                        at="2020-09-01") == "invalid_id"


def test_invalid_id_for_a_wrong_check_character(world):
    wrong = A[:-1] + ("1" if A[-1] != "1" else "2")
    assert world.reject(op="register", person=wrong, name="x", region=FUNAN,
                        at="2020-09-01") == "invalid_id"


def test_a_document_holder_needs_a_birth_date(world):
    assert world.reject(op="register", person="HK1234567", id_type="other", name="x",
                        region=FUNAN, at="2020-09-01") == "invalid_input"
    world.ok(op="register", person="HK1234567", id_type="other", name="x", region=FUNAN,
             at="2020-09-01", birth_date="1990-01-01")
    assert world.port.person("doc:HK1234567").birth_date == date(1990, 1, 1)


def test_subsidy_already_granted(world):
    world.register(A)
    world.enroll(A, identity="dibao")
    assert world.reject(op="grant_subsidy", person=A, year=2021, identity="tekun",
                        at="2020-10-01") == "subsidy_already_granted"


def test_channel_not_allowed_for_subsidised_online_payment(world):
    world.register(A)
    world.enroll(A, identity="dibao")
    assert world.reject(op="pay", person=A, year=2021, amount="140.00", channel="wechat",
                        payment_ref="w1", at="2020-10-01") == "channel_not_allowed"
    assert world.pay(A, amount="140.00", channel="bank_counter")["covered_from"] == (
        "2021-01-01")


def test_channel_not_allowed_for_a_proxy_paying_online_for_an_adult(world):
    world.member(A)
    world.register(B)
    world.enroll(B, household_head=A)
    assert world.reject(op="pay", person=B, year=2021, amount="280.00", channel="alipay",
                        payment_ref="p", payer=A, payer_relation="spouse",
                        at="2020-10-01") == "channel_not_allowed"
    world.register(C)
    world.enroll(C, household_head=A)
    assert world.pay(C, channel="alipay", payer=A, payer_relation="parent")["covered_from"] == (
        "2021-01-01")


# --- claims: idempotency, quotes, reversal -------------------------------------------------------


def test_resending_an_identical_claim_returns_the_original_figures_and_records_nothing(family):
    first = family.ok(**claim_cmd("c1", A, "300.00"))
    family.claim("c2", B, "200.00")
    events_before = len(family.port.events)
    versions_before = family.port.versions()
    outcome, events = family.handle(claim_cmd("c1", A, "300.00"))
    assert events == []
    assert outcome.changed == ()
    again = dict(outcome.fields)
    assert again.pop("duplicate") is True
    assert again == first
    assert len(family.port.events) == events_before
    assert family.port.versions() == versions_before


def test_a_quote_answers_like_the_claim_but_records_nothing(family):
    quote = dict(claim_cmd("q1", A, "300.00"), op="quote")
    outcome, events = family.handle(quote)
    assert events == [] and outcome.changed == ()
    assert family.port.claim_ref("q1") is None
    claim = family.ok(**claim_cmd("q1", A, "300.00"))
    assert claim == outcome.fields


def test_a_reversal_returns_the_amount_to_the_pool(family):
    family.claim("c1", A, "1000.00")
    family.claim("c2", B, "1000.00")
    household = family.port.household(A, 2021)
    assert household.used() == Money(100000)
    events = family.events(op="reverse_claim", claim_id="c1", reason="wrong patient",
                           at="2021-04-01")
    assert names(events) == ["Household.ClaimReversed"]
    assert events[0].amount == Money(55000)
    assert household.used() == Money(45000)
    after = family.ok(**claim_cmd("c3", C, "2000.00"))
    assert (after["pool_used_before"], after["reimbursed"]) == ("450.00", "550.00")


def test_a_resent_reversed_claim_says_it_was_reversed(family):
    family.claim("c1", A, "100.00")
    family.ok(op="reverse_claim", claim_id="c1", reason="error", at="2021-04-01")
    again = family.ok(**claim_cmd("c1", A, "100.00"))
    assert again["reversed"] is True
    assert again["reimbursed"] == "55.00"


def test_one_member_may_use_more_than_250_in_a_household_of_four(family):
    results = [family.ok(**claim_cmd(f"c{i}", A, "500.00")) for i in range(5)]
    assert [r["reimbursed"] for r in results] == ["275.00", "275.00", "275.00", "175.00",
                                                  "0.00"]
    household = family.port.household(A, 2021)
    assert household.used(A) == Money(100000)
    assert household.used() == Money(100000)


def test_each_ok_result_carries_the_fields_the_contract_promises(world):
    world.register(A)
    enrolled = world.enroll(A)
    assert {"due", "subsidy", "covered_from"} <= set(enrolled)
    assert enrolled["covered_from"] is None
    paid = world.pay(A, amount="300.00")
    assert {"due", "subsidy", "paid_total", "credit", "covered_from"} <= set(paid)
    refund = world.ok(op="refund", person=A, year=2021, reason="other", at="2020-12-01")
    assert {"refunded", "covered_from"} <= set(refund)
    claim = world.claim("c1", A, "10.00")
    assert {"eligible_expense", "reimbursable", "reimbursed", "pool_cap", "pool_used_before",
            "pool_remaining_after", "rule"} <= set(claim)
    for value in (*enrolled.values(), *paid.values(), *refund.values(), *claim.values()):
        assert value is None or isinstance(value, str), value


def test_a_fully_subsidised_duplicate_enrollment_is_terminated_refunding_nothing(world):
    world.register(A)
    world.enroll(A, identity="tekun")
    events = world.events(op="refund", person=A, year=2021, reason="duplicate_enrollment",
                          at="2020-12-01")
    assert names(events) == ["Person.Refunded", "Household.MemberLeft"]
    assert events[0].amount == Money(0)
    assert events[0].terminated is True
    assert world.port.person(A).year(2021).terminated


def test_a_duplicate_enrollment_refund_returns_exactly_the_net_paid(world):
    world.member(A)
    world.pay(A, amount="20.00")
    assert world.reject(op="refund", person=A, year=2021, reason="duplicate_enrollment",
                        amount="300.01", at="2020-12-01") == "refund_exceeds_paid"
    assert world.reject(op="refund", person=A, year=2021, reason="duplicate_enrollment",
                        amount="299.99", at="2020-12-01") == "invalid_input"
    result = world.ok(op="refund", person=A, year=2021, reason="duplicate_enrollment",
                      amount="300.00", at="2020-12-01")
    assert (result["refunded"], result["credit"], result["covered_from"]) == ("300.00", "0.00",
                                                                              None)


def test_a_terminated_year_can_be_neither_paid_nor_enrolled_again(world):
    world.member(A)
    world.ok(op="refund", person=A, year=2021, reason="duplicate_enrollment", at="2020-12-01")
    assert world.reject(op="enroll", person=A, year=2021, region=FUNAN,
                        at="2020-12-02") == "already_enrolled"
    assert world.reject(op="enroll", person=A, year=2021, region=LINQUAN,
                        at="2020-12-02") == "already_enrolled"
    assert world.reject(op="pay", person=A, year=2021, amount="280.00", channel="cash",
                        payment_ref="again", at="2020-12-02") == "not_enrolled"
    assert world.reject(op="grant_subsidy", person=A, year=2021, identity="dibao",
                        at="2020-12-02") == "not_enrolled"
    assert world.reject(**claim_cmd("c", A, "10.00")) == "not_enrolled"


def test_a_gaizhou_late_payment_whose_wait_runs_past_the_year_adds_nothing_to_the_pool(world):
    # Paid 1 Nov 2025 with the 3-month wait: coverage could only start 1 Feb 2026, after the
    # benefit year. Such a member can never claim in 2025, so must not raise the 2025 cap
    # (as for newborns, ADR 0009: "a payment after the year cannot cover it").
    gaizhou = "210881"
    head, late = make_id(gaizhou, "19800101", 1), make_id(gaizhou, "19820101", 3)
    world.member(head, region=gaizhou, year=2025, amount="445.00", enroll_at="2024-11-01",
                 pay_at="2024-11-02")
    world.register(late, region=gaizhou)
    world.enroll(late, year=2025, region=gaizhou, at="2025-10-20", household_head=head)
    try:
        paid = world.pay(late, amount="445.00", year=2025, at="2025-11-01")
    except Rejected as e:
        assert e.reason == "outside_collection_window"
    else:
        assert paid["covered_from"] is None or paid["covered_from"] <= "2025-12-31", paid
    claim = world.claim("c1", head, "2000.00", visit_date="2025-12-01",
                        facility_region=gaizhou)
    assert claim["pool_cap"] == "250.00"
