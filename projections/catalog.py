"""The read models by name, and the table of their tracked positions: what a reader of the
views needs to know of them without their SQLAlchemy tables (`projections.tables`)."""

from __future__ import annotations

#: The views, each rebuilt alone with the tables it owns (`tables.VIEW_TABLES`).
VIEWS: tuple[str, ...] = ("person_year", "household_pool", "claims_journal", "fund_ledger",
                          "enrollment")
#: One row per view: the position up to which the view's rows are complete.
TRACKING_TABLE = "view_tracking"
