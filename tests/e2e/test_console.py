"""The web console (issue 17) in a real browser: Debian's Chromium driven by Playwright
against the app served on a free port. Sign in, search, a household, a claim's trail, a
refused form, another region's household, sign-out, the language switch, nothing loaded from
another host, and a form sent twice recorded once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.composition import open_ledger
from adapters.http import create_app
from tests.support.browser import browser, serving
from tests.support.builders import HEAD, WIFE, claim, family, make_id

TABLET = {"width": 768, "height": 1024}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, book: Any) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'ledger.db'}"
    ledger = open_ledger(url, book)
    for command in [*family(), claim("C-1", WIFE, "1000.00")]:
        assert ledger.execute(command)["status"] == "ok", command
    ledger.app.close()
    app = create_app(url, book)
    tokens = app.state.service.tokens
    made = {name: tokens.create(role, region)[0] for name, (role, region) in {
        "auditor": ("auditor", ""), "agency": ("agency", "341225"),
        "clinic_far": ("clinic", "3301"), "analyst": ("analyst", "3412")}.items()}
    with serving(app) as base, browser() as chromium:
        yield {"base": base, "tokens": made, "chromium": chromium}
    app.state.service.close()


def signed_in(console: dict[str, Any], who: str, viewport: dict | None = None) -> Any:
    page = console["chromium"].new_context(viewport=viewport or TABLET).new_page()
    page.goto(f"{console['base']}/ui/")
    page.fill("#token", console["tokens"][who])
    page.keyboard.press("Enter")  # signed in from the keyboard
    page.wait_for_url(re.compile(r".*/ui/search$"))
    return page


def test_a_user_signs_in_finds_a_household_follows_a_claim_to_its_trail_and_signs_out(
        console: dict[str, Any]) -> None:
    page = signed_in(console, "auditor")
    assert "auditor" in page.inner_text("#who")
    page.fill("#name", "Head")
    page.click("#find")
    page.click(f"#results a:text('{HEAD}')")
    page.wait_for_url(re.compile(rf".*/ui/households/{HEAD}\?year=2021$"))
    assert page.inner_text("#cap") == "500.00"
    assert page.inner_text("#used") == "500.00" and page.inner_text("#remaining") == "0.00"
    assert page.inner_text("#claims tbody td.num") == "500.00"
    assert "0.55 x 1000.00" in page.inner_text("#claims td.explain")  # the decision explained
    page.click("#claims a:text('C-1')")
    page.wait_for_url(re.compile(r".*/ui/trail/.*claim=C-1.*"))
    chosen = page.locator("li.chosen")
    assert "OutpatientClaimSettled" in chosen.inner_text()
    assert "fuyang-2021@" in chosen.inner_text()
    assert chosen.locator("blockquote.seed").count() >= 1  # the seed sentences it rests on
    page.click("#signout")
    page.wait_for_url(re.compile(r".*/ui/signin$"))
    page.goto(f"{console['base']}/ui/search")
    assert page.url.endswith("/ui/signin")


def test_an_id_number_in_the_search_opens_that_household(console: dict[str, Any]) -> None:
    page = signed_in(console, "agency")
    page.fill("#id", WIFE)
    page.fill("#year", "2021")
    page.click("#find")
    page.wait_for_url(re.compile(rf".*/ui/households/{WIFE}\?year=2021$"))
    assert page.inner_text("#cap") == "500.00"


def test_a_refused_form_shows_its_reason_code_and_records_nothing(
        console: dict[str, Any]) -> None:
    page = signed_in(console, "agency")
    page.goto(f"{console['base']}/ui/forms?op=enroll")
    stranger = make_id("341225", "19900101", 77)
    page.fill("#f-person", stranger)
    page.fill("#f-year", "2021")
    page.fill("#f-region", "341225")
    page.fill("#f-at", "2020-10-01T10:00:00+08:00")
    page.click("#submit")
    assert page.inner_text("#reason") == "unknown_person"
    page.goto(f"{console['base']}/ui/persons/{stranger}")
    assert page.inner_text("#reason") == "unknown_person"


def test_a_form_sent_twice_is_recorded_once(console: dict[str, Any]) -> None:
    page = signed_in(console, "agency")
    page.goto(f"{console['base']}/ui/forms?op=register")
    fields = {"person": make_id("341225", "19950505", 55), "name": "New", "region": "341225",
              "at": "2020-10-01T10:00:00+08:00"}
    for name, value in fields.items():
        page.fill(f"#f-{name}", value)
    form = {f.get_attribute("name"): f.input_value()
            for f in page.locator("#command-form input").all()}
    first = page.request.post(f"{console['base']}/ui/forms/register", form=form)
    again = page.request.post(f"{console['base']}/ui/forms/register", form=form)
    assert first.ok and again.ok
    assert "duplicate" not in first.text() and "duplicate" in again.text()
    assert "already_registered" not in again.text()


def test_a_clinic_token_cannot_open_another_regions_household(console: dict[str, Any]) -> None:
    page = signed_in(console, "clinic_far")
    page.goto(f"{console['base']}/ui/households/{HEAD}?year=2021")
    assert page.inner_text("#reason") == "forbidden"
    assert "500.00" not in page.content()


def test_the_console_speaks_chinese_first_and_switches_to_english(
        console: dict[str, Any]) -> None:
    page = console["chromium"].new_page()
    page.goto(f"{console['base']}/ui/signin")
    assert page.inner_text("h1") == "登录"
    page.click("a.lang")
    assert page.inner_text("h1") == "Sign in"
    page.goto(f"{console['base']}/ui/signin")  # the choice is remembered
    assert page.inner_text("h1") == "Sign in"


def test_the_pages_load_nothing_from_another_host(console: dict[str, Any]) -> None:
    page = signed_in(console, "auditor")
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    for path in ("/ui/search?name=Head", f"/ui/households/{HEAD}?year=2021",
                 f"/ui/trail/{HEAD}?year=2021", "/ui/reports/enrollment?year=2021"):
        page.goto(f"{console['base']}{path}")
    assert requested and all(u.startswith(console["base"]) for u in requested), requested
    assert "/ui/static/console.css" in " ".join(requested)


def test_the_session_cookie_is_http_only_secure_and_same_site(console: dict[str, Any]) -> None:
    page = signed_in(console, "auditor")
    cookie = next(c for c in page.context.cookies() if c["name"] == "bp_token")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/ui"
    page.evaluate("document.querySelector('input[name=csrf]').value = 'forged'")
    page.click("#signout")
    assert page.inner_text("#reason") == "forbidden"


def test_a_persons_page_shows_each_payment_with_its_payer_and_channel(
        console: dict[str, Any]) -> None:
    page = signed_in(console, "agency")
    page.goto(f"{console['base']}/ui/persons/{WIFE}?year=2021")
    rows = page.inner_text("#money")
    assert "payment" in rows and "280.00" in rows and "cash" in rows and WIFE in rows


def test_an_auditor_runs_the_audit_and_reads_that_the_ledger_is_clean(
        console: dict[str, Any]) -> None:
    page = signed_in(console, "auditor")
    page.click("nav >> text=审计核验")
    page.click("#run-audit")
    assert page.inner_text("#clean") == "True" and page.inner_text("#problems") == "0"


def test_an_analyst_runs_a_whatif_and_sees_its_table_and_chart(
        console: dict[str, Any]) -> None:
    page = signed_in(console, "analyst")
    page.click("nav >> text=政策模拟")
    page.fill("#patch", '[outpatient]\nratio = "0.30"\n')
    page.fill("#region", "341225")
    page.fill("#year", "2021")
    page.click("#run")
    assert page.inner_text("#baseline") == "500.00"
    assert page.inner_text("#reform") == "300.00" and page.inner_text("#delta") == "-200.00"
    chart = page.locator("#chart")
    assert chart.get_attribute("src").startswith("data:image/png;base64,")
    assert page.evaluate("document.getElementById('chart').naturalWidth") > 100  # drawn
    assert "ratio" in page.inner_text("#changes")
    with page.expect_download() as download:
        page.click("#households-csv")
    assert download.value.suggested_filename == "households.csv"


def test_a_patch_that_is_not_toml_is_refused_with_its_reason(console: dict[str, Any]) -> None:
    page = signed_in(console, "analyst")
    page.goto(f"{console['base']}/ui/whatif")
    page.fill("#patch", "[outpatient\nratio = ")
    page.click("#run")
    assert page.inner_text("#reason") == "invalid_input"


def test_the_shadow_rules_page_lists_none_before_any_is_added(console: dict[str, Any]) -> None:
    page = signed_in(console, "analyst")
    page.click("nav >> text=影子规则")
    assert page.inner_text("h1") == "影子规则" and "没有找到记录" in page.content()


def test_reports_download_as_csv(console: dict[str, Any], tmp_path: Path) -> None:
    page = signed_in(console, "auditor")
    page.goto(f"{console['base']}/ui/reports/fund?year=2021")
    with page.expect_download() as download:
        page.click("#csv")
    saved = tmp_path / "fund.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("region,") and "341225" in text
