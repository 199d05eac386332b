"""Many clinics settling claims at once against a few household pools: threads and several
processes, each with its own ledger on one store. No pool is ever overspent, every claim is
recorded exactly once, and a re-send returns the original decision."""

from __future__ import annotations

import multiprocessing
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.composition import open_ledger
from adapters.stores.policy_files import load_policy_book
from domain.ids import household_id
from domain.money import Money
from tests.support.builders import make_id

AT = "2020-10-01T10:00:00+08:00"
HOUSEHOLDS = 3
MEMBERS = 3
CLAIMS = 1_050
RESENDS = 90
THREADS = 6
PROCESSES = 3


@pytest.fixture
def url(store_url: str) -> str:
    """One store for all the clinics: a SQLite file, or a PostgreSQL schema."""
    return store_url


def households() -> list[list[str]]:
    return [[make_id("341225", f"198{h}0{m + 1}0{m + 1}", 10 * h + m + 1)
             for m in range(MEMBERS)] for h in range(HOUSEHOLDS)]


def setup_commands(families: list[list[str]]) -> list[dict]:
    out: list[dict] = []
    for members in families:
        head = members[0]
        for person in members:
            out.append({"op": "register", "person": person, "name": "测试", "region": "341225",
                        "at": AT})
            enroll = {"op": "enroll", "person": person, "year": 2021, "region": "341225",
                      "at": AT}
            if person != head:
                enroll["household_head"] = head
            out.append(enroll)
            out.append({"op": "pay", "person": person, "year": 2021, "amount": "280.00",
                        "channel": "cash", "payment_ref": f"P-{person}", "at": AT})
    return out


def claim_commands(families: list[list[str]], seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    people = [p for members in families for p in members]
    claims = []
    for i in range(CLAIMS):
        fen = rng.randint(500, 9_000)
        claims.append({"op": "claim", "claim_id": f"CLINIC-{i:05d}",
                       "person": rng.choice(people), "visit_date": "2021-03-01",
                       "facility_level": rng.choice([0, 1]), "facility_region": "341225",
                       "expense": f"{fen // 100}.{fen % 100:02d}",
                       "at": "2021-03-01T09:00:00+08:00"})
    resends = [dict(c) for c in rng.sample(claims, RESENDS)]
    sends = claims + resends
    rng.shuffle(sends)
    return sends


def settle_all(url: str, commands: list[dict]) -> list[dict]:
    """One clinic: its own ledger on the shared store, one command at a time; a command
    refused for conflicting writes is sent again, as a clinic's system would."""
    ledger = open_ledger(url, load_policy_book())
    results = []
    try:
        for command in commands:
            for _ in range(50):
                result = ledger.execute(command)
                if result["reason"] != "conflict":
                    break
            results.append({**result, "claim_id": command["claim_id"]})
    finally:
        ledger.app.close()
    return results


def test_a_thousand_concurrent_claims_never_overspend_and_are_each_recorded_once(
        url: str) -> None:
    book = load_policy_book()
    families = households()
    setup = open_ledger(url, book)
    assert all(setup.execute(c)["status"] == "ok" for c in setup_commands(families))
    setup.app.close()

    sends = claim_commands(families)
    shares = [sends[i::THREADS + PROCESSES] for i in range(THREADS + PROCESSES)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as processes, ThreadPoolExecutor(THREADS) as threads:
        in_processes = processes.starmap_async(settle_all, [(url, s) for s in
                                                            shares[:PROCESSES]])
        in_threads = list(threads.map(lambda s: settle_all(url, s), shares[PROCESSES:]))
        results = [r for part in in_processes.get(timeout=600) for r in part] + [
            r for part in in_threads for r in part]

    assert len(results) == len(sends)
    assert [r for r in results if r["status"] != "ok"] == []
    ledger = open_ledger(url, book)
    recorded: dict[str, object] = {}
    for members in families:
        household = ledger.app.repository.get(household_id(members[0], 2021))
        cap = Money.parse("250.00").times(len(household.covered_members()))
        used = Money(0)
        reimbursable_total = Money(0)
        for claim in household.claims.values():  # in settlement order
            assert claim.claim_id not in recorded
            recorded[claim.claim_id] = claim
            assert claim.pool_used_before == used
            assert claim.reimbursed == min(claim.reimbursable, max(Money(0), cap - used))
            used += claim.reimbursed
            reimbursable_total += claim.reimbursable
        assert household.used() == used == min(cap, reimbursable_total)
        assert used <= cap
    assert sorted(recorded) == sorted({c["claim_id"] for c in sends})
    for result in results:  # the first send and every re-send answer with the one decision
        claim = recorded[result["claim_id"]]
        assert result["reimbursed"] == str(claim.reimbursed)
        assert result["pool_used_before"] == str(claim.pool_used_before)
    assert sum(1 for r in results if r.get("duplicate")) == RESENDS
    ledger.app.close()
