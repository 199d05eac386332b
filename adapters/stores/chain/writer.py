"""Writing the chain, shared by both chained recorders: the links, the key check, the cache
of streams' last links and the adoption of events older than the chain."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from itertools import islice
from typing import Any

from adapters.stores.chain.errors import AuditKeyMismatch, ChainError
from adapters.stores.chain.keys import (
    AUDIT_KEY_ENV,
    GENESIS,
    HEADER,
    POSITION,
    Mac,
    is_keyed,
    key_fingerprint,
)
from adapters.stores.chain.readers import PAGE, Reader
from adapters.stores.chain.statements import (
    CHAIN_TABLE,
    META_TABLE,
    PREVIOUS_CHAINED_LINK,
    PREVIOUS_LINK,
    PREVIOUS_LOG_LINK,
    Sql,
)

FIRST_VERSION = 1  # the library's first aggregate version: nothing precedes it in a stream


class ChainWriter(ABC):
    """What both chained recorders share: the links of one transaction's events, the key
    check, the adoption of events older than the chain, and the cache of streams' last links.

    The last (version, link) of recently written streams is cached after each commit; a cached
    link is used only when its version is the one just below the new event's, so another
    writer of the same store can never make it wrong (versions are unique per stream). The
    previous log link is read inside the transaction, one query per transaction, after the
    events were inserted: the insert holds the store's write lock (SQLite's database lock,
    PostgreSQL's table lock), so nothing can change it before the commit.
    """

    def _setup_chain(self, key: bytes, sql: Sql, cache_size: int) -> None:
        self._mac = Mac(key)
        self._keyed = is_keyed(key)
        self._fingerprint = key_fingerprint(key)
        self._key_checked = False
        self._cache_size = cache_size
        self._last: dict[str, tuple[int, bytes]] = {}
        self._topics: dict[str, bytes] = {}
        self._use_format(sql)

    def _use_format(self, sql: Sql) -> None:
        """The statements for the chain's format: the one new tables are made in until the
        first write reads the store's own (an older store keeps format "1", ADR 53)."""
        self._sql = sql
        self._select_previous_link = sql(PREVIOUS_LINK)
        self._select_previous_chained_link = sql(PREVIOUS_CHAINED_LINK)
        self._select_previous_log_link = sql(PREVIOUS_LOG_LINK)

    @abstractmethod
    def _reader(self, c: Any) -> Reader:
        """A reader on the connection of the transaction `c` belongs to."""

    @abstractmethod
    def _write_links(self, c: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert chain rows; ChainError if a position already has one."""

    def _committed(self, written: dict[str, tuple[int, bytes]]) -> None:
        """Only after the commit may the caches believe what was written."""
        self._key_checked = True
        self._remember(written)

    def _link(self, c: Any, events: list[tuple[str, int, str, bytes, int]],
              known: dict[str, tuple[int, bytes]] | None = None,
              last_log: tuple[int, bytes] | None | bool = False
              ) -> dict[str, tuple[int, bytes]]:
        """Write the chain rows of the events (hex id, version, topic, state, notification
        id) just inserted in the transaction `c`; returns the streams' new last links.

        `known` holds streams' latest (version, link) and `last_log` the log's latest
        (notification id, log link), or None for an empty chain, when the caller read them
        under the write lock before inserting (False: not read, read them here)."""
        first = min(e[4] for e in events)
        if not self._key_checked:
            self._check_key(c, first)
            last_log = False  # events older than the chain may just have been adopted
        if last_log is False or (last_log is not None and last_log[0] >= first):
            c.execute(self._select_previous_log_link, (first,))
            found = c.fetchone()
            log_link = found[0] if found is not None else GENESIS
        else:
            log_link = last_log[1] if last_log is not None else GENESIS
        chained = self._chain(c, events, log_link, known or {})
        if chained is None:  # versions or positions out of order: link them sorted
            chained = self._chain_sorted(c, events, log_link)
        rows, written = chained
        self._write_links(c, rows)
        return written

    def _chain(self, c: Any, events: list[tuple[str, int, str, bytes, int]],
               log_link: bytes, known: dict[str, tuple[int, bytes]]
               ) -> tuple[list[tuple[Any, ...]], dict[str, tuple[int, bytes]]] | None:
        """Chain rows for events in notification order whose streams' versions ascend;
        None if they do not. (`Mac.link` and `Mac.log_link`, inlined: this runs per event.)"""
        inner, outer = self._mac._inner.copy, self._mac._outer.copy
        header = HEADER.pack
        pack_position = POSITION.pack
        join = b"".join
        topics = self._topics
        last = self._last
        batch: dict[str, tuple[int, bytes]] = {}
        rows = []
        position = 0
        for oid, version, topic, state, nid in events:
            if nid <= position:
                return None
            position = nid
            got = batch.get(oid)
            if got is not None:
                if got[0] == version - 1:
                    previous = got[1]
                elif got[0] >= version:
                    return None
                else:
                    previous = self._previous_link(c, oid, version, got)
            elif version == FIRST_VERSION:
                previous = GENESIS
            else:
                cached = last.get(oid)
                if cached is None or cached[0] != version - 1:
                    cached = known.get(oid)
                previous = (cached[1] if cached is not None and cached[0] == version - 1
                            else self._previous_link(c, oid, version, None))
            o = oid.encode("utf-8")
            t = topics.get(topic)
            if t is None:
                t = topics[topic] = topic.encode("utf-8")
            h = inner()
            h.update(join((previous, header(version, len(o), len(t), len(state)), o, t, state)))
            m = outer()
            m.update(h.digest())
            link = m.digest()
            h = inner()
            h.update(join((log_link, link, pack_position(nid))))
            m = outer()
            m.update(h.digest())
            log_link = m.digest()
            batch[oid] = (version, link)
            rows.append((nid, oid, version, link, log_link))
        return rows, batch

    def _chain_sorted(self, c: Any, events: list[tuple[str, int, str, bytes, int]],
                      log_link: bytes
                      ) -> tuple[list[tuple[Any, ...]], dict[str, tuple[int, bytes]]]:
        mac = self._mac
        batch: dict[str, tuple[int, bytes]] = {}
        links: dict[int, tuple[str, int, bytes]] = {}
        for oid, version, topic, state, nid in sorted(events, key=lambda e: (e[0], e[1])):
            got = batch.get(oid)
            if got is not None and got[0] >= version:
                raise ChainError(f"stream {oid} has two events at version {version}")
            previous = (got[1] if got is not None and got[0] == version - 1
                        else self._previous_link(c, oid, version, got))
            link = mac.link(previous, oid, version, topic, state)
            batch[oid] = (version, link)
            links[nid] = (oid, version, link)
        rows = []
        for nid in sorted(links):
            oid, version, link = links[nid]
            log_link = mac.log_link(log_link, link, nid)
            rows.append((nid, oid, version, link, log_link))
        return rows, batch

    def _previous_link(self, c: Any, oid: str, version: int,
                       in_batch: tuple[int, bytes] | None) -> bytes:
        """The link of the stream's greatest version below `version`, or the genesis."""
        if in_batch is None:
            cached = self._last.get(oid)
            if cached is not None and cached[0] == version - 1:
                return cached[1]
            if version <= FIRST_VERSION:
                return GENESIS
        c.execute(self._select_previous_link, (oid, version))
        found = c.fetchone()
        if found is None:
            c.execute(self._select_previous_chained_link, (oid, version))
            found = c.fetchone()
        if found is not None and (in_batch is None or found[0] > in_batch[0]):
            return found[1]
        return in_batch[1] if in_batch is not None else GENESIS

    def _uncached_streams(self, events: Iterable[tuple[str, int]]) -> list[str]:
        """The streams (hex ids) whose first event here continues a stream whose previous
        link is not in the cache."""
        seen: set[str] = set()
        wanted = []
        last = self._last
        for oid, version in events:
            if oid in seen:
                continue
            seen.add(oid)
            if version > FIRST_VERSION:
                cached = last.get(oid)
                if cached is None or cached[0] != version - 1:
                    wanted.append(oid)
        return wanted

    def _remember(self, written: dict[str, tuple[int, bytes]]) -> None:
        last = self._last
        for oid, entry in written.items():
            known = last.get(oid)
            if known is None or known[0] < entry[0]:
                last[oid] = entry
        excess = len(last) - self._cache_size
        if excess > 0:
            for oid in list(islice(last, excess + self._cache_size // 10)):
                del last[oid]

    def _check_key(self, c: Any, first_new: int) -> None:
        """Refuse a key whose fingerprint differs from the stored one; on the first write,
        store the fingerprint and chain any events recorded before the chain existed."""
        reader = self._reader(c)
        self._use_format(self._sql.of_format(reader.chain_format()))
        sql = self._sql
        c.execute(sql("SELECT value FROM {meta} WHERE name='key_fingerprint'"))
        found = c.fetchone()
        if found is not None:
            if found[0] != self._fingerprint:
                c.execute(sql("SELECT value FROM {meta} WHERE name='keyed'"))
                keyed = c.fetchone()
                raise AuditKeyMismatch(_mismatch_message(
                    found[0], self._fingerprint, keyed is not None and keyed[0] == "yes",
                    self._keyed))
            return
        c.execute(sql("SELECT 1 FROM {chain} LIMIT 1"))
        if c.fetchone() is not None:
            raise ChainError(f"{META_TABLE} has lost the audit key fingerprint while "
                             f"{CHAIN_TABLE} holds links; nothing was recorded (run the chain "
                             "verification before writing again)")
        reader.sql = sql
        adopted = _adopt(c, reader, self._mac, first_new)
        c.executemany(sql("INSERT INTO {meta} VALUES ({p},{p})"), [
            ("format", sql.format), ("key_fingerprint", self._fingerprint),
            ("keyed", "yes" if self._keyed else "no"), ("adopted_upto", str(adopted))])


def _mismatch_message(stored: str, given: str, stored_keyed: bool, given_keyed: bool) -> str:
    if not stored_keyed:
        return ("this database's event chain was written without an audit key (the public "
                f"development key); {AUDIT_KEY_ENV} is set, so nothing was recorded: unset it "
                "to write here")
    if not given_keyed:
        return (f"this database's event chain is keyed (fingerprint {stored}) and "
                f"{AUDIT_KEY_ENV} is not set; nothing was recorded")
    return (f"{AUDIT_KEY_ENV} (fingerprint {given}) is not the key this database's event "
            f"chain was written with (fingerprint {stored}); nothing was recorded")


def _adopt(c: Any, reader: Reader, mac: Mac, below: int) -> int:
    """Chain the events recorded before the chain existed (notification ids below `below`);
    returns the last such id, 0 if there were none."""
    found = reader.one("SELECT MAX(e.{pos}) FROM {events} e WHERE e.{pos}<{p}", (below,))
    last = found[0] if found else None
    if not last:
        return 0
    insert = reader.sql.insert_links()
    shape = reader.sql.link_rows
    stream, link = None, GENESIS
    rows: list[tuple[Any, ...]] = []
    for oid, version, topic, state, nid in reader.stream(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, e.{pos} FROM "
            "{events} e WHERE e.{pos}<{p} ORDER BY e.originator_id, e.originator_version",
            (below,)):
        if oid != stream:
            stream, link = oid, GENESIS
        link = mac.link(link, oid, version, topic, state)
        rows.append((nid, oid, version, link, GENESIS))
        if len(rows) >= PAGE:
            c.executemany(insert, shape(rows))
            rows = []
    if rows:
        c.executemany(insert, shape(rows))
    log_link, after = GENESIS, 0
    while True:
        page = reader.all("SELECT notification_id, link FROM {chain} WHERE notification_id>{p} "
                          "ORDER BY notification_id LIMIT {p}", (after, PAGE))
        if not page:
            return int(last)
        updates = []
        for nid, link in page:
            log_link = mac.log_link(log_link, link, nid)
            updates.append((log_link, nid))
        c.executemany(reader.sql("UPDATE {chain} SET log_link={p} WHERE notification_id={p}"),
                      updates)
        after = page[-1][0]
