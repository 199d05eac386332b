"""Policy versions (ADR 69): a released version never changes, a changed rule is the next
version in a file of its own, and a file's `extends` binds a parent version that releasing a
newer one leaves alone."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from adapters.stores.policy_files import DEFAULT_POLICY_DIR, load_policy_book
from domain.errors import InvalidInput, PolicyError, Rejected
from domain.policy import Policy
from domain.policy_book import PolicyBook
from domain.rules.collection import check_newborn, is_newborn
from domain.rules.eligibility import Places, eligibility_ground
from domain.rules.payer import check_employee_account
from domain.rules.refund import check_refund_channel
from tests.support.builders import policy_file

#: The content hash of every released policy version. Decisions record it, and `audit verify`
#: re-decides them only under a file whose hash is the recorded one: a released version is
#: never edited, and a new version is added here when it is released.
RELEASED = {
    # released before issue 14; recorded by every store decided before its rules
    ("fuyang-2021", "1"): "903d8e32d3754835a64d226a80e82f95902056b2398cfcc707da3e721fdba599",
    ("gaizhou-2025", "1"): "6979ea56b167ccb4ce78e7b19fbfcc18bdbaf99e424152eb6594add09506150d",
    ("hunan-2023", "1"): "5f2d58b33d575f387abd3f20036266ffe4f9f9d6db991c38072fd814df8842f7",
    ("hunan-2024", "1"): "4f4706fd8401c6d0808b38b9279bd829667ef272f17d0dc1d94c71e48a0e991d",
    ("lishui-2020", "1"): "045573120f6744395ffb8e893e60ed95e2c837281a66b2f59ee6c8e2f6d2a50d",
    ("lishui-jingning-2020", "1"):
        "8029bee7a0b7ec5cbd4d066a0c0476dd28e08d94adc36dd2d7c1323a11a1fb87",
    ("lishui-liandu-2020", "1"): "f9f975ee000382932f6b6576c309b3c93a4ea19de0ccd73dbb937f55f26df37e",
    ("lishui-longquan-2020", "1"):
        "bfc401a2b0a0b90386b3356d2e096abf4493b840fe1c4220ad14cf524bb76582",
    ("yangcheng-2022", "1"): "90256f55e7c4b616869af9bdb62c8e1c7b07a92b1e1fb43091a29ec40984f1e4",
    # issue 14's rules (ADRs 62-68)
    ("fuyang-2021", "2"): "2078eef019b38d488637a7c15abd7b84940e1a7dcd63ae584271cba1e2fe2386",
    ("gaizhou-2025", "2"): "88af152fde542c955d9c1dc84f09c58e8d0881e51ba003a73c3d83a7d9c48d56",
    ("hunan-2023", "2"): "97bdd2945553a020a6192a19eb08db93c0c146ed92af2f50e500cee092a26e91",
    ("hunan-2024", "2"): "c1ce9eed3c73db8e24d873d420cc6e5baaa62a28217104fb6a21083d9847aa41",
    ("lishui-2020", "2"): "c7a862841bbec93c0517120053a790f8d5d39122ce250e5cd9113014c3943901",
    ("lishui-jingning-2020", "2"):
        "964c276bae61dd5856da00ef500675c59de0b2b6d727865c822dc131d11e057d",
    ("lishui-liandu-2019", "1"): "eb2ea44ca41615656e5979e4e511198ee90ea5c4f9a0cded710c2aaea72bae5e",
    ("lishui-liandu-2020", "2"): "fbab6376e3c21956a504f85246edad385bf2250ddc5fff2013111d2532fa5f0b",
    ("lishui-longquan-2020", "2"):
        "ee4d08aa485c4dbac0215cf838c6d08fe1e5d4cf6f39c58053f4ccc91e0cc57a",
    ("yangcheng-2022", "2"): "16bfdadeaa027505c2e58a540ddf305128209ffb6fe44008d8653f3a0d9305e2",
}
#: The policies issue 14 changed: each has version 1 (the earlier rules) and version 2.
CHANGED = ("fuyang-2021", "gaizhou-2025", "hunan-2023", "hunan-2024", "lishui-2020",
           "lishui-jingning-2020", "lishui-liandu-2020", "lishui-longquan-2020",
           "yangcheng-2022")


def version(book: PolicyBook, policy_id: str, number: str) -> Policy:
    found = book.get(policy_id, number)
    assert found is not None, f"{policy_id}@{number} is not shipped"
    return found


# --- the shipped versions ------------------------------------------------------------------


def test_every_shipped_policy_version_has_the_content_hash_it_was_released_with(book):
    shipped = {(p.id, p.version): p.content_hash for p in book}
    assert shipped == RELEASED


@pytest.mark.parametrize("policy_id", CHANGED)
def test_issue_14s_rules_are_in_force_and_the_earlier_version_stays_loaded(book, policy_id):
    in_force = {p.id: p.version for p in book.in_force()}
    assert in_force[policy_id] == "2"
    assert version(book, policy_id, "1").content_hash != version(book, policy_id, "2").content_hash


def test_each_file_holds_one_version_named_after_its_id_and_version():
    for path in sorted(DEFAULT_POLICY_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        expected = data["id"] if data["version"] == "1" else f"{data['id']}.v{data['version']}"
        assert path.stem == expected


def test_a_version_2_child_extends_version_2_of_its_parent_and_version_1_version_1(book):
    for number in ("1", "2"):
        hunan_2023 = version(book, "hunan-2023", number)
        hunan_2024 = version(book, "hunan-2024", number)
        assert hunan_2023.eligibility == hunan_2024.eligibility
        assert hunan_2023.newborn.previous_year_births == (number == "2")
        longquan = version(book, "lishui-longquan-2020", number)
        assert longquan.payment == version(book, "lishui-liandu-2020", number).payment


# --- version 1 keeps the rules recorded history was decided by -------------------------------


@pytest.mark.parametrize("policy_id", ["fuyang-2021", "gaizhou-2025", "hunan-2024",
                                       "lishui-liandu-2020"])
def test_version_1_admits_no_newborn_born_the_year_before_where_version_2_does(book,
                                                                               policy_id):
    earlier, later = version(book, policy_id, "1"), version(book, policy_id, "2")
    born = date(earlier.year - 1, 12, 20)
    assert not is_newborn(earlier, "newborn", born)
    assert is_newborn(later, "newborn", born)
    with pytest.raises(InvalidInput) as refused:
        check_newborn(earlier, "newborn", born)
    assert "newborn" in str(refused.value)


@pytest.mark.parametrize("policy_id", CHANGED)
def test_version_1_lets_an_employee_account_pay_for_anyone_as_before(book, policy_id):
    earlier, later = version(book, policy_id, "1"), version(book, policy_id, "2")
    day = date(earlier.year - 1, 10, 1)
    check_employee_account(earlier, "employee_account", "other", (), earlier.year, day)
    with pytest.raises(Rejected) as refused:
        check_employee_account(later, "employee_account", "other", (), later.year, day)
    assert refused.value.reason == "payer_not_allowed"


def test_fuyang_version_1_accepts_a_refund_requested_online_as_before(book):
    check_refund_channel(version(book, "fuyang-2021", "1"), "wechat")
    with pytest.raises(Rejected) as refused:
        check_refund_channel(version(book, "fuyang-2021", "2"), "wechat")
    assert refused.value.reason == "channel_not_allowed"


@pytest.mark.parametrize("policy_id", CHANGED)
def test_version_1_enrolls_anyone_anywhere_as_before(book, policy_id):
    earlier, later = version(book, policy_id, "1"), version(book, policy_id, "2")
    elsewhere = Places(hukou_region="110101")
    county = "331102" if earlier.region.startswith("3311") else (earlier.region + "0101")[:6]
    assert eligibility_ground(earlier, elsewhere, county) == "unchecked"
    with pytest.raises(Rejected) as refused:
        eligibility_ground(later, elsewhere, county)
    assert refused.value.reason == "not_eligible_here"


# --- extends binds a version ---------------------------------------------------------------


def parent(number: str, ratio: str) -> str:
    return policy_file("parent-2021", number, ratio)


def child(number: str, extends: str = "parent-2021") -> str:
    return (f'id = "child-2021"\nversion = "{number}"\nextends = "{extends}"\n'
            'region = "341225"\n[assumptions]\n"region" = "A test county."\n')


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_releasing_a_parents_next_version_leaves_its_childs_earlier_version_unchanged(
        tmp_path):
    write(tmp_path, "parent-2021.toml", parent("1", "0.55"))
    write(tmp_path, "child-2021.toml", child("1"))
    before = load_policy_book(tmp_path).get("child-2021", "1")
    write(tmp_path, "parent-2021.v2.toml", parent("2", "0.60"))
    after = load_policy_book(tmp_path).get("child-2021", "1")
    assert after.content_hash == before.content_hash
    assert str(after.outpatient.ratio) == "0.55"


def test_a_child_binds_its_parents_newest_version_not_newer_than_its_own(tmp_path):
    write(tmp_path, "parent-2021.toml", parent("1", "0.55"))
    write(tmp_path, "parent-2021.v2.toml", parent("2", "0.60"))
    write(tmp_path, "parent-2021.v3.toml", parent("3", "0.65"))
    write(tmp_path, "child-2021.toml", child("1"))
    write(tmp_path, "child-2021.v2.toml", child("2"))
    book = load_policy_book(tmp_path)
    assert str(book.get("child-2021", "1").outpatient.ratio) == "0.55"
    assert str(book.get("child-2021", "2").outpatient.ratio) == "0.60"
    assert book.find("341225", 2021).ref == "child-2021@2"


def test_a_child_may_name_the_parent_version_it_extends(tmp_path):
    write(tmp_path, "parent-2021.toml", parent("1", "0.55"))
    write(tmp_path, "parent-2021.v2.toml", parent("2", "0.60"))
    write(tmp_path, "child-2021.toml", child("1", "parent-2021@2"))
    assert str(load_policy_book(tmp_path).get("child-2021", "1").outpatient.ratio) == "0.60"


def test_extending_a_parent_version_that_is_not_loaded_is_refused_naming_the_file(tmp_path):
    write(tmp_path, "parent-2021.toml", parent("1", "0.55"))
    write(tmp_path, "child-2021.toml", child("1", "parent-2021@7"))
    with pytest.raises(PolicyError) as refused:
        load_policy_book(tmp_path)
    assert "child-2021.toml" in str(refused.value)
    assert refused.value.field == "extends" and "parent-2021@7" in str(refused.value)


def test_a_child_older_than_every_version_of_its_parent_is_refused_naming_the_file(tmp_path):
    write(tmp_path, "parent-2021.v2.toml", parent("2", "0.60"))
    write(tmp_path, "child-2021.toml", child("1"))
    with pytest.raises(PolicyError) as refused:
        load_policy_book(tmp_path)
    assert "child-2021.toml" in str(refused.value)
    assert refused.value.field == "extends" and "parent-2021@VERSION" in str(refused.value)
