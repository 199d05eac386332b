"""The chain's tables and the SQL statement templates, for SQLite and for PostgreSQL."""

from __future__ import annotations

from typing import Any

from attrs import evolve, frozen

from adapters.stores.urls import quoted

CHAIN_TABLE = "event_chain"
META_TABLE = "event_chain_meta"
#: The chain rows of new stores (ADR 53): (notification id, link, log link). Format "1", the
#: rows of older stores, also names each row's originator id and version.
CHAIN_FORMAT = "2"
FORMATS = ("1", "2")


@frozen
class Sql:
    """The chain's statements for one store: its tables, the events table's log position
    (SQLite's rowid, PostgreSQL's notification_id) and the driver's parameter mark. On
    PostgreSQL originator ids are `uuid` columns, passed as hex text with a cast."""

    events: str
    chain: str
    meta: str
    position: str = "rowid"
    p: str = "?"
    uuid: str = ""
    postgres: bool = False
    format: str = CHAIN_FORMAT

    def __call__(self, template: str) -> str:
        """A template with the store's names; `{same}` is the condition (after the join on
        the notification id) that a chain row names the event it is joined with: only
        format "1" rows name one."""
        same = (" AND c.originator_id=e.originator_id AND "
                "c.originator_version=e.originator_version" if self.named else "")
        return template.format(events=self.events, chain=self.chain, meta=self.meta,
                               pos=self.position, p=self.p, uuid=self.uuid, same=same)

    @property
    def named(self) -> bool:
        """Whether the chain rows name their event's originator id and version (format
        "1")."""
        return self.format == "1"

    def of_format(self, chain_format: str) -> Sql:
        return evolve(self, format=chain_format)

    def insert_links(self) -> str:
        """Insert chain rows given as (notification id, originator id, version, link, log
        link): format "2" takes the first and the last two."""
        if self.named:
            return self("INSERT INTO {chain} VALUES ({p},{p}{uuid},{p},{p},{p})")
        return self("INSERT INTO {chain} VALUES ({p},{p},{p})")

    def link_rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Chain rows (notification id, originator id, version, link, log link) as this
        format stores them."""
        return rows if self.named else [(r[0], r[3], r[4]) for r in rows]

    def create_tables(self) -> list[str]:
        """The chain's tables: one row per event, keyed by its notification id, and the
        meta. A table that exists keeps its format."""
        oid, number, blob = (("uuid", "bigint", "bytea") if self.postgres
                             else ("TEXT", "INTEGER", "BLOB"))
        names = (f"originator_id {oid} NOT NULL, originator_version {number} NOT NULL, "
                 if self.named else "")
        return [
            f"CREATE TABLE IF NOT EXISTS {self.chain} (notification_id {number} PRIMARY KEY, "
            f"{names}link {blob} NOT NULL, log_link {blob} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.meta} (name TEXT PRIMARY KEY, "
            "value TEXT NOT NULL)",
        ]


def sqlite_sql(events_table: str) -> Sql:
    return Sql(events_table, CHAIN_TABLE, META_TABLE)


def postgres_sql(schema: str, events_table: str) -> Sql:
    def name(table: str) -> str:
        return f"{quoted(schema)}.{quoted(table)}"

    return Sql(name(events_table), name(CHAIN_TABLE), name(META_TABLE),
               position="notification_id", p="%s", uuid="::uuid", postgres=True)


# The stream's latest version below a given one, through the events' own (originator_id,
# originator_version) index, and its chain row by the chain's notification id. Written so the
# event is found first: PostgreSQL, given the stream's id on both tables, may otherwise scan
# the whole chain table for it.
PREVIOUS_LINK = (
    "SELECT e.originator_version, c.link FROM (SELECT {pos} AS pos, originator_id, "
    "originator_version FROM {events} WHERE originator_id={p}{uuid} AND originator_version<{p} "
    "ORDER BY originator_version DESC LIMIT 1) e "
    "JOIN {chain} c ON c.notification_id=e.pos{same}")
# The stream's latest *chained* version below a given one: needed only when the latest event
# has no chain row (a damaged store).
PREVIOUS_CHAINED_LINK = (
    "SELECT e.originator_version, c.link FROM {events} e "
    "JOIN {chain} c ON c.notification_id=e.{pos}{same} "
    "WHERE e.originator_id={p}{uuid} AND e.originator_version<{p} "
    "ORDER BY e.originator_version DESC LIMIT 1")
PREVIOUS_LOG_LINK = ("SELECT log_link FROM {chain} WHERE notification_id<{p} "
                     "ORDER BY notification_id DESC LIMIT 1")
