"""A batch's results kept in its journal event: written as JSON inside the event's state
(ADR 108); batches recorded before as base64 of zlib stay readable."""

from __future__ import annotations

import json

from adapters.stores.events import LedgerApplication, ResultsBlob, ResultsBlobAsZlib

RESULTS = ({"line": 1, "op": "register", "status": "ok", "person": "341225198001010117"},
           {"line": 2, "op": "claim", "status": "rejected", "reason": "not_enrolled",
            "message": "3412****0117 is not enrolled for 2021"})


def _transcoder():
    app = LedgerApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    return app.mapper.transcoder


def test_a_batchs_results_are_written_as_json_and_read_back_exactly() -> None:
    transcoder = _transcoder()
    stored = transcoder.encode({"results": ResultsBlob(RESULTS)})
    assert json.loads(stored)["results"] == {"_type_": "results_json", "_data_": list(RESULTS)}
    assert transcoder.decode(stored) == {"results": ResultsBlob(RESULTS)}


def test_results_recorded_as_zlib_by_an_earlier_ledger_are_still_read() -> None:
    earlier = json.dumps({"results": {"_type_": "results_zlib",
                                      "_data_": ResultsBlobAsZlib().encode(
                                          ResultsBlob(RESULTS))}}).encode()
    assert _transcoder().decode(earlier) == {"results": ResultsBlob(RESULTS)}
