"""The read models' SQL tables (SQLAlchemy Core), grouped by view.

Money is integer fen, dates are ISO text (`YYYY-MM-DD`, so they sort and compare as text),
person columns hold the ledger's person key (the ID number, or `doc:NUMBER` for other
documents) or, when a cipher key protects personal data, its keyed pseudonym; the registry's
number and birth date are then sealed (`projections.personal`, ADR 21). Every row that an
event wrote carries that event's `position` (its notification id) and, where the event records
a fact, its business date (`*_at`), so a query can answer "as of a business date" and "at a
position of the log" from the same rows.

Each view owns its tables: `rebuild NAME` drops and recreates only those. `view_tracking`
holds one row per view, the position up to which the view's rows are complete; it is written
in the same transaction as the rows.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from projections.catalog import TRACKING_TABLE, VIEWS

metadata = MetaData()

#: On SQLite, a table read and written by its primary key keeps its rows in that key's B-tree
#: (WITHOUT ROWID): one tree to update per row instead of a rowid tree plus a key index.
#: Other dialects ignore the option.
CLUSTERED = {"sqlite_with_rowid": False}

DATE = String(10)
KEY = String(64)
#: Money and log positions: 64-bit on PostgreSQL (its INTEGER has 32 bits; a region's fund
#: totals pass 2**31 fen), SQLite's INTEGER already is.
BIG = Integer().with_variant(BigInteger(), "postgresql")
#: Text the personal-data codec may seal (ADR 21): longer than the clear text it holds.
SEALED = Text

view_tracking = Table(
    TRACKING_TABLE, metadata,
    Column("view", String(32), primary_key=True),
    Column("application", String(64), nullable=False),
    Column("position", BIG, nullable=False),
    **CLUSTERED,
)

# --- person_year ------------------------------------------------------------------------------

person_registry = Table(
    "person_registry", metadata,
    Column("person_uuid", String(36), primary_key=True),
    Column("person", KEY, nullable=False, unique=True),
    Column("number", SEALED, nullable=False),
    Column("region", String(6), nullable=False),
    Column("birth_date", SEALED, nullable=False),
    Column("registered_at", DATE, nullable=False),
    Column("position", BIG, nullable=False),
    **CLUSTERED,
)

#: Append-only: one row per Person event of a benefit year, holding the event's own facts
#: (kind, amount, coverage start it decided) and the person-year's state after it. The current
#: state is the row with the highest position; "at position N" is the last row <= N; "as of a
#: business date" folds the rows whose `at` is on or before the date.
person_year_version = Table(
    "person_year_version", metadata,
    Column("person", KEY, nullable=False),
    Column("year", Integer, nullable=False),
    Column("position", BIG, nullable=False),
    Column("at", DATE, nullable=False),
    Column("kind", String(12), nullable=False),  # enrolled|paid|subsidy|refunded|terminated
    Column("amount_fen", BIG, nullable=False),  # paid or refunded by this event
    Column("event_covered_from", DATE),  # the coverage start this event decided
    Column("region", String(6), nullable=False),
    Column("household_head", KEY, nullable=False),
    Column("category", String(32), nullable=False),
    Column("identity", String(32)),
    Column("subsidy_basis", String(32)),
    Column("enrolled", Boolean, nullable=False),
    Column("terminated", Boolean, nullable=False),
    Column("covered_from", DATE),
    Column("due_fen", BIG, nullable=False),
    Column("subsidy_fen", BIG, nullable=False),
    Column("paid_fen", BIG, nullable=False),
    Column("refunded_fen", BIG, nullable=False),
    Column("credit_fen", BIG, nullable=False),
    Column("rule", String(64), nullable=False),
    PrimaryKeyConstraint("person", "year", "position"),
    **CLUSTERED,
)

# --- household_pool ---------------------------------------------------------------------------

household_pool = Table(
    "household_pool", metadata,
    Column("household_id", String(36), primary_key=True),
    Column("head", KEY, nullable=False),
    Column("year", Integer, nullable=False),
    Column("region", String(6), nullable=False),
    Column("formed_at", DATE, nullable=False),
    Column("formed_position", BIG, nullable=False),
    Column("rule", String(64)),  # the policy that formed the household (Household.Formed)
    Column("cap_each_fen", BIG, nullable=False),  # its outpatient per_person_cap
    Column("members", Integer, nullable=False),  # joined and not left
    Column("covered", Integer, nullable=False),  # covered, not suspended, not left
    Column("cap_fen", BIG, nullable=False),  # cap_each_fen x covered
    Column("used_fen", BIG, nullable=False),  # unreversed reimbursements
    Column("claim_count", Integer, nullable=False),  # settled claims, reversed included
    Column("position", BIG, nullable=False),  # the last event that changed the row
    **CLUSTERED,
)

household_member = Table(
    "household_member", metadata,
    Column("household_id", String(36), nullable=False),
    Column("person", KEY, nullable=False),
    Column("region", String(6), nullable=False),
    Column("joined_at", DATE, nullable=False),
    Column("joined_position", BIG, nullable=False),
    Column("covered_from", DATE),
    Column("covered_to", DATE),
    Column("covered_at", DATE),
    Column("covered_position", BIG),
    Column("suspended_at", DATE),
    Column("suspended_position", BIG),
    Column("left_at", DATE),
    Column("left_position", BIG),
    PrimaryKeyConstraint("household_id", "person"),
    **CLUSTERED,
)

# --- claims_journal ---------------------------------------------------------------------------

claims_journal = Table(
    "claims_journal", metadata,
    Column("claim_id", String(128), primary_key=True),
    Column("household_id", String(36), nullable=False),
    Column("head", KEY, nullable=False),
    Column("year", Integer, nullable=False),
    Column("region", String(6), nullable=False),
    Column("person", KEY, nullable=False),
    Column("visit_date", DATE, nullable=False),
    Column("at", DATE, nullable=False),
    Column("settled_at", String(40), nullable=False),  # the full business timestamp
    Column("facility_level", Integer, nullable=False),
    Column("facility_region", String(6), nullable=False),
    Column("expense_fen", BIG, nullable=False),
    Column("cause", String(32), nullable=False),
    Column("pooling", String(16), nullable=False),
    Column("eligible_fen", BIG, nullable=False),
    Column("reimbursable_fen", BIG, nullable=False),
    Column("reimbursed_fen", BIG, nullable=False),
    Column("pool_cap_fen", BIG, nullable=False),
    Column("pool_used_before_fen", BIG, nullable=False),
    Column("pool_remaining_after_fen", BIG, nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("policy_version", String(32), nullable=False),
    Column("explanation", Text, nullable=False),
    Column("position", BIG, nullable=False),
    Column("reversed_at", DATE),
    Column("reversal_reason", Text),
    Column("reversal_amount_fen", BIG),
    Column("reversal_position", BIG),
    Index("ix_claims_journal_household", "household_id", "position"),
)

# --- fund_ledger ------------------------------------------------------------------------------

#: Items: contribution (key: channel), subsidy (key: identity or age basis), refund (key:
#: reason), reimbursement (key: settled, reversed (negative)), fiscal_due (key: "").
fund_ledger = Table(
    "fund_ledger", metadata,
    Column("region", String(6), nullable=False),
    Column("year", Integer, nullable=False),
    Column("item", String(16), nullable=False),
    Column("key", String(32), nullable=False),
    Column("amount_fen", BIG, nullable=False),
    PrimaryKeyConstraint("region", "year", "item", "key"),
    **CLUSTERED,
)

# --- enrollment -------------------------------------------------------------------------------

#: registered: people registered in the region, by the year of their registration, under
#: identity "" (no identity is known at registration); enrolled and covered: person-years of
#: the benefit year, by the identity of the enrollment ("" for none), terminated ones excluded.
enrollment = Table(
    "enrollment", metadata,
    Column("region", String(6), nullable=False),
    Column("year", Integer, nullable=False),
    Column("identity", String(32), nullable=False),
    Column("registered", Integer, nullable=False),
    Column("enrolled", Integer, nullable=False),
    Column("covered", Integer, nullable=False),
    PrimaryKeyConstraint("region", "year", "identity"),
    **CLUSTERED,
)

#: One row per person-year a department's roster names (ADR 65): the county whose roster it
#: is, the person (pseudonym, as in person_year_version) and the identity it recognises. The
#: enrollment report divides the covered among them by their count.
identity_roster = Table(
    "identity_roster", metadata,
    Column("year", Integer, nullable=False),
    Column("person", String(64), nullable=False),
    Column("region", String(6), nullable=False),
    Column("identity", String(32), nullable=False),
    Column("position", BIG, nullable=False),
    PrimaryKeyConstraint("year", "person"),
    **CLUSTERED,
)

#: The views (`catalog.VIEWS`, in that order) and the tables each owns (rebuilt together).
VIEW_TABLES: dict[str, tuple[Table, ...]] = dict(zip(VIEWS, (
    (person_registry, person_year_version),  # person_year
    (household_pool, household_member),  # household_pool
    (claims_journal,),  # claims_journal
    (fund_ledger,),  # fund_ledger
    (enrollment, identity_roster),  # enrollment
), strict=True))
