"""The keyed hash chain on a real SQLite file: each attack is detected and located."""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import RecordConflictError, StoredEvent
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adapters.application.ledger import Ledger
from adapters.composition import configured_audit_key, open_ledger, open_views
from adapters.generator import generate_county
from adapters.stores.chain import (
    AUDIT_KEY_ENV,
    DEVELOPMENT_KEY,
    AuditKeyMismatch,
    ChainError,
    ChainReport,
    Mac,
    canonical,
    key_fingerprint,
    verify_chain,
)
from adapters.stores.columnar import ColumnarStore
from adapters.stores.columnar.catchup import catch_up as columnar_catch_up
from adapters.stores.events import LedgerApplication
from adapters.stores.urls import store_env
from adapters.usecases.audit import run_audit
from adapters.usecases.views import fresh_in_parts, views_in_process
from domain.errors import Rejected
from domain.policy_book import PolicyBook
from projections import queries
from projections.tables import VIEWS
from projections.views import TOPICS, LedgerViews, ViewsDamaged, catch_up
from tests.support.builders import HEAD, RECORDED_AT, WIFE, claim, family, make_id
from tests.support.former import FormerLedgerApplication
from tests.support.stores import RawStore, Stores, copy_store, examples_on, raw_store, stores

KEY = b"county audit key, kept by the fund office"
CHAIN_FORMATS = ("2", "1")
OTHER_KEY = b"a key the attacker guessed, not the real one"
AT = "2020-10-01T10:00:00+08:00"


def run(ledger: Ledger, commands: list[dict]) -> list[dict]:
    return list(ledger.execute_lines([json.dumps(c, ensure_ascii=False) for c in commands]))


# --- a real history, copied for each attack ---------------------------------------------------
#
# Every attack is plain SQL on the store's own rows, done once on a SQLite file and once on a
# PostgreSQL schema (`RawStore`: `{events}`, `{chain}`, `{meta}`, `{pos}` name the tables and
# the events' log position on either store).


@pytest.fixture(scope="module", params=CHAIN_FORMATS)
def history(module_stores: Stores, book: PolicyBook, request: pytest.FixtureRequest) -> str:
    """A generated county plus a family with claims, in a closed store: chain rows of the
    current format ("2"), or of the former one ("1", and states as they are), which stores
    written before ADR 53 keep."""
    url = module_stores.new(f"history-{request.param}")
    app = (LedgerApplication(env=store_env(url), audit_key=KEY) if request.param == "2"
           else FormerLedgerApplication(env=store_env(url), audit_key=KEY))
    ledger = Ledger(app, book)
    results = run(ledger, [*generate_county(8, "fuyang-2021", 3, book), *family(),
                           claim("C-1", HEAD, "100.00"), claim("C-2", WIFE, "300.00")])
    assert sum(r["status"] == "ok" for r in results) > 100
    ledger.app.close()
    return url


@pytest.fixture
def db(history: str, tmp_path: Path) -> Iterator[str]:
    with copy_of(history, tmp_path) as url:
        yield url


def kind_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


@contextmanager
def copy_of(history: str, folder: Path) -> Iterator[str]:
    """A copy of the history's store, as a new file or a new schema."""
    with stores(kind_of(history), folder) as made:
        url = made.new("ledger")
        copy_store(history, url)
        yield url


def verify(url: str, key: bytes = KEY, **kwargs) -> ChainReport:
    app = LedgerApplication(env=store_env(url), audit_key=key)
    try:
        return verify_chain(app, key, **kwargs)
    finally:
        app.close()


def streams(url: str, at_least: int = 1) -> list[tuple[str, list[tuple[int, int]]]]:
    """Streams with at least so many events: (id, [(version, position), ...]), longest first."""
    with raw_store(url) as con:
        rows = con.execute("SELECT originator_id, originator_version, {pos} FROM {events} "
                           "ORDER BY originator_id, originator_version")
    found: dict[str, list[tuple[int, int]]] = {}
    for oid, version, position in rows:
        found.setdefault(oid, []).append((version, position))
    return sorted(((o, vs) for o, vs in found.items() if len(vs) >= at_least),
                  key=lambda s: (-len(s[1]), s[0]))


def streams_events(url: str) -> list[tuple[str, int]]:
    """Every event's (stream, version)."""
    return [(oid, version) for oid, versions in streams(url) for version, _ in versions]


def head(url: str) -> int:
    with raw_store(url) as con:
        return con.one("SELECT MAX({pos}) FROM {events}")[0]


def event_row(con: RawStore, oid: str, version: int) -> tuple[int, str, bytes]:
    return con.one("SELECT {pos}, topic, state FROM {events} WHERE originator_id=? AND "
                   "originator_version=?", (oid, version))


def edit_one_byte(state: bytes) -> bytes:
    """A plausible edit: one digit of the JSON changed (an amount, a date, an id)."""
    for i, b in enumerate(state):
        if 48 <= b <= 57:
            return state[:i] + bytes([48 + (b - 47) % 10]) + state[i + 1:]
    return state + b" "


def kinds(report: ChainReport) -> set[str]:
    return {p.kind for p in report.problems}


def at(report: ChainReport, oid: str | None = None, version: int | None = None,
       position: int | None = None) -> list[str]:
    """The kinds of the problems located at this stream/version and/or position."""
    return [p.kind for p in report.problems
            if (oid is None or p.originator_id == oid)
            and (version is None or p.version == version)
            and (position is None or p.position == position)]


# --- the links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key_length", [0, 1, 16, 63, 64, 65, 200])
def test_the_links_are_hmac_sha256_under_the_key(key_length: int) -> None:
    key = bytes(i % 256 for i in range(key_length))
    mac = Mac(key)
    for message in (b"", b"x", bytes(64), bytes(range(256)) * 3):
        assert mac.digest(message) == hmac.new(key, message, hashlib.sha256).digest()
    previous = bytes(32)
    assert mac.link(previous, "ab", 2, "t", b"{}") == hmac.new(
        key, previous + canonical("ab", 2, "t", b"{}"), hashlib.sha256).digest()


def test_the_canonical_form_of_an_event_is_unambiguous() -> None:
    forms = {canonical("ab", 1, "c", b"d"), canonical("a", 1, "bc", b"d"),
             canonical("ab", 1, "cd", b""), canonical("ab", 1, "", b"cd"),
             canonical("ab", 11, "c", b"d"), canonical("ab1", 1, "c", b"d")}
    assert len(forms) == 6


# --- a clean ledger ----------------------------------------------------------------------------


def test_the_same_history_is_chained_in_the_same_bytes_on_sqlite_and_postgresql(
        tmp_path: Path, book: PolicyBook) -> None:
    seals, links = [], []
    with stores("sqlite", tmp_path) as lite, stores("postgresql", tmp_path) as pg:
        for made in (lite, pg):
            url = made.new("same")
            ledger = Ledger(LedgerApplication(env=store_env(url), audit_key=KEY), book,
                            clock=lambda: RECORDED_AT)
            run(ledger, [*family(), claim("C-1", HEAD, "100.00")])
            run(ledger, [claim("C-2", WIFE, "300.00")])
            ledger.app.close()
            seals.append(verify(url).seal)
            with raw_store(url) as con:
                links.append(con.execute("SELECT * FROM {chain} ORDER BY notification_id"))
    assert links[0] == links[1] and len(links[0]) > 10
    assert seals[0] == seals[1]



def test_a_clean_ledger_verifies_with_no_problems_and_gives_a_seal(db: str) -> None:
    report = verify(db)
    assert report.ok and report.problems == () and report.problem_count == 0
    assert report.keyed
    assert report.events_checked == report.links_checked == head(db)
    assert report.streams_checked == len(streams(db))
    assert report.seal is not None and report.seal.position == head(db)
    assert len(bytes.fromhex(report.seal.log_link)) == 32
    assert verify(db, expected_seal=report.seal).ok


def test_every_event_has_exactly_one_chain_row_at_its_position(db: str) -> None:
    with raw_store(db) as con:
        events = con.execute("SELECT {pos}, originator_id, originator_version FROM {events} "
                             "ORDER BY {pos}")
        named = con.chain_format() == "1"
        chain = con.execute(("SELECT notification_id, originator_id, originator_version "
                             if named else "SELECT notification_id ") +
                            "FROM {chain} ORDER BY notification_id")
    assert (events if named else [e[:1] for e in events]) == chain and chain


def test_verifying_up_to_a_position_checks_only_the_log_up_to_it(db: str) -> None:
    middle = head(db) // 2
    report = verify(db, upto=middle)
    assert report.ok and report.events_checked == middle and report.seal.position == middle
    oid, versions = streams(db, 2)[0]
    with raw_store(db) as con:  # damage after the position is not in scope
        late = max(p for _, p in versions)
        con.execute("UPDATE {events} SET state=state||' ' WHERE {pos}=?", (late,))
    assert verify(db, upto=late - 1).ok
    assert at(verify(db), position=late) == ["edited"]


# --- (a) an edited event -----------------------------------------------------------------------


def test_an_edited_event_is_found_at_its_stream_version_and_position(db: str) -> None:
    oid, versions = streams(db, 4)[0]
    version, position = versions[1]
    with raw_store(db) as con:
        _, _, state = event_row(con, oid, version)
        con.execute("UPDATE {events} SET state=? WHERE {pos}=?",
                    (edit_one_byte(state), position))
    report = verify(db)
    assert [(p.kind, p.originator_id, p.version, p.position) for p in report.problems] == [
        ("edited", oid, version, position)]
    assert f"stream {oid} version {version} (position {position})" in report.problems[0].message


def test_an_edited_topic_is_found_too(db: str) -> None:
    oid, versions = streams(db, 3)[0]
    version, position = versions[-1]
    with raw_store(db) as con:
        con.execute("UPDATE {events} SET topic=topic||'X' WHERE {pos}=?", (position,))
    assert at(verify(db)) == ["edited"]
    assert at(verify(db), oid, version, position) == ["edited"]


def test_an_event_and_its_link_rewritten_under_a_guessed_key_are_found(db: str) -> None:
    oid, versions = streams(db, 4)[0]
    version, position = versions[1]
    forger = Mac(OTHER_KEY)
    with raw_store(db) as con:
        _, topic, state = event_row(con, oid, version)
        previous = con.link_of(oid, version - 1)
        previous_log = con.one("SELECT log_link FROM {chain} WHERE "
                                   "notification_id<? ORDER BY notification_id DESC LIMIT 1",
                                   (position,))[0]
        state = edit_one_byte(state)
        link = forger.link(previous, oid, version, topic, state)
        con.execute("UPDATE {events} SET state=? WHERE {pos}=?", (state, position))
        con.execute("UPDATE {chain} SET link=?, log_link=? WHERE notification_id=?",
                    (link, forger.log_link(previous_log, link, position), position))
    report = verify(db)
    assert at(report, oid, version, position) == ["edited"]
    assert "rewritten" in report.problems[0].message
    assert all(p.originator_id == oid or p.position == position for p in report.problems)


# --- (b) deleted events ------------------------------------------------------------------------


def test_a_deleted_event_in_the_middle_of_a_stream_is_found_in_its_stream_and_log(
        db: str) -> None:
    oid, versions = streams(db, 4)[0]
    version, position = versions[1]
    with raw_store(db) as con:  # a careful attacker removes the chain row too
        con.execute("DELETE FROM {events} WHERE {pos}=?", (position,))
        con.execute("DELETE FROM {chain} WHERE notification_id=?", (position,))
    report = verify(db)
    assert kinds(report) == {"deleted"}
    assert at(report, oid, version) == ["deleted"]  # the stream has lost this version
    assert at(report, position=position) == ["deleted"]  # the log has lost this position
    assert report.problem_count == 2


def test_the_deleted_last_event_of_a_stream_is_found_by_the_log(db: str) -> None:
    last = head(db)
    oid, versions = next((o, vs) for o, vs in streams(db, 2) if vs[-1][1] < last - 5)
    version, position = versions[-1]
    with raw_store(db) as con:
        con.execute("DELETE FROM {events} WHERE {pos}=?", (position,))
        con.execute("DELETE FROM {chain} WHERE notification_id=?", (position,))
    report = verify(db)
    assert [(p.kind, p.position) for p in report.problems] == [("deleted", position)]
    assert f"position {position} of the log is gone" in report.problems[0].message


def test_the_deleted_end_of_the_log_is_found_against_a_seal_kept_outside(db: str) -> None:
    seal = verify(db).seal
    last = head(db)
    with raw_store(db) as con:
        for table, column in (("{events}", "{pos}"), ("{chain}", "notification_id")):
            con.execute(f"DELETE FROM {table} WHERE {column}>=?", (last - 1,))
    unsealed = verify(db)
    assert unsealed.ok  # a shorter log looks whole from inside the database …
    assert any("seal" in note for note in unsealed.notes)
    sealed = verify(db, expected_seal=seal)  # … but not against the auditor's seal
    assert [(p.kind, p.position) for p in sealed.problems] == [("deleted", last)]


def test_a_chain_row_deleted_alone_is_a_missing_link(db: str) -> None:
    oid, versions = streams(db, 4)[0]
    version, position = versions[1]
    with raw_store(db) as con:
        con.execute("DELETE FROM {chain} WHERE notification_id=?", (position,))
    report = verify(db)
    assert [(p.kind, p.originator_id, p.version, p.position) for p in report.problems] == [
        ("missing_link", oid, version, position)]


def test_an_event_deleted_alone_leaves_an_orphan_link_that_is_reported(db: str) -> None:
    oid, versions = streams(db, 4)[0]
    version, position = versions[2]
    with raw_store(db) as con:
        con.execute("DELETE FROM {events} WHERE {pos}=?", (position,))
    report = verify(db)
    assert [(p.kind, p.originator_id, p.version, p.position) for p in report.problems] == [
        ("deleted", oid, version, position)]
    assert "its chain link remains" in report.problems[0].message


# --- (c) inserted events -----------------------------------------------------------------------


def forge_next_event(con: RawStore, oid: str, last_version: int) -> int:
    """A copy of the stream's last event as a new version, appended to the log."""
    _, topic, state = event_row(con, oid, last_version)
    return con.insert_event(oid, last_version + 1, topic, edit_one_byte(state))


def test_an_inserted_event_without_a_chain_link_is_found(db: str) -> None:
    oid, versions = streams(db, 3)[0]
    version = versions[-1][0]
    with raw_store(db) as con:
        position = forge_next_event(con, oid, version)
    report = verify(db)
    assert [(p.kind, p.originator_id, p.version, p.position) for p in report.problems] == [
        ("inserted", oid, version + 1, position)]


def test_a_write_after_an_unchained_event_links_to_the_latest_chained_one(db: str) -> None:
    oid, versions = streams(db, 3)[0]
    version = versions[-1][0]
    with raw_store(db) as con:
        forge_next_event(con, oid, version)  # version + 1 has no chain row
        chained = con.link_of(oid, version)
    app = LedgerApplication(env=store_env(db), audit_key=KEY)  # caches no link
    state = b'{"after":"the forgery"}'
    app.recorder.insert_events([StoredEvent(originator_id=UUID(oid),
                                            originator_version=version + 2,
                                            topic="tests:Next", state=state)])
    app.close()
    with raw_store(db) as con:
        link = con.link_of(oid, version + 2)
    assert bytes(link) == Mac(KEY).link(bytes(chained), oid, version + 2, "tests:Next", state)


def test_an_inserted_event_with_a_link_forged_under_a_wrong_key_is_found(db: str) -> None:
    oid, versions = streams(db, 3)[0]
    version = versions[-1][0]
    forger = Mac(OTHER_KEY)
    with raw_store(db) as con:
        position = forge_next_event(con, oid, version + 0)
        _, topic, state = event_row(con, oid, version + 1)
        previous = con.link_of(oid, version)
        previous_log = con.one("SELECT log_link FROM {chain} ORDER BY "
                                   "notification_id DESC LIMIT 1")[0]
        link = forger.link(previous, oid, version + 1, topic, state)
        con.insert_link(position, oid, version + 1, link,
                        forger.log_link(previous_log, link, position))
    report = verify(db)
    assert [(p.kind, p.originator_id, p.version, p.position) for p in report.problems] == [
        ("inserted", oid, version + 1, position)]


def test_a_whole_forged_stream_is_found_event_by_event(db: str) -> None:
    forged = UUID(int=12345).hex
    model = streams(db)[0][0]
    with raw_store(db) as con:
        _, topic, state = event_row(con, model, 1)
        positions = []
        for version in (1, 2):
            positions.append(con.insert_event(forged, version, topic, state))
    report = verify(db)
    assert [(p.kind, p.originator_id, p.version, p.position) for p in report.problems] == [
        ("inserted", forged, 1, positions[0]), ("inserted", forged, 2, positions[1])]


# --- (d) swapped events ------------------------------------------------------------------------


def swap(con: RawStore, a: int, b: int) -> None:
    """Swap the topic and state of the events at two positions."""
    rows = {p: con.one("SELECT topic, state FROM {events} WHERE {pos}=?", (p,)) for p in (a, b)}
    for p, q in ((a, b), (b, a)):
        con.execute("UPDATE {events} SET topic=?, state=? WHERE {pos}=?", (*rows[q], p))


def test_two_events_of_one_stream_swapped_are_found_as_reordered(db: str) -> None:
    oid, versions = streams(db, 4)[0]
    (v1, p1), (v2, p2) = versions[1], versions[2]
    with raw_store(db) as con:
        swap(con, p1, p2)
    report = verify(db)
    assert [(p.kind, p.originator_id, p.version, p.position) for p in report.problems] == [
        ("reordered", oid, v1, p1), ("reordered", oid, v2, p2)]
    assert f"holds the event recorded as stream {oid} version {v2}" in (
        report.problems[0].message)


def test_two_events_of_different_streams_swapped_are_found_as_reordered(db: str) -> None:
    (a, va), (b, vb) = streams(db, 3)[:2]
    (v1, p1), (v2, p2) = va[1], vb[1]
    with raw_store(db) as con:
        swap(con, p1, p2)
    report = verify(db)
    assert sorted((p.kind, p.originator_id, p.version, p.position) for p in report.problems) \
        == sorted([("reordered", a, v1, p1), ("reordered", b, v2, p2)])


def test_two_events_swapped_in_the_log_order_are_found_as_reordered(db: str) -> None:
    (a, va), (b, vb) = streams(db, 3)[:2]
    (v1, p1), (v2, p2) = va[1], vb[1]
    with raw_store(db) as con:  # renumber: each event takes the other's position
        con.execute("UPDATE {events} SET {pos}=-1 WHERE {pos}=?", (p1,))
        con.execute("UPDATE {events} SET {pos}=? WHERE {pos}=?", (p1, p2))
        con.execute("UPDATE {events} SET {pos}=? WHERE {pos}=-1", (p2,))
    report = verify(db)
    assert sorted((p.kind, p.originator_id, p.version, p.position) for p in report.problems) \
        == sorted([("reordered", a, v1, p2), ("reordered", b, v2, p1)])


# --- every single attack, anywhere --------------------------------------------------------------

ATTACKS = ("edit", "delete_both", "delete_event", "delete_link", "insert", "swap_in_stream",
           "swap_across", "edit_link")


def attack_store(db: str, attack: str, pick: int, other: int) -> set | None:
    """Carry out one attack on the store behind the ledger's back; the (stream, version) and
    position it hit, or None when it has nothing to act on (a swap without a partner)."""
    all_streams = streams(db)
    oid, versions = all_streams[pick % len(all_streams)]
    version, position = versions[pick % len(versions)]
    targets = {(oid, version), position}
    with raw_store(db) as con:
        if attack == "edit":
            _, _, state = event_row(con, oid, version)
            con.execute("UPDATE {events} SET state=? WHERE {pos}=?",
                        (edit_one_byte(state), position))
        elif attack == "edit_link":
            con.execute("UPDATE {chain} SET link=? WHERE notification_id=?",
                        (bytes(32), position))
        elif attack in ("delete_both", "delete_event", "delete_link"):
            if attack != "delete_link":
                con.execute("DELETE FROM {events} WHERE {pos}=?", (position,))
            if attack != "delete_event":
                con.execute("DELETE FROM {chain} WHERE notification_id=?", (position,))
        elif attack == "insert":
            position = forge_next_event(con, oid, versions[-1][0])
            targets = {(oid, versions[-1][0] + 1), position}
        else:
            if attack == "swap_in_stream":
                pool = [p for _, p in versions if p != position]
            else:
                pool = [p for o, vs in all_streams if o != oid for _, p in vs]
            if not pool:
                return None
            partner = pool[other % len(pool)]
            rows = [con.one("SELECT topic, state FROM {events} WHERE {pos}=?", (p,))
                    for p in (position, partner)]
            if rows[0] == rows[1]:
                return None  # swapping equal contents changes nothing
            swap(con, position, partner)
    return targets


@pytest.mark.parametrize("attack", ATTACKS)
def test_any_attack_with_the_views_on_is_reported_by_the_audit_and_never_crashes_a_query(
        db: str, book: PolicyBook, attack: str) -> None:
    ledger = open_ledger(db, book, audit_key=KEY)
    views = open_views(ledger.app, book, db)
    catch_up(ledger.app, views)  # the views stand at the head before the attack
    views.engine.dispose()
    ledger.app.close()
    household = max(streams(db), key=lambda s: len(s[1]))  # a household with claims
    pick = streams(db).index(household) + len(streams(db)) * (len(household[1]) - 1)
    targets = attack_store(db, attack, pick, 7)
    assert targets is not None
    ledger = open_ledger(db, book, audit_key=KEY)
    views = open_views(ledger.app, book, db)
    try:
        report = run_audit(ledger.app, book, views)
        assert not report["clean"], attack
        located = {p.get("position") for p in report["chain"]["problems"]} | {
            (p.get("originator_id"), p.get("version")) for p in report["chain"]["problems"]}
        assert located & targets, (attack, report["chain"]["problems"])
        try:
            queries.household(views.engine, HEAD, 2021, personal=views.personal,
                              refresh=lambda: catch_up(ledger.app, views))
        except (ViewsDamaged, Rejected):
            pass  # a clear refusal naming the damage; anything else fails the test
    finally:
        views.engine.dispose()
        ledger.app.close()


def forged_claim_copy(db: str, book: PolicyBook, first: bool, views_to: int | None = None
                      ) -> tuple[int, int]:
    """A settled claim's event copied to the end of its stream, the views caught up first: to
    the head (the last claim copied) or to the claim (the first one: the views far behind),
    or to `views_to`. Returns the claim's position and the copy's."""
    with raw_store(db) as con:
        claim, oid, topic, state = con.one(
            "SELECT {pos}, originator_id, topic, state FROM {events} WHERE topic LIKE ? ORDER BY "
            "{pos}" + ("" if first else " DESC") + " LIMIT 1", ("%OutpatientClaimSettled",))
    ledger = open_ledger(db, book, audit_key=KEY)
    views = open_views(ledger.app, book, db)
    catch_up(ledger.app, views, stop=views_to if views_to is not None
             else claim if first else None)
    views.engine.dispose()
    ledger.app.close()
    with raw_store(db) as con:
        last = con.one("SELECT MAX(originator_version) FROM {events} WHERE originator_id=?",
                       (oid,))[0]
        return claim, con.insert_event(oid, last + 1, topic, bytes(state))


@contextmanager
def opened(db: str, book: PolicyBook) -> Iterator[tuple[Ledger, LedgerViews]]:
    """The store's ledger and views, closed after."""
    ledger = open_ledger(db, book, audit_key=KEY)
    views = open_views(ledger.app, book, db)
    try:
        yield ledger, views
    finally:
        views.engine.dispose()
        ledger.app.close()


def test_a_forged_copy_of_a_settled_claim_stops_the_views_at_its_position_with_a_reason(
        db: str, book: PolicyBook) -> None:
    _, position = forged_claim_copy(db, book, first=False)
    with opened(db, book) as (ledger, views):
        with pytest.raises(ViewsDamaged, match=f"event at position {position} .*audit verify"):
            queries.household(views.engine, HEAD, 2021, personal=views.personal,
                              refresh=lambda: catch_up(ledger.app, views))
        report = run_audit(ledger.app, book, views)
        assert ("inserted", position) in {(p["kind"], p["position"])
                                          for p in report["chain"]["problems"]}
        assert [p["position"] for p in report["views"]["problems"]] == [position]
        scratch = open_views(ledger.app, book, "memory://")
        in_parts = fresh_in_parts(3, lambda app: views_in_process(app, scratch, VIEWS))
        assert run_audit(ledger.app, book, views, fresh_views=in_parts) == report
        scratch.engine.dispose()


def test_a_catch_up_far_behind_a_forged_event_still_stops_at_its_own_position(
        db: str, book: PolicyBook) -> None:
    first, position = forged_claim_copy(db, book, first=True)
    with opened(db, book) as (ledger, views):
        behind = position - min(views.positions().values())
        assert behind > 40
        with pytest.raises(ViewsDamaged, match=f"event at position {position} "):
            catch_up(ledger.app, views, batch_size=7, far_step=behind // 4)
        before = ledger.app.recorder.select_notifications(first + 1, 10**6, stop=position - 1,
                                                          topics=TOPICS)
        assert set(views.positions().values()) == {before[-1].id}  # the good ones committed


def test_a_forged_copy_folded_in_the_batch_of_its_original_stops_the_views_at_its_position(
        db: str, book: PolicyBook) -> None:
    with raw_store(db) as con:
        head = con.one("SELECT MAX({pos}) FROM {events}")[0]
    _, position = forged_claim_copy(db, book, first=False, views_to=head // 2)  # the views
    # stand before the last claim: its settlement and the copy come in one batch
    with opened(db, book) as (ledger, views):
        with pytest.raises(ViewsDamaged, match=f"event at position {position} "):
            catch_up(ledger.app, views, batch_size=10**6, far_step=None)
        assert max(views.positions().values()) < position


def test_a_forged_copy_of_a_settled_claim_stops_the_columnar_store_before_it(
        db: str, book: PolicyBook) -> None:
    claim, position = forged_claim_copy(db, book, first=False)
    with opened(db, book) as (ledger, _):
        columns = ColumnarStore(None, ledger.app.name)
        try:
            assert columnar_catch_up(ledger.app, columns, stop=claim) == claim
            with pytest.raises(ViewsDamaged, match="settled a second time"):
                columnar_catch_up(ledger.app, columns)  # the original is a batch before
            assert columns.position == claim
            assert columns.con.execute("SELECT count(*) - count(DISTINCT claim_id) "
                                       "FROM claims").fetchall()[0][0] == 0
        finally:
            columns.close()
    assert position > claim


def test_a_forged_copy_folded_with_its_original_stops_the_columnar_store_too(
        db: str, book: PolicyBook) -> None:
    forged_claim_copy(db, book, first=False)
    with opened(db, book) as (ledger, _):
        columns = ColumnarStore(None, ledger.app.name)
        try:
            with pytest.raises(ViewsDamaged, match="settled a second time"):
                columnar_catch_up(ledger.app, columns, batch_size=10**6)  # one batch
            assert columns.position == 0
        finally:
            columns.close()


def test_any_one_attack_on_any_event_is_located(history: str, module_stores: Stores) -> None:
    @settings(max_examples=examples_on(module_stores.kind, 60), deadline=None)
    @given(attack=st.sampled_from(ATTACKS), pick=st.integers(0, 10**6),
           other=st.integers(0, 10**6))
    def located(attack: str, pick: int, other: int) -> None:
        with tempfile.TemporaryDirectory() as folder, copy_of(history, Path(folder)) as db:
            seal = verify(db).seal
            targets = attack_store(db, attack, pick, other)
            assume(targets is not None)  # a swap needs a partner with other contents
            report = verify(db, expected_seal=seal)
            assert not report.ok, attack
            found = {(p.originator_id, p.version) for p in report.problems} | {
                p.position for p in report.problems}
            assert found & targets, (attack, report.problems)

    located()


# --- keys ----------------------------------------------------------------------------------------


def test_the_wrong_key_is_reported_once_not_as_an_edit_of_every_event(db: str) -> None:
    report = verify(db, key=OTHER_KEY)
    assert [p.kind for p in report.problems] == ["wrong_key"]
    assert report.events_checked == 0
    assert key_fingerprint(OTHER_KEY) in report.problems[0].message
    assert key_fingerprint(KEY) in report.problems[0].message


def test_an_altered_fingerprint_with_the_right_key_is_reported_and_the_links_checked(
        db: str) -> None:
    with raw_store(db) as con:
        con.execute("UPDATE {meta} SET value='0000000000000000' "
                    "WHERE name='key_fingerprint'")
    report = verify(db)
    assert [p.kind for p in report.problems] == ["fingerprint"]
    assert report.events_checked == head(db)


def test_writing_with_another_key_is_refused_and_records_nothing(db: str,
                                                                 book: PolicyBook) -> None:
    before = head(db)
    ledger = open_ledger(db, book, audit_key=OTHER_KEY)
    with pytest.raises(AuditKeyMismatch) as refused:
        ledger.execute({"op": "register", "person": make_id("341225", "19900101", 99),
                        "name": "New", "region": "341225", "at": AT})
    ledger.app.close()
    assert refused.value.reason == "audit_key_mismatch"
    assert key_fingerprint(KEY) in refused.value.message
    assert "nothing was recorded" in refused.value.message
    assert head(db) == before
    with raw_store(db) as con:
        assert con.one("SELECT COUNT(*) FROM {chain}")[0] == before
    assert verify(db).ok


def test_writing_to_a_keyed_chain_without_a_key_is_refused(
        db: str, book: PolicyBook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    ledger = open_ledger(db, book)
    with pytest.raises(AuditKeyMismatch, match="is not set"):
        run(ledger, [{"op": "register", "person": make_id("341225", "19900101", 98),
                      "name": "New", "region": "341225", "at": AT}])
    ledger.app.close()


def test_the_key_is_taken_from_the_environment_and_never_stored(
        store_url: str, tmp_path: Path, book: PolicyBook,
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "the real county key 7f3a9c2e"
    monkeypatch.setenv(AUDIT_KEY_ENV, secret)
    assert configured_audit_key() == secret.encode()
    ledger = open_ledger(store_url, book)
    assert all(r["status"] == "ok" for r in run(ledger, family()))
    ledger.app.close()
    with raw_store(store_url) as con:
        if con.postgres:  # everything the schema holds, as text
            stored = b"".join(str(row).encode() for table in ("events", "chain", "meta")
                              for row in con.execute(f"SELECT * FROM {{{table}}}"))
        else:
            stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
        meta = dict(con.execute("SELECT name, value FROM {meta}"))
    assert secret.encode() not in stored and secret.encode().hex().encode() not in stored
    assert meta["key_fingerprint"] == key_fingerprint(secret.encode())
    assert meta["keyed"] == "yes"
    assert verify(store_url, key=secret.encode()).ok


def test_a_short_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, "short")
    with pytest.raises(ChainError, match="at least 16"):
        configured_audit_key()


def test_without_a_key_the_chain_is_unkeyed_and_verify_says_it_only_detects_accidents(
        store_url: str, book: PolicyBook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    assert configured_audit_key() == DEVELOPMENT_KEY
    ledger = open_ledger(store_url, book)
    run(ledger, family())
    ledger.app.close()
    report = verify(store_url, key=configured_audit_key())
    assert report.ok and not report.keyed
    assert any("accidental damage" in note for note in report.notes)
    with raw_store(store_url) as con:
        assert con.one("SELECT value FROM {meta} WHERE name='keyed'")[0] == "no"


# --- writers: conflicts, other processes, older databases ----------------------------------------


def test_a_conflicting_write_leaves_no_chain_rows_and_no_stale_cached_link(db: str) -> None:
    app = LedgerApplication(env=store_env(db), audit_key=KEY)
    recorder = app.recorder
    oid, versions = streams(db, 2)[0]
    last = versions[-1][0]
    taken, taken_version = streams(db, 2)[1][0], 1
    before = head(db)
    event = StoredEvent(originator_id=UUID(oid), originator_version=last + 1,
                        topic="tests:Forged", state=b'{"a":1}')
    clash = StoredEvent(originator_id=UUID(taken), originator_version=taken_version,
                        topic="tests:Clash", state=b"{}")
    with pytest.raises(RecordConflictError):
        recorder.insert_events([event, clash])
    assert head(db) == before
    with raw_store(db) as con:
        assert con.one("SELECT COUNT(*) FROM {chain}")[0] == before
    # Had the rolled-back link been cached, the next two versions would chain on it.
    for version, state in ((last + 1, b'{"a":2}'), (last + 2, b'{"a":3}')):
        recorder.insert_events([StoredEvent(originator_id=UUID(oid),
                                            originator_version=version,
                                            topic="tests:Real", state=state)])
    app.close()
    assert verify(db).ok


def test_two_ledgers_writing_one_store_keep_one_whole_chain(store_url: str,
                                                            book: PolicyBook) -> None:
    url = store_url
    clinic_a = open_ledger(url, book, audit_key=KEY)
    clinic_b = open_ledger(url, book, audit_key=KEY)
    assert all(r["status"] == "ok" for r in run(clinic_a, family()))
    run(clinic_a, [claim("A-1", HEAD, "100.00")])
    run(clinic_b, [claim("B-1", WIFE, "600.00")])
    third = run(clinic_a, [claim("A-2", HEAD, "1000.00")])[0]  # conflicts, then retries
    assert third["status"] == "ok" and third["pool_used_before"] == "385.00"
    run(clinic_b, [claim("B-2", WIFE, "50.00")])  # B's cached links are behind A's writes
    clinic_a.app.close()
    clinic_b.app.close()
    report = verify(url)
    assert report.ok, report.problems
    assert report.events_checked == len(streams_events(url))


def test_a_group_extending_many_streams_another_writer_wrote_links_each_to_its_predecessor(
        store_url: str, book: PolicyBook) -> None:
    writer = open_ledger(store_url, book, audit_key=KEY)
    assert all(r["status"] == "ok" for r in run(writer, family()))
    newcomer = open_ledger(store_url, book, audit_key=KEY)  # has cached no stream's link
    results = newcomer.execute_many([claim(f"N-{i}", HEAD if i % 2 else WIFE, "20.00")
                                     for i in range(6)])
    assert all(r["status"] == "ok" for r in results)
    run(writer, [claim("W-1", HEAD, "10.00")])  # the first writer's cached link is stale
    writer.app.close()
    newcomer.app.close()
    report = verify(store_url)
    assert report.ok, report.problems
    assert report.events_checked == len(streams_events(store_url))


class UnchainedApplication(LedgerApplication):
    """The ledger as it was before the chain: the library's own recorder."""

    name = LedgerApplication.name  # the same tables

    def construct_recorder(self):  # noqa: ANN201
        return Application.construct_recorder(self)


def test_events_recorded_before_the_chain_are_chained_at_the_first_write(
        store_url: str, book: PolicyBook) -> None:
    url = store_url
    old = Ledger(UnchainedApplication(env=store_env(url)), book)
    run(old, family())
    old.app.close()
    earlier = head(url)
    with pytest.raises(ChainError, match="no event chain"):
        verify_chain(UnchainedApplication(env=store_env(url)), KEY)
    ledger = open_ledger(url, book, audit_key=KEY)
    assert run(ledger, [claim("C-1", HEAD, "100.00")])[0]["status"] == "ok"
    ledger.app.close()
    report = verify(url)
    assert report.ok and report.adopted_upto == earlier
    assert report.events_checked == len(streams_events(url)) > earlier
    assert any(f"up to position {earlier}" in note for note in report.notes)


def test_a_removed_chain_is_one_problem_and_blocks_no_reader(db: str) -> None:
    with raw_store(db) as con:
        con.execute("DELETE FROM {chain}")
    report = verify(db)
    assert [p.kind for p in report.problems] == ["missing_link"]
    assert f"none of the {head(db)} events" in report.problems[0].message


def test_writing_after_the_chain_lost_its_fingerprint_is_refused(db: str,
                                                                 book: PolicyBook) -> None:
    with raw_store(db) as con:
        con.execute("DELETE FROM {meta}")
    ledger = open_ledger(db, book, audit_key=KEY)
    with pytest.raises(ChainError, match="lost the audit key fingerprint"):
        run(ledger, [claim("C-9", HEAD, "10.00")])
    ledger.app.close()
