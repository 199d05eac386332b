"""`benefitpool stats`: the events a store holds and the bytes they take, per table and index,
for the event store and for the views apart (ADR 52)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from adapters.stores.footprint import EVENT_STORE, VIEWS, footprint


def store_stats(store: Any, sample_size: int = 10_000) -> dict[str, Any]:
    """The store's events (by type), its tables' and indexes' bytes and bytes per event, the
    totals of the event store and of the views, and the states' average size as the
    transcoder writes them ("raw", from a sample of up to `sample_size` events) and as they
    are stored (compressed, and encrypted under a cipher key)."""
    found = footprint(store.recorder, sample_size)
    count = sum(n for _, n in found.events_by_topic)
    relations = [{"name": r.name, "table": r.table, "kind": r.kind, "part": r.part,
                  "bytes": r.bytes, "bytes_per_event": _per(r.bytes, count)}
                 for r in sorted(found.relations, key=lambda r: (r.part, -r.bytes, r.name))]
    parts: dict[str, int] = defaultdict(int)
    for r in found.relations:
        parts[r.part] += r.bytes
    total = sum(parts.values())
    totals = {part: {"bytes": parts[part], "bytes_per_event": _per(parts[part], count)}
              for part in (EVENT_STORE, VIEWS) if part in parts}
    totals["all"] = {"bytes": total, "bytes_per_event": _per(total, count)}
    raw = [len(_raw(store, s)) for s in found.sample]
    stored = [len(s) for s in found.sample]
    return {
        "events": {"count": count, "by_type": [
            {"type": topic.rsplit(":", 1)[-1], "topic": topic, "count": n}
            for topic, n in found.events_by_topic]},
        "measured_by": found.measured_by,
        "relations": relations,
        "totals": totals,
        "state": {"stored_bytes_per_event": _per(found.stored_state_bytes, count),
                  "sampled_events": len(raw),
                  "sampled_raw_bytes_per_event": _per(sum(raw), len(raw)),
                  "sampled_stored_bytes_per_event": _per(sum(stored), len(stored))},
    }


def _raw(store: Any, state: bytes) -> bytes:
    """A stored state as the transcoder wrote it: decrypted, then inflated."""
    mapper = store.mapper
    if mapper.cipher is not None:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor is not None:
        state = mapper.compressor.decompress(state)
    return state


def _per(amount: int, count: int) -> float | None:
    """Bytes per event to a tenth of a byte (a measurement, not money); None for none."""
    return round(amount / count, 1) if count else None
