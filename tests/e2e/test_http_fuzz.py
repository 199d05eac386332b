"""Contract fuzzing: schemathesis generates requests from /openapi.json (valid and invalid
ones) for every operation; the API must never answer 5xx, and every refusal carries a reason
code and a message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from adapters.http import create_app
from domain.commands import OPS
from tests.support.builders import WIFE, claim, family
from tests.support.stores import Stores

MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def fuzzed(module_stores: Stores, book) -> Iterator[tuple[Any, str]]:
    app = create_app(module_stores.new("fuzz"), book)
    service = app.state.service
    secret, _ = service.tokens.create("admin", "", "fuzzing")
    for command in [*family(), claim("C-1", WIFE, "1000.00")]:
        assert service.ledger.execute(command)["status"] == "ok"
    yield app, secret
    service.close()


def _document() -> dict[str, Any]:
    """The OpenAPI document, from an app on an in-memory store (nothing written to disk)."""
    from adapters.stores.policy_files import load_policy_book

    app = create_app("memory://", load_policy_book())
    try:
        return app.openapi()
    finally:
        app.state.service.close()


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_request_drawn_from_the_openapi_document_gets_a_5xx(case: Any,
                                                               fuzzed: tuple[Any, str]) -> None:
    response = case.call(app=fuzzed[0], headers={"Authorization": f"Bearer {fuzzed[1]}"})
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert body["status"] == "rejected", body
        assert isinstance(body["reason"], str) and body["reason"], body
        assert isinstance(body["message"], str) and body["message"], body


def test_the_fuzzed_document_is_the_served_one(fuzzed: tuple[Any, str]) -> None:
    from fastapi.testclient import TestClient

    served = TestClient(fuzzed[0]).get("/openapi.json").json()
    assert served == schema.raw_schema
    assert len([p for p in served["paths"] if p.startswith("/commands/")]) == len(OPS)
