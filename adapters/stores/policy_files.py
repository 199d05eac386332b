"""Loading policy TOML files (and what-if patches) from disk into a PolicyBook."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from domain.errors import PolicyError
from domain.policy_book import PolicyBook, version_key
from domain.policy_parsing import merge, policy_from_mapping

DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file; a syntax error names the file."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(str(path), "(syntax)", str(e)) from None
    except OSError as e:
        raise PolicyError(str(path), "(file)", e.strerror or str(e)) from None


def parent_of(raw: dict[str, dict[str, Any]], name: str, parent: str) -> str:
    """The `id@version` a file's `extends` names: `id@version` itself, or for an id alone the
    newest loaded version of that id not newer than the file's own version, so that releasing
    a parent's next version never changes what an earlier version of the child means (ADR 69)."""
    if not isinstance(parent, str) or not parent:
        raise PolicyError(name, "extends", "must name a policy id (or id@version)")
    if "@" in parent:
        if parent not in raw:
            raise PolicyError(name, "extends", f"names no known policy version {parent!r}")
        return parent
    versions = [n for n, d in raw.items() if d.get("id") == parent]
    if not versions:
        raise PolicyError(name, "extends", f"names no known policy id {parent!r}")
    own = raw[name].get("version")
    older = [n for n in versions if version_key(raw[n].get("version")) <= version_key(own)]
    if not older:
        raise PolicyError(name, "extends", f"names {parent}, whose every version is newer than "
                          f"this file's version {own}; name one as {parent}@VERSION")
    return max(older, key=lambda n: version_key(raw[n].get("version")))


def resolve_extends(raw: dict[str, dict[str, Any]], name: str, seen: tuple[str, ...] = ()
                    ) -> dict[str, Any]:
    """Merge a file (by `id@version`) over the policy version it `extends`, recursively."""
    data = raw[name]
    parent = data.get("extends")
    if parent is None:
        return data
    parent = parent_of(raw, name, parent)
    if parent in seen or parent == name:
        raise PolicyError(name, "extends", f"forms a cycle through {parent}")
    base = dict(resolve_extends(raw, parent, (*seen, name)))
    for key in ("assumptions", "references"):
        base.pop(key, None)
    merged = merge(base, data)
    merged.pop("extends", None)
    return merged


def load_policy_book(directory: Path | None = None) -> PolicyBook:
    """Load every *.toml of a directory (default: the project's policies/): each file one
    version of one policy id, however the file is named."""
    directory = directory or DEFAULT_POLICY_DIR
    files = sorted(Path(directory).glob("*.toml"))
    if not files:
        raise PolicyError(str(directory), "(directory)", "holds no policy files")
    raw: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for path in files:
        data = read_toml(path)
        key = data.get("id")
        version = data.get("version")
        if not isinstance(key, str):
            raise PolicyError(str(path), "id", "is required")
        name = f"{key}@{version}"
        if name in raw:
            raise PolicyError(str(path), "version", f"{name} is also defined in {sources[name]}")
        raw[name] = data
        sources[name] = str(path)
    book = PolicyBook()
    for name in raw:
        try:
            merged = resolve_extends(raw, name)
        except PolicyError as e:  # resolve_extends knows ids only: name the file instead
            raise PolicyError(sources[name], e.field, f"{e.problem} (in {e.source})") from None
        book.add(policy_from_mapping(merged, sources[name]), merged)
    return book


def apply_patch(book: PolicyBook, patch: Mapping[str, Any], source: str,
                region: str | None = None, year: int | None = None) -> PolicyBook:
    """A new book where each in-force policy in scope has the patch merged over it."""
    out = PolicyBook()
    for policy in book:
        out.add(policy, book.raw(policy))
    for policy in book.in_force():
        if year is not None and policy.year != year:
            continue
        if region is not None and not (region.startswith(policy.region)
                                       or policy.region.startswith(region)):
            continue
        merged = merge(book.raw(policy), patch)
        merged["version"] = f"{policy.version}+whatif"
        out.add(policy_from_mapping(merged, f"{source} over {policy.ref}"), merged)
    return out
