"""What the generator reads off a regime: its policy, its counties and neighbours, its dates."""

from __future__ import annotations

from datetime import date

from domain.policy import Policy, Window
from domain.policy_book import PolicyBook

#: County-level divisions generated for each regime (policy id); households are spread evenly.
COUNTIES: dict[str, tuple[str, ...]] = {
    "fuyang-2021": ("341225", "341221"),  # Funan, Linquan
    "lishui-liandu-2020": ("331102",),  # Liandu
    "lishui-2020": ("331121", "331122", "331126"),  # Qingtian, Jinyun, Qingyuan
    "lishui-longquan-2020": ("331181",),  # Longquan
    "lishui-jingning-2020": ("331127",),  # Jingning She autonomous county
    "yangcheng-2022": ("140522",),  # Yangcheng
    "hunan-2023": ("430121",),  # Changsha county
    "hunan-2024": ("430121",),
    "gaizhou-2025": ("210881",),  # Gaizhou
}

#: Neighbouring divisions: birthplaces of people who married in, out-of-county clinics.
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "341225": ("341221", "341226", "341222"),
    "341221": ("341225", "341222", "341282"),
    "331102": ("331121", "331122", "331124"),
    "331121": ("331102", "331122"),
    "331122": ("331102", "331121"),
    "331126": ("331181", "331125"),
    "331181": ("331126", "331123"),
    "331127": ("331102", "331125"),
    "140522": ("140521", "140525", "140581"),
    "430121": ("430102", "430181", "430111"),
    "210881": ("210882", "210804"),
}


def counties_for(policy: Policy) -> tuple[str, ...]:
    """The counties generated for a regime: the table above, or the policy's own county."""
    if policy.id in COUNTIES:
        return COUNTIES[policy.id]
    if len(policy.region) == 6:
        return (policy.region,)
    raise ValueError(f"no county codes are known for the regime {policy.id} (region prefix "
                     f"{policy.region}); add them to adapters.generator.COUNTIES")


def find_regime(book: PolicyBook, regime: str) -> Policy:
    for policy in book.in_force():
        if policy.id == regime:
            return policy
    known = ", ".join(sorted({p.id for p in book}))
    raise ValueError(f"unknown regime {regime!r}; one of: {known}")


class _Calendar:
    """The regime's dates, read from its policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        general = [w for w in policy.windows if "general" in w.categories]
        if not general:
            raise ValueError(f"{policy.ref} has no collection window for general enrollees")
        self.general = general
        self.start = min(w.start for w in general)
        self.end = max(w.end for w in general)
        self.student_only: Window | None = next(
            (w for w in policy.windows if w.categories == ("student",)), None)
        self.rmw_only: Window | None = next(
            (w for w in policy.windows if "returning_migrant_worker" in w.categories
             and "general" not in w.categories and w.end > self.end), None)
        late = policy.late
        self.late_open = bool(late.until and late.until > self.end
                              and "general" in late.categories)
        self.late_until = late.until
        self.late_needs_prior = late.requires_prior_insurance
        self.waiting = late.coverage == "waiting_period"
        self.deadline = policy.refund.deadline
        self.year_start = policy.year_start
        self.year_end = policy.year_end
        self.student_in_general = any("student" in w.categories for w in general)

    def admits(self, day: date, category: str) -> bool:
        return any(w.admits(day, category) for w in self.policy.windows)
