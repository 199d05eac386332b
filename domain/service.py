"""Command handlers: load aggregates through a port, ask the rules, record the decisions.

Every handler checks everything before it triggers the first event, so a rejected command
(`Rejected`) leaves every aggregate exactly as it was. Handlers return the result fields of
the contract and the aggregates to save together in one atomic save.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from attrs import asdict

from domain import commands as c
from domain.aggregates import CommandRef, Household, PaymentRef, Person, PersonYear, RefundRef
from domain.errors import InvalidInput, Rejected
from domain.identity import birth_date_of, mask_number, number_of, sex_of
from domain.ids import PUBLIC_IDS, StreamIds
from domain.money import ZERO
from domain.policy import Policy
from domain.policy_book import PolicyBook
from domain.ports import Aggregates, Outcome
from domain.ports import as_text as _s
from domain.rules.collection import (
    accept_payment_day,
    check_channel,
    check_enrollment_day,
    check_newborn,
)
from domain.rules.contribution import decide_contribution
from domain.rules.coverage import CoverageFacts, coverage_start
from domain.rules.eligibility import eligibility_ground
from domain.rules.payer import check_employee_account
from domain.rules.refund import RefundState, check_refund_channel, decide_refund
from domain.rules.roster import check_recognition, enrollment_identity
from domain.rules.standing import credit as standing_credit
from domain.rules.standing import starts_coverage
from domain.service_claims import ClaimHandlers


class LedgerService(ClaimHandlers):
    """Decides every command of the contract against a policy book."""

    def __init__(self, policies: PolicyBook, ids: StreamIds = PUBLIC_IDS) -> None:
        self.policies = policies
        #: How new persons' and households' streams are named (the ports look them up the
        #: same way).
        self.ids = ids
        #: The digest that tells a re-send under a command_id from another command (a replay
        #: of the log gives the recorded one, ADR 44).
        self.digest: Callable[[Any], str] = c.command_digest
        self._handlers: dict[type, Callable[..., Outcome]] = {
            c.Register: self.register,
            c.ReportEmployeeInsurance: self.report_employee_insurance,
            c.RecogniseIdentity: self.recognise_identity,
            c.Enroll: self.enroll,
            c.Pay: self.pay,
            c.GrantSubsidy: self.grant_subsidy,
            c.Refund: self.refund,
            c.Claim: self.settle_claim,
            c.Quote: self.quote,
            c.ReverseClaim: self.reverse_claim,
        }

    def handle(self, command: Any, uow: Aggregates, recorded_at: datetime) -> Outcome:
        """Decide a command. Under a `command_id` (ADR 44) a re-send of the same command is
        answered with its recorded result and records nothing; another command under the same
        id is refused. A quote records nothing, so its id is not kept."""
        command_id = command.command_id
        if command_id is None or isinstance(command, c.Quote):
            return self._handlers[type(command)](command, uow, recorded_at)
        digest = self.digest(command)
        known = uow.command_ref(command_id)
        if known is not None:
            if known.digest != digest:
                raise Rejected("duplicate_command_conflict", f"command_id {command_id} was "
                               f"already used for another {known.op} command")
            return Outcome({**known.result["fields"], "duplicate": True}, (),
                           known.result["message"])
        outcome = self._handlers[type(command)](command, uow, recorded_at)
        if not outcome.changed:
            return outcome
        ref = CommandRef.record(command_id, c.op_of(command), digest,
                                {"fields": outcome.fields, "message": outcome.message},
                                recorded_at)
        return Outcome(outcome.fields, (*outcome.changed, ref), outcome.message)

    # --- lookups --------------------------------------------------------------------------

    def _person(self, uow: Aggregates, ref, field: str = "person") -> Person:
        person = uow.person(ref.key)
        if person is None:
            raise Rejected("unknown_person", f"{field} {ref.masked()} is not registered")
        return person

    def _policy(self, region: str, year: int) -> Policy:
        policy = self.policies.find(region, year)
        if policy is None:
            if not self.policies.knows_region(region):
                raise Rejected("unknown_region", f"no policy covers region {region}")
            raise Rejected("no_policy", f"no policy for region {region} in benefit year {year}")
        return policy

    def _year(self, person: Person, year: int) -> PersonYear:
        py = person.year(year)
        if py is None or py.terminated:
            raise Rejected("not_enrolled", f"{mask_number(person.number)}"
                                           f" is not enrolled for {year}")
        return py

    @staticmethod
    def _facts(person: Person, py: PersonYear) -> CoverageFacts:
        return CoverageFacts(category=py.category, birth_date=person.birth_date,
                             identity=py.identity, prior_insured=bool(py.prior_insured),
                             broken_years=py.broken_years or 0,
                             back_paid_years=py.back_paid_years or 0)

    # --- register ------------------------------------------------------------------------

    def register(self, cmd: c.Register, uow: Aggregates, now: datetime) -> Outcome:
        if uow.person(cmd.person.key) is not None:
            raise Rejected("already_registered", f"{cmd.person.masked()} is already registered")
        if not self.policies.knows_region(cmd.region.code):
            raise Rejected("unknown_region", f"no policy covers region {cmd.region}")
        birth = birth_date_of(cmd.person)
        if birth is not None and cmd.birth_date is not None and cmd.birth_date != birth:
            raise InvalidInput(f"birth_date {cmd.birth_date} differs from the birth date "
                               f"{birth} in the ID number")
        birth = birth or cmd.birth_date
        if birth > cmd.at.date():
            raise InvalidInput(f"birth date {birth} lies after the registration {cmd.at.date()}",
                               reason="invalid_id" if cmd.person.standard else "invalid_input")
        sex = sex_of(cmd.person) or cmd.sex
        person = Person.register(
            person_key=cmd.person.key, number=cmd.person.number,
            standard_id=cmd.person.standard, name=cmd.name, region=cmd.region.code,
            birth_date=birth, sex=sex, residence_permit=cmd.residence_permit, at=cmd.at,
            recorded_at=now, ids=self.ids, **asdict(cmd.places),
        )
        return Outcome({"person": cmd.person.number}, (person,), "registered")

    # --- employee insurance ------------------------------------------------------------------

    def report_employee_insurance(self, cmd: c.ReportEmployeeInsurance, uow: Aggregates,
                                  now: datetime) -> Outcome:
        person = self._person(uow, cmd.person)
        if cmd.year in person.employee_years:
            return Outcome({}, (), f"already reported in employee insurance for {cmd.year}")
        changed: list[Any] = [person]
        py = person.year(cmd.year)
        message = f"in employee insurance for {cmd.year}"
        if py is not None and not py.terminated:
            household = uow.household(py.household_head, cmd.year)
            household.suspend(person.key, "employee_insured", cmd.at, now)
            changed.append(household)
            message += "; resident benefits suspended (duplicate enrollment to be refunded)"
        person.report_employee_insurance(cmd.year, cmd.at, now)
        return Outcome({}, tuple(changed), message)

    # --- hardship rosters -----------------------------------------------------------------

    def recognise_identity(self, cmd: c.RecogniseIdentity, uow: Aggregates,
                           now: datetime) -> Outcome:
        """A department's roster names a person's identity for a year (ADR 65)."""
        person = self._person(uow, cmd.person)
        if not self.policies.knows_region(cmd.region.code):
            raise Rejected("unknown_region", f"no policy covers region {cmd.region}")
        py = person.year(cmd.year)
        enrolled = py.identity if py is not None and not py.terminated else None
        if not check_recognition(cmd.identity, person.recognised.get(cmd.year), enrolled,
                                 cmd.year):
            return Outcome({"identity": cmd.identity}, (), f"{cmd.identity} is already "
                           f"recognised for {cmd.year}")
        person.recognise_identity(now, year=cmd.year, identity=cmd.identity,
                                  region=cmd.region.code, source=cmd.source, at=cmd.at)
        later = "" if py is None else "; the enrollment's subsidy changes only by grant_subsidy"
        return Outcome({"identity": cmd.identity}, (person,), f"{cmd.identity} recognised "
                       f"for {cmd.year} in {cmd.region.code}{later}")

    # --- enroll --------------------------------------------------------------------------------

    def enroll(self, cmd: c.Enroll, uow: Aggregates, now: datetime) -> Outcome:
        person = self._person(uow, cmd.person)
        year, region = cmd.year, cmd.region.code
        if year in person.employee_years:
            raise Rejected("employee_insured", f"{mask_number(person.number)}"
                                               f" is in employee insurance for "
                           f"{year} and cannot enroll in resident insurance")
        existing = person.year(year)
        if existing is not None and existing.terminated:
            raise Rejected("already_enrolled", f"{mask_number(person.number)}"
                                               f"'s {year} enrollment in "
                           f"{existing.region} was terminated and refunded; it cannot be "
                           "enrolled again for the same year")
        if existing is not None:
            if existing.region == region:
                raise Rejected("already_enrolled", f"{mask_number(person.number)}"
                                                   f" is already enrolled for "
                               f"{year} in {region}")
            raise Rejected("enrolled_elsewhere", f"{mask_number(person.number)}"
                                                 f" is enrolled for {year} in "
                           f"{existing.region}; one pooling region per year")
        policy = self._policy(region, year)
        birth = person.birth_date
        check_newborn(policy, cmd.category, birth)
        eligibility_ground(policy, person.places, region)
        day = cmd.at.date()
        earlier = [y for y in person.covered_years() if y < year]
        prior = cmd.insured_before if cmd.insured_before is not None else bool(earlier)
        check_enrollment_day(policy, day, cmd.category, birth, prior)

        head_key = cmd.household_head.key if cmd.household_head else person.key
        household = self._household_to_join(uow, person, head_key, year, region, policy)

        if cmd.broken_years is not None:
            broken = cmd.broken_years
        else:
            broken = year - 1 - max(earlier) if earlier else 0
        identity = enrollment_identity(cmd.identity, person.recognised.get(year), year)
        decision = decide_contribution(policy, birth, cmd.category, identity)
        facts = CoverageFacts(cmd.category, birth, identity, prior, broken,
                              cmd.back_paid_years)
        covered_from = None
        explanation = decision.explanation
        if not decision.due.is_positive():
            coverage = coverage_start(policy, facts, day)
            covered_from = coverage.covered_from
            explanation += f"; {coverage.explanation}"

        if household is None:
            household = Household.form(
                head=person.key, year=year, region=region, at=cmd.at,
                per_person_cap=policy.outpatient.per_person_cap, policy_id=policy.id,
                policy_version=policy.version, recorded_at=now, ids=self.ids)
        person.enroll(
            now, year=year, region=region, household_head=head_key, category=cmd.category,
            identity=identity, at=cmd.at, birth_date=birth, prior_insured=prior,
            broken_years=broken, back_paid_years=cmd.back_paid_years, policy_id=policy.id,
            policy_version=policy.version, policy_hash=policy.content_hash,
            fiscal=policy.contribution.fiscal, standard=decision.standard,
            subsidy=decision.subsidy,
            subsidy_basis=decision.subsidy_basis, due=decision.due, covered_from=covered_from,
            explanation=explanation,
        )
        household.join(person.key, region, cmd.at, now)
        if covered_from is not None:
            household.cover(person.key, covered_from, policy.year_end, cmd.at, now)
        return Outcome(
            {"due": _s(decision.due), "subsidy": _s(decision.subsidy),
             "covered_from": _s(covered_from), "household_head": number_of(head_key),
             "rule": policy.ref},
            (person, household), explanation,
        )

    def _household_to_join(self, uow: Aggregates, person: Person, head_key: str, year: int,
                           region: str, policy: Policy) -> Household | None:
        if head_key == person.key:
            return uow.household(head_key, year)
        head = uow.person(head_key)
        head_year = head.year(year) if head is not None else None
        if head is None or head_year is None or head_year.terminated:
            raise Rejected("head_not_enrolled", f"the household head {number_of(head_key)} is not "
                           f"enrolled for {year}")
        if head_year.household_head != head_key:
            raise Rejected("head_not_enrolled", f"{number_of(head_key)} is a member of the "
                           f"household of {number_of(head_year.household_head)}, not a head")
        if head_year.region != region:
            raise Rejected("head_region_mismatch", f"the head is enrolled in "
                           f"{head_year.region}; members must be in the same division, not "
                           f"{region}")
        if policy.household.head_must_pay_first and not head_year.settled:
            raise Rejected("head_not_enrolled", f"the household head {number_of(head_key)} must "
                           f"pay first ({policy.ref})")
        return uow.household(head_key, year)

    # --- pay ---------------------------------------------------------------------------------

    def pay(self, cmd: c.Pay, uow: Aggregates, now: datetime) -> Outcome:
        person = self._person(uow, cmd.person)
        py = self._year(person, cmd.year)
        if uow.payment_ref(cmd.payment_ref) is not None:
            raise Rejected("duplicate_payment_ref", f"payment reference {cmd.payment_ref} is "
                           "already recorded")
        policy = self._policy(py.region, cmd.year)
        day = cmd.at.date()
        accepted = accept_payment_day(policy, day, py.category, person.birth_date,
                                      bool(py.prior_insured))
        payer = cmd.payer.key if cmd.payer is not None else person.key
        check_channel(policy, cmd.channel, payer == person.key, person.birth_date, day,
                      py.subsidy.is_positive())
        payer_person = person if payer == person.key else uow.person(payer)
        check_employee_account(policy, cmd.channel, cmd.payer_relation, payer_person.employee_years
                               if payer_person is not None else (), cmd.year, day)
        paid_total = py.paid + cmd.amount
        covered_from, explanation = None, accepted.explanation
        facts = self._facts(person, py)
        if starts_coverage(py.covered_from, paid_total, py.refunded, py.due):
            coverage = coverage_start(policy, facts, day)
            covered_from = coverage.covered_from
            explanation += f"; {coverage.explanation}"
        credit = standing_credit(paid_total, py.refunded, py.due)
        household = uow.household(py.household_head, cmd.year) if covered_from else None
        ref = PaymentRef.claim(cmd.payment_ref, person.key, cmd.year, now)
        person.pay(
            now, year=cmd.year, amount=cmd.amount, channel=cmd.channel,
            payment_ref=cmd.payment_ref, payer=payer, payer_relation=cmd.payer_relation,
            at=cmd.at, accepted_in=accepted.period, due=py.due, refunded=py.refunded,
            coverage_facts=facts, paid_total=paid_total, credit=credit,
            covered_from=covered_from, policy_id=policy.id,
            policy_version=policy.version, policy_hash=policy.content_hash,
            fiscal=policy.contribution.fiscal, explanation=explanation,
        )
        changed: list[Any] = [person, ref]
        if household is not None:
            household.cover(person.key, covered_from, policy.year_end, cmd.at, now)
            changed.append(household)
        return Outcome(
            {"due": _s(py.due), "subsidy": _s(py.subsidy), "paid_total": _s(paid_total),
             "credit": _s(credit), "covered_from": _s(py.covered_from), "rule": policy.ref},
            tuple(changed), explanation,
        )

    # --- subsidy -----------------------------------------------------------------------------

    def grant_subsidy(self, cmd: c.GrantSubsidy, uow: Aggregates, now: datetime) -> Outcome:
        person = self._person(uow, cmd.person)
        py = self._year(person, cmd.year)
        if py.identity is not None:
            raise Rejected("subsidy_already_granted", f"{mask_number(person.number)}"
                                                      f" already enrolled for "
                           f"{cmd.year} under the identity {py.identity}; one subsidy per "
                           "person and year")
        enrollment_identity(cmd.identity, person.recognised.get(cmd.year), cmd.year)
        policy = self._policy(py.region, cmd.year)
        decision = decide_contribution(policy, person.birth_date, py.category, cmd.identity)
        day = cmd.at.date()
        covered_from, explanation = None, decision.explanation
        household = None
        facts = CoverageFacts(py.category, person.birth_date, cmd.identity,
                              bool(py.prior_insured), py.broken_years or 0,
                              py.back_paid_years or 0)
        if starts_coverage(py.covered_from, py.paid, py.refunded, decision.due):
            coverage = coverage_start(policy, facts, day)
            covered_from = coverage.covered_from
            explanation += f"; {coverage.explanation}"
            household = uow.household(py.household_head, cmd.year)
        credit = standing_credit(py.paid, py.refunded, decision.due)
        person.grant_subsidy(
            now, year=cmd.year, identity=cmd.identity, at=cmd.at, standard=decision.standard,
            subsidy=decision.subsidy, subsidy_basis=decision.subsidy_basis, due=decision.due,
            paid=py.paid, refunded=py.refunded, coverage_facts=facts, credit=credit,
            covered_from=covered_from, policy_id=policy.id,
            policy_version=policy.version, policy_hash=policy.content_hash,
            fiscal=policy.contribution.fiscal, explanation=explanation,
        )
        changed: list[Any] = [person]
        if household is not None:
            household.cover(person.key, covered_from, policy.year_end, cmd.at, now)
            changed.append(household)
        return Outcome(
            {"due": _s(decision.due), "subsidy": _s(decision.subsidy),
             "paid_total": _s(py.paid), "credit": _s(credit),
             "covered_from": _s(py.covered_from), "rule": policy.ref},
            tuple(changed), explanation,
        )

    # --- refund ------------------------------------------------------------------------------

    def refund(self, cmd: c.Refund, uow: Aggregates, now: datetime) -> Outcome:
        person = self._person(uow, cmd.person)
        if cmd.refund_ref is not None and uow.refund_ref(cmd.refund_ref) is not None:
            raise Rejected("duplicate_refund_ref", f"refund reference {cmd.refund_ref} is "
                           "already recorded")
        py = person.year(cmd.year)
        if py is None:
            raise Rejected("not_enrolled", f"{mask_number(person.number)}"
                                           f" is not enrolled for {cmd.year}")
        if py.terminated:
            raise Rejected("nothing_to_refund", f"the {cmd.year} enrollment was already "
                           "terminated and refunded")
        policy = self._policy(py.region, cmd.year)
        check_refund_channel(policy, cmd.channel)
        state = RefundState(paid=py.paid, refunded=py.refunded, due=py.due,
                            subsidy_granted_on=py.subsidy_granted_on)
        decision = decide_refund(policy, cmd.reason, cmd.at.date(), cmd.amount, state)
        refunded_total = py.refunded + decision.amount
        credit = ZERO if decision.terminates else standing_credit(py.paid, refunded_total,
                                                                   py.due)
        changed: list[Any] = [person]
        household = None
        if decision.terminates:
            household = uow.household(py.household_head, cmd.year)
        person.refund(
            now, year=cmd.year, reason=cmd.reason, amount=decision.amount, channel=cmd.channel,
            at=cmd.at, paid=py.paid, refunded_before=py.refunded, due=py.due,
            subsidy_granted_on=py.subsidy_granted_on, requested=cmd.amount,
            terminated=decision.terminates, refunded_total=refunded_total,
            credit=credit, policy_id=policy.id, policy_version=policy.version,
            policy_hash=policy.content_hash, fiscal=policy.contribution.fiscal,
            refund_ref=cmd.refund_ref, explanation=decision.explanation,
        )
        if cmd.refund_ref is not None:
            changed.append(RefundRef.claim(cmd.refund_ref, person.key, cmd.year, now))
        if household is not None:
            household.leave(person.key, cmd.reason, cmd.at, now)
            changed.append(household)
        return Outcome(
            {"refunded": _s(decision.amount), "credit": _s(credit),
             "covered_from": _s(py.covered_from), "rule": policy.ref},
            tuple(changed), decision.explanation,
        )
