"""Identity value objects: resident ID numbers (GB 11643), other documents, region codes."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

from attrs import frozen
from stdnum import numdb
from stdnum.cn import ric

from domain.errors import InvalidInput

_RIC_SHAPE = re.compile(r"^[0-9]{17}[0-9Xx]$")
_REGION = re.compile(r"^[0-9]{6}$")
MAX_DOCUMENT_LENGTH = 64
ID_TYPES = ("resident_id", "other")
#: A document number's person key is the number behind this prefix (ADR 7).
DOCUMENT_KEY_PREFIX = "doc:"
_RESIDENT_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def person_key(number: str, standard: bool) -> str:
    """The ledger's key of a person: a resident ID is its own key; a document number, which
    can never have a resident ID's form (ADR 7), is keyed `doc:NUMBER`."""
    return number if standard else DOCUMENT_KEY_PREFIX + number


def key_of_number(number: str) -> str:
    """The person key of a registered number, telling the two kinds apart by their form."""
    return person_key(number, looks_like_resident_id(number))


def number_of(key: str) -> str:
    """The display form of a person key: the ID or document number it stands for."""
    return key[len(DOCUMENT_KEY_PREFIX):] if key.startswith(DOCUMENT_KEY_PREFIX) else key


def mask_number(number: str) -> str:
    """A person's number with its middle hidden: 341225********0117."""
    return PersonRef(number, False).masked()


def mask_text(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Every resident-ID-shaped run of a text masked, except the numbers in `keep` (as the
    logs and error messages show them)."""
    def repl(m: re.Match[str]) -> str:
        return m.group() if m.group().upper() in keep else mask_number(m.group())

    return _RESIDENT_ID_IN_TEXT.sub(repl, text)


@frozen
class PersonRef:
    """A reference to a person: a checked resident ID, or a non-standard document number."""

    number: str
    standard: bool

    @property
    def key(self) -> str:
        return person_key(self.number, self.standard)

    def masked(self) -> str:
        """The number with its middle hidden, as shown in logs (341225********0117)."""
        n = self.number
        if len(n) >= 14:
            return n[:6] + "*" * (len(n) - 10) + n[-4:]
        if len(n) >= 5:
            return n[:1] + "*" * (len(n) - 3) + n[-2:]
        return "*" * len(n)

    def __str__(self) -> str:
        return self.number


def looks_like_resident_id(text: str) -> bool:
    return bool(_RIC_SHAPE.fullmatch(text))


def parse_resident_id(text: object, field: str = "person") -> PersonRef:
    """Check a GB 11643 number: length, check character, birth date and birthplace code."""
    if isinstance(text, str) and len(text) == 18:
        return _parse_resident_id(text, field)
    return _parse_resident_id.__wrapped__(text, field)


def exact(text: str, field: str, reason: str = "invalid_input") -> str:
    """A value taken exactly as sent: none may begin or end with white space or control
    characters (the contract's strictness; nothing is trimmed silently)."""
    if text != text.strip():
        raise InvalidInput(f"{field} must not begin or end with spaces or control characters; "
                           f"got {text[:40]!r}", reason=reason)
    return text


@lru_cache(maxsize=65536)
def _parse_resident_id(text: object, field: str) -> PersonRef:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{field} must be a resident ID number", reason="invalid_id")
    number = exact(text, field, "invalid_id").upper()
    if not looks_like_resident_id(number):
        raise InvalidInput(
            f"{field} {text!r} is not an 18-character resident ID number", reason="invalid_id"
        )
    problem = None
    if number[-1] != ric.calc_check_digit(number):
        problem = "the check character is wrong"
    else:
        try:
            encoded_birth_date(number)
        except ValueError:
            problem = "the birth date is impossible"
    if problem is None and not known_division(number[:6]):
        problem = f"{number[:6]} is not a GB/T 2260 county-level division"
    if problem is not None:
        raise InvalidInput(f"{field} {text!r} is not a valid resident ID number ({problem})",
                           reason="invalid_id")
    return PersonRef(number, standard=True)


@lru_cache(maxsize=8192)
def known_division(code: str) -> bool:
    """Whether a 6-digit code is (or was) a GB/T 2260 division, at any date.

    python-stdnum's own check also demands that the code existed in the birth year; real
    numbers are assigned when issued, so that stricter check is not applied (ADR 0007).
    """
    return any("county" in props for _, props in numdb.get("cn/loc").info(code))


def parse_person_ref(text: object, field: str = "person") -> PersonRef:
    """Resolve a reference in a command: resident-ID-shaped strings must be valid IDs."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{field} must be a non-empty string")
    stripped = exact(text, field, "invalid_id")
    if looks_like_resident_id(stripped.upper()):
        return parse_resident_id(stripped, field)
    if len(stripped) > MAX_DOCUMENT_LENGTH or not stripped.isprintable():
        raise InvalidInput(f"{field} is not a usable document number", reason="invalid_id")
    return PersonRef(stripped, standard=False)


def parse_document_number(text: object, field: str = "person") -> PersonRef:
    """A non-standard identity document (id_type "other"): any printable string."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{field} must be a non-empty document number")
    stripped = exact(text, field, "invalid_id")
    if looks_like_resident_id(unicodedata.normalize("NFKC", stripped).upper()):
        raise InvalidInput(
            f"{field} {text!r} has the form of a resident ID number: register it with "
            "id_type \"resident_id\""
        )
    if len(stripped) > MAX_DOCUMENT_LENGTH or not stripped.isprintable():
        raise InvalidInput(f"{field} is not a usable document number", reason="invalid_id")
    return PersonRef(stripped, standard=False)


def birth_date_of(ref: PersonRef) -> date | None:
    """The birth date a resident ID encodes; None for other documents."""
    if not ref.standard:
        return None
    return encoded_birth_date(ref.number)


def encoded_birth_date(number: str) -> date:
    """The date in positions 7-14 of a number of the resident ID's shape (`_RIC_SHAPE`,
    upper case): python-stdnum's `ric.get_birth_date` without its clean-up of separators and
    blanks, which such a number has none of (proved equal by a property test); raises
    ValueError for an impossible date. A number seen the first time spends most of its
    check there."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def sex_of(ref: PersonRef) -> str | None:
    """Sex from the sequence code: odd is male."""
    if not ref.standard:
        return None
    return "male" if int(ref.number[16]) % 2 == 1 else "female"


@frozen(order=True)
class RegionCode:
    """A 6-digit county-level administrative division code (GB/T 2260)."""

    code: str

    @classmethod
    def parse(cls, text: object, field: str = "region") -> RegionCode:
        if not isinstance(text, str) or not _REGION.fullmatch(text):
            raise InvalidInput(f"{field} must be a 6-digit county-level code, got {text!r}")
        return cls(text)

    def within(self, prefix: str) -> bool:
        """True when this county lies in the area a policy prefix names (e.g. 3412)."""
        return self.code.startswith(prefix)

    def __str__(self) -> str:
        return self.code


def age_on(birth: date, day: date) -> int:
    """Whole years of age on a day (周岁)."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years
