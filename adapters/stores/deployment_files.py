"""A deployment file: which store holds each pooling region's ledger, and where the directory
that every region's enrollments consult is kept (ADR 56).

    directory = "sqlite:///directory.db"

    [[region]]
    prefix = "3412"
    name = "阜阳市"
    store = "sqlite:///fuyang.db"

A SQLite path that is not absolute is taken from the deployment file's folder, so a deployment
means the same stores whatever the current folder is.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from attrs import frozen

from adapters.stores.urls import StoreError, store_env

PREFIX = re.compile(r"\d{2,6}")


class DeploymentError(StoreError):
    """A deployment file that cannot be used; nothing was opened."""


@frozen
class RegionStore:
    """One pooling region: the region-code prefix it serves, its name, its store's URL."""

    prefix: str
    name: str
    url: str

    def serves(self, region: str) -> bool:
        return region.startswith(self.prefix)

    def overlaps(self, prefix: str | None) -> bool:
        """Whether some region code under `prefix` (None: every code) is served here."""
        return not prefix or self.prefix.startswith(prefix) or prefix.startswith(self.prefix)


@frozen
class Deployment:
    """The regions of a deployment, in the file's order, and the directory's URL."""

    regions: tuple[RegionStore, ...]
    directory: str
    source: str = ""

    def region_of(self, region: str) -> RegionStore | None:
        """The region whose store serves a region code, or None."""
        for r in self.regions:
            if r.serves(region):
                return r
        return None

    def within(self, prefix: str | None) -> tuple[RegionStore, ...]:
        """The regions that hold some of a query's scope (a region prefix, None: all)."""
        return tuple(r for r in self.regions if r.overlaps(prefix))

    def by_prefix(self, prefix: str) -> RegionStore:
        for r in self.regions:
            if r.prefix == prefix:
                return r
        raise KeyError(prefix)


def load_deployment(path: Path) -> Deployment:
    """Read and check a deployment file (DeploymentError names what is wrong)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise DeploymentError(f"cannot read the deployment file {path}: "
                              f"{e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DeploymentError(f"{path}: not a TOML file ({e})") from None
    return parse_deployment(raw, path.resolve().parent, str(path))


def parse_deployment(raw: dict[str, Any], folder: Path, source: str = "") -> Deployment:
    """A deployment from its decoded TOML; relative SQLite paths taken from `folder`."""
    where = source or "the deployment"
    unknown = set(raw) - {"directory", "region"}
    if unknown:
        raise DeploymentError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (a "
                              "deployment has `directory` and [[region]] tables)")
    directory = raw.get("directory")
    if not isinstance(directory, str) or not directory:
        raise DeploymentError(f"{where}: `directory` must name the directory's database URL")
    items = raw.get("region")
    if not isinstance(items, list) or not items:
        raise DeploymentError(f"{where}: no [[region]] is listed")
    regions = tuple(_region(item, folder, where, n) for n, item in enumerate(items, start=1))
    _check_distinct(regions, _url(directory, folder, where), where)
    return Deployment(regions, _url(directory, folder, where), source)


def _region(item: Any, folder: Path, where: str, n: int) -> RegionStore:
    if not isinstance(item, dict):
        raise DeploymentError(f"{where}: region {n} is not a table")
    unknown = set(item) - {"prefix", "name", "store"}
    if unknown:
        raise DeploymentError(f"{where}: region {n} has unknown key(s) "
                              f"{', '.join(sorted(unknown))}")
    prefix = item.get("prefix")
    if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
        raise DeploymentError(f"{where}: region {n}'s prefix must be 2 to 6 digits of a "
                              f"region code, as a string (got {prefix!r})")
    store = item.get("store")
    if not isinstance(store, str) or not store:
        raise DeploymentError(f"{where}: region {prefix} needs `store`, a database URL")
    name = item.get("name", prefix)
    if not isinstance(name, str):
        raise DeploymentError(f"{where}: region {prefix}'s name must be text")
    return RegionStore(prefix, name, _url(store, folder, where))


def _url(url: str, folder: Path, where: str) -> str:
    """A store URL checked, a relative SQLite path made absolute from the file's folder."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite" and url.startswith("sqlite:///") \
            and not url.startswith("sqlite:////"):
        url = f"sqlite:///{(folder / url[len('sqlite:///'):]).resolve()}"
    if parsed.scheme == "memory":
        raise DeploymentError(f"{where}: {url}: a deployment's stores must be databases")
    try:
        store_env(url)
    except StoreError as e:
        raise DeploymentError(f"{where}: {e}") from None
    return url


def _check_distinct(regions: tuple[RegionStore, ...], directory: str, where: str) -> None:
    for i, a in enumerate(regions):
        for b in regions[i + 1:]:
            if a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix):
                raise DeploymentError(f"{where}: the prefixes {a.prefix} and {b.prefix} "
                                      "overlap: each region code must belong to one store")
            if a.url == b.url:
                raise DeploymentError(f"{where}: regions {a.prefix} and {b.prefix} name the "
                                      "same store; each region has its own")
        if a.url == directory:
            raise DeploymentError(f"{where}: the directory must not be region {a.prefix}'s "
                                  "store")
