"""Households of plausible structure: who lives together, their ages, names and ID numbers."""

from __future__ import annotations

from datetime import date, timedelta

from adapters.generator.desk import _Desk
from adapters.generator.identities import GIVEN, SURNAMES, make_resident_id
from adapters.generator.person import _Person
from adapters.generator.regimes import NEIGHBOURS

SIZE_WEIGHTS = ((1, 9), (2, 22), (3, 25), (4, 22), (5, 13), (6, 9))


class _Families(_Desk):
    """Draws a household's members, each a new person with an unused resident ID."""

    def new_person(self, county: str, birth: date, male: bool, role: str,
                   surname: str | None = None) -> _Person:
        rng = self.rng
        region = county
        if role in ("spouse", "parent") and rng.random() < 0.15:
            region = rng.choice(NEIGHBOURS.get(county, (county,)))
        seq = 2 * rng.randrange(0, 499) + (1 if male else 2)
        number = make_resident_id(region, birth, seq)
        while number in self.used_ids:
            seq = seq + 2 if seq + 2 <= 999 else (1 if male else 2)
            number = make_resident_id(region, birth, seq)
        self.used_ids.add(number)
        name = (surname or rng.choice(SURNAMES)) + "".join(
            rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return _Person(number, name, birth, male, role)

    def born(self, age: int, reference: date) -> date:
        """A birth date making someone `age` at the reference day (before any registration)."""
        day = reference - timedelta(days=self.rng.randrange(1, 365))
        try:
            return day.replace(year=day.year - age)
        except ValueError:  # 29 Feb
            return day.replace(year=day.year - age, day=28)

    def family(self, county: str) -> list[_Person]:
        rng = self.rng
        ref = self.cal.start - timedelta(days=1)
        size = rng.choices([s for s, _ in SIZE_WEIGHTS], [w for _, w in SIZE_WEIGHTS])[0]
        surname = rng.choice(SURNAMES)
        head_male = rng.random() < 0.72
        members: list[tuple[int, bool, str]] = []  # (age, male, role)
        if size == 1:
            age = rng.randint(62, 95) if rng.random() < 0.6 else rng.randint(20, 61)
            members.append((age, head_male, "head"))
        else:
            r = rng.random()
            children, parents = 0, 0
            if size == 2:
                single_parent = r < 0.2
                children = 1 if single_parent else 0
                head_age = rng.randint(28, 55) if single_parent else rng.randint(22, 88)
            else:
                extra = size - 2
                parents = rng.choices([0, 1, 2], [55, 30, 15])[0] if extra > 1 else (
                    1 if r < 0.25 else 0)
                parents = min(parents, extra - 1 if extra > 1 else parents)
                children = extra - parents
                head_age = rng.randint(26, 55) if parents == 0 else rng.randint(30, 60)
            members.append((head_age, head_male, "head"))
            if not (size == 2 and children):
                spouse_age = max(20, min(95, head_age + rng.randint(-6, 4)))
                members.append((spouse_age, not head_male, "spouse"))
            for _ in range(children):
                gap = rng.randint(22, 36)
                members.append((max(0, head_age - gap - rng.randint(0, 6)),
                                rng.random() < 0.52, "child"))
            for k in range(parents):
                members.append((min(95, head_age + rng.randint(22, 34)), k == 0, "parent"))
        people = []
        for age, male, role in members:
            same_name = role in ("head", "child") or (role == "parent" and male)
            p = self.new_person(county, self.born(age, ref), male, role,
                                surname if same_name else None)
            people.append(p)
        return people
