"""Two ledgers writing one store (a SQLite file, a PostgreSQL schema): conflicts are retried
from fresh state, never lost."""

from __future__ import annotations

import json

from adapters.composition import open_ledger
from tests.support.builders import HEAD, WIFE, claim, family
from tests.support.oracles import household_view, person_view

AT = "2020-10-01T10:00:00+08:00"


def run(ledger, commands: list[dict]) -> list[dict]:
    return list(ledger.execute_lines([json.dumps(c) for c in commands]))


def test_a_claim_decided_on_a_stale_household_is_retried_and_sees_the_other_clinic(
        store_url: str, book) -> None:
    url = store_url
    clinic_a = open_ledger(url, book)
    clinic_b = open_ledger(url, book)
    assert all(r["status"] == "ok" for r in run(clinic_a, family()))
    # Clinic A now holds the household in its cache; clinic B settles a claim behind its back.
    assert run(clinic_a, [claim("A-1", HEAD, "100.00")])[0]["reimbursed"] == "55.00"
    assert run(clinic_b, [claim("B-1", WIFE, "600.00")])[0]["reimbursed"] == "330.00"
    # A's cached household is one claim behind: the save conflicts, A retries from the store.
    third = run(clinic_a, [claim("A-2", HEAD, "1000.00")])[0]
    assert third["status"] == "ok"
    assert third["pool_used_before"] == "385.00"
    assert third["reimbursed"] == "115.00" and third["pool_remaining_after"] == "0.00"
    view = household_view(clinic_b, HEAD, 2021)
    assert view["used"] == "500.00"
    assert [c["claim_id"] for c in view["claims"]] == ["A-1", "B-1", "A-2"]
    clinic_a.app.close()
    clinic_b.app.close()


def test_a_payment_reference_taken_by_another_writer_is_refused_not_duplicated(
        store_url: str, book) -> None:
    url = store_url
    agency = open_ledger(url, book)
    tax_feed = open_ledger(url, book)
    run(agency, family()[:3])
    extra = {"op": "pay", "person": HEAD, "year": 2021, "amount": "50.00", "channel": "cash",
             "payment_ref": "SAME", "at": AT}
    assert run(agency, [extra])[0]["status"] == "ok"
    again = run(tax_feed, [dict(extra, amount="60.00")])[0]
    assert again["status"] == "rejected" and again["reason"] == "duplicate_payment_ref"
    assert person_view(agency, HEAD, 2021)["paid"] == "50.00"
    agency.app.close()
    tax_feed.app.close()
