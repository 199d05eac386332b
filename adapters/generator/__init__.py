"""A deterministic synthetic county: one regime's benefit year as a command file.

`generate_county` builds households of plausible structure (couples, children, elderly
parents, single elderly, a few students living on their own), then writes the year's history
as contract commands in business-time order: registrations, enrollments (the head first, then
the members naming the head), payments, the odd subsidy recognised late and refunded, duplicate
payments refunded, late payers, newborns, people in employee insurance, and finally outpatient
claims through the benefit year (with a few reversals and idempotent re-sends).

Every date the generator chooses is derived from the regime's policy (windows, late period,
newborn rule, refund deadline), and what each person owes and from when they are covered is
computed with the domain's own rules, so the claims land on covered days. A small, deliberate
share of commands is refused by the ledger, as in real feeds: visits at county hospitals or
outside the county, excluded causes, payments after the window, clerks' double entries.

Only `random.Random(seed)` is used: the same arguments give the same lines, on any machine.

The package, one job per module:

- `entry`: the entry points, `generate_county` and `write_county`;
- `regimes`: a regime's policy, its counties and neighbours, its dates (`_Calendar`);
- `identities`: resident ID numbers, name tables, subsidy identities;
- `clock`: minutes (the sort key of every command), day texts, yuan amounts;
- `person`: one generated resident (`_Person`);
- `desk`: the county's shared state and the register, enroll and pay commands (`_Desk`);
- `families`: a household's members (`_Families`);
- `payments`: paying, and the subsidies, refunds and repeats that follow (`_Payments`);
- `claims`: outpatient claims, reversals and re-sends (`_Claims`);
- `households`: one household's year at the desk, with its special cases (`_Households`);
- `county`: the phases assembled, and the commands sorted by business time (`_County`).
"""

from adapters.generator.claims import REVERSAL_REASONS
from adapters.generator.desk import OFFLINE, OFFLINE_WEIGHTS
from adapters.generator.entry import generate_county, write_county
from adapters.generator.families import SIZE_WEIGHTS
from adapters.generator.identities import (
    FAMILY_IDENTITIES,
    GIVEN,
    PERSONAL_IDENTITIES,
    SURNAMES,
    make_resident_id,
)
from adapters.generator.regimes import COUNTIES, NEIGHBOURS, counties_for, find_regime

__all__ = [
    "COUNTIES",
    "FAMILY_IDENTITIES",
    "GIVEN",
    "NEIGHBOURS",
    "OFFLINE",
    "OFFLINE_WEIGHTS",
    "PERSONAL_IDENTITIES",
    "REVERSAL_REASONS",
    "SIZE_WEIGHTS",
    "SURNAMES",
    "counties_for",
    "find_regime",
    "generate_county",
    "make_resident_id",
    "write_county",
]
