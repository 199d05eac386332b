"""The walk through each stream in version order, and the classification of the events whose
content does not give their link."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from attrs import frozen

from adapters.stores.chain.keys import GENESIS, Mac
from adapters.stores.chain.log_walk import MAX_SUSPECTS, Log
from adapters.stores.chain.readers import Reader
from adapters.stores.chain.report import Problems

_MAX_PAIRWISE = 200  # mismatched events compared with each other to find swaps
_MAX_ORPHANS_TRIED = 1_000  # chain rows without an event tried as a gap's missing version


@frozen
class _Suspect:
    """An event whose content does not give its chain row's link."""

    oid: str
    version: int
    position: int
    topic: str
    state: bytes
    previous: bytes
    link: bytes
    forged: bool  # its chain row does not fit the log either
    last: bool  # the stream's last version


def walk_streams(reader: Reader, mac: Mac, limit: int, log: Log, problems: Problems
                 ) -> tuple[list[_Suspect], set[int], tuple[int, int]]:
    """Walk the events in (stream, version) order, each with the chain row at its position,
    and check each event's stream link from its predecessor's stored link."""
    row = "c" if reader.sql.named else "e"  # format "2" rows name no event (ADR 53)
    rows = reader.stream(
        "SELECT e.originator_id, e.originator_version, e.{pos}, e.topic, e.state, "
        f"{row}.originator_id, {row}.originator_version, c.link FROM {{events}} e "
        "LEFT JOIN {chain} c ON c.notification_id=e.{pos} WHERE e.{pos}<={p} "
        "ORDER BY e.originator_id, e.originator_version", (limit,))
    walk = _StreamWalk(mac, log, problems)
    elsewhere = ((oid, version, None, row) for (oid, version), row in sorted(
        log.elsewhere.items()))
    for oid, version, event, link_row in _merged(_events(rows, problems), elsewhere, problems):
        walk.step(oid, version, event, link_row)
    walk.end_stream()
    for position, _ in sorted(walk.orphans.items()):
        problems.add("deleted", None, None, position,
                     f"the event at position {position} was deleted; its chain link remains")
    return walk.suspects, walk.unlinked, (walk.n_events, walk.n_streams)


class _StreamWalk:
    """The state of the walk through one stream after another."""

    def __init__(self, mac: Mac, log: Log, problems: Problems) -> None:
        self.mac = mac
        self.broken = log.broken
        self.gaps = log.gaps
        self.orphans = dict(log.orphans)  # those no stream has claimed yet
        self.problems = problems
        self.suspects: list[_Suspect] = []
        self.unlinked: set[int] = set()
        self.n_events = self.n_streams = 0
        self.stream: str | None = None
        self.previous = GENESIS  # the stored link of the stream's last chain row so far
        self.version = 0  # the stream's last version so far
        self.through = GENESIS  # the link as if the pending events had been chained
        self.pending: list[tuple[str, int, int]] = []  # events without a chain row
        self.stream_suspects: list[int] = []
        self.after_deletion = False
        # The link the last event's own content gives, when its chain row is not its own:
        # a renumbered event's successor chains on it (format "2", ADR 53).
        self.own: bytes | None = None

    def step(self, oid: str, version: int, event: tuple[int, str, bytes] | None,
             link_row: tuple[int, bytes] | None) -> None:
        problems = self.problems
        if oid != self.stream:
            if self.stream is not None:
                self.end_stream()
            self.stream, self.previous, self.through, self.version = oid, GENESIS, GENESIS, 0
            self.own = None
            self.n_streams += 1
        if version == self.version + 2 and self.claim_orphan(oid, version, event, link_row):
            pass  # the deleted event's chain row is found: this version checks against it
        elif version > self.version + 1:
            first, last = self.version + 1, version - 1
            missing = f"version {first}" if first == last else f"versions {first}-{last}"
            problems.add("deleted", oid, first, None,
                         f"stream {oid} has no {missing} (deleted with its chain link"
                         f"{'s' if last > first else ''}), so version {version} cannot be "
                         "checked either")
            self.after_deletion = True
        self.version = version
        if event is None:  # a chain row without its event
            problems.add("deleted", oid, version, link_row[0] if link_row else None,
                         f"{_where(oid, version, link_row[0] if link_row else None)} was "
                         "deleted; its chain link remains")
            self.settle_pending(False)
            if link_row is not None:
                self.previous = self.through = link_row[1]
            self.after_deletion = False
            return
        self.n_events += 1
        position, topic, state = event
        if topic is None:  # malformed, already reported: its link still serves the next
            self.settle_pending(False)
            if link_row is not None:
                self.previous = self.through = link_row[1]
            self.after_deletion = False
            return
        mac = self.mac
        if link_row is None:
            self.pending.append((oid, version, position))
            self.through = mac.link(self.through, oid, version, topic, state)
            return
        chained_at, link = link_row
        if chained_at != position:
            problems.add("reordered", oid, version, position,
                         f"{_where(oid, version, position)} is chained at position "
                         f"{chained_at}: the log was renumbered")
        own, self.own = self.own, None
        expected = mac.link(self.previous, oid, version, topic, state)
        if link == expected:
            self.settle_pending(False)
        elif self.pending and link == mac.link(self.through, oid, version, topic, state):
            self.settle_pending(True)
        elif own is not None and not self.pending and link == mac.link(
                own, oid, version, topic, state):
            self.settle_pending(False)  # the predecessor was displaced, not changed
        elif self.after_deletion:
            self.settle_pending(False)  # explained by the deletion just reported
        elif len(self.suspects) < MAX_SUSPECTS:
            self.settle_pending(False)
            self.stream_suspects.append(len(self.suspects))
            self.suspects.append(_Suspect(oid, version, position, topic, state, self.previous,
                                          link, (oid, version) in self.broken, False))
        else:
            self.settle_pending(False)
            problems.add("edited", oid, version, position,
                         f"{_where(oid, version, position)} does not match its chain link")
        if link != expected:
            self.own = expected
        self.previous = self.through = link
        self.after_deletion = False

    def claim_orphan(self, oid: str, version: int, event: tuple[int, str, bytes] | None,
                     link_row: tuple[int, bytes] | None) -> bool:
        """With one version missing before this one: whether this event's link follows from
        a chain row left without its event (format "2"); if so, that row was the missing
        version's, which is reported deleted with its position."""
        if not self.orphans or event is None or link_row is None or event[1] is None:
            return False
        _, topic, state = event
        link = self.mac.link
        found = next((p for p, orphan in islice(self.orphans.items(), _MAX_ORPHANS_TRIED)
                      if link_row[1] == link(orphan, oid, version, topic, state)), None)
        if found is None:
            return False
        missing = version - 1
        self.problems.add("deleted", oid, missing, found,
                          f"{_where(oid, missing, found)} was deleted; its chain link remains")
        self.settle_pending(False)
        self.previous = self.through = self.orphans.pop(found)
        self.version = missing
        self.after_deletion = False
        return True

    def settle_pending(self, verified_through: bool) -> None:
        """Events without a chain row: genuine if the next link verifies through them or
        their position is missing from the log, inserted otherwise."""
        for oid, version, position in self.pending:
            self.unlinked.add(position)
            where = _where(oid, version, position)
            if verified_through or _in_gaps(position, self.gaps):
                self.problems.add("missing_link", oid, version, position,
                                  f"{where} has lost its chain link; the event itself fits "
                                  "the chain")
            else:
                self.problems.add("inserted", oid, version, position,
                                  f"{where} has no chain link: it was inserted behind the "
                                  "ledger's back")
        self.pending.clear()

    def end_stream(self) -> None:
        """Settle the stream's last unlinked events; a run of forged links that ends the
        stream is a forged tail (inserted events)."""
        self.settle_pending(False)
        expected = self.version
        for i in reversed(self.stream_suspects):
            s = self.suspects[i]
            if s.version != expected or not s.forged:
                break
            self.suspects[i] = _Suspect(s.oid, s.version, s.position, s.topic, s.state,
                                        s.previous, s.link, s.forged, True)
            expected -= 1
        self.stream_suspects.clear()


def _events(rows: Iterable[tuple[Any, ...]], problems: Problems) -> Iterator[tuple[Any, ...]]:
    """(stream, version, (position, topic, state), (position, link) or None) for each event
    whose columns have the stored types; the others are reported and skipped."""
    for oid, version, position, topic, state, chain_oid, chain_version, link in rows:
        placed = type(oid) is str and type(version) is int
        if not (placed and type(topic) is str and type(state) is bytes):
            problems.add("edited", str(oid), version if type(version) is int else None,
                         position, f"the event at position {position} has a column of the "
                         "wrong type: it was altered outside the ledger")
            if not placed:
                continue
            topic, state = None, b""  # in its place in the stream, but not checkable
        here = (position, link) if (chain_oid == oid and chain_version == version
                                    and type(link) is bytes) else None
        yield oid, version, (position, topic, state), here


def _merged(events: Iterator[tuple[Any, ...]], elsewhere: Iterator[tuple[Any, ...]],
            problems: Problems) -> Iterator[tuple[Any, ...]]:
    """The events merged with the chain rows found away from their event, in (stream,
    version) order: a row away from its event serves the event it names."""
    e = next(events, None)
    k = next(elsewhere, None)
    while e is not None or k is not None:
        if e is not None and (k is None or (e[0], e[1]) < (k[0], k[1])):
            yield e
            e = next(events, None)
        elif k is not None and (e is None or (k[0], k[1]) < (e[0], e[1])):
            yield k
            k = next(elsewhere, None)
        elif e is not None and k is not None:
            if e[3] is None:
                yield e[0], e[1], e[2], k[3]
            else:
                problems.add("inserted", e[0], e[1], k[3][0],
                             f"{_where(e[0], e[1], e[2][0])} has a second chain link at "
                             f"position {k[3][0]}: it was added behind the ledger's back")
                yield e
            e = next(events, None)
            k = next(elsewhere, None)


def classify(suspects: list[_Suspect], mac: Mac, problems: Problems) -> None:
    """Events whose content does not give their link: swapped, forged or edited."""
    fits: dict[int, _Suspect] = {}
    pairwise = suspects[:_MAX_PAIRWISE]
    for i, a in enumerate(pairwise):
        for b in pairwise:
            if a is not b and b.link == mac.link(b.previous, b.oid, b.version, a.topic,
                                                 a.state):
                fits[i] = b
                break
    moved: dict[int, _Suspect] = {}  # renumbered: its own link is at another's position
    for i, a in enumerate(pairwise):
        own = mac.link(a.previous, a.oid, a.version, a.topic, a.state)
        moved_to = next((b for b in pairwise if b is not a and b.link == own), None)
        if moved_to is not None:
            moved[i] = moved_to
    for i, s in enumerate(suspects):
        where = _where(s.oid, s.version, s.position)
        home = fits.get(i)
        if home is not None:
            problems.add("reordered", s.oid, s.version, s.position,
                         f"{where} holds the event recorded as "
                         f"{_where(home.oid, home.version, home.position)}: events were "
                         "swapped")
        elif i in moved:
            problems.add("reordered", s.oid, s.version, s.position,
                         f"{where} is chained at position {moved[i].position}: the log was "
                         "renumbered")
        elif s.forged and s.last:
            problems.add("inserted", s.oid, s.version, s.position,
                         f"{where} and its chain link were not written with the audit key: "
                         "a forged event was added")
        elif s.forged:
            problems.add("edited", s.oid, s.version, s.position,
                         f"{where} and its chain link were rewritten without the audit key")
        else:
            problems.add("edited", s.oid, s.version, s.position,
                         f"{where} ({_short_topic(s.topic)}) does not match its chain link: "
                         "its content was changed")


def _in_gaps(position: int, gaps: list[tuple[int, int]]) -> bool:
    return any(lo <= position <= hi for lo, hi in gaps)


def _where(oid: str, version: int, position: int | None) -> str:
    at = f" (position {position})" if position is not None else ""
    return f"stream {oid} version {version}{at}"


def _short_topic(topic: str) -> str:
    return topic.rsplit(":", 1)[-1]
