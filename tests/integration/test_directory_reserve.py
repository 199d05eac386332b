"""The directory's reservations of person-years (ADR 57): who holds each key after a
reservation, whether every key was free or another region held one already."""

from __future__ import annotations

import multiprocessing
from typing import Any

from adapters.stores.directory import PENDING, Directory, Holder
from adapters.stores.views import directory_engine

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


def _open_when_all_are_ready(url: str, start: Any, answers: Any) -> None:
    start.wait()
    try:
        Directory(directory_engine(url)).engine.dispose()
        answers.put("opened")
    except Exception as e:  # noqa: BLE001 - reported by the test
        answers.put(f"{type(e).__name__}: {e}")


def test_regions_opening_a_new_directory_at_once_all_open_it_and_share_its_tables(
        store_url: str) -> None:
    processes = 8  # as a new deployment's region ingests start together
    fork = multiprocessing.get_context("fork")
    start, answers = fork.Barrier(processes), fork.Queue()
    started = [fork.Process(target=_open_when_all_are_ready, args=(store_url, start, answers))
               for _ in range(processes)]
    for process in started:
        process.start()
    said = [answers.get(timeout=60) for _ in started]
    for process in started:
        process.join()
    assert said == ["opened"] * processes
    directory = Directory(directory_engine(store_url))
    directory.reserve([("ref-a", 2021, "3412")], NOW)
    assert directory.holders([("ref-a", 2021)]) == {("ref-a", 2021): Holder("3412", PENDING,
                                                                             NOW)}
    directory.engine.dispose()
