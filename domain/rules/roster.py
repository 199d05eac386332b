"""Hardship identities the departments recognise before anyone enrolls.

002: 以相关部门提供救助花名为准; 004: 确保脱贫人口参保率不低于99%. One identity per person and
year, and the one that decides the subsidy at enrollment (ADR 65)."""

from __future__ import annotations

from domain.errors import Rejected

#: Who keeps a roster of recognised identities (民政, 乡村振兴, …).
ROSTER_SOURCES = ("civil_affairs", "rural_revitalisation", "disability_federation",
                  "veterans_affairs", "other")


def enrollment_identity(declared: str | None, recognised: str | None, year: int) -> str | None:
    """The identity an enrollment is decided under: the recognised one when the roster names
    the person for the year (a declared identity must then be the same), else the declared."""
    if recognised is None:
        return declared
    if declared is not None and declared != recognised:
        raise Rejected("identity_conflict", f"the roster recognises the identity {recognised} "
                       f"for {year}; one identity per person and year, not {declared} too")
    return recognised


def check_recognition(identity: str, recognised: str | None, enrolled_identity: str | None,
                      year: int) -> bool:
    """Whether a recognition is new (False: the same identity is already on the roster);
    refuses a second identity for the person-year, on the roster or in its enrollment."""
    held = recognised or enrolled_identity
    if held is not None and held != identity:
        raise Rejected("identity_conflict", f"the person already holds the identity {held} "
                       f"for {year}; one identity per person and year, not {identity} too")
    return recognised is None
