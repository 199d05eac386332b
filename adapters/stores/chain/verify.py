"""`verify_chain`: the key checks, both walks and the seal, in one read-only transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteApplicationRecorder

from adapters.stores.chain.errors import ChainError
from adapters.stores.chain.keys import AUDIT_KEY_ENV, GENESIS, Mac, is_keyed, key_fingerprint
from adapters.stores.chain.log_walk import report_breaks, walk_log
from adapters.stores.chain.readers import PostgresReader, Reader, SQLiteReader
from adapters.stores.chain.report import ChainReport, Problems, Seal
from adapters.stores.chain.statements import CHAIN_TABLE, META_TABLE, postgres_sql, sqlite_sql
from adapters.stores.chain.stream_walk import classify, walk_streams
from adapters.stores.urls import is_postgres

_NO_LIMIT = 2**63 - 1


def verify_chain(app_or_recorder: Any, key: bytes, upto: int | None = None, *,
                 expected_seal: Seal | None = None, max_problems: int = 1000) -> ChainReport:
    """Check every stream in version order and the log in notification order (only positions
    up to `upto` when given); every difference from the keyed chain becomes a located problem.

    `expected_seal`, a seal kept outside the database, also catches a removed tail of the log.
    Reads in one transaction (a snapshot), a page at a time, on SQLite or PostgreSQL.
    """
    recorder = getattr(app_or_recorder, "recorder", app_or_recorder)
    try:
        with _chain_reader(recorder) as reader:
            return _verify(reader, key, upto, expected_seal, max_problems)
    except (sqlite3.OperationalError, OperationalError) as e:  # the library wraps it
        if "UTF-8" not in str(e):
            raise
    # SQLite text that is not UTF-8 (a column altered into text): read again, such text
    # as its bytes, for the walks to report (a Python call per text value: only then)
    with _chain_reader(recorder, tolerant=True) as reader:
        return _verify(reader, key, upto, expected_seal, max_problems)


@contextmanager
def _chain_reader(recorder: Any, tolerant: bool = False) -> Iterator[Reader]:
    """A reader of the recorder's store, in one read-only transaction (`tolerant`: SQLite
    text that is not UTF-8 read as bytes)."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.get_connection(commit=False) as conn, \
                conn.transaction(commit=False) as c:
            db = c.sqlite_cursor.connection
            text_factory = db.text_factory
            if tolerant:
                db.text_factory = _text_or_bytes
            try:
                yield SQLiteReader(db, sqlite_sql(recorder.events_table_name)).in_its_format()
            finally:
                db.text_factory = text_factory
    elif is_postgres(recorder, "PostgresApplicationRecorder"):
        with recorder.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield PostgresReader(conn, postgres_sql(recorder.datastore.schema,
                                                    recorder.events_table_name)
                                 ).in_its_format()
    else:
        raise ChainError("the event chain is kept for SQLite and PostgreSQL stores only")


def _verify(reader: Reader, key: bytes, upto: int | None, expected_seal: Seal | None,
            max_problems: int) -> ChainReport:
    mac = Mac(key)
    limit = _NO_LIMIT if upto is None else upto
    problems = Problems(max_problems)
    notes: list[str] = []
    if not is_keyed(key):
        notes.append("the chain is checked with the public development key: it detects "
                     "accidental damage, not deliberate tampering (set "
                     f"{AUDIT_KEY_ENV} when the ledger is written)")
    if not reader.has_chain():
        raise ChainError(f"this database has no event chain ({CHAIN_TABLE}): it was never "
                         "written by the ledger")
    meta = dict(reader.all("SELECT name, value FROM {meta}"))
    adopted = int(meta.get("adopted_upto", "0") or 0)
    if adopted:
        notes.append(f"events up to position {adopted} were recorded before the chain "
                     "existed and were chained when it was introduced: the chain vouches "
                     "for them only from then on")
    stored_fp = meta.get("key_fingerprint")
    has_links, has_events = reader.one("SELECT EXISTS (SELECT 1 FROM {chain}), EXISTS "
                                       "(SELECT 1 FROM {events} e WHERE e.{pos}<={p})",
                                       (limit,)) or (False, False)
    if not has_links and has_events:
        n_events = reader.one("SELECT COUNT(*) FROM {events} e WHERE e.{pos}<={p}",
                              (limit,))[0]
        problems.add("missing_link", None, None, None, (
            f"none of the {n_events} events has a chain link: the chain was removed, or "
            "the database predates it and has not been written to by the ledger since"))
        return ChainReport(0, 0, 0, is_keyed(key), None, tuple(problems.items),
                           problems.count, upto, adopted, tuple(notes))
    if stored_fp != key_fingerprint(key):
        verdict = _probe_key(reader, mac)
        if verdict is False or (verdict is None and stored_fp is not None):
            problems.add("wrong_key", None, None, None, (
                f"the key given (fingerprint {key_fingerprint(key)}) is not the key this "
                f"chain was written with (fingerprint {stored_fp or 'missing'}); no link "
                "was checked"))
            return ChainReport(0, 0, 0, is_keyed(key), None, tuple(problems.items),
                               problems.count, upto, adopted, tuple(notes))
        if verdict is True:
            problems.add("fingerprint", None, None, None, (
                f"{META_TABLE} holds the key fingerprint {stored_fp or '(none)'} but the "
                "links verify under this key: the fingerprint was altered"))
    log = walk_log(reader, mac, limit, problems)
    suspects, unlinked, counts = walk_streams(reader, mac, limit, log, problems)
    classify(suspects, mac, problems)
    report_breaks(log.breaks, problems, unlinked)
    if expected_seal is not None:
        _check_seal(reader, expected_seal, problems)
    else:
        notes.append("without a seal kept outside the database, the removal of the "
                     "log's very last events cannot be told apart from a shorter log: "
                     "keep this report's seal, and check against it next time")
    events_checked, streams_checked = counts
    ordered = sorted(problems.items, key=lambda p: (p.position is None, p.position or 0,
                                                     p.originator_id or "", p.version or 0))
    return ChainReport(events_checked, streams_checked, log.count, is_keyed(key), log.seal,
                       tuple(ordered), problems.count, upto, adopted, tuple(notes))


def _probe_key(reader: Reader, mac: Mac) -> bool | None:
    """Whether a few log links verify under this key; None if the chain is empty."""
    select = ("SELECT notification_id, link, log_link FROM {chain} "
              "ORDER BY notification_id {order} LIMIT 6")
    rows = reader.all(select.replace("{order}", "ASC"))
    if not rows:
        return None
    tail = reader.all(select.replace("{order}", "DESC"))[::-1]
    if rows[0][2] == mac.log_link(GENESIS, rows[0][1], rows[0][0]):
        return True
    for group in (rows, tail):
        for before, after in zip(group, group[1:], strict=False):
            if after[2] == mac.log_link(before[2], after[1], after[0]):
                return True
    return False


def _check_seal(reader: Reader, seal: Seal, problems: Problems) -> None:
    found = [r[0] for r in reader.all("SELECT log_link FROM {chain} WHERE notification_id={p}",
                                      (seal.position,))]
    if not found:
        end = reader.one("SELECT MAX(notification_id) FROM {chain}")[0] or 0
        problems.add("deleted", None, None, seal.position,
                     f"the seal is at position {seal.position} but the log ends at position "
                     f"{end}: the events after it were removed")
    elif not any(isinstance(f, bytes) and f.hex() == seal.log_link for f in found):
        problems.add("edited", None, None, seal.position,
                     f"the log link at the sealed position {seal.position} differs from the "
                     "seal: the log up to it was rewritten")


def _text_or_bytes(value: bytes) -> str | bytes:
    """SQLite text as str, or as its bytes when it is not UTF-8 (a compressed state turned
    into text by an edit): the walks then report it instead of failing to read it."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value
