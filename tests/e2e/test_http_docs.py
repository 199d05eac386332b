"""What the API shows a newcomer without a token (issue 16): documentation pages that work
with no network (`/docs` and `/redoc` load their scripts and styles from the server itself,
from files a package ships), and a `/health` without the writer's internals."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from adapters.http import create_app
from domain.policy_book import PolicyBook

#: Every address a page names: src=, href=, url: / spec-url=, url(…).
ADDRESS = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]"""
                     r"""|url\(([^)]+)\)""")


@pytest.fixture
def client(book: PolicyBook) -> Iterator[TestClient]:
    app = create_app("memory://", book)
    with TestClient(app) as client:
        yield client
    app.state.service.close()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_documentation_page_names_no_outside_host_and_every_file_it_loads_is_served(
        client: TestClient, page: str) -> None:
    shown = client.get(page)
    assert shown.status_code == 200 and "text/html" in shown.headers["content-type"]
    addresses = [next(a for a in m if a) for m in ADDRESS.findall(shown.text)]
    assert "/openapi.json" in addresses
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}", shown.text, re.IGNORECASE)
    for address in addresses:
        loaded = client.get(address)
        assert loaded.status_code == 200 and loaded.content, address


def test_the_swagger_page_asks_no_outside_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_the_pages_are_left_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {p for p in paths if p.startswith(("/docs", "/redoc"))}


def test_health_shows_the_writers_internals_to_an_admin_only(client: TestClient) -> None:
    tokens = client.app.state.service.tokens
    admin, auditor = tokens.create("admin")[0], tokens.create("auditor")[0]
    public = client.get("/health").json()
    assert public["status"] == "ok" and "position" in public and "writer" not in public
    as_auditor = client.get("/health", headers={"Authorization": f"Bearer {auditor}"}).json()
    assert "writer" not in as_auditor
    as_admin = client.get("/health", headers={"Authorization": f"Bearer {admin}"}).json()
    assert set(as_admin["writer"]) >= {"groups", "commands", "frozen_objects"}
