"""The directory's reservations of person-years (ADR 57): who holds each key after a
reservation, whether every key was free or another region held one already; and its notes
of registrations and claims (ADR 118)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapters.stores.directory import LOOKUP_BATCH, PENDING, Directory, Holder
from adapters.stores.views import directory_engine
from tests.support.at_once import at_once

NOW = 1_700_000_000


def test_a_reservation_of_free_keys_holds_them_all_for_the_region_that_asked(
        store_url: str) -> None:
    directory = Directory(directory_engine(store_url))
    wanted = [("ref-a", 2021, "3412"), ("ref-b", 2021, "3412"), ("ref-a", 2022, "3311")]
    held = directory.reserve(wanted, NOW)
    assert held == {(ref, year): Holder(region, PENDING, NOW) for ref, year, region in wanted}
    assert held == directory.holders((ref, year) for ref, year, _ in wanted)  # as stored
    directory.engine.dispose()


def test_a_reservation_meeting_a_key_held_elsewhere_answers_with_the_holder_it_met(
        store_url: str) -> None:
    directory = Directory(directory_engine(store_url))
    directory.reserve([("ref-a", 2021, "3311")], NOW)
    held = directory.reserve([("ref-a", 2021, "3412"), ("ref-c", 2021, "3412")], NOW + 5)
    assert held == {("ref-a", 2021): Holder("3311", PENDING, NOW),
                    ("ref-c", 2021): Holder("3412", PENDING, NOW + 5)}
    directory.engine.dispose()


def test_one_key_asked_twice_in_a_reservation_is_held_by_the_first_asker(
        store_url: str) -> None:
    directory = Directory(directory_engine(store_url))
    held = directory.reserve([("ref-a", 2021, "3412"), ("ref-a", 2021, "3311")], NOW)
    assert held == {("ref-a", 2021): Holder("3412", PENDING, NOW)}
    directory.engine.dispose()


def test_regions_opening_a_new_directory_at_once_all_open_it_and_share_its_tables(
        store_url: str) -> None:
    said = at_once(lambda: Directory(directory_engine(store_url)).engine.dispose())
    assert said == ["done"] * 8
    directory = Directory(directory_engine(store_url))
    directory.reserve([("ref-a", 2021, "3412")], NOW)
    assert directory.holders([("ref-a", 2021)]) == {("ref-a", 2021): Holder("3412", PENDING,
                                                                             NOW)}
    directory.engine.dispose()


def test_registrations_and_claims_noted_together_are_found_again_in_the_order_registered(
        store_url: str) -> None:
    directory = Directory(directory_engine(store_url))
    directory.note([("ref-a", "3412"), ("ref-b", "3311")], [("claim-1", "3412")])
    directory.note([("ref-a", "3311"), ("ref-a", "3412")], [("claim-1", "3311"),
                                                          ("claim-2", "3311")])
    assert directory.registered(["ref-a", "ref-b", "ref-c"]) == {
        "ref-a": ["3412", "3311"], "ref-b": ["3311"]}  # noted again: no change
    assert directory.claim_regions(["claim-1", "claim-2", "claim-3"]) == {
        "claim-1": "3412", "claim-2": "3311"}  # where each id was first seen
    directory.engine.dispose()


def test_more_keys_than_one_statement_looks_up_are_all_found_and_only_they(
        store_url: str) -> None:
    directory = Directory(directory_engine(store_url))
    n = 2 * LOOKUP_BATCH + 7
    refs = [f"ref-{i:05d}" for i in range(n)]
    directory.note([(ref, "3412" if i % 2 else "3311") for i, ref in enumerate(refs)],
                   [(f"claim-{i}", "3412") for i in range(n)])
    directory.reserve([(ref, 2021, "3311") for ref in refs], NOW)
    asked = [*refs, "ref-never"]
    assert directory.registered(asked) == {
        ref: ["3412" if i % 2 else "3311"] for i, ref in enumerate(refs)}
    assert directory.claim_regions([f"claim-{i}" for i in range(n + 3)]) == {
        f"claim-{i}": "3412" for i in range(n)}
    assert directory.holders([(ref, 2021) for ref in asked] + [(refs[0], 2022)]) == {
        (ref, 2021): Holder("3311", PENDING, NOW) for ref in refs}
    directory.engine.dispose()


def test_a_directory_whose_sqlite_tables_have_rowids_is_read_and_written_as_before(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'directory.db'}"
    with sqlite3.connect(tmp_path / "directory.db") as db:  # as directories were made first
        db.executescript(
            "CREATE TABLE directory_persons (person_ref VARCHAR(32) NOT NULL, region "
            "VARCHAR(6) NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (person_ref, region));"
            "CREATE TABLE directory_enrollments (person_ref VARCHAR(32) NOT NULL, year "
            "INTEGER NOT NULL, region VARCHAR(6) NOT NULL, state VARCHAR(9) NOT NULL, since "
            "INTEGER NOT NULL, PRIMARY KEY (person_ref, year));"
            "CREATE TABLE directory_claims (claim_id VARCHAR(128) NOT NULL, region VARCHAR(6) "
            "NOT NULL, PRIMARY KEY (claim_id));"
            "INSERT INTO directory_persons VALUES ('ref-a', '3412', 1);")
    directory = Directory(directory_engine(url))
    directory.note([("ref-a", "3311")], [("claim-1", "3311")])
    directory.reserve([("ref-a", 2021, "3311")], NOW)
    assert directory.registered(["ref-a"]) == {"ref-a": ["3412", "3311"]}
    assert directory.claim_regions(["claim-1"]) == {"claim-1": "3311"}
    assert directory.holders([("ref-a", 2021)]) == {("ref-a", 2021): Holder("3311", PENDING,
                                                                             NOW)}
    directory.engine.dispose()
