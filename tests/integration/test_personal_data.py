"""Personal data at rest (ADR 21): with BENEFITPOOL_CIPHER_KEY set, neither the SQLite file
nor the PostgreSQL rows hold a resident's ID number or name, while queries, the audit and the
what-if engines answer as before; without the key the same history is stored in clear."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.application.ledger import Ledger
from adapters.composition import configured_audit_key, open_ledger, open_views
from adapters.generator import generate_county
from adapters.stores.chain import verify_chain
from adapters.stores.cipher import (
    CIPHER_KEY_ENV,
    CipherKeyError,
    KeyedPersonalData,
    cipher_env,
    create_key,
    key_bytes,
)
from adapters.stores.columnar import ColumnarStore
from adapters.stores.columnar.catchup import catch_up as columnar_catch_up
from adapters.stores.columnar.read import read_scope
from adapters.stores.events import LedgerApplication
from adapters.stores.policy_files import apply_patch, load_policy_book
from adapters.stores.urls import store_env
from adapters.usecases.audit import verify_decisions, verify_views
from adapters.whatif.columnar import baseline_from_columns, columnar_whatif
from adapters.whatif.exact import Scope, compare_claims, exact_whatif, read_history
from adapters.whatif.fast import baseline_from_views, changes_coverage, fast_whatif
from adapters.whatif.outputs import write_outputs
from domain.errors import Rejected
from domain.identity import key_of_number as person_key_of
from domain.identity import mask_text
from domain.ids import PUBLIC_IDS
from projections import queries as q
from projections import tables as t
from projections.personal import PLAIN
from projections.views import LedgerViews, catch_up
from tests.support.builders import make_id
from tests.support.cli import CliResult, run_cli
from tests.support.oracles import household_view, person_view
from tests.support.states import readable
from tests.support.stores import raw_store

BOOK = load_policy_book()
KEY = create_key()
OTHER_KEY = create_key()
YEAR = 2021
SCOPE = Scope("3412", YEAR)
AT = "2020-10-01T10:00:00+08:00"
#: A family headed by a holder of a non-standard document (a residence permit number).
DOCUMENT = "H0312345678"
MEMBER = make_id("341225", "19900101", 1)
STRANGER = make_id("341225", "19900101", 5)  # never registered
FAMILY = [
    {"op": "register", "person": DOCUMENT, "id_type": "other", "birth_date": "1985-05-05",
     "name": "林证件", "region": "341225", "at": AT, "residence_permit": True},
    {"op": "register", "person": MEMBER, "name": "林成员", "region": "341225", "at": AT},
    {"op": "enroll", "person": DOCUMENT, "year": YEAR, "region": "341225", "at": AT},
    {"op": "pay", "person": DOCUMENT, "year": YEAR, "amount": "280.00", "channel": "cash",
     "payment_ref": "DOC-P1", "at": AT},
    {"op": "enroll", "person": MEMBER, "year": YEAR, "region": "341225", "at": AT,
     "household_head": DOCUMENT},
    {"op": "pay", "person": MEMBER, "year": YEAR, "amount": "280.00", "channel": "cash",
     "payment_ref": "DOC-P2", "at": AT},
    {"op": "claim", "claim_id": "DOC-C1", "person": MEMBER, "visit_date": "2021-03-01",
     "facility_level": 0, "facility_region": "341225", "expense": "120.00",
     "at": "2021-03-01T09:00:00+08:00"},
]


def history() -> list[dict[str, Any]]:
    return [*generate_county(30, "fuyang-2021", 21, BOOK), *FAMILY]


HISTORY = history()
PEOPLE = {c["person"]: c["name"] for c in HISTORY if c["op"] == "register"}


def ingest(url: str, key: str | None) -> Ledger:
    ledger = open_ledger(url, BOOK, cipher_key=key)
    results = list(ledger.execute_lines(json.dumps(c, ensure_ascii=False) for c in HISTORY))
    assert sum(r["status"] == "ok" for r in results) > 300
    return ledger


def heads(ledger: Ledger) -> list[str]:
    """The numbers of the heads of the households formed, as the log has them."""
    formed = read_history(ledger.app, BOOK, SCOPE).baseline.households.values()
    return sorted(h.head.removeprefix("doc:") for h in formed)


def call(f: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return f(*args, **kwargs)
    except Rejected as e:
        return ("rejected", e.reason)


def secrets_in(blob: bytes) -> set[str]:
    """The generated people's ID numbers and names (UTF-8) found in some bytes."""
    found = {number for number in PEOPLE if number.encode() in blob}
    return found | {name for name in PEOPLE.values() if name.encode("utf-8") in blob}


def stored_bytes(url: str) -> bytes:
    """Everything the store holds: the SQLite file and its write-ahead log (after a
    checkpoint), or every text, JSON, UUID and binary value of every table in the store's
    PostgreSQL schema; and the events' states inflated where they are compressed, not
    encrypted (ADR 52)."""
    env = store_env(url)
    with raw_store(url) as raw:
        states = b"\n".join(readable(s) for (s,) in raw.execute("SELECT state FROM {events}"))
    if "SQLITE_DBNAME" in env:
        path = Path(env["SQLITE_DBNAME"])
        con = sqlite3.connect(path)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"") + states
    chunks: list[bytes] = []
    with raw_store(url) as raw:
        columns = raw.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type IN ('text', "
            "'character varying', 'character', 'bytea', 'json', 'jsonb', 'uuid')")
        tables = {table for table, _ in columns}
        assert {"benefitpool_events", "event_chain", "person_registry"} <= tables
        for table, column in columns:
            for (value,) in raw.execute(f'SELECT "{column}" FROM "{table}"'):
                if value is not None:
                    chunks.append(value if isinstance(value, bytes)
                                  else str(value).encode("utf-8"))
    return b"\n".join(chunks) + states


def person_columns(engine: Any) -> set[str]:
    """Every value of the views' person columns."""
    columns = [t.person_registry.c.person, t.person_year_version.c.person,
               t.person_year_version.c.household_head, t.household_pool.c.head,
               t.household_member.c.person, t.claims_journal.c.person,
               t.claims_journal.c.head]
    with engine.connect() as conn:
        return {v for c in columns for v in conn.execute(select(c)).scalars()}


def answers_match_the_aggregates(ledger: Ledger, views: LedgerViews) -> None:
    assert len(heads(ledger)) > 20
    for head in heads(ledger):
        assert q.household(views.engine, head, YEAR, personal=views.personal) == \
            household_view(ledger, head, YEAR)
    for number in [*PEOPLE, STRANGER]:
        assert call(q.person, views.engine, number, personal=views.personal) == \
            call(person_view, ledger, number)
    member = q.household(views.engine, MEMBER, YEAR, personal=views.personal)
    assert member["head"] == DOCUMENT and member["members"] == [DOCUMENT, MEMBER]
    assert q.person(views.engine, MEMBER, personal=views.personal)["household_head"] == DOCUMENT


def audit_is_clean(ledger: Ledger, views: LedgerViews) -> None:
    chain = verify_chain(ledger.app, configured_audit_key())
    assert chain.problem_count == 0 and chain.events_checked == \
        ledger.app.recorder.max_notification_id()
    decisions = verify_decisions(ledger.app, BOOK)
    assert decisions.problems == [] and decisions.checked["decisions"] > 100
    found = verify_views(ledger.app, views, BOOK)
    assert found.problems == [] and found.checked["rows"] > 100


def whatif_runs(ledger: Ledger, views: LedgerViews, out: Path) -> None:
    for patch in ({"outpatient": {"ratio": "0.80", "per_person_cap": "300.00"}},
                  {"waiting": {"fixed_months": 2}}):
        reform = apply_patch(BOOK, patch, "patch", SCOPE.region, SCOPE.year)
        hist = read_history(ledger.app, BOOK, SCOPE)
        exact = exact_whatif(hist, reform)
        baseline = baseline_from_views(views.engine, SCOPE, personal=views.personal)
        fast = fast_whatif(views.engine, SCOPE, baseline, reform, patch, ledger.app,
                           personal=views.personal)
        assert compare_claims(exact.claims, fast.claims) == []
        assert {h: v.reimbursed for h, v in fast.households.items()} == \
            {h: v.reimbursed for h, v in exact.households.items()}
        assert {h: v.head for h, v in baseline.households.items()} == \
            {h: v.head for h, v in hist.baseline.households.items()}
        if not changes_coverage(patch):  # the columnar store decodes heads alike (ADR 102)
            columnar = ColumnarStore(out.parent / "columnar.duckdb", ledger.app.name)
            columnar_catch_up(ledger.app, columnar, personal=views.personal)
            sc = read_scope(columnar, SCOPE.region, SCOPE.year)
            by_columns = baseline_from_columns(views.engine, SCOPE, sc, views.personal)
            assert by_columns.households == baseline.households
            side = columnar_whatif(views.engine, SCOPE, sc, by_columns, reform, patch)
            assert side.households == fast.households
            columnar.close()
    write_outputs(out, {"households": 1, "claims": 1, "baseline_reimbursed": "0",
                        "reform_reimbursed": "0", "delta_reimbursed": "0",
                        "share_at_cap_baseline": None, "share_at_cap_reform": None},
                  SCOPE, baseline, fast, show_ids=True)
    with (out / "households.csv").open(encoding="utf-8") as f:
        assert sorted(r["head"] for r in csv.DictReader(f)) == heads(ledger)


# --- the stores (SQLite and PostgreSQL) --------------------------------------------------------


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(CIPHER_KEY_ENV, KEY)
    yield


def test_with_the_cipher_key_the_store_holds_no_id_number_and_no_name_yet_answers_in_full(
        store_url: str, tmp_path: Path, keyed: None) -> None:
    ledger = ingest(store_url, None)  # the key comes from BENEFITPOOL_CIPHER_KEY
    views = open_views(ledger.app, ledger.policies, store_url)
    catch_up(ledger.app, views)
    assert isinstance(views.personal, KeyedPersonalData)
    assert not person_columns(views.engine) & set(PEOPLE)
    answers_match_the_aggregates(ledger, views)
    audit_is_clean(ledger, views)
    whatif_runs(ledger, views, tmp_path / "whatif")
    pseudonyms = [views.personal.pseudonym(person_key_of(number)) for number in PEOPLE]
    views.engine.dispose()
    ledger.app.close()
    stored = stored_bytes(store_url)
    assert secrets_in(stored) == set()
    assert all(p.encode() in stored for p in pseudonyms)  # the person columns were read


def test_without_the_cipher_key_the_same_history_is_stored_in_clear(store_url: str) -> None:
    ledger = ingest(store_url, None)
    views = open_views(ledger.app, ledger.policies, store_url)
    catch_up(ledger.app, views)
    assert views.personal is PLAIN
    assert (set(PEOPLE) - {DOCUMENT}) | {f"doc:{DOCUMENT}"} <= person_columns(views.engine)
    with views.engine.connect() as conn:
        numbers = set(conn.execute(select(t.person_registry.c.number)).scalars())
    assert numbers == set(PEOPLE)
    answers_match_the_aggregates(ledger, views)
    views.engine.dispose()
    ledger.app.close()
    assert secrets_in(stored_bytes(store_url)) == set(PEOPLE) | set(PEOPLE.values())


def stream_ids(url: str) -> set[str]:
    """Every stream id the store holds, as 32 hex digits."""
    with raw_store(url) as raw:
        return {oid for (oid,) in raw.execute("SELECT DISTINCT originator_id FROM {events}")}


def public_names() -> set[str]:
    """The stream ids anyone could compute from the history's ID numbers (ADR 6's uuid5)."""
    return ({PUBLIC_IDS.person(person_key_of(n)).hex for n in PEOPLE}
            | {PUBLIC_IDS.household(person_key_of(n), YEAR).hex for n in PEOPLE})


def test_under_the_cipher_key_no_stream_id_can_be_computed_from_an_id_number(
        new_store: Callable[..., str]) -> None:
    keyed_url, other_url, clear_url = (new_store(n) for n in ("keyed", "other", "clear"))
    for url, key in ((keyed_url, KEY), (other_url, OTHER_KEY), (clear_url, None)):
        ingest(url, key).app.close()
    keyed, other, clear = stream_ids(keyed_url), stream_ids(other_url), stream_ids(clear_url)
    assert len(clear & public_names()) > 100  # without a key, the ids are the public hashes
    assert not keyed & public_names() and not other & public_names()
    # each key names the persons' streams its own way (payment and claim references, which
    # are no ID numbers, keep their public names)
    named = {k: {KeyedPersonalData(key_bytes(k)).ids.person(person_key_of(n)).hex
                 for n in PEOPLE} for k in (KEY, OTHER_KEY)}
    assert named[KEY] <= keyed and named[OTHER_KEY] <= other
    assert not named[KEY] & named[OTHER_KEY]
    ledger = open_ledger(keyed_url, BOOK, cipher_key=KEY)  # and the keyed store still answers
    try:
        assert person_view(ledger, MEMBER, YEAR)["household_head"] == DOCUMENT
        assert household_view(ledger, MEMBER, YEAR)["members"] == [DOCUMENT, MEMBER]
        views = open_views(ledger.app, ledger.policies, keyed_url)
        catch_up(ledger.app, views)
        assert q.household(views.engine, MEMBER, YEAR, personal=views.personal)[
            "members"] == [DOCUMENT, MEMBER]
        audit_is_clean(ledger, views)
    finally:
        ledger.app.close()


def test_an_encrypted_store_whose_streams_were_named_publicly_keeps_those_names(
        store_url: str) -> None:
    # written as before ADR 25: encrypted events, streams named by the public uuid5
    app = LedgerApplication(env={**store_env(store_url), **cipher_env(KEY)})
    app.use_personal(app.personal.with_public_ids())
    earlier = Ledger(app, BOOK)
    assert all(r["status"] == "ok" for r in earlier.execute_many(FAMILY))
    app.close()
    ledger = open_ledger(store_url, BOOK, cipher_key=KEY)
    try:
        assert ledger.app.ids == PUBLIC_IDS
        assert household_view(ledger, MEMBER, YEAR)["members"] == [DOCUMENT, MEMBER]
        claim = {**FAMILY[-1], "claim_id": "DOC-C2"}
        assert ledger.execute(claim)["status"] == "ok"  # the same household, not a new one
        assert household_view(ledger, MEMBER, YEAR)["claims"][-1]["claim_id"] == "DOC-C2"
    finally:
        ledger.app.close()
    assert stream_ids(store_url) <= {*public_names(), *others(store_url)}


def others(url: str) -> set[str]:
    """Stream ids that are not persons' or households' (payment and claim references)."""
    return {o for o in stream_ids(url)
            if o not in {PUBLIC_IDS.person(person_key_of(n)).hex for n in PEOPLE}
            and o not in {PUBLIC_IDS.household(person_key_of(n), YEAR).hex for n in PEOPLE}}


def test_an_encrypted_store_is_refused_without_its_key_and_with_another_key(
        new_store: Callable[..., str]) -> None:
    url = new_store("encrypted")
    ingest(url, KEY).app.close()
    with pytest.raises(CipherKeyError, match="encrypted: set BENEFITPOOL_CIPHER_KEY"):
        open_ledger(url, BOOK)
    with pytest.raises(CipherKeyError, match="not the key this store's events"):
        open_ledger(url, BOOK, cipher_key=OTHER_KEY)
    plain = new_store("plain")
    ingest(plain, None).app.close()
    with pytest.raises(CipherKeyError, match="not encrypted"):
        open_ledger(plain, BOOK, cipher_key=KEY)


@pytest.mark.parametrize(("value", "message"), [
    ("not base64!", "not base64"),
    ("c2hvcnQ=", "holds 5 bytes"),
])
def test_an_unusable_cipher_key_is_refused_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv(CIPHER_KEY_ENV, value)
    with pytest.raises(CipherKeyError, match=message):
        open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", BOOK)


def test_pseudonyms_and_seals_are_deterministic_keyed_and_open_only_under_their_key() -> None:
    one, again, other = (KeyedPersonalData(key_bytes(k)) for k in (KEY, KEY, OTHER_KEY))
    assert one.pseudonym(MEMBER) == again.pseudonym(MEMBER) != other.pseudonym(MEMBER)
    assert len(one.pseudonym(MEMBER)) == 32 and MEMBER not in one.seal(MEMBER)
    assert one.seal(MEMBER) == again.seal(MEMBER)
    assert again.unseal(one.seal(DOCUMENT)) == DOCUMENT
    with pytest.raises(Exception, match="does not open"):
        other.unseal(one.seal(MEMBER))
    assert person_key_of(DOCUMENT) == f"doc:{DOCUMENT}" and person_key_of(MEMBER) == MEMBER


# --- the command line ---------------------------------------------------------------------------


def cli(*args: str, cwd: Path, key: str | None) -> CliResult:
    return run_cli(*args, cwd=cwd, env={CIPHER_KEY_ENV: key})


def test_the_command_line_creates_keys_refuses_a_missing_key_and_masks_numbers_not_asked_for(
        tmp_path: Path) -> None:
    made = cli("key", "create", cwd=tmp_path, key=None)
    assert made.exit_code == 0 and len(key_bytes(made.stdout.strip())) == 32
    key = made.stdout.strip()
    (tmp_path / "family.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in FAMILY), encoding="utf-8")
    assert cli("ingest", "family.jsonl", "--results", "r.jsonl", cwd=tmp_path,
               key=key).exit_code == 0
    shown = cli("household", MEMBER, "--year", str(YEAR), "--json", cwd=tmp_path, key=key)
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["members"] == [DOCUMENT, MEMBER]  # asked for: in full
    refused = cli("person", MEMBER, cwd=tmp_path, key=None)
    assert refused.exit_code == 2 and "BENEFITPOOL_CIPHER_KEY" in refused.stderr
    assert "Traceback" not in refused.stderr
    unknown = cli("person", STRANGER, cwd=tmp_path, key=key)  # asked for: shown in full
    assert unknown.exit_code == 1 and f"{STRANGER} is not registered" in unknown.stderr
    masked = STRANGER[:6] + "*" * 8 + STRANGER[-4:]
    assert mask_text(f"{STRANGER}, {MEMBER}.", frozenset({MEMBER})) == f"{masked}, {MEMBER}."
