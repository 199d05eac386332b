"""Who may enroll where: the places a registration names, judged against a county's policy
(000, 001, 003, 004; ADR 66)."""

from __future__ import annotations

from attrs import frozen

from domain.errors import Rejected
from domain.policy import Policy

SCHOOL_LEVELS = ("college", "school", "kindergarten")
#: The place facts a registration may carry, as `Places` fields and contract fields.
PLACE_FIELDS = ("hukou_region", "residence_permit_region", "spouse_region", "school_region",
                "school_level")


@frozen
class Places:
    """Where a person belongs, as far as the registration says: hukou (户籍), residence permit
    (居住证), a spouse's hukou, and the school a student attends (with its level)."""

    hukou_region: str | None = None
    residence_permit_region: str | None = None
    spouse_region: str | None = None
    school_region: str | None = None
    school_level: str | None = None

    def given(self) -> bool:
        return any(getattr(self, name) is not None for name in PLACE_FIELDS)


def eligibility_ground(policy: Policy, places: Places, region: str) -> str:
    """On what ground the policy of `region` admits the person, or `not_eligible_here`.

    A place is local when it shares the policy's scope of the county code with `region` (all
    6 digits for a county, the first 4 for a prefecture). A registration that names no place is
    taken as the agency's own check ("registration"). A college student whose school lies
    elsewhere is refused where the policy keeps college students at their school (003)."""
    rules = policy.eligibility
    if rules is None:
        return "unchecked"
    if not places.given():
        return "registration"
    digits = 4 if rules.scope == "city" else 6

    def local(place: str | None) -> bool:
        return place is not None and place[:digits] == region[:digits]

    if (rules.college_students_at_school_only and places.school_level == "college"
            and places.school_region is not None):
        if local(places.school_region):
            return "school"
        raise Rejected("not_eligible_here", f"a college student enrolls where the school is "
                       f"({places.school_region}), never at home in {region} ({policy.ref})")
    grounds = (("hukou", rules.hukou, places.hukou_region),
               ("residence_permit", rules.residence_permit, places.residence_permit_region),
               ("spouse", rules.spouses_of_locals, places.spouse_region),
               ("school", rules.local_school_students, places.school_region))
    for ground, admitted, place in grounds:
        if admitted and local(place):
            return ground
    admits = [g for g, admitted, _ in grounds if admitted]
    raise Rejected("not_eligible_here", f"{policy.ref} admits in {region} by "
                   f"{', '.join(admits) or 'nothing'} in its {rules.scope}; the registration "
                   f"names no such place here")
